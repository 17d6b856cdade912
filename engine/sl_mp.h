/*  sl_mp: msgpack helpers that make msgpack-c safe for hostile bytes.

    msgpack-c's unpacker allocates each container up front from the count in
    its header, so five bytes claiming a 4-billion-element array ask for
    ~96 GB. sl_mp_check walks the bytes first and rejects any container whose
    count cannot fit in the remaining input (each element needs at least one
    byte), any nesting deeper than a limit, truncation, and trailing bytes.
    Only after that do we hand the buffer to msgpack_unpack, so the work and
    memory of decoding are bounded by the input length.

    The accessors read typed fields out of a decoded map and fail (rather
    than coerce) on a wrong type, which is how the envelope and protocol
    decoders turn "every byte is hostile" into error values.

    The writer (sl_mpw_t) is a msgpack_sbuffer + msgpack_packer pair with a
    few shortcuts for string keys; callers use msgpack_pack_* on it directly.
*/
#ifndef SL_MP_H_INCLUDED
#define SL_MP_H_INCLUDED

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_MP_MAX_DEPTH 16

//  Validate that data holds exactly one well-formed msgpack object, nested
//  at most max_depth deep. Returns 0, or -1 with a reason in err.
int sl_mp_check (const void *data, size_t size, int max_depth, char *err, size_t errlen);

//  A decoded msgpack object and the zone that owns its memory.
typedef struct _sl_mp_t sl_mp_t;

//  Check, then decode. Returns NULL with a reason in err on bad input.
//  Caller owns the result and must destroy it. The object may point into
//  data (strings, bins), so data must outlive the result.
sl_mp_t *sl_mp_decode (const void *data, size_t size, char *err, size_t errlen);
void sl_mp_destroy (sl_mp_t **self_p);
const msgpack_object *sl_mp_root (sl_mp_t *self);

//  Look up a string key in a map; NULL if o is not a map or key is absent.
const msgpack_object *sl_mp_get (const msgpack_object *map, const char *key);

//  Typed reads: 0 on success, -1 if o is NULL or of the wrong type/range.
//  sl_mp_str copies into buf (NUL-terminated) and fails if the string
//  does not fit or contains a NUL byte (ids and names must be C strings).
int sl_mp_str (const msgpack_object *o, char *buf, size_t cap);
int sl_mp_int (const msgpack_object *o, int64_t *out);
int sl_mp_uint (const msgpack_object *o, uint64_t *out);
int sl_mp_bool (const msgpack_object *o, bool *out);
//  Bytes of a bin or str object (not copied, not NUL-terminated).
int sl_mp_bytes (const msgpack_object *o, const char **ptr, size_t *size);
//  Convenience: get key from map and read it as a string; returns -1 if
//  absent or wrong type. Use when the field is required.
int sl_mp_get_str (const msgpack_object *map, const char *key, char *buf, size_t cap);
int sl_mp_get_int (const msgpack_object *map, const char *key, int64_t *out);
//  Return a malloc'd copy of a str/bin object as a C string, or NULL.
char *sl_mp_strdup (const msgpack_object *o);

//  Writer: sbuffer + packer.
typedef struct {
    msgpack_sbuffer buf;
    msgpack_packer pk;
} sl_mpw_t;

void sl_mpw_init (sl_mpw_t *w);
void sl_mpw_reset (sl_mpw_t *w);      //  free the buffer
void sl_mpw_str (sl_mpw_t *w, const char *s);   //  NULL packs nil
void sl_mpw_bin (sl_mpw_t *w, const void *data, size_t size);
void sl_mpw_kv_str (sl_mpw_t *w, const char *key, const char *value);
void sl_mpw_kv_int (sl_mpw_t *w, const char *key, int64_t value);
void sl_mpw_kv_bool (sl_mpw_t *w, const char *key, bool value);
void sl_mpw_key (sl_mpw_t *w, const char *key);
//  Start a map with the pairs of `map` whose keys are not in `except`
//  (NULL-terminated) plus room for `extra` more pairs that the caller
//  packs next. Lets a stage pass a body on with fields added or replaced.
void sl_mpw_map_extend (sl_mpw_t *w, const msgpack_object *map, const char *const *except, size_t extra);

//  Hand the buffer to the caller (malloc'd; caller frees); w is reset.
char *sl_mpw_take (sl_mpw_t *w, size_t *size);

void sl_mp_test (bool verbose);

#endif
