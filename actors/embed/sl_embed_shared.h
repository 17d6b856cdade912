/*  sl_embed_shared: the process-wide embedder that the embed stage, the
    chunk stage (token counts) and the query actor (search) share. It
    comes from the node's registry (sl_node_shared), so no actor needs
    another actor's header to reach it.
*/
#ifndef SL_EMBED_SHARED_H_INCLUDED
#define SL_EMBED_SHARED_H_INCLUDED

#include "sl_node.h"
#include "sl_embedder.h"

//  The process's embedder, from embed.provider (default use, falling back
//  to hash if its model files are not installed) and embed.options,
//  created on first use. The node owns it; NULL with a reason on failure.
//
//  embed.precision = auto (default) | fp32 | bf16 reaches use and bert as
//  their precision= option. auto is bf16 only where the CPU has
//  avx512_bf16 and five probe texts embedded both ways agree (every cosine
//  >= 0.995; the choice and the lowest cosine are logged), else fp32.
//  bf16 on a CPU without the unit, an unknown value, or bf16 for another
//  provider (hash, openai) is refused: the node does not start, and says
//  why. The model id carries ":bf16", so switching precision on a
//  workspace is a model change (409 until `sluiced --reembed`).
sl_embedder_t *sl_embedder_shared (sl_node_t *node, char *err, size_t errlen);

//  Why the node is not running the configured default embedder ("" if it
//  is): shown by /readyz and the query status.
const char *sl_embedder_fallback_note (void);

#endif
