/*  sl_json: msgpack <-> JSON (jansson) conversion, the one place that does it.

    The wire is msgpack; people and browsers speak JSON. The journal stores
    event data as JSON text, the HTTP edge answers in JSON (replies, stats,
    live SSE events), the broker's /stats.json too: all of them convert
    here, so an event replayed from the journal is the same JSON as the one
    sent live.

    One policy for values JSON cannot hold as they are:
      - a str that is not valid UTF-8 is repaired: each invalid byte
        becomes U+FFFD (nothing is dropped, the rest of the text stays);
      - a bin becomes a string when it is valid UTF-8 text, else its
        base64 (RFC 4648, padded): the bytes survive, the JSON stays text;
      - map keys that are not strings are printed (42, true); a key is cut
        at an embedded NUL; NaN and infinities become null; extension
        types become null; integers past INT64_MAX become reals.
    The result is stable: converting its JSON back to msgpack and then to
    JSON again gives the same text (what the journal's replay relies on).

    The msgpack side is untrusted bytes: decoding goes through sl_mp_decode
    (bounded, depth-checked). Depth on the way out (JSON from the network)
    is bounded by SL_JSON_MAX_DEPTH in sl_json_to_mp.

    Pure functions, thread-safe. Returned json_t references belong to the
    caller (json_decref); returned buffers are malloc'd and the caller's.
*/
#ifndef SL_JSON_H_INCLUDED
#define SL_JSON_H_INCLUDED

#include "sl_mp.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define SL_JSON_MAX_DEPTH 16

//  Convert a decoded msgpack object to a new JSON value. Never NULL.
json_t *sl_json_from_mp (const msgpack_object *o);

//  Decode untrusted msgpack bytes and convert them. NULL with a reason in
//  err (may be NULL) if the bytes are not one well-formed msgpack value.
json_t *sl_json_from_msgpack (const void *data, size_t size, char *err, size_t errlen);

//  Convenience: msgpack bytes → JSON text (malloc'd, compact). NULL if the
//  bytes are not valid msgpack.
char *sl_json_text_from_mp (const void *data, size_t size);

//  Pack a JSON value into the writer. Returns -1 if nested deeper than
//  SL_JSON_MAX_DEPTH.
int sl_json_to_mp (const json_t *json, sl_mpw_t *w);

//  Encode a JSON value as msgpack into a malloc'd buffer (caller frees),
//  at any depth (jansson's parser bounds it). Integers stay integers,
//  reals become doubles. NULL only if value is NULL.
char *sl_json_to_msgpack (const json_t *value, size_t *size);

void sl_json_test (bool verbose);

#endif
