/*  sl_embed_actor: the embed stage, and the process-wide embedder that
    the chunk stage (token counts) and the query actor (search) share.
*/
#ifndef SL_EMBED_ACTOR_H_INCLUDED
#define SL_EMBED_ACTOR_H_INCLUDED

#include "sl_node.h"
#include "sl_embedder.h"

extern const sl_actor_def_t sl_embed_actor;

//  The process's embedder, from embed.provider (default hash) and
//  embed.options, created on first use. NULL with a reason on failure.
sl_embedder_t *sl_embedder_shared (sl_node_t *node, char *err, size_t errlen);

//  Why the node is not running the configured default embedder ("" if it
//  is): shown by /readyz and the query status.
const char *sl_embedder_fallback_note (void);

#endif
