/*  sl_embed_shared: the process's one embedder, which the embed stage,
    the chunk stage (token counts) and the query actor (search) share.
    See sl_embed_shared.h.
*/
#include "sl_embed_shared.h"
#include "sl_embed_use.h"
#include "sl_log.h"

#include <stdio.h>
#include <string.h>

//  The default is the pretrained encoder; if its files are not installed
//  the node falls back to `hash` and says so (log, /readyz via query
//  status). An explicitly configured provider that fails is an error: a
//  node must not quietly embed with something other than what was asked.
//  Vector spaces never mix either way: every workspace records its model
//  and the store refuses vectors or queries from another one.
static char s_fallback_note [512];

//  embed.precision (auto, the default | fp32 | bf16) reaches the encoders
//  that compute in reduced precision (use, bert) as their precision=
//  option, after embed.options so the key wins. The other providers
//  compute in fp32 or elsewhere: bf16 asked of them is refused, not ignored.
static int
s_with_precision (sl_config_t *cfg, const char *provider, const char *options, char *buf,
                  size_t buflen, char *err, size_t errlen)
{
    const char *precision = sl_config_get (cfg, "embed.precision", "auto");
    bool encoder = strcmp (provider, "use") == 0 || strcmp (provider, "bert") == 0;
    if (!encoder) {
        if (strcmp (precision, "auto") && strcmp (precision, "fp32")) {
            snprintf (err, errlen, "embed.precision=%s applies to the use and bert encoders only; "
                      "embed.provider %s has no reduced-precision path (set embed.precision=auto)",
                      precision, provider);
            return -1;
        }
        snprintf (buf, buflen, "%s", options ? options : "");
        return 0;
    }
    int n = snprintf (buf, buflen, "%s%sprecision=%s", options && options [0] ? options : "",
                      options && options [0] ? "," : "", precision);
    if (n < 0 || (size_t) n >= buflen) {
        snprintf (err, errlen, "embed.options is too long (%zu bytes at most)", buflen - 64);
        return -1;
    }
    return 0;
}

static void *
s_embedder_new (sl_node_t *node, char *err, size_t errlen)
{
    sl_config_t *cfg = sl_node_config (node);
    const char *configured = sl_config_get (cfg, "embed.provider", NULL);
    const char *provider = configured ? configured : "use";
    const char *options = sl_config_get (cfg, "embed.options", NULL);
    //  Model files absent: fall back, loudly. Present but damaged: refuse
    //  to start (a broken install must be fixed, not papered over).
    if (!configured && !sl_embed_use_installed (options)) {
        char why [400] = "";
        sl_embedder_t *probe = sl_embedder_new ("use", options, why, sizeof why);
        sl_embedder_destroy (&probe);
        snprintf (s_fallback_note, sizeof s_fallback_note,
                  "default embedder 'use' unavailable (%s): using 'hash'", why);
        sl_warn (NULL, "%s", s_fallback_note);
        provider = "hash";
        options = NULL;
    }
    char with_precision [2048];
    if (s_with_precision (cfg, provider, options, with_precision, sizeof with_precision, err, errlen))
        return NULL;
    sl_embedder_t *e = sl_embedder_new (provider, with_precision, err, errlen);
    if (e)
        sl_info (NULL, "embedder %s ready: model %s, %d dimensions", sl_embedder_provider (e),
                 sl_embedder_model_id (e), sl_embedder_dim (e));
    return e;
}

const char *
sl_embedder_fallback_note (void)
{
    return s_fallback_note;
}

static void
s_embedder_destroy (void **item)
{
    sl_embedder_destroy ((sl_embedder_t **) item);
}

sl_embedder_t *
sl_embedder_shared (sl_node_t *node, char *err, size_t errlen)
{
    return sl_node_shared (node, "embedder", s_embedder_new, s_embedder_destroy, err, errlen);
}
