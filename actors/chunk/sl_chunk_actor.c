/*  sl_chunk_actor: pages.mp in, chunks.mp out, streaming.

    The chunker is fed one page at a time (pages.mp: p, t, m marked, h
    outline headings, c OCR confidence) and emits chunks as it goes; each
    chunk is written as a record:
        o   int     ordinal
        ps, pe int  first and last page
        cs, ce int  byte offsets in the document's normalised text
        tk  int     tokens of what is embedded
        h   str     sha256 of what is embedded (embedding-cache key)
        t   str     the chunk's text, as displayed
        k   str     "text" or "table"
        sec str     section path ("Installation › Network"; "" none)
        x   str     embedding context, only when there is one: embed
                    x + "\n\n" + t
        oc  int     lowest OCR confidence of its pages, only if OCR'd
    Sizes are counted in the embedding model's own tokens (the process's
    embedder counts them), and the target never exceeds what the model
    can take. The settings (engine/sl_chunking.h) are the job's
    "chunking" map, stamped by intake from the workspace's settings, else
    chunk.target_tokens, chunk.overlap_tokens and chunk.embed_context; the
    document's title (from parse) and the section path are embedded with
    each chunk unless embed_context is false. The settings used go on in
    the forwarded body's "chunking", and the store records them with the
    document.
*/
#include "sl_chunk.h"
#include "sl_chunk_pages.h"
#include "sl_blob.h"
#include "sl_chunking.h"
#include "sl_embed_shared.h"
#include "sl_log.h"
#include "sl_node.h"
#include "sl_records.h"
#include "sl_util.h"

#include <czmq.h>

typedef struct {
    sl_node_t *node;
    sl_blob_t *blob;
    sl_embedder_t *embedder;
    sl_chunk_opts_t opts;       //  what no setting changes (min_tokens)
    sl_chunking_t chunking;     //  the process's settings, for jobs that carry none
} chunk_t;

//  The job's settings over the process's, capped at what the model takes.
//  0, or -1 with a reason (a stamped map that does not validate)
static int
s_job_chunking (chunk_t *self, const msgpack_object *body, sl_chunking_t *out, char *err,
                size_t errlen)
{
    *out = self->chunking;
    const msgpack_object *map = sl_mp_get (body, "chunking");
    if (map && map->type != MSGPACK_OBJECT_NIL
    &&  sl_chunking_apply_mp (out, map, err, errlen))
        return -1;
    int model_max = sl_embedder_max_tokens (self->embedder);
    if (model_max > 0 && out->target_tokens > model_max) {
        out->target_tokens = model_max;
        if (out->overlap_tokens > model_max / 2)
            out->overlap_tokens = model_max / 4;
    }
    return 0;
}

typedef struct {
    sl_recw_t *out;
    sl_mpw_t w;
    int count;
} chunk_sink_t;

static int
s_on_chunk (void *arg, const sl_chunk_t *c)
{
    chunk_sink_t *sink = (chunk_sink_t *) arg;
    bool context = c->context && *c->context;
    msgpack_pack_map (&sink->w.pk, 10 + (context ? 1 : 0) + (c->ocr_confidence >= 0 ? 1 : 0));
    sl_mpw_kv_int (&sink->w, "o", c->ordinal);
    sl_mpw_kv_int (&sink->w, "ps", c->page_start);
    sl_mpw_kv_int (&sink->w, "pe", c->page_end);
    sl_mpw_kv_int (&sink->w, "cs", (int64_t) c->char_start);
    sl_mpw_kv_int (&sink->w, "ce", (int64_t) c->char_end);
    sl_mpw_kv_int (&sink->w, "tk", c->tokens);
    sl_mpw_kv_str (&sink->w, "h", c->hash);
    sl_mpw_key (&sink->w, "t");
    msgpack_pack_str (&sink->w.pk, c->len);
    msgpack_pack_str_body (&sink->w.pk, c->text, c->len);
    sl_mpw_kv_str (&sink->w, "k", c->kind);
    sl_mpw_kv_str (&sink->w, "sec", c->section);
    if (context)
        sl_mpw_kv_str (&sink->w, "x", c->context);
    if (c->ocr_confidence >= 0)
        sl_mpw_kv_int (&sink->w, "oc", c->ocr_confidence);
    sink->count++;
    return sl_recw_write_mpw (sink->out, &sink->w);
}

static sl_outcome_t
s_chunk (sl_ctx_t *ctx, void *state)
{
    chunk_t *self = (chunk_t *) state;
    const sl_envelope_t *env = sl_ctx_envelope (ctx);
    const msgpack_object *body = sl_ctx_body (ctx);
    int64_t pages = 0;
    sl_mp_get_int (body, "pages", &pages);
    char dir [1200], in_path [1300], out_path [1300], err [512] = "";
    sl_chunking_t chunking;
    if (s_job_chunking (self, body, &chunking, err, sizeof err)) {
        sl_ctx_set_error (ctx, "%s", err);
        return SL_FAIL;
    }
    if (sl_blob_job_dir (self->blob, sl_envelope_job (env), dir, sizeof dir)) {
        sl_ctx_set_error (ctx, "chunk: bad job id");
        return SL_FAIL;
    }
    snprintf (in_path, sizeof in_path, "%s/pages.mp", dir);
    snprintf (out_path, sizeof out_path, "%s/chunks.mp", dir);
    sl_recr_t *reader = sl_recr_new (in_path);
    chunk_sink_t sink = { .out = sl_recw_new (out_path) };
    if (!reader || !sink.out) {
        sl_recr_destroy (&reader);
        sl_recw_abort (&sink.out);
        sl_ctx_set_error (ctx, "chunk: cannot open artifacts in %s", dir);
        return SL_RETRY;
    }
    sl_mpw_init (&sink.w);
    sl_chunk_opts_t opts = self->opts;
    opts.target_tokens = chunking.target_tokens;
    opts.overlap_tokens = chunking.overlap_tokens;
    opts.embed_context = chunking.embed_context;
    sl_chunker_t *chunker = sl_chunker_new (&opts, sl_embedder_token_counter, self->embedder,
                                            s_on_chunk, &sink);
    char title [512] = "";
    sl_mp_get_str (body, "title", title, sizeof title);
    if (chunker)
        sl_chunker_set_title (chunker, title);
    //  per job: handlers of this actor share its state across threads
    sl_chunk_headings_t *headings = malloc (sizeof *headings);
    sl_mp_t *mp;
    int more, rc = chunker && headings ? 0 : -1;
    while (rc == 0 && (more = sl_recr_next (reader, &mp, err, sizeof err)) == 1) {
        sl_chunk_page_t page;
        if (sl_chunk_page_read (sl_mp_root (mp), &page, headings, err, sizeof err))
            rc = -1;
        else {
            rc = sl_chunker_add (chunker, &page);
            sl_ctx_progress (ctx, pages ? (int) (100 * page.page_no / pages) : 0, "page %d/%lld, %d chunks",
                             page.page_no, (long long) pages, sink.count);
        }
        sl_mp_destroy (&mp);
    }
    if (rc == 0 && more < 0)
        rc = -1;
    if (rc == 0)
        rc = sl_chunker_finish (chunker);
    sl_chunker_destroy (&chunker);
    free (headings);
    sl_recr_destroy (&reader);
    sl_mpw_reset (&sink.w);
    //  A full disk fails the job with a reason that says so: retrying at
    //  once would meet the same full disk
    int write_error = sink.out ? sl_recw_error (sink.out) : 0;
    if (rc == 0 && sl_recw_commit (&sink.out)) {
        rc = -1;
        write_error = errno;
    }
    if (rc) {
        sl_recw_abort (&sink.out);
        if (sl_disk_full (write_error))
            return sl_ctx_write_failed (ctx, write_error, "chunks.mp");
        sl_ctx_set_error (ctx, "chunk: %s", *err ? err : "cannot read pages or write chunks");
        return SL_RETRY;
    }
    if (sink.count == 0) {
        sl_ctx_set_error (ctx, "no text to index after normalisation");
        return SL_FAIL;
    }
    sl_mpw_t w;
    sl_mpw_init (&w);
    const char *except [] = { "chunks", "chunking", NULL };
    sl_mpw_map_extend (&w, body, except, 2);
    sl_mpw_kv_int (&w, "chunks", sink.count);
    sl_mpw_key (&w, "chunking");
    sl_chunking_pack (&chunking, &w);
    sl_ctx_forward (ctx, "chunked", w.buf.data, w.buf.size);
    sl_mpw_reset (&w);
    return SL_DONE;
}

static void *
s_start (sl_node_t *node, char *err, size_t errlen)
{
    chunk_t *self = calloc (1, sizeof *self);
    self->node = node;
    self->blob = sl_node_blob (node, err, errlen);
    self->embedder = self->blob ? sl_embedder_shared (node, err, errlen) : NULL;
    if (!self->embedder) {
        free (self);
        return NULL;
    }
    sl_chunk_opts_defaults (&self->opts);
    sl_chunking_from_config (&self->chunking, sl_node_config (node));
    if (sl_chunking_check (&self->chunking, err, errlen)) {
        free (self);
        return NULL;
    }
    int model_max = sl_embedder_max_tokens (self->embedder);
    if (model_max > 0 && self->chunking.target_tokens > model_max)
        sl_warn (NULL, "chunk.target_tokens %d exceeds what model %s takes: using %d",
                 self->chunking.target_tokens, sl_embedder_model_id (self->embedder), model_max);
    return self;
}

static void
s_stop (void **state_p)
{
    free (*state_p);
    *state_p = NULL;
}

const sl_actor_def_t sl_chunk_actor = {
    .name = "chunk", .default_concurrency = 2, .stage_events = true,
    .start = s_start, .handler = s_chunk, .stop = s_stop
};
