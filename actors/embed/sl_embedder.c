/*  sl_embedder: the provider registry and the checks every provider shares.
    See sl_embedder.h. The hash provider lives in sl_embed_hash.c.
*/
#include "sl_embedder.h"
#include "sl_log.h"
#include "sl_util.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

//  The registry: add new providers here.
static const sl_embed_provider_t *s_providers [] = {
    &sl_embed_hash_provider,
    &sl_embed_use_provider,
    &sl_embed_bert_provider,
    &sl_embed_openai_provider,
    NULL
};

struct sl_embedder_s {
    const sl_embed_provider_t *provider;
    void *state;
    sl_embed_info_t info;
};

static char s_names [256];
static pthread_once_t s_names_once = PTHREAD_ONCE_INIT;

static void
s_build_names (void)
{
    size_t len = 0;
    for (int i = 0; s_providers [i] && len < sizeof s_names; i++)
        len += (size_t) snprintf (s_names + len, sizeof s_names - len, "%s%s", i ? ", " : "",
                                  s_providers [i]->name);
}

const char *
sl_embedder_providers (void)
{
    pthread_once (&s_names_once, s_build_names);
    return s_names;
}

sl_embedder_t *
sl_embedder_new (const char *provider, const char *options, char *err, size_t errlen)
{
    char scratch [256];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err [0] = 0;
    const sl_embed_provider_t *found = NULL;
    for (int i = 0; provider && s_providers [i]; i++)
        if (strcmp (s_providers [i]->name, provider) == 0)
            found = s_providers [i];
    if (!found) {
        snprintf (err, errlen, "unknown embedding provider '%s' (known: %s)",
                  provider ? provider : "(none)", sl_embedder_providers ());
        return NULL;
    }
    sl_embedder_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    self->provider = found;
    self->state = found->open (options, &self->info, err, errlen);
    if (!self->state) {
        if (!err [0])
            snprintf (err, errlen, "provider '%s' failed to start", found->name);
        free (self);
        return NULL;
    }
    assert (self->info.dim > 0 && self->info.max_tokens >= 0 && self->info.model_id [0]);
    return self;
}

void
sl_embedder_destroy (sl_embedder_t **self_p)
{
    assert (self_p);
    sl_embedder_t *self = *self_p;
    if (self) {
        self->provider->close (self->state);
        free (self);
        *self_p = NULL;
    }
}

const char *
sl_embedder_provider (sl_embedder_t *self)
{
    assert (self);
    return self->provider->name;
}

const char *
sl_embedder_model_id (sl_embedder_t *self)
{
    assert (self);
    return self->info.model_id;
}

int
sl_embedder_dim (sl_embedder_t *self)
{
    assert (self);
    return self->info.dim;
}

bool
sl_embedder_cacheable (sl_embedder_t *self)
{
    assert (self);
    return !self->info.uncached;
}

int
sl_embedder_max_tokens (sl_embedder_t *self)
{
    assert (self);
    return self->info.max_tokens;
}

size_t
sl_embedder_count_tokens (sl_embedder_t *self, const char *text, size_t len)
{
    assert (self);
    assert (text || len == 0);
    return self->provider->count_tokens (self->state, text ? text : "", len);
}

size_t
sl_embedder_token_counter (void *embedder, const char *text, size_t len)
{
    return sl_embedder_count_tokens ((sl_embedder_t *) embedder, text, len);
}

int
sl_embedder_embed (sl_embedder_t *self, const char **texts, const size_t *lens, int n,
                   float *out, char *err, size_t errlen)
{
    assert (self);
    assert (n >= 0);
    assert (n == 0 || (texts && lens && out));
    char scratch [256];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err [0] = 0;
    if (n == 0)
        return 0;
    for (int i = 0; i < n; i++) {
        assert (texts [i] || lens [i] == 0);
        if (lens [i] > SL_EMBED_MAX_TEXT) {
            snprintf (err, errlen, "text %d is too long to embed (%zu bytes, max %d): "
                      "chunk it first", i, lens [i], SL_EMBED_MAX_TEXT);
            return -1;
        }
    }
    memset (out, 0, (size_t) n * (size_t) self->info.dim * sizeof *out);
    int rc = self->provider->embed (self->state, texts, lens, n, out, err, errlen);
    if (rc != 0 && !err [0])
        snprintf (err, errlen, "provider '%s' failed to embed %d texts", self->provider->name, n);
    return rc == 0 ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Option helpers for providers

int
sl_embed_options_parse (const char *options, sl_embed_option_fn *fn, void *arg,
                        char *err, size_t errlen)
{
    if (!options)
        return 0;
    const char *p = options;
    while (*p) {
        const char *end = strchr (p, ',');
        if (!end)
            end = p + strlen (p);
        //  trim the pair
        const char *s = p, *e = end;
        while (s < e && isspace ((unsigned char) *s))
            s++;
        while (e > s && isspace ((unsigned char) e [-1]))
            e--;
        if (s < e) {
            const char *eq = memchr (s, '=', (size_t) (e - s));
            if (!eq || eq == s || e - s >= 256) {
                snprintf (err, errlen, "bad option '%.*s': expected key=value",
                          (int) (e - s > 64 ? 64 : e - s), s);
                return -1;
            }
            char key [256], value [256];
            const char *ke = eq, *vs = eq + 1;
            while (ke > s && isspace ((unsigned char) ke [-1]))
                ke--;
            while (vs < e && isspace ((unsigned char) *vs))
                vs++;
            snprintf (key, sizeof key, "%.*s", (int) (ke - s), s);
            snprintf (value, sizeof value, "%.*s", (int) (e - vs), vs);
            if (fn (arg, key, value, err, errlen))
                return -1;
        }
        p = *end ? end + 1 : end;
    }
    return 0;
}

int
sl_embed_option_int (const char *key, const char *value, long long min, long long max,
                     long long *result, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll (value, &end, 10);
    if (!value [0] || *end || errno || v < min || v > max) {
        snprintf (err, errlen, "option %s=%s: expected a whole number from %lld to %lld",
                  key, value, min, max);
        return -1;
    }
    *result = v;
    return 0;
}

//  --------------------------------------------------------------------------
//  UTF-8 repair shared by the providers (see sl_embedder.h)

char *
sl_embed_utf8_repair (const char *text, size_t len, size_t *len_p)
{
    char *out = malloc (len * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    while (i < len) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate ((const utf8proc_uint8_t *) text + i,
                                               (utf8proc_ssize_t) (len - i), &cp);
        if (n <= 0) {
            memcpy (out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
        else {
            memcpy (out + o, text + i, (size_t) n);
            o += (size_t) n;
            i += (size_t) n;
        }
    }
    out [o] = 0;
    *len_p = o;
    return out;
}
