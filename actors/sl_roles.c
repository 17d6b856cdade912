/*  sl_roles: the actor table, in pipeline order. See sl_roles.h. */
#include "sl_roles.h"
#include "sl_store_actors.h"

#include <string.h>

extern const sl_actor_def_t sl_fetch_actor;
extern const sl_actor_def_t sl_parse_actor;
extern const sl_actor_def_t sl_chunk_actor;
extern const sl_actor_def_t sl_embed_actor;
extern const sl_actor_def_t sl_upload_actor;
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

//  The store-side actors come first so the journal and intake are up
//  before any stage emits; the edge comes last so it is stopped first.
const sl_actor_def_t *sl_roles [] = {
    &sl_journal_actor,
    &sl_query_actor,
    &sl_intake_actor,
    &sl_fetch_actor,
    &sl_parse_actor,
    &sl_chunk_actor,
    &sl_embed_actor,
    &sl_store_actor,
    &sl_upload_actor,
    &s_echo_actor,
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
