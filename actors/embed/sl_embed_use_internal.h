/*  sl_embed_use_internal: facts about the USE-lite model that sl_embed_use.c
    builds its graph from and its self-test checks against. Not part of the
    public API: only sl_embed_use.c and sl_embed_use_test.c include this.
*/
#ifndef SL_EMBED_USE_INTERNAL_H_INCLUDED
#define SL_EMBED_USE_INTERNAL_H_INCLUDED

#include "sl_embed_use.h"

//  Layer 1 width: the output dimension
#define SL_EMBED_USE_DIM 512

//  Prefix of the encoder's tensor names in model.json
#define SL_EMBED_USE_PREFIX "module_apply_default/Encoder_en/KonaTransformer/Encode/"

#endif
