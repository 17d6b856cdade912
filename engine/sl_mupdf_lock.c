/*  sl_mupdf_lock: see sl_mupdf_lock.h. */
#include "sl_mupdf_lock.h"

#include <pthread.h>
#include <stdbool.h>

static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t s_once_lock = PTHREAD_MUTEX_INITIALIZER;
static bool s_done;

void
sl_mupdf_lock (void)
{
    pthread_mutex_lock (&s_lock);
}

void
sl_mupdf_unlock (void)
{
    pthread_mutex_unlock (&s_lock);
}

void
sl_mupdf_once (void (*init) (void))
{
    //  pthread_once takes one function per control; two stages pass two
    pthread_mutex_lock (&s_once_lock);
    if (!s_done) {
        init ();
        s_done = true;
    }
    pthread_mutex_unlock (&s_once_lock);
}
