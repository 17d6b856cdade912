/*  sl_embed_actor: turns a job's chunks.mp into vectors.f32.

    Chunks are read in slices of 64; texts whose (model id, content hash)
    is already in the store's embedding cache are not embedded again (a
    re-ingested or overlapping document costs lookups, not matrix work),
    the rest go to the process's batcher, which merges slices from
    concurrent jobs into full batches for one sgemm each. New vectors go
    into the cache, unless embed.cache says not to: "auto" (the default)
    leaves it out for an embedder cheaper than a cache read and write
    (sl_embedder_cacheable: the hash provider), "on" and "off" say so. The output is n x dim float32, row i = chunk ordinal i,
    written to a temp file and renamed, so a redelivery just rewrites it.
    What is embedded is a chunk's context "x" (title and section path),
    a blank line, and its text "t"; the chunk hash "h" covers exactly
    that, so the cache never serves a vector made with another context.
*/
#include "sl_batcher.h"
#include "sl_embed_shared.h"
#include "sl_blob.h"
#include "sl_log.h"
#include "sl_records.h"
#include "sl_store_node.h"
#include "sl_util.h"

#include <czmq.h>
#include <stdio.h>

#define SLICE 64

typedef struct {
    sl_node_t *node;
    sl_embedder_t *embedder;
    sl_batcher_t *batcher;
    sl_store_t *store;
    sl_blob_t *blob;
    bool cache;                 //  embed.cache: read and fill the embedding cache
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
    const char *hash_ptrs [SLICE];
    bool found [SLICE];
    for (int i = 0; i < n; i++)
        hash_ptrs [i] = hashes [i];
    memset (found, 0, sizeof found);
    bool cacheable = self->cache;
    int hits = cacheable ? sl_store_cache_get (self->store, model, hash_ptrs, n, dim, out, found) : 0;
    if (hits < 0)
        hits = 0;                   //  a cache failure only costs speed
    *cached += hits;
    const char *miss_texts [SLICE];
    size_t miss_lens [SLICE];
    const char *miss_hashes [SLICE];
    int miss_index [SLICE], misses = 0;
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
    if (cacheable)
        sl_store_cache_put (self->store, model, miss_hashes, misses, fresh, dim);
    free (fresh);
    return 0;
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
    char dir [1200], in_path [1300], out_path [1300], tmp_path [1400], err [512] = "";
    if (sl_blob_job_dir (self->blob, sl_envelope_job (env), dir, sizeof dir)) {
        sl_ctx_set_error (ctx, "embed: bad job id");
        return SL_FAIL;
    }
    snprintf (in_path, sizeof in_path, "%s/chunks.mp", dir);
    snprintf (out_path, sizeof out_path, "%s/vectors.f32", dir);
    char unique [SL_ID_LEN + 1];
    sl_id_new (unique);
    snprintf (tmp_path, sizeof tmp_path, "%s.%s.tmp", out_path, unique);
    sl_recr_t *reader = sl_recr_new (in_path);
    FILE *out = fopen (tmp_path, "wb");
    if (!reader || !out) {
        sl_recr_destroy (&reader);
        if (out)
            fclose (out);
        unlink (tmp_path);
        sl_ctx_set_error (ctx, "embed: cannot open artifacts in %s", dir);
        return SL_RETRY;
    }
    int dim = sl_embedder_dim (self->embedder);
    float *vectors = malloc ((size_t) SLICE * (size_t) dim * sizeof (float));
    char *texts [SLICE];
    char hashes [SLICE][SL_SHA256_HEX];
    int n = 0, done = 0, cached = 0, rc = 0, write_error = 0;
    sl_mp_t *mp;
    while (rc == 0) {
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
        if (n == SLICE || (more == 0 && n > 0)) {
            rc = s_embed_slice (self, texts, hashes, n, vectors, &cached, err, sizeof err);
            if (rc == 0 && fwrite (vectors, sizeof (float), (size_t) n * (size_t) dim, out) != (size_t) n * (size_t) dim) {
                write_error = errno;
                snprintf (err, sizeof err, "cannot write vectors: %s", strerror (errno));
                rc = -1;
            }
            for (int i = 0; i < n; i++)
                free (texts [i]);
            done += n;
            n = 0;
            sl_ctx_progress (ctx, total ? (int) (100 * done / total) : 100, "chunk %d/%lld", done, (long long) total);
        }
        if (more == 0)
            break;
    }
    for (int i = 0; i < n; i++)
        free (texts [i]);
    free (vectors);
    sl_recr_destroy (&reader);
    if (rc == 0 && done != total) {
        snprintf (err, sizeof err, "chunks artifact holds %d chunks, message says %lld", done, (long long) total);
        rc = -1;
    }
    if (fflush (out) || fsync (fileno (out))) {
        if (!write_error)
            write_error = errno;
        rc = -1;
    }
    fclose (out);
    if (rc == 0 && rename (tmp_path, out_path))
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
    sl_mpw_t w;
    sl_mpw_init (&w);
    const char *except [] = { "model", "dim", "cached", NULL };
    sl_mpw_map_extend (&w, body, except, 3);
    sl_mpw_kv_str (&w, "model", sl_embedder_model_id (self->embedder));
    sl_mpw_kv_int (&w, "dim", dim);
    sl_mpw_kv_int (&w, "cached", cached);
    sl_ctx_forward (ctx, "embedded", w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    return SL_DONE;
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
    self->batcher = sl_batcher_new (self->embedder, (int) sl_config_int (cfg, "embed.batch_size", 64),
                                    (int) sl_config_int (cfg, "embed.max_wait_ms", 5));
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
