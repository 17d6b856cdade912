/*  sl_chunking: how a workspace's documents are cut into chunks.

    One definition of the settings that four parts of Sluice share, so none
    of them includes another's header:
    - the query service shows a workspace's settings and validates a change
      (PUT /v1/workspace/chunking);
    - intake stamps the workspace's settings on every job it accepts (the
      ingest body's "chunking" map, kept in the job's options, so a
      re-driven job is cut as it was first asked to be);
    - the chunk stage applies them over its own defaults, capped at what the
      embedding model takes, and forwards what it used;
    - the store records what each document was cut with, beside the model
      its vectors came from, so search and re-embed know it.

    A change applies to documents ingested after it; stored documents keep
    their chunks (and say how they were cut) until they are ingested again.

    The defaults were chosen by measurement: bench/RESULTS.md, "Chunk size".
    A value struct, no allocation: copy it freely.
*/
#ifndef SL_CHUNKING_H_INCLUDED
#define SL_CHUNKING_H_INCLUDED

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

#include "sl_config.h"
#include "sl_mp.h"

typedef struct {
    int target_tokens;          //  most model tokens in a chunk (context included)
    int overlap_tokens;         //  tokens repeated from the chunk before
    bool embed_context;         //  embed "title › section" with each chunk's text
} sl_chunking_t;

#define SL_CHUNKING_TARGET_DEFAULT  128
#define SL_CHUNKING_OVERLAP_DEFAULT 37
#define SL_CHUNKING_TARGET_MIN      16
#define SL_CHUNKING_TARGET_MAX      8192

//  The built-in defaults overlaid with config keys chunk.target_tokens,
//  chunk.overlap_tokens, chunk.embed_context (cfg may be NULL).
void sl_chunking_from_config (sl_chunking_t *self, sl_config_t *cfg);

//  Apply the fields present in a JSON object over self ("target_tokens",
//  "overlap_tokens", "embed_context"; anything else is refused), then
//  check the whole: 0, or -1 with a sentence in err and self unchanged.
int sl_chunking_apply_json (sl_chunking_t *self, const json_t *object, char *err, size_t errlen);

//  The same from JSON text as sl_chunking_to_text writes it (a workspace's
//  stored settings): 1 applied, 0 if text is NULL or empty (self
//  unchanged), -1 with a sentence in err if it does not hold valid settings.
int sl_chunking_apply_text (sl_chunking_t *self, const char *text, char *err, size_t errlen);

//  The same from a msgpack map (a message's "chunking").
int sl_chunking_apply_mp (sl_chunking_t *self, const msgpack_object *map, char *err,
                          size_t errlen);

//  Check self: target in [SL_CHUNKING_TARGET_MIN, SL_CHUNKING_TARGET_MAX],
//  0 <= overlap <= target / 2. 0, or -1 with a sentence in err.
int sl_chunking_check (const sl_chunking_t *self, char *err, size_t errlen);

//  self as a new JSON object; as compact JSON text (caller frees).
json_t *sl_chunking_to_json (const sl_chunking_t *self);
char *sl_chunking_to_text (const sl_chunking_t *self);

//  Pack self as a map of three into w (after its key, if inside a map).
void sl_chunking_pack (const sl_chunking_t *self, sl_mpw_t *w);

void sl_chunking_test (bool verbose);

#endif
