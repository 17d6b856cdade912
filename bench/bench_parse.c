/*  bench_parse: pages per second of sl_parse_file on a set of files, with
    T threads each taking files from a shared list (like T parse actors).

    Usage: bench_parse THREADS FILE...
    Prints: threads=T files=N pages=P seconds=S pages_per_sec=R
*/
#include "sl_parse.h"
#include "sl_util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static char **s_files;
static int s_count, s_next, s_pages;
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;

static int
s_page (void *arg, const sl_page_t *page)
{
    int page_no = page->page_no, page_count = page->page_count;
    const char *text = page->text;
    size_t len = page->len;
    (void) page_no; (void) page_count; (void) text; (void) len;
    (void) arg; (void) page_count; (void) text; (void) len; (void) page_no;
    return 0;
}

static void *
s_worker (void *arg)
{
    (void) arg;
    while (1) {
        pthread_mutex_lock (&s_lock);
        int i = s_next < s_count ? s_next++ : -1;
        pthread_mutex_unlock (&s_lock);
        if (i < 0)
            return NULL;
        sl_parse_info_t info;
        char err [512];
        if (sl_parse_file (NULL, s_files [i], NULL, s_page, NULL, &info, err, sizeof err) == 0) {
            pthread_mutex_lock (&s_lock);
            s_pages += info.page_count;
            pthread_mutex_unlock (&s_lock);
        }
        else
            fprintf (stderr, "%s: %s\n", s_files [i], err);
    }
}

int
main (int argc, char **argv)
{
    if (argc < 3) {
        fprintf (stderr, "usage: bench_parse THREADS FILE...\n");
        return 2;
    }
    int threads = atoi (argv [1]);
    s_files = argv + 2;
    s_count = argc - 2;
    pthread_t tids [64];
    int64_t t0 = sl_mono_ms ();
    for (int t = 0; t < threads && t < 64; t++)
        pthread_create (&tids [t], NULL, s_worker, NULL);
    for (int t = 0; t < threads && t < 64; t++)
        pthread_join (tids [t], NULL);
    double secs = (double) (sl_mono_ms () - t0) / 1000.0;
    printf ("threads=%d files=%d pages=%d seconds=%.3f pages_per_sec=%.0f\n", threads, s_count, s_pages,
            secs, s_pages / secs);
    return 0;
}
