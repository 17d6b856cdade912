/*  sl_roles: the actor table, in pipeline order. See sl_roles.h. */
#include "sl_roles.h"
#include "sl_log.h"
#include "sl_mp.h"
#include "sl_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const sl_actor_def_t sl_fetch_actor;
extern const sl_actor_def_t sl_parse_actor;
extern const sl_actor_def_t sl_ocr_actor;
extern const sl_actor_def_t sl_chunk_actor;
extern const sl_actor_def_t sl_embed_actor;
extern const sl_actor_def_t sl_upload_actor;
extern const sl_actor_def_t sl_intake_actor;
extern const sl_actor_def_t sl_store_actor;
extern const sl_actor_def_t sl_journal_actor;
extern const sl_actor_def_t sl_query_actor;
extern const sl_actor_def_t sl_sources_actor;
extern const sl_actor_def_t sl_delete_actor;
#ifdef SLUICE_HAVE_EDGE
extern const sl_actor_def_t sl_edge_actor;
#endif

//  echo: forwards every message unchanged to the next stage. A diagnostic
//  role for smoke tests and broker benchmarks through real processes.
static sl_outcome_t
s_echo (sl_ctx_t *ctx, void *state)
{
    (void) state;
    size_t size;
    const void *body = sl_envelope_body (sl_ctx_envelope (ctx), &size);
    sl_ctx_forward (ctx, NULL, body, size);
    return SL_DONE;
}

static const sl_actor_def_t s_echo_actor = { .name = "echo", .default_concurrency = 2, .handler = s_echo,
                                               .diagnostic = true };

//  stall: holds each message {ms} milliseconds (at most a minute), and
//  every 2 ms checks that its state and the node's config are still there.
//  A diagnostic role for the shutdown test: a handler still running when
//  the drain runs out must never see them freed under it (under ASan a
//  freed config is a reported use after free; the state's marker is
//  cleared before it is freed, so even a plain build aborts).
#define S_STALL_ALIVE 0x616c697665ULL

typedef struct {
    uint64_t alive;             //  first: free() overwrites it anyway
    sl_node_t *node;
} stall_t;

static void *
s_stall_start (sl_node_t *node, char *err, size_t errlen)
{
    stall_t *self = calloc (1, sizeof *self);
    self->alive = S_STALL_ALIVE;
    self->node = node;
    return self;
}

static sl_outcome_t
s_stall (sl_ctx_t *ctx, void *state)
{
    stall_t *self = (stall_t *) state;
    int64_t ms = 1000;
    sl_mp_get_int (sl_ctx_body (ctx), "ms", &ms);
    ms = ms < 0 ? 0 : ms > 60000 ? 60000 : ms;
    sl_warn (NULL, "stall: holding a message for %lld ms", (long long) ms);
    for (int64_t until = sl_mono_ms () + ms; sl_mono_ms () < until; ) {
        if (self->alive != S_STALL_ALIVE
        ||  !sl_config_get (sl_node_config (self->node), "stall.probe", "set")) {
            fprintf (stderr, "stall: state freed under a running handler\n");
            abort ();
        }
        usleep (2000);
    }
    return SL_DONE;
}

static void
s_stall_stop (void **state_p)
{
    stall_t *self = (stall_t *) *state_p;
    if (self) {
        self->alive = 0;
        free (self);
        *state_p = NULL;
    }
}

static const sl_actor_def_t s_stall_actor = { .name = "stall", .default_concurrency = 1,
                                                .start = s_stall_start, .handler = s_stall,
                                                .stop = s_stall_stop, .diagnostic = true };

//  The store-side actors come first so the journal and intake are up
//  before any stage emits; the edge comes last so it is stopped first.
const sl_actor_def_t *sl_roles [] = {
    &sl_journal_actor,
    &sl_query_actor,
    &sl_intake_actor,
    &sl_sources_actor,
    &sl_delete_actor,
    &sl_fetch_actor,
    &sl_parse_actor,
    &sl_ocr_actor,
    &sl_chunk_actor,
    &sl_embed_actor,
    &sl_store_actor,
    &sl_upload_actor,
    &s_echo_actor,
    &s_stall_actor,
#ifdef SLUICE_HAVE_EDGE
    &sl_edge_actor,
#endif
    NULL
};

const sl_actor_def_t *
sl_roles_find (const char *name)
{
    for (int i = 0; sl_roles [i]; i++)
        if (strcmp (sl_roles [i]->name, name) == 0)
            return sl_roles [i];
    return NULL;
}
