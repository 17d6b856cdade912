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
sl_embedder_t *sl_embedder_shared (sl_node_t *node, char *err, size_t errlen);

//  Why the node is not running the configured default embedder ("" if it
//  is): shown by /readyz and the query status.
const char *sl_embedder_fallback_note (void);

#endif
