/*  sl_chunking: how a workspace's documents are cut into chunks. See the
    header for who shares it and why.
*/
#include "sl_chunking.h"
#include "sl_json.h"

#include <stdio.h>
#include <string.h>

void
sl_chunking_from_config (sl_chunking_t *self, sl_config_t *cfg)
{
    self->target_tokens = SL_CHUNKING_TARGET_DEFAULT;
    self->overlap_tokens = SL_CHUNKING_OVERLAP_DEFAULT;
    self->embed_context = true;
    if (!cfg)
        return;
    self->target_tokens = (int) sl_config_int (cfg, "chunk.target_tokens", self->target_tokens);
    self->overlap_tokens = (int) sl_config_int (cfg, "chunk.overlap_tokens", self->overlap_tokens);
    self->embed_context = sl_config_bool (cfg, "chunk.embed_context", self->embed_context);
}

int
sl_chunking_check (const sl_chunking_t *self, char *err, size_t errlen)
{
    if (self->target_tokens < SL_CHUNKING_TARGET_MIN || self->target_tokens > SL_CHUNKING_TARGET_MAX) {
        snprintf (err, errlen, "chunking: target_tokens must be between %d and %d (got %d)",
                  SL_CHUNKING_TARGET_MIN, SL_CHUNKING_TARGET_MAX, self->target_tokens);
        return -1;
    }
    //  More than half repeated would embed most text twice for nothing
    if (self->overlap_tokens < 0 || self->overlap_tokens > self->target_tokens / 2) {
        snprintf (err, errlen, "chunking: overlap_tokens must be between 0 and half of "
                  "target_tokens (%d); got %d", self->target_tokens / 2, self->overlap_tokens);
        return -1;
    }
    return 0;
}

static const char *s_fields [] = { "target_tokens", "overlap_tokens", "embed_context", NULL };

static bool
s_known (const char *key)
{
    for (int i = 0; s_fields [i]; i++)
        if (strcmp (key, s_fields [i]) == 0)
            return true;
    return false;
}

int
sl_chunking_apply_json (sl_chunking_t *self, const json_t *object, char *err, size_t errlen)
{
    if (!json_is_object (object)) {
        snprintf (err, errlen, "chunking: expected an object with target_tokens, "
                  "overlap_tokens and/or embed_context");
        return -1;
    }
    sl_chunking_t next = *self;
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) object, key, value) {
        if (!s_known (key)) {
            snprintf (err, errlen, "chunking: unknown setting '%.64s' (known: target_tokens, "
                      "overlap_tokens, embed_context)", key);
            return -1;
        }
        if (strcmp (key, "embed_context") == 0) {
            if (!json_is_boolean (value)) {
                snprintf (err, errlen, "chunking: embed_context must be true or false");
                return -1;
            }
            next.embed_context = json_is_true (value);
            continue;
        }
        if (!json_is_integer (value) || json_integer_value (value) < -1000000
        ||  json_integer_value (value) > 1000000) {
            snprintf (err, errlen, "chunking: %s must be a whole number", key);
            return -1;
        }
        int n = (int) json_integer_value (value);
        if (strcmp (key, "target_tokens") == 0)
            next.target_tokens = n;
        else
            next.overlap_tokens = n;
    }
    if (sl_chunking_check (&next, err, errlen))
        return -1;
    *self = next;
    return 0;
}

int
sl_chunking_apply_text (sl_chunking_t *self, const char *text, char *err, size_t errlen)
{
    if (!text || !*text)
        return 0;
    json_t *object = json_loads (text, 0, NULL);
    int rc = sl_chunking_apply_json (self, object, err, errlen);
    json_decref (object);
    return rc == 0 ? 1 : -1;
}

int
sl_chunking_apply_mp (sl_chunking_t *self, const msgpack_object *map, char *err, size_t errlen)
{
    json_t *object = map ? sl_json_from_mp (map) : NULL;
    int rc = sl_chunking_apply_json (self, object, err, errlen);
    json_decref (object);
    return rc;
}

json_t *
sl_chunking_to_json (const sl_chunking_t *self)
{
    return json_pack ("{s:i, s:i, s:b}", "target_tokens", self->target_tokens,
                      "overlap_tokens", self->overlap_tokens, "embed_context", self->embed_context);
}

char *
sl_chunking_to_text (const sl_chunking_t *self)
{
    json_t *object = sl_chunking_to_json (self);
    char *text = object ? json_dumps (object, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref (object);
    return text;
}

void
sl_chunking_pack (const sl_chunking_t *self, sl_mpw_t *w)
{
    msgpack_pack_map (&w->pk, 3);
    sl_mpw_kv_int (w, "target_tokens", self->target_tokens);
    sl_mpw_kv_int (w, "overlap_tokens", self->overlap_tokens);
    sl_mpw_kv_bool (w, "embed_context", self->embed_context);
}
