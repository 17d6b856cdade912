/*  sl_embed_shared: the process's one embedder, which the embed stage,
    the chunk stage (token counts) and the query actor (search) share.
    See sl_embed_shared.h.
*/
#include "sl_embed_shared.h"
#include "sl_embed_use.h"
#include "sl_log.h"
#include "sl_matmul.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  The default is the pretrained encoder; if its files are not installed
//  the node falls back to `hash` and says so (log, /readyz via query
//  status). An explicitly configured provider that fails is an error: a
//  node must not quietly embed with something other than what was asked.
//  Vector spaces never mix either way: every workspace records its model
//  and the store refuses vectors or queries from another one.
static char s_fallback_note [512];

//  auto picks bf16 only where it agrees with fp32 on this model: probe
//  texts (prose, code, numbers, accents, one long run) embedded both ways,
//  every cosine >= S_AGREEMENT. A model whose activations bf16 cannot
//  carry (the checks at the golden sets do not cover every checkpoint a
//  bert path= may load) then runs in fp32, and the log says why.
#define S_AGREEMENT 0.995

static double
s_probe (const char *provider, const char *options)
{
    static const char *texts [] = {
        "The quick brown fox jumps over the lazy dog.",
        "int main (void) { return printf (\"%d\\n\", 42) < 0; }",
        "Invoice 2026-0117: 3 x 19.99 EUR, VAT 20 %, total 71.96 EUR.",
        "Crème brûlée, smørrebrød and jalapeño: a café menu in Zürich.",
        "Replace the filter cartridge when the pressure gauge reads above two bar; then flush "
        "the line for five minutes and check every joint for leaks before the pump restarts."
    };
    enum { N = sizeof texts / sizeof texts [0] };
    size_t lens [N];
    for (int i = 0; i < N; i++)
        lens [i] = strlen (texts [i]);
    char opts [2][2100], err [512];
    snprintf (opts [0], sizeof opts [0], "%s%sprecision=fp32", options, options [0] ? "," : "");
    snprintf (opts [1], sizeof opts [1], "%s%sprecision=bf16", options, options [0] ? "," : "");
    sl_embedder_t *a = sl_embedder_new (provider, opts [0], err, sizeof err);
    sl_embedder_t *b = sl_embedder_new (provider, opts [1], err, sizeof err);
    double worst = -1;
    int dim = a && b ? sl_embedder_dim (a) : 0;
    float *va = dim ? calloc ((size_t) N * (size_t) dim, sizeof *va) : NULL;
    float *vb = dim ? calloc ((size_t) N * (size_t) dim, sizeof *vb) : NULL;
    if (va && vb
    &&  sl_embedder_embed (a, texts, lens, N, va, err, sizeof err) == 0
    &&  sl_embedder_embed (b, texts, lens, N, vb, err, sizeof err) == 0) {
        worst = 2;
        for (int i = 0; i < N; i++) {
            double ab = 0, aa = 0, bb = 0;
            for (int c = 0; c < dim; c++) {
                ab += (double) va [i * dim + c] * vb [i * dim + c];
                aa += (double) va [i * dim + c] * va [i * dim + c];
                bb += (double) vb [i * dim + c] * vb [i * dim + c];
            }
            double cos = aa > 0 && bb > 0 ? ab / sqrt (aa * bb) : (aa == bb ? 1 : 0);
            worst = cos < worst ? cos : worst;
        }
    }
    free (va);
    free (vb);
    sl_embedder_destroy (&a);
    sl_embedder_destroy (&b);
    return worst;
}

//  What auto means on this node for this model: "bf16" or "fp32"
static const char *
s_auto_precision (const char *provider, const char *options)
{
    if (!sl_matmul_cpu_has_bf16 ())
        return "fp32";
    double worst = s_probe (provider, options ? options : "");
    if (worst < 0)
        return "fp32";          //  the model does not open: the open after says why
    if (worst >= S_AGREEMENT) {
        sl_info (NULL, "embed.precision auto: bf16 (lowest cosine with fp32 %.6f on the probe texts)", worst);
        return "bf16";
    }
    sl_warn (NULL, "embed.precision auto: fp32, because bf16 vectors of %s disagree with fp32 "
             "(lowest cosine %.6f < %.3f on the probe texts)", provider, worst, S_AGREEMENT);
    return "fp32";
}

//  embed.precision (fp32, the default | auto | bf16) reaches the encoders
//  that compute in reduced precision (use, bert) as their precision=
//  option, after embed.options so the key wins; auto is resolved here.
//  fp32 is the default because the precision is part of the model id: a
//  node that switched on its own would answer 409 to every workspace
//  embedded before; bf16 is a choice made with a re-embed
//  (docs/config.md, "Re-embedding"). The other providers
//  compute in fp32 or elsewhere: bf16 asked of them is refused, not ignored.
static int
s_with_precision (sl_config_t *cfg, const char *provider, const char *options, char *buf,
                  size_t buflen, char *err, size_t errlen)
{
    const char *precision = sl_config_get (cfg, "embed.precision", "fp32");
    bool encoder = strcmp (provider, "use") == 0 || strcmp (provider, "bert") == 0;
    if (!encoder) {
        if (strcmp (precision, "auto") && strcmp (precision, "fp32")) {
            snprintf (err, errlen, "embed.precision=%s applies to the use and bert encoders only; "
                      "embed.provider %s has no reduced-precision path (set embed.precision=fp32)",
                      precision, provider);
            return -1;
        }
        snprintf (buf, buflen, "%s", options ? options : "");
        return 0;
    }
    if (strcmp (precision, "auto") == 0)
        precision = s_auto_precision (provider, options);
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
