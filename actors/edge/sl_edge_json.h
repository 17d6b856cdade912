/*  sl_edge_json: msgpack <-> JSON for the HTTP edge.

    Everything behind the edge speaks msgpack (docs/protocol.md §4); every
    HTTP client speaks JSON. This module is the one place that converts:
    request bodies from JSON to msgpack maps for `intake`/`query`, and
    replies and events from msgpack back to JSON.

    The msgpack side is always untrusted bytes from the broker, so decoding
    goes through sl_mp_decode (bounded, depth-checked) and every value has a
    JSON rendering: strings that are not valid UTF-8 are repaired (invalid
    bytes become U+FFFD) rather than dropped, bins become strings when they
    are UTF-8 text and base64 otherwise, non-string map keys are printed,
    NaN/Inf become null, and extension types become null.

    Pure functions, thread-safe. Returned json_t references belong to the
    caller (json_decref); returned buffers are malloc'd and the caller's.
*/
#ifndef SL_EDGE_JSON_H_INCLUDED
#define SL_EDGE_JSON_H_INCLUDED

#include <jansson.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>

//  Convert one decoded msgpack object to JSON. Never NULL. Caller owns it.
json_t *sl_edge_json_from_object (const msgpack_object *o);

//  Decode untrusted msgpack bytes and convert them. Returns NULL with a
//  reason in err if the bytes are not one well-formed msgpack value.
json_t *sl_edge_json_from_msgpack (const void *data, size_t size, char *err, size_t errlen);

//  Encode a JSON value as msgpack into a malloc'd buffer (caller frees).
//  Integers stay integers, reals become doubles. Returns NULL only if
//  value is NULL.
char *sl_edge_json_to_msgpack (const json_t *value, size_t *size);

//  A UTF-8-valid copy of s (len bytes): invalid sequences become U+FFFD.
//  Caller frees.
char *sl_edge_json_utf8_repair (const char *s, size_t len, size_t *out_len);

//  True if s (n bytes) is valid UTF-8 (no overlongs, no surrogates).
bool sl_edge_json_utf8_valid (const char *s, size_t n);

void sl_edge_json_test (bool verbose);

#endif
