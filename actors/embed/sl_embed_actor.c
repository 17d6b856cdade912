/*  sl_embed_actor: turns a job's chunks.mp into vectors.f32.

    Chunks are read in slices of embed.batch_size x embed.threads (one
    batch for each of the batcher's flushers); texts whose (model id,
    content hash) is already in the store's embedding cache are not
    embedded again (a re-ingested or overlapping document costs lookups,
    not matrix work), the rest go to the process's batcher, which merges
    slices from concurrent jobs into full batches. New vectors go into the
    cache, unless embed.cache says not to: "auto" (the default) leaves it
    out for an embedder cheaper than a cache read and write
    (sl_embedder_cacheable: the hash provider), "on" and "off" say so.
    The output is n x dim float32, row i = chunk ordinal i, written to a
    temp file and renamed, so a redelivery just rewrites it.
    What is embedded is a chunk's context "x" (title and section path),
    a blank line, and its text "t"; the chunk hash "h" covers exactly
    that, so the cache never serves a vector made with another context.

    Parts (engine/sl_join has the protocol): a document of more than
    embed.part_chunks chunks is not embedded by one handler. The handler
    that gets it forwards one "part" message per part_chunks chunks back to
    the embed service (body "part": [first, end), 0-based chunk ordinals,
    and "part_chunks"), so every embed worker of every process takes a
    share of one long document. A part writes vectors.p<first>.f32, then
    its marker embed.<first>.done ("run cached model"). The part that finds
    every marker of its run present claims the join (embed.join.<run>),
    embeds again any part whose marker names another model (a node switched
    model while the parts ran: one document never mixes them), concatenates
    the parts into vectors.f32 in order and alone forwards the job to
    store. A part that fails retries on its own message; until it succeeds
    nobody joins. Progress counts chunks over all parts.
*/
#include "sl_batcher.h"
#include "sl_embed_shared.h"
#include "sl_blob.h"
#include "sl_join.h"
#include "sl_log.h"
#include "sl_records.h"
#include "sl_store_node.h"
#include "sl_util.h"

#include <cblas.h>
#include <czmq.h>
#include <stdio.h>
#include <unistd.h>

//  Chunks read, looked up in the cache and handed to the batcher at once:
//  embed.batch_size x embed.threads (a slice fills every flusher), at most
//  S_SLICE_MAX. Parts are whole multiples of S_UNIT (the default batch).
#define S_SLICE_MAX 1024
#define S_UNIT 64

typedef struct {
    sl_node_t *node;
    sl_embedder_t *embedder;
    sl_batcher_t *batcher;
    sl_store_t *store;
    sl_blob_t *blob;
    bool cache;                 //  embed.cache: read and fill the embedding cache
    int slice;                  //  chunks per batcher call
    int64_t part_chunks;        //  embed.part_chunks: a longer document is cut in parts
} embed_t;

//  What a chunk record asks to embed: its text, after its embedding
//  context "x" when it has one (chunk's record format; the hash "h" covers
//  exactly this). NULL if the record has no text or out of memory.
static char *
s_embedded_text (const msgpack_object *rec)
{
    const char *text, *context;
    size_t len, context_len;
    if (sl_mp_bytes (sl_mp_get (rec, "t"), &text, &len))
        return NULL;
    if (sl_mp_bytes (sl_mp_get (rec, "x"), &context, &context_len) || context_len == 0)
        context_len = 0;
    char *out = malloc (context_len + 2 + len + 1);
    if (!out)
        return NULL;
    size_t at = 0;
    if (context_len) {
        memcpy (out, context, context_len);
        memcpy (out + context_len, "\n\n", 2);
        at = context_len + 2;
    }
    memcpy (out + at, text, len);
    out [at + len] = 0;
    return out;
}

//  Embed one slice: cache hits first, the rest through the batcher.
static int
s_embed_slice (embed_t *self, char **texts, char (*hashes) [SL_SHA256_HEX], int n, float *out,
               int *cached, char *err, size_t errlen)
{
    int dim = sl_embedder_dim (self->embedder);
    const char *model = sl_embedder_model_id (self->embedder);
    const char *hash_ptrs [S_SLICE_MAX];
    bool found [S_SLICE_MAX];
    for (int i = 0; i < n; i++)
        hash_ptrs [i] = hashes [i];
    memset (found, 0, sizeof found);
    int hits = self->cache ? sl_store_cache_get (self->store, model, hash_ptrs, n, dim, out, found) : 0;
    if (hits < 0)
        hits = 0;                   //  a cache failure only costs speed
    *cached += hits;
    const char *miss_texts [S_SLICE_MAX];
    size_t miss_lens [S_SLICE_MAX];
    const char *miss_hashes [S_SLICE_MAX];
    int miss_index [S_SLICE_MAX], misses = 0;
    for (int i = 0; i < n; i++)
        if (!found [i]) {
            miss_texts [misses] = texts [i];
            miss_lens [misses] = strlen (texts [i]);
            miss_hashes [misses] = hashes [i];
            miss_index [misses++] = i;
        }
    if (misses == 0)
        return 0;
    float *fresh = malloc ((size_t) misses * (size_t) dim * sizeof (float));
    if (sl_batcher_embed (self->batcher, miss_texts, miss_lens, misses, fresh, err, errlen)) {
        free (fresh);
        return -1;
    }
    for (int m = 0; m < misses; m++)
        memcpy (out + (size_t) miss_index [m] * dim, fresh + (size_t) m * dim, (size_t) dim * sizeof (float));
    if (self->cache)
        sl_store_cache_put (self->store, model, miss_hashes, misses, fresh, dim);
    free (fresh);
    return 0;
}

//  Where chunks [first, end) of a document of total go: a whole document
//  (or a part of it) and how its progress is told
typedef struct {
    const char *dir;
    int64_t first, end, total;
    int64_t step;               //  part size; 0 for a whole document
    char out_path [1300];       //  vectors.f32, or the part's vectors.p<first>.f32
    int cached;                 //  chunks the cache served
} span_t;

static void
s_part_path (const char *dir, int64_t first, const char *what, char *buf, size_t cap)
{
    if (strcmp (what, "vectors") == 0)
        snprintf (buf, cap, "%s/vectors.p%lld.f32", dir, (long long) first);
    else
        snprintf (buf, cap, "%s/embed.%lld.%s", dir, (long long) first, what);
}

//  Chunks done over every part of the document (this part's count set first)
static int64_t
s_parts_done (const span_t *span, int64_t done)
{
    char path [1300];
    s_part_path (span->dir, span->first, "progress", path, sizeof path);
    sl_join_progress_set (path, (int) done);
    int64_t sum = 0;
    for (int64_t first = 0; first < span->total; first += span->step) {
        s_part_path (span->dir, first, "progress", path, sizeof path);
        sum += sl_join_progress_get (path);
    }
    return sum < span->total ? sum : span->total;
}

//  Embed the span's chunks into its out_path (a temp file renamed into
//  place: a redelivery rewrites it). SL_DONE, or the outcome with the
//  context's error set.
static sl_outcome_t
s_embed_span (embed_t *self, sl_ctx_t *ctx, span_t *span)
{
    char in_path [1300], tmp_path [1400], err [512] = "";
    snprintf (in_path, sizeof in_path, "%s/chunks.mp", span->dir);
    char unique [SL_ID_LEN + 1];
    sl_id_new (unique);
    snprintf (tmp_path, sizeof tmp_path, "%s.%s.tmp", span->out_path, unique);
    sl_recr_t *reader = sl_recr_new (in_path);
    FILE *out = fopen (tmp_path, "wb");
    if (!reader || !out) {
        sl_recr_destroy (&reader);
        if (out)
            fclose (out);
        unlink (tmp_path);
        sl_ctx_set_error (ctx, "embed: cannot open artifacts in %s", span->dir);
        return SL_RETRY;
    }
    int dim = sl_embedder_dim (self->embedder);
    int slice = self->slice;
    float *vectors = malloc ((size_t) slice * (size_t) dim * sizeof (float));
    char **texts = calloc ((size_t) slice, sizeof *texts);
    char (*hashes) [SL_SHA256_HEX] = calloc ((size_t) slice, sizeof *hashes);
    int n = 0, rc = 0, write_error = 0;
    if (!vectors || !texts || !hashes) {
        snprintf (err, sizeof err, "out of memory for a slice of %d chunks", slice);
        rc = -1;
    }
    int64_t done = 0, want = span->end - span->first;
    if (span->first > 0 && sl_recr_skip (reader, span->first, err, sizeof err))
        rc = -1;
    sl_mp_t *mp;
    while (rc == 0 && done + n < want) {
        int more = sl_recr_next (reader, &mp, err, sizeof err);
        if (more < 0) {
            rc = -1;
            break;
        }
        if (more == 1) {
            texts [n] = s_embedded_text (sl_mp_root (mp));
            if (sl_mp_get_str (sl_mp_root (mp), "h", hashes [n], SL_SHA256_HEX) || !texts [n]) {
                free (texts [n]);
                sl_mp_destroy (&mp);
                snprintf (err, sizeof err, "malformed chunk record");
                rc = -1;
                break;
            }
            n++;
            sl_mp_destroy (&mp);
        }
        if (n == slice || (n > 0 && (more == 0 || done + n == want))) {
            rc = s_embed_slice (self, texts, hashes, n, vectors, &span->cached, err, sizeof err);
            if (rc == 0 && fwrite (vectors, sizeof (float), (size_t) n * (size_t) dim, out) != (size_t) n * (size_t) dim) {
                write_error = errno;
                snprintf (err, sizeof err, "cannot write vectors: %s", strerror (errno));
                rc = -1;
            }
            for (int i = 0; i < n; i++)
                free (texts [i]);
            done += n;
            n = 0;
            int64_t all = span->step ? s_parts_done (span, done) : done;
            sl_ctx_progress (ctx, span->total ? (int) (100 * all / span->total) : 100, "chunk %lld/%lld",
                             (long long) all, (long long) span->total);
        }
        if (more == 0)
            break;
    }
    for (int i = 0; i < n; i++)
        free (texts [i]);
    free (vectors);
    free (texts);
    free (hashes);
    sl_recr_destroy (&reader);
    if (rc == 0 && done != want) {
        snprintf (err, sizeof err, "chunks artifact holds %lld chunks, message says %lld",
                  (long long) (span->first + done), (long long) span->total);
        rc = -1;
    }
    if (fflush (out) || fsync (fileno (out))) {
        if (!write_error)
            write_error = errno;
        rc = -1;
    }
    fclose (out);
    if (rc == 0 && rename (tmp_path, span->out_path))
        rc = -1;
    if (rc) {
        unlink (tmp_path);
        //  A full disk fails the job with a reason that says so: retrying
        //  at once would meet the same full disk
        if (sl_disk_full (write_error))
            return sl_ctx_write_failed (ctx, write_error, "vectors.f32");
        sl_ctx_set_error (ctx, "embed: %s", *err ? err : "I/O error");
        return SL_RETRY;
    }
    return SL_DONE;
}

//  On to store: the body with the model, dim and cache hits
static void
s_forward_embedded (embed_t *self, sl_ctx_t *ctx, int cached)
{
    const char *except [] = { "model", "dim", "cached", "part", "part_chunks", NULL };
    sl_mpw_t w;
    sl_mpw_init (&w);
    sl_mpw_map_extend (&w, sl_ctx_body (ctx), except, 3);
    sl_mpw_kv_str (&w, "model", sl_embedder_model_id (self->embedder));
    sl_mpw_kv_int (&w, "dim", sl_embedder_dim (self->embedder));
    sl_mpw_kv_int (&w, "cached", cached);
    sl_ctx_forward (ctx, "embedded", w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
}

//  One "part" message per step chunks back to the embed service
static sl_outcome_t
s_fan_out (sl_ctx_t *ctx, int64_t total, int64_t step)
{
    const char *except [] = { "part", "part_chunks", NULL };
    for (int64_t first = 0; first < total; first += step) {
        int64_t end = first + step < total ? first + step : total;
        sl_mpw_t w;
        sl_mpw_init (&w);
        sl_mpw_map_extend (&w, sl_ctx_body (ctx), except, 2);
        sl_mpw_key (&w, "part");
        msgpack_pack_array (&w.pk, 2);
        msgpack_pack_int64 (&w.pk, first);
        msgpack_pack_int64 (&w.pk, end);
        sl_mpw_kv_int (&w, "part_chunks", step);
        int rc = sl_ctx_forward_via (ctx, "embed", "part", w.buf.data, w.buf.size);
        sl_mpw_reset (&w);
        if (rc) {
            sl_ctx_set_error (ctx, "embed: cannot cut the document in parts: its route is full");
            return SL_FAIL;
        }
    }
    sl_info (sl_envelope_job (sl_ctx_envelope (ctx)), "%lld chunks: embedding in %lld parts of %lld",
             (long long) total, (long long) ((total + step - 1) / step), (long long) step);
    sl_ctx_progress (ctx, 0, "chunk 0/%lld", (long long) total);
    return SL_DONE;
}

//  A part message's [first, end) and step, checked against the total (a
//  part the fan-out could not have made is refused). 0 or -1.
static int
s_part_of (const msgpack_object *body, int64_t total, int64_t *first, int64_t *end, int64_t *step)
{
    const msgpack_object *part = sl_mp_get (body, "part");
    if (!part || part->type != MSGPACK_OBJECT_ARRAY || part->via.array.size != 2
    ||  part->via.array.ptr [0].type != MSGPACK_OBJECT_POSITIVE_INTEGER
    ||  part->via.array.ptr [1].type != MSGPACK_OBJECT_POSITIVE_INTEGER
    ||  sl_mp_get_int (body, "part_chunks", step) || *step <= 0)
        return -1;
    uint64_t a = part->via.array.ptr [0].via.u64, b = part->via.array.ptr [1].via.u64;
    if (a >= (uint64_t) total || a % (uint64_t) *step != 0
    ||  b != (a + (uint64_t) *step < (uint64_t) total ? a + (uint64_t) *step : (uint64_t) total))
        return -1;
    *first = (int64_t) a;
    *end = (int64_t) b;
    return 0;
}

//  Part first's marker, if it is of this run: its cache hits and model
static bool
s_part_marked (const char *dir, int64_t first, uint32_t run, int *cached, char *model, size_t cap)
{
    char path [1300], text [300];
    s_part_path (dir, first, "done", path, sizeof path);
    unsigned long marked_run;
    int hits, at = 0;
    if (sl_join_read (path, text, sizeof text) <= 0
    ||  sscanf (text, "%lu %d %n", &marked_run, &hits, &at) != 2 || at == 0 || marked_run != run)
        return false;
    *cached = hits;
    snprintf (model, cap, "%s", text + at);
    return true;
}

//  Every part of this run is in and this part holds the join: bring any
//  part of another model to this one's, concatenate, forward, once
static sl_outcome_t
s_join (embed_t *self, sl_ctx_t *ctx, const span_t *mine)
{
    const char *model = sl_embedder_model_id (self->embedder);
    int64_t parts = (mine->total + mine->step - 1) / mine->step;
    char (*names) [1300] = calloc ((size_t) parts, sizeof *names);
    const char **paths = calloc ((size_t) parts, sizeof *paths);
    if (!names || !paths) {
        free (names);
        free (paths);
        sl_ctx_set_error (ctx, "embed: out of memory joining %lld parts", (long long) parts);
        return SL_RETRY;
    }
    int cached = 0;
    sl_outcome_t outcome = SL_DONE;
    for (int64_t k = 0; k < parts && outcome == SL_DONE; k++) {
        span_t part = { .dir = mine->dir, .first = k * mine->step, .total = mine->total, .step = mine->step };
        part.end = part.first + part.step < part.total ? part.first + part.step : part.total;
        s_part_path (mine->dir, part.first, "vectors", part.out_path, sizeof part.out_path);
        char theirs [200] = "";
        int hits = 0;
        s_part_marked (mine->dir, part.first, sl_envelope_run (sl_ctx_envelope (ctx)), &hits, theirs,
                       sizeof theirs);
        if (strcmp (theirs, model) != 0) {
            sl_info (sl_envelope_job (sl_ctx_envelope (ctx)), "part %lld was embedded by %s: again by %s",
                     (long long) part.first, theirs, model);
            outcome = s_embed_span (self, ctx, &part);
            hits = part.cached;
        }
        cached += hits;
        snprintf (names [k], sizeof names [k], "%s", part.out_path);
        paths [k] = names [k];
    }
    char path [1300];
    snprintf (path, sizeof path, "%s/vectors.f32", mine->dir);
    if (outcome == SL_DONE && sl_join_concat (path, paths, (int) parts))
        outcome = sl_ctx_write_failed (ctx, errno, "vectors.f32 (joining parts)");
    free (names);
    free (paths);
    if (outcome != SL_DONE)
        return outcome;
    sl_info (sl_envelope_job (sl_ctx_envelope (ctx)), "joined %lld parts of %lld chunks", (long long) parts,
             (long long) mine->total);
    s_forward_embedded (self, ctx, cached);
    return SL_DONE;
}

//  Embed one part, mark it, join if it is the last
static sl_outcome_t
s_embed_part (embed_t *self, sl_ctx_t *ctx, const char *dir, int64_t total)
{
    span_t span = { .dir = dir, .total = total };
    if (s_part_of (sl_ctx_body (ctx), total, &span.first, &span.end, &span.step)) {
        sl_ctx_set_error (ctx, "embed: malformed part message (part, part_chunks, chunks disagree)");
        return SL_FAIL;
    }
    s_part_path (dir, span.first, "vectors", span.out_path, sizeof span.out_path);
    sl_info (sl_envelope_job (sl_ctx_envelope (ctx)), "embedding chunks %lld-%lld of %lld",
             (long long) span.first, (long long) span.end - 1, (long long) total);
    sl_outcome_t outcome = s_embed_span (self, ctx, &span);
    if (outcome != SL_DONE)
        return outcome;
    sl_info (sl_envelope_job (sl_ctx_envelope (ctx)), "embedded chunks %lld-%lld of %lld",
             (long long) span.first, (long long) span.end - 1, (long long) total);
    uint32_t run = sl_envelope_run (sl_ctx_envelope (ctx));
    char path [1300], text [300];
    s_part_path (dir, span.first, "done", path, sizeof path);
    int len = snprintf (text, sizeof text, "%lu %d %s", (unsigned long) run, span.cached,
                        sl_embedder_model_id (self->embedder));
    if (sl_join_write (path, text, (size_t) len))
        return sl_ctx_write_failed (ctx, errno, "the embed part's marker");
    for (int64_t first = 0; first < total; first += span.step) {
        int hits;
        char model [200];
        if (!s_part_marked (dir, first, run, &hits, model, sizeof model))
            return SL_DONE;     //  a part still running will join
    }
    char name [64];
    snprintf (name, sizeof name, "embed.join.%lu", (unsigned long) run);
    int claim = sl_join_claim (dir, name, span.first);
    if (claim < 0)
        return sl_ctx_write_failed (ctx, errno, "the join of embed parts");
    return claim ? s_join (self, ctx, &span) : SL_DONE;
}

static sl_outcome_t
s_embed (sl_ctx_t *ctx, void *state)
{
    embed_t *self = (embed_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const msgpack_object *body = sl_ctx_body (ctx);
    int64_t total = 0;
    if (sl_mp_get_int (body, "chunks", &total) || total < 0) {
        sl_ctx_set_error (ctx, "embed: message lacks a chunk count");
        return SL_FAIL;
    }
    char dir [1200];
    if (sl_blob_job_dir (self->blob, sl_envelope_job (env), dir, sizeof dir)) {
        sl_ctx_set_error (ctx, "embed: bad job id");
        return SL_FAIL;
    }
    if (sl_mp_get (body, "part"))
        return s_embed_part (self, ctx, dir, total);
    if (self->part_chunks > 0 && total > self->part_chunks)
        return s_fan_out (ctx, total, self->part_chunks);
    span_t span = { .dir = dir, .first = 0, .end = total, .total = total };
    snprintf (span.out_path, sizeof span.out_path, "%s/vectors.f32", dir);
    sl_outcome_t outcome = s_embed_span (self, ctx, &span);
    if (outcome == SL_DONE)
        s_forward_embedded (self, ctx, span.cached);
    return outcome;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    embed_t *self = calloc (1, sizeof *self);
    self->node = node;
    self->embedder = sl_embedder_shared (node, err, errlen);
    self->store = self->embedder ? sl_store_shared (node, err, errlen) : NULL;
    self->blob = self->store ? sl_node_blob (node, err, errlen) : NULL;
    if (!self->blob) {
        free (self);
        return NULL;
    }
    sl_config_t *cfg = sl_node_config (node);
    const char *cache = sl_config_get (cfg, "embed.cache", "auto");
    if (strcmp (cache, "auto") && strcmp (cache, "on") && strcmp (cache, "off")) {
        snprintf (err, errlen, "embed.cache=%s: expected auto, on or off", cache);
        free (self);
        return NULL;
    }
    self->cache = strcmp (cache, "on") == 0
               || (strcmp (cache, "auto") == 0 && sl_embedder_cacheable (self->embedder));
    //  Whole units per part: a part's last batch short of S_UNIT would be
    //  a short batch, which the encoders run at a worse rate
    self->part_chunks = sl_config_int (cfg, "embed.part_chunks", 1024);
    if (self->part_chunks > 0)
        self->part_chunks = (self->part_chunks + S_UNIT - 1) / S_UNIT * S_UNIT;
    //  One flusher per core, each batch on its own core: an encoder's
    //  products for one batch are too small for OpenBLAS to spread over
    //  cores well (sl_batcher.h), so OpenBLAS runs each call on its caller's
    //  thread. embed.threads=1 keeps one flusher and OpenBLAS's own threads
    //  the CPUs this process may use (a pod's limit, not the node's cores)
    int cpus = sl_cpu_count ();
    int threads = (int) sl_config_int (cfg, "embed.threads", cpus < 16 ? cpus : 16);
    if (threads < 1 || threads > 64) {
        snprintf (err, errlen, "embed.threads=%d: expected 1 to 64", threads);
        free (self);
        return NULL;
    }
    if (threads > 1)
        openblas_set_num_threads (1);
    int batch = (int) sl_config_int (cfg, "embed.batch_size", 64);
    self->slice = (batch > 0 ? batch : 64) * threads;
    self->slice = self->slice < S_UNIT ? S_UNIT : self->slice > S_SLICE_MAX ? S_SLICE_MAX : self->slice;
    self->batcher = sl_batcher_new (self->embedder, batch, (int) sl_config_int (cfg, "embed.max_wait_ms", 5),
                                    threads);
    return self;
}

static void
s_stop (void **state_p)
{
    embed_t *self = (embed_t *) *state_p;
    if (self) {
        sl_batcher_destroy (&self->batcher);
        free (self);
        *state_p = NULL;
    }
}

const sl_actor_def_t sl_embed_actor = {
    .name = "embed", .default_concurrency = 2, .stage_events = true,
    .start = s_start, .handler = s_embed, .stop = s_stop
};
