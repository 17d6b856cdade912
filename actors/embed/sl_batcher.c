/*  sl_batcher: flusher threads batching texts from many callers. See
    sl_batcher.h.

    Every caller's request sits in a FIFO until all its texts have been
    handed to batches. Each request has its own condition variable, living
    on the caller's stack: the flusher signals it, under the mutex, once the
    request's last text is done, and never touches the request afterwards,
    so the caller may return as soon as it sees done == n.

    A flusher takes texts for its batch under the mutex, runs the embedder
    and copies the rows out without it (callers are blocked and their texts
    and out stay put), then retakes it to mark the requests done. With
    several flushers, one request's texts may be in several batches at
    once: `done` counts each text exactly once (embedded, or given up when
    a batch of the request failed), and only the flusher that brings it to
    n signals, so the caller never leaves while a batch still writes into
    its out.
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

//  One flusher thread and its scratch
typedef struct {
    sl_batcher_t *batcher;
    pthread_t thread;
    bool started;
    const char **texts;
    size_t *lens;
    float *out;
    s_segment_t *segments;
} s_flusher_t;

struct sl_batcher_s {
    sl_embedder_t *embedder;
    int batch_size, max_wait_ms, dim;
    int threads;

    pthread_mutex_t mutex;
    pthread_cond_t wake;        //  flusher: new work or stopping (monotonic clock)
    pthread_cond_t idle;        //  destroy: the last caller left
    s_request_t *head, *tail;   //  requests with texts not yet taken
    int pending;                //  texts not yet taken
    int inside;                 //  callers inside sl_batcher_embed
    bool stopping;
    s_flusher_t *flushers;      //  threads of them

    sl_batcher_stats_t stats;
};

static void
s_deadline (struct timespec *ts, int64_t at_ms)
{
    ts->tv_sec = (time_t) (at_ms / 1000);
    ts->tv_nsec = (long) (at_ms % 1000) * 1000000L;
}

//  Take up to batch_size texts from the front of the queue into f's
//  scratch. Mutex held.
static int
s_take_batch (sl_batcher_t *self, s_flusher_t *f, int *nseg_p)
{
    int count = 0, nseg = 0;
    while (self->head && count < self->batch_size) {
        s_request_t *req = self->head;
        int take = req->n - req->taken;
        if (take > self->batch_size - count)
            take = self->batch_size - count;
        f->segments [nseg++] = (s_segment_t) { req, req->taken, take, count };
        for (int i = 0; i < take; i++) {
            f->texts [count + i] = req->texts [req->taken + i];
            f->lens [count + i] = req->lens [req->taken + i];
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

//  Take a failed request's remaining texts out of the queue; they count
//  as done (given up). Mutex held.
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
    req->done += req->n - req->taken;
    req->taken = req->n;
}

static void *
s_flusher (void *arg)
{
    s_flusher_t *f = arg;
    sl_batcher_t *self = f->batcher;
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
            if (self->stopping)
                break;
            continue;           //  another flusher took what was due
        }
        int nseg;
        int count = s_take_batch (self, f, &nseg);
        //  more work queued: another flusher may take it while this one runs
        if (self->pending > 0)
            pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->mutex);

        char err [256] = "";
        int rc = sl_embedder_embed (self->embedder, f->texts, f->lens, count, f->out,
                                    err, sizeof err);
        if (rc == 0)
            for (int s = 0; s < nseg; s++) {
                s_segment_t *seg = &f->segments [s];
                memcpy (seg->req->out + (size_t) seg->from * (size_t) self->dim,
                        f->out + (size_t) seg->at * (size_t) self->dim,
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
            s_request_t *req = f->segments [s].req;
            if (rc && !req->failed) {
                req->failed = true;
                snprintf (req->err, sizeof req->err, "embedding batch failed: %.200s", err);
                s_drop_request (self, req);
            }
            req->done += f->segments [s].count;
            if (req->done == req->n)
                pthread_cond_signal (&req->cond);
        }
    }
    //  the others wait on the same condition: let them see stopping too
    pthread_cond_broadcast (&self->wake);
    pthread_mutex_unlock (&self->mutex);
    return NULL;
}

static void
s_flusher_free (s_flusher_t *f)
{
    free (f->texts);
    free (f->lens);
    free (f->out);
    free (f->segments);
}

static void
s_free (sl_batcher_t *self)
{
    for (int t = 0; self->flushers && t < self->threads; t++)
        s_flusher_free (&self->flushers [t]);
    free (self->flushers);
    free (self);
}

sl_batcher_t *
sl_batcher_new (sl_embedder_t *embedder, int batch_size, int max_wait_ms, int threads)
{
    assert (embedder);
    sl_batcher_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->embedder = embedder;
    self->batch_size = batch_size > 0 ? batch_size : 64;
    self->max_wait_ms = max_wait_ms >= 0 ? max_wait_ms : 5;
    self->threads = threads > 0 ? threads : 1;
    self->dim = sl_embedder_dim (embedder);
    size_t bs = (size_t) self->batch_size;
    self->flushers = calloc ((size_t) self->threads, sizeof *self->flushers);
    bool ok = self->flushers != NULL;
    for (int t = 0; ok && t < self->threads; t++) {
        s_flusher_t *f = &self->flushers [t];
        f->batcher = self;
        f->texts = calloc (bs, sizeof *f->texts);
        f->lens = calloc (bs, sizeof *f->lens);
        f->out = calloc (bs * (size_t) self->dim, sizeof *f->out);
        f->segments = calloc (bs, sizeof *f->segments);
        ok = f->texts && f->lens && f->out && f->segments;
    }
    if (!ok) {
        s_free (self);
        return NULL;
    }
    pthread_mutex_init (&self->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);    //  sl_mono_ms's clock
    pthread_cond_init (&self->wake, &attr);
    pthread_condattr_destroy (&attr);
    pthread_cond_init (&self->idle, NULL);
    int started = 0, rc = 0;
    for (int t = 0; t < self->threads && rc == 0; t++) {
        rc = pthread_create (&self->flushers [t].thread, NULL, s_flusher, &self->flushers [t]);
        self->flushers [t].started = rc == 0;
        started += rc == 0;
    }
    if (started == 0) {
        sl_error (NULL, "batcher: cannot start thread: %s", strerror (rc));
        pthread_cond_destroy (&self->wake);
        pthread_cond_destroy (&self->idle);
        pthread_mutex_destroy (&self->mutex);
        s_free (self);
        return NULL;
    }
    if (rc)
        sl_warn (NULL, "batcher: %d of %d threads started (%s): embedding runs on those",
                 started, self->threads, strerror (rc));
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
    pthread_cond_broadcast (&self->wake);
    while (self->inside > 0)
        pthread_cond_wait (&self->idle, &self->mutex);
    pthread_mutex_unlock (&self->mutex);
    for (int t = 0; t < self->threads; t++)
        if (self->flushers [t].started)
            pthread_join (self->flushers [t].thread, NULL);
    pthread_cond_destroy (&self->wake);
    pthread_cond_destroy (&self->idle);
    pthread_mutex_destroy (&self->mutex);
    s_free (self);
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
