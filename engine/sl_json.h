/*  sl_json: msgpack <-> JSON (jansson) conversion.

    The wire is msgpack; people and browsers speak JSON. The journal stores
    event data as JSON text, and the HTTP edge answers in JSON, so both
    directions live here once. A msgpack bin becomes a JSON string when it
    is valid UTF-8, else null: nothing that reaches JSON is binary.
    Depth is bounded by sl_mp_check on the way in (msgpack) and by
    SL_JSON_MAX_DEPTH on the way out (JSON from the network).
*/
#ifndef SL_JSON_H_INCLUDED
#define SL_JSON_H_INCLUDED

#include "sl_mp.h"
#include <jansson.h>

#define SL_JSON_MAX_DEPTH 16

//  Convert a msgpack object to a new JSON value (caller decrefs).
json_t *sl_json_from_mp (const msgpack_object *o);

//  Pack a JSON value into the writer. Returns -1 if nested too deep.
int sl_json_to_mp (const json_t *json, sl_mpw_t *w);

//  Convenience: msgpack bytes → JSON text (malloc'd, compact). NULL if the
//  bytes are not valid msgpack.
char *sl_json_text_from_mp (const void *data, size_t size);

void sl_json_test (bool verbose);

#endif
