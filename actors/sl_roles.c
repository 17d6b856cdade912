/*  sl_roles: the actor table. See sl_roles.h. */
#include "sl_roles.h"

#include <string.h>

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

const sl_actor_def_t *sl_roles [] = {
    &s_echo_actor,
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
