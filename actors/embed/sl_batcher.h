/*  sl_batcher: cross-job batching in front of an embedder.

    The embed actor runs several handler threads, each working on one job's
    chunks. Embedding pays per call (a dense sgemm for hash, a forward pass
    for a neural model), so small requests from different jobs are better
    run together. Each handler calls sl_batcher_embed and blocks; flusher
    threads group the pending texts of all callers, in arrival order, and
    run sl_embedder_embed once per batch: as soon as batch_size texts are
    pending, or when the oldest pending text has waited max_wait_ms. A
    caller with more than batch_size texts spans several batches, which
    several flushers run at once. Results go straight into each caller's
    out; if a batch fails, every caller with texts in it fails with the
    embedder's message.

    Why several flushers: an encoder's products for one batch (64 texts of
    ~100 tokens) are too small for OpenBLAS to spread over cores well (9-10
    ms of CPU per chunk on two threads against 8 on one, and the threads
    idle between products); batches side by side, each on one core, keep
    every core busy. The embed actor runs one flusher per core and OpenBLAS
    on one thread (embed.threads).

    Ownership: the batcher uses but does not own the embedder, which must
    outlive it. sl_batcher_embed is thread-safe; destroy finishes the work
    already queued, waits for the callers to return, then stops the thread.
*/
#ifndef SL_BATCHER_H_INCLUDED
#define SL_BATCHER_H_INCLUDED

#include "sl_embedder.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_batcher_s sl_batcher_t;

//  Counters for metrics (monotonic since sl_batcher_new).
typedef struct {
    uint64_t calls;             //  sl_batcher_embed calls with texts
    uint64_t batches;           //  sl_embedder_embed calls made
    uint64_t texts;             //  texts embedded (failed batches included)
    uint64_t failed_batches;    //  batches the embedder refused
    double mean_batch;          //  texts / batches, 0 before the first batch
} sl_batcher_stats_t;

//  Start a batcher over embedder with `threads` flushers (<= 0 means 1).
//  batch_size <= 0 means 64; max_wait_ms < 0 means 5. Returns NULL if no
//  thread can start. Caller owns it.
sl_batcher_t *sl_batcher_new (sl_embedder_t *embedder, int batch_size, int max_wait_ms,
                              int threads);

//  Finish queued work, wait for callers to leave, stop the threads; nulls
//  *self_p, safe on NULL.
void sl_batcher_destroy (sl_batcher_t **self_p);

//  Embed n texts into out (n x dim floats), like sl_embedder_embed, sharing
//  embedder calls with concurrent callers. Blocks until done. Returns 0, or
//  -1 with a message in err (the embedder's, or "stopping").
int sl_batcher_embed (sl_batcher_t *self, const char **texts, const size_t *lens, int n,
                      float *out, char *err, size_t errlen);

//  Snapshot of the counters.
void sl_batcher_stats (sl_batcher_t *self, sl_batcher_stats_t *stats);

void sl_batcher_test (bool verbose);

#endif
