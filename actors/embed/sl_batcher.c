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

//  --------------------------------------------------------------------------
//  Self-test

#define S_POOL 200

typedef struct {
    sl_batcher_t *batcher;
    const char **pool;
    size_t *lens;
    const float *direct;        //  sl_embedder_embed of each pool text alone
    int dim;
    int rounds, max_n;
    uint64_t seed;
    pthread_barrier_t *barrier;
    int calls;
} s_worker_t;

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    uint64_t state = w->seed;
    const char **texts = malloc ((size_t) w->max_n * sizeof *texts);
    size_t *lens = malloc ((size_t) w->max_n * sizeof *lens);
    int *which = malloc ((size_t) w->max_n * sizeof *which);
    float *out = malloc ((size_t) w->max_n * (size_t) w->dim * sizeof *out);
    assert (texts && lens && which && out);
    pthread_barrier_wait (w->barrier);
    for (int r = 0; r < w->rounds; r++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        int n = 1 + (int) ((state >> 33) % (uint64_t) w->max_n);
        for (int i = 0; i < n; i++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            which [i] = (int) ((state >> 33) % S_POOL);
            texts [i] = w->pool [which [i]];
            lens [i] = w->lens [which [i]];
        }
        char err [256];
        int rc = sl_batcher_embed (w->batcher, texts, lens, n, out, err, sizeof err);
        assert (rc == 0);
        for (int i = 0; i < n; i++)
            for (int k = 0; k < w->dim; k++)
                assert (fabsf (out [i * w->dim + k] - w->direct [which [i] * w->dim + k]) < 1e-5f);
        w->calls++;
    }
    free (texts);
    free (lens);
    free (which);
    free (out);
    return NULL;
}

static void
s_run_workers (sl_batcher_t *batcher, s_worker_t *proto, int nthreads)
{
    pthread_t threads [16];
    s_worker_t workers [16];
    pthread_barrier_t barrier;
    pthread_barrier_init (&barrier, NULL, (unsigned) nthreads);
    for (int t = 0; t < nthreads; t++) {
        workers [t] = *proto;
        workers [t].batcher = batcher;
        workers [t].seed = proto->seed + (uint64_t) t * 7919;
        workers [t].barrier = &barrier;
        workers [t].calls = 0;
        assert (pthread_create (&threads [t], NULL, s_worker, &workers [t]) == 0);
    }
    for (int t = 0; t < nthreads; t++) {
        pthread_join (threads [t], NULL);
        assert (workers [t].calls == proto->rounds);
    }
    pthread_barrier_destroy (&barrier);
}

typedef struct {
    sl_batcher_t *batcher;
    const char **texts;
    size_t *lens;
    int n;
    int dim;
    int rc;
    char err [256];
    const float *expect;        //  if set, the rows the call must return
} s_oneshot_t;

static void *
s_oneshot (void *arg)
{
    s_oneshot_t *o = arg;
    float *out = malloc ((size_t) o->n * (size_t) o->dim * sizeof *out);
    assert (out);
    o->rc = sl_batcher_embed (o->batcher, o->texts, o->lens, o->n, out, o->err, sizeof o->err);
    if (o->rc == 0 && o->expect)
        for (int i = 0; i < o->n * o->dim; i++)
            assert (fabsf (out [i] - o->expect [i]) < 1e-5f);
    free (out);
    return NULL;
}

void
sl_batcher_test (bool verbose)
{
    printf (" * sl_batcher: ");
    if (verbose)
        printf ("\n");
    char err [256];
    sl_embedder_t *embedder = sl_embedder_new ("hash", "dim=128", err, sizeof err);
    assert (embedder);
    int dim = sl_embedder_dim (embedder);

    //  A pool of texts and their vectors embedded one at a time
    static const char *vocab [] = {
        "alpha", "beta", "gamma", "delta", "vector", "engine", "message", "broker",
        "chunk", "token", "page", "document", "search", "index", "latency", "the", "of"
    };
    const char *pool [S_POOL];
    size_t lens [S_POOL];
    float *direct = malloc ((size_t) S_POOL * (size_t) dim * sizeof *direct);
    uint64_t state = 99;
    for (int i = 0; i < S_POOL; i++) {
        char *text = malloc (2048);
        size_t len = 0;
        int words = 5 + i % 60;
        for (int w = 0; w < words; w++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            len += (size_t) snprintf (text + len, 2048 - len, "%s%s", w ? " " : "",
                                      vocab [(state >> 33) % (sizeof vocab / sizeof *vocab)]);
        }
        pool [i] = text;
        lens [i] = len;
        assert (sl_embedder_embed (embedder, &pool [i], &lens [i], 1, direct + i * dim,
                                   err, sizeof err) == 0);
    }

    //  8 threads, random sizes up to 150 (so some span several batches):
    //  every caller gets exactly its own vectors
    sl_batcher_t *batcher = sl_batcher_new (embedder, 0, -1);
    assert (batcher);
    s_worker_t proto = { .pool = pool, .lens = lens, .direct = direct, .dim = dim,
                         .rounds = 25, .max_n = 150, .seed = 1 };
    s_run_workers (batcher, &proto, 8);
    sl_batcher_stats_t stats;
    sl_batcher_stats (batcher, &stats);
    if (verbose)
        printf ("  mixed: %llu calls, %llu batches, %llu texts, mean batch %.1f\n",
                (unsigned long long) stats.calls, (unsigned long long) stats.batches,
                (unsigned long long) stats.texts, stats.mean_batch);
    assert (stats.calls == 8 * 25);
    assert (stats.failed_batches == 0);
    assert (stats.mean_batch <= 64.0);
    sl_batcher_destroy (&batcher);
    assert (batcher == NULL);
    sl_batcher_destroy (&batcher);

    //  Small concurrent requests are merged: fewer batches than calls
    batcher = sl_batcher_new (embedder, 64, 20);
    proto.rounds = 20;
    proto.max_n = 3;
    s_run_workers (batcher, &proto, 8);
    sl_batcher_stats (batcher, &stats);
    if (verbose)
        printf ("  small: %llu calls, %llu batches, mean batch %.1f\n",
                (unsigned long long) stats.calls, (unsigned long long) stats.batches,
                stats.mean_batch);
    assert (stats.calls == 160);
    assert (stats.batches < stats.calls);
    assert (stats.mean_batch > 1.0);

    //  A lone small request does not wait for company for long
    {
        float *out = malloc ((size_t) dim * sizeof *out);
        int64_t t0 = sl_mono_ms ();
        assert (sl_batcher_embed (batcher, &pool [0], &lens [0], 1, out, err, sizeof err) == 0);
        int64_t ms = sl_mono_ms () - t0;
        if (verbose)
            printf ("  lone request took %lld ms (max_wait 20)\n", (long long) ms);
        assert (ms < 1000);
        for (int k = 0; k < dim; k++)
            assert (fabsf (out [k] - direct [k]) < 1e-5f);
        //  n == 0 is a no-op
        assert (sl_batcher_embed (batcher, NULL, NULL, 0, NULL, err, sizeof err) == 0);
        free (out);
    }
    sl_batcher_destroy (&batcher);

    //  An embedder error fails every caller in the batch, with its message,
    //  and the batcher goes on working. A text over the embedder's size
    //  limit is a real error; a long max_wait puts both callers in one batch.
    {
        batcher = sl_batcher_new (embedder, 64, 300);
        size_t huge_len = ((size_t) 1 << 20) + 1;
        char *huge = malloc (huge_len);
        memset (huge, 'a', huge_len);
        const char *bad_texts [] = { pool [1], huge };
        size_t bad_lens [] = { lens [1], huge_len };
        s_oneshot_t bad = { batcher, bad_texts, bad_lens, 2, dim, 0, "", NULL };
        s_oneshot_t good = { batcher, &pool [2], &lens [2], 1, dim, 0, "", NULL };
        pthread_t t1, t2;
        assert (pthread_create (&t1, NULL, s_oneshot, &good) == 0);
        assert (pthread_create (&t2, NULL, s_oneshot, &bad) == 0);
        pthread_join (t1, NULL);
        pthread_join (t2, NULL);
        if (verbose)
            printf ("  failed batch: '%s' / '%s'\n", bad.err, good.err);
        assert (bad.rc == -1 && strstr (bad.err, "too long"));
        sl_batcher_stats (batcher, &stats);
        if (stats.batches == 1) {
            //  they shared the batch (the usual case): both failed
            assert (good.rc == -1 && strcmp (good.err, bad.err) == 0);
        }
        assert (stats.failed_batches >= 1);
        float *out = malloc ((size_t) dim * sizeof *out);
        assert (sl_batcher_embed (batcher, &pool [3], &lens [3], 1, out, err, sizeof err) == 0);
        free (out);
        free (huge);
        sl_batcher_destroy (&batcher);
    }

    //  A request bigger than several batches, plus stopping with work queued
    {
        batcher = sl_batcher_new (embedder, 16, 1000);
        s_oneshot_t big = { batcher, pool, lens, S_POOL, dim, -5, "", direct };
        pthread_t t;
        assert (pthread_create (&t, NULL, s_oneshot, &big) == 0);
        //  destroy while the tail is still queued (it would wait 1 s): the
        //  work is finished first, at once
        while (true) {
            sl_batcher_stats (batcher, &stats);
            if (stats.calls == 1)
                break;
            usleep (1000);
        }
        int64_t t0 = sl_mono_ms ();
        sl_batcher_destroy (&batcher);
        assert (sl_mono_ms () - t0 < 900);
        pthread_join (t, NULL);
        assert (big.rc == 0);
    }

    for (int i = 0; i < S_POOL; i++)
        free ((char *) pool [i]);
    free (direct);
    sl_embedder_destroy (&embedder);
    printf ("OK\n");
}
