/*  sl_batcher: one flusher thread batching texts from many callers. See
    sl_batcher.h.

    Every caller's request sits in a FIFO until all its texts have been
    handed to batches. Each request has its own condition variable, living
    on the caller's stack: the flusher signals it, under the mutex, once the
    request's last text is done, and never touches the request afterwards,
    so the caller may return as soon as it sees done == n.

    The flusher takes texts for the batch under the mutex, runs the embedder
    and copies the rows out without it (callers are blocked and their texts
    and out stay put), then retakes it to mark the requests done.
*/
#include "sl_batcher.h"
#include "sl_log.h"
#include "sl_util.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct s_request_s {
    const char **texts;
    const size_t *lens;
    int n;
    float *out;
    int taken;                  //  texts handed to batches
    int done;                   //  texts finished (== n: caller may leave)
    bool failed;
    char err [256];
    int64_t enqueued_ms;        //  monotonic
    pthread_cond_t cond;
    struct s_request_s *next;
} s_request_t;

typedef struct {
    s_request_t *req;
    int from, count, at;        //  req's texts [from, from + count) are batch rows at..
} s_segment_t;

struct sl_batcher_s {
    sl_embedder_t *embedder;
    int batch_size, max_wait_ms, dim;

    pthread_mutex_t mutex;
    pthread_cond_t wake;        //  flusher: new work or stopping (monotonic clock)
    pthread_cond_t idle;        //  destroy: the last caller left
    s_request_t *head, *tail;   //  requests with texts not yet taken
    int pending;                //  texts not yet taken
    int inside;                 //  callers inside sl_batcher_embed
    bool stopping;
    pthread_t thread;

    //  the flusher's own scratch
    const char **texts;
    size_t *lens;
    float *out;
    s_segment_t *segments;

    sl_batcher_stats_t stats;
};

static void
s_deadline (struct timespec *ts, int64_t at_ms)
{
    ts->tv_sec = (time_t) (at_ms / 1000);
    ts->tv_nsec = (long) (at_ms % 1000) * 1000000L;
}

//  Take up to batch_size texts from the front of the queue. Mutex held.
static int
s_take_batch (sl_batcher_t *self, int *nseg_p)
{
    int count = 0, nseg = 0;
    while (self->head && count < self->batch_size) {
        s_request_t *req = self->head;
        int take = req->n - req->taken;
        if (take > self->batch_size - count)
            take = self->batch_size - count;
        self->segments [nseg++] = (s_segment_t) { req, req->taken, take, count };
        for (int i = 0; i < take; i++) {
            self->texts [count + i] = req->texts [req->taken + i];
            self->lens [count + i] = req->lens [req->taken + i];
        }
        req->taken += take;
        count += take;
        self->pending -= take;
        if (req->taken == req->n) {
            self->head = req->next;
            if (!self->head)
                self->tail = NULL;
        }
    }
    *nseg_p = nseg;
    return count;
}

//  Take a failed request's remaining texts out of the queue. Mutex held.
static void
s_drop_request (sl_batcher_t *self, s_request_t *req)
{
    s_request_t **link = &self->head, *prev = NULL;
    while (*link && *link != req) {
        prev = *link;
        link = &(*link)->next;
    }
    if (*link) {
        *link = req->next;
        if (self->tail == req)
            self->tail = prev;
    }
    self->pending -= req->n - req->taken;
    req->taken = req->n;
}

static void *
s_flusher (void *arg)
{
    sl_batcher_t *self = arg;
    sl_log_set_role ("embed-batcher");
    pthread_mutex_lock (&self->mutex);
    while (true) {
        //  wait for a full batch, the oldest text's deadline, or stop
        while (!self->stopping && self->pending < self->batch_size) {
            if (self->pending == 0)
                pthread_cond_wait (&self->wake, &self->mutex);
            else {
                int64_t due = self->head->enqueued_ms + self->max_wait_ms;
                if (sl_mono_ms () >= due)
                    break;
                struct timespec ts;
                s_deadline (&ts, due);
                pthread_cond_timedwait (&self->wake, &self->mutex, &ts);
            }
        }
        if (self->pending == 0) {
            assert (self->stopping);
            break;
        }
        int nseg;
        int count = s_take_batch (self, &nseg);
        pthread_mutex_unlock (&self->mutex);

        char err [256] = "";
        int rc = sl_embedder_embed (self->embedder, self->texts, self->lens, count, self->out,
                                    err, sizeof err);
        if (rc == 0)
            for (int s = 0; s < nseg; s++) {
                s_segment_t *seg = &self->segments [s];
                memcpy (seg->req->out + (size_t) seg->from * (size_t) self->dim,
                        self->out + (size_t) seg->at * (size_t) self->dim,
                        (size_t) seg->count * (size_t) self->dim * sizeof (float));
            }
        else
            sl_warn (NULL, "embedding a batch of %d texts failed: %s", count, err);

        pthread_mutex_lock (&self->mutex);
        self->stats.batches++;
        self->stats.texts += (uint64_t) count;
        if (rc)
            self->stats.failed_batches++;
        for (int s = 0; s < nseg; s++) {
            s_request_t *req = self->segments [s].req;
            if (rc) {
                req->failed = true;
                snprintf (req->err, sizeof req->err, "embedding batch failed: %.200s", err);
                s_drop_request (self, req);
                req->done = req->n;
            }
            else
                req->done += self->segments [s].count;
            if (req->done == req->n)
                pthread_cond_signal (&req->cond);
        }
    }
    pthread_mutex_unlock (&self->mutex);
    return NULL;
}

sl_batcher_t *
sl_batcher_new (sl_embedder_t *embedder, int batch_size, int max_wait_ms)
{
    assert (embedder);
    sl_batcher_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->embedder = embedder;
    self->batch_size = batch_size > 0 ? batch_size : 64;
    self->max_wait_ms = max_wait_ms >= 0 ? max_wait_ms : 5;
    self->dim = sl_embedder_dim (embedder);
    size_t bs = (size_t) self->batch_size;
    self->texts = calloc (bs, sizeof *self->texts);
    self->lens = calloc (bs, sizeof *self->lens);
    self->out = calloc (bs * (size_t) self->dim, sizeof *self->out);
    self->segments = calloc (bs, sizeof *self->segments);
    if (!self->texts || !self->lens || !self->out || !self->segments) {
        free (self->texts);
        free (self->lens);
        free (self->out);
        free (self->segments);
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);    //  sl_mono_ms's clock
    pthread_cond_init (&self->wake, &attr);
    pthread_condattr_destroy (&attr);
    pthread_cond_init (&self->idle, NULL);
    int rc = pthread_create (&self->thread, NULL, s_flusher, self);
    if (rc) {
        sl_error (NULL, "batcher: cannot start thread: %s", strerror (rc));
        pthread_cond_destroy (&self->wake);
        pthread_cond_destroy (&self->idle);
        pthread_mutex_destroy (&self->mutex);
        free (self->texts);
        free (self->lens);
        free (self->out);
        free (self->segments);
        free (self);
        return NULL;
    }
    return self;
}

void
sl_batcher_destroy (sl_batcher_t **self_p)
{
    assert (self_p);
    sl_batcher_t *self = *self_p;
    if (!self)
        return;
    pthread_mutex_lock (&self->mutex);
    self->stopping = true;
    pthread_cond_signal (&self->wake);
    while (self->inside > 0)
        pthread_cond_wait (&self->idle, &self->mutex);
    pthread_mutex_unlock (&self->mutex);
    pthread_join (self->thread, NULL);
    pthread_cond_destroy (&self->wake);
    pthread_cond_destroy (&self->idle);
    pthread_mutex_destroy (&self->mutex);
    free (self->texts);
    free (self->lens);
    free (self->out);
    free (self->segments);
    free (self);
    *self_p = NULL;
}

int
sl_batcher_embed (sl_batcher_t *self, const char **texts, const size_t *lens, int n,
                  float *out, char *err, size_t errlen)
{
    assert (self);
    assert (n >= 0);
    assert (n == 0 || (texts && lens && out));
    if (err && errlen)
        err [0] = 0;
    if (n == 0)
        return 0;
    s_request_t req = {
        .texts = texts, .lens = lens, .n = n, .out = out, .enqueued_ms = sl_mono_ms ()
    };
    pthread_cond_init (&req.cond, NULL);
    pthread_mutex_lock (&self->mutex);
    if (self->stopping) {
        pthread_mutex_unlock (&self->mutex);
        pthread_cond_destroy (&req.cond);
        if (err && errlen)
            snprintf (err, errlen, "embedding batcher is stopping");
        return -1;
    }
    self->inside++;
    self->stats.calls++;
    if (self->tail)
        self->tail->next = &req;
    else
        self->head = &req;
    self->tail = &req;
    self->pending += n;
    pthread_cond_signal (&self->wake);
    while (req.done < req.n)
        pthread_cond_wait (&req.cond, &self->mutex);
    self->inside--;
    if (self->inside == 0 && self->stopping)
        pthread_cond_signal (&self->idle);
    pthread_mutex_unlock (&self->mutex);
    pthread_cond_destroy (&req.cond);
    if (req.failed) {
        if (err && errlen)
            snprintf (err, errlen, "%s", req.err);
        return -1;
    }
    return 0;
}

void
sl_batcher_stats (sl_batcher_t *self, sl_batcher_stats_t *stats)
{
    assert (self && stats);
    pthread_mutex_lock (&self->mutex);
    *stats = self->stats;
    pthread_mutex_unlock (&self->mutex);
    stats->mean_batch = stats->batches ? (double) stats->texts / (double) stats->batches : 0;
}
