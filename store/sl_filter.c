/*  sl_filter: document attributes and search filters. See sl_filter.h.

    Parsing goes through jansson (which already refuses invalid UTF-8,
    NUL in strings and unbounded nesting), then every rule of the header
    is checked here, once; nothing downstream re-validates.
*/
#include "sl_filter.h"

#include <assert.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
s_err (char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || !errlen)
        return;
    va_list args;
    va_start (args, fmt);
    vsnprintf (err, errlen, fmt, args);
    va_end (args);
}

//  [A-Za-z0-9_.-]{1,64}
static bool
s_key_ok (const char *key)
{
    size_t len = strlen (key);
    if (len < 1 || len > SL_META_KEY_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

//  A key as it can be shown in a message: valid ones whole, others cut
static const char *
s_show (const char *key, char *buf, size_t size)
{
    snprintf (buf, size, "%.40s%s", key, strlen (key) > 40 ? "..." : "");
    for (char *p = buf; *p; p++)
        if ((unsigned char) *p < 0x20 || *p == '"')
            *p = '?';
    return buf;
}

//  --------------------------------------------------------------------------
//  Instants

static int
s_digits (const char *s, int n)
{
    int value = 0;
    for (int i = 0; i < n; i++) {
        if (s [i] < '0' || s [i] > '9')
            return -1;
        value = value * 10 + (s [i] - '0');
    }
    return value;
}

//  Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm)
static int64_t
s_days (int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

bool
sl_instant_parse (const char *s, double *seconds)
{
    if (!s || strlen (s) < 10 || s [4] != '-' || s [7] != '-')
        return false;
    int y = s_digits (s, 4), m = s_digits (s + 5, 2), d = s_digits (s + 8, 2);
    static const int mdays [] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (y < 0 || m < 1 || m > 12 || d < 1 || d > mdays [m - 1])
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m == 2 && d == 29 && !leap)
        return false;
    double t = (double) s_days (y, m, d) * 86400.0;
    const char *p = s + 10;
    if (*p == 0) {
        *seconds = t;
        return true;
    }
    if (*p != 'T' && *p != 't')
        return false;
    p++;
    if (strlen (p) < 9 || p [2] != ':' || p [5] != ':')
        return false;
    int hh = s_digits (p, 2), mm = s_digits (p + 3, 2), ss = s_digits (p + 6, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60)
        return false;
    t += hh * 3600.0 + mm * 60.0 + ss;
    p += 8;
    if (*p == '.') {
        double scale = 0.1, frac = 0;
        int n = 0;
        for (p++; *p >= '0' && *p <= '9' && n < 9; p++, n++, scale /= 10)
            frac += (*p - '0') * scale;
        if (n == 0 || (*p >= '0' && *p <= '9'))
            return false;
        t += frac;
    }
    if ((*p == 'Z' || *p == 'z') && p [1] == 0) {
        *seconds = t;
        return true;
    }
    if ((*p != '+' && *p != '-') || strlen (p) != 6 || p [3] != ':')
        return false;
    int oh = s_digits (p + 1, 2), om = s_digits (p + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59)
        return false;
    double offset = oh * 3600.0 + om * 60.0;
    *seconds = *p == '+' ? t - offset : t + offset;
    return true;
}

//  --------------------------------------------------------------------------
//  Attributes

static bool
s_scalar_ok (const char *key, json_t *value, bool in_list, char *err, size_t errlen)
{
    char shown [48];
    if (json_is_string (value)) {
        if (json_string_length (value) > SL_META_STRING) {
            s_err (err, errlen, "meta: \"%s\" has a string of %zu bytes, more than %d",
                   s_show (key, shown, sizeof shown), json_string_length (value), SL_META_STRING);
            return false;
        }
        return true;
    }
    if (json_is_number (value) || json_is_boolean (value))
        return true;
    s_err (err, errlen, "meta: \"%s\" %s %s: values are strings, numbers, booleans or lists "
           "of those", s_show (key, shown, sizeof shown), in_list ? "holds" : "is",
           json_is_null (value) ? "null" : json_is_object (value) ? "an object"
           : in_list ? "a list" : "of no known type");
    return false;
}

static char *
s_number_text (double value)
{
    char buf [32];
    snprintf (buf, sizeof buf, "%.17g", value);
    return strdup (buf);
}

//  One row for a scalar
static void
s_attr_fill (sl_attr_t *attr, const char *key, json_t *value)
{
    attr->key = key;
    if (json_is_string (value)) {
        attr->text = strdup (json_string_value (value));
        attr->vtype = sl_instant_parse (attr->text, &attr->num) ? 'd' : 's';
    }
    else
    if (json_is_boolean (value)) {
        attr->vtype = 'b';
        attr->num = json_is_true (value) ? 1 : 0;
        attr->text = strdup (json_is_true (value) ? "true" : "false");
    }
    else {
        attr->vtype = 'n';
        attr->num = json_number_value (value);
        attr->text = s_number_text (attr->num);
    }
}

sl_meta_t *
sl_meta_from_json (const void *json_in, char *err, size_t errlen)
{
    json_t *object = (json_t *) json_in;
    if (!json_is_object (object)) {
        s_err (err, errlen, "meta must be a JSON object such as {\"team\": \"legal\", "
               "\"year\": 2024}");
        return NULL;
    }
    if (json_object_size (object) > SL_META_KEYS) {
        s_err (err, errlen, "meta has %zu keys, more than %d", json_object_size (object),
               SL_META_KEYS);
        return NULL;
    }
    int rows = 0;
    const char *key;
    json_t *value;
    char shown [48];
    json_object_foreach (object, key, value) {
        if (!s_key_ok (key)) {
            s_err (err, errlen, "meta key \"%s\" is not 1-64 characters of A-Z a-z 0-9 _ . -",
                   s_show (key, shown, sizeof shown));
            return NULL;
        }
        if (json_is_array (value)) {
            if (json_array_size (value) > SL_META_LIST) {
                s_err (err, errlen, "meta: \"%s\" has %zu items, more than %d", key,
                       json_array_size (value), SL_META_LIST);
                return NULL;
            }
            size_t i;
            json_t *item;
            json_array_foreach (value, i, item)
                if (!s_scalar_ok (key, item, true, err, errlen))
                    return NULL;
            rows += (int) json_array_size (value);
        }
        else {
            if (!s_scalar_ok (key, value, false, err, errlen))
                return NULL;
            rows++;
        }
    }
    char *text = json_dumps (object, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text || strlen (text) > SL_META_BYTES) {
        s_err (err, errlen, "meta is %zu bytes as JSON, more than %d", text ? strlen (text) : 0,
               SL_META_BYTES);
        free (text);
        return NULL;
    }
    sl_meta_t *self = calloc (1, sizeof *self);
    assert (self);
    self->json = text;
    self->object = json_incref (object);
    self->attrs = calloc ((size_t) (rows ? rows : 1), sizeof *self->attrs);
    assert (self->attrs);
    json_object_foreach (object, key, value) {
        if (json_is_array (value)) {
            size_t i;
            json_t *item;
            json_array_foreach (value, i, item)
                s_attr_fill (&self->attrs [self->n_attrs++], key, item);
        }
        else
            s_attr_fill (&self->attrs [self->n_attrs++], key, value);
    }
    return self;
}

static json_t *
s_load (const char *text, size_t len, const char *what, char *err, size_t errlen)
{
    json_error_t jerr;
    if (len > 4 * SL_META_BYTES) {
        s_err (err, errlen, "%s is %zu bytes, more than %d", what, len, 4 * SL_META_BYTES);
        return NULL;
    }
    json_t *json = json_loadb (text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json)
        s_err (err, errlen, "%s is not valid JSON: %s (column %d)", what, jerr.text, jerr.column);
    return json;
}

sl_meta_t *
sl_meta_parse (const char *text, ptrdiff_t len, char *err, size_t errlen)
{
    if (!text) {
        s_err (err, errlen, "meta is missing");
        return NULL;
    }
    json_t *json = s_load (text, len < 0 ? strlen (text) : (size_t) len, "meta", err, errlen);
    if (!json)
        return NULL;
    sl_meta_t *self = sl_meta_from_json (json, err, errlen);
    json_decref (json);
    return self;
}

sl_meta_t *
sl_meta_merge (const char *current, const char *patch, char *err, size_t errlen)
{
    json_t *base = current && *current ? s_load (current, strlen (current), "meta", err, errlen)
                                       : json_object ();
    json_t *changes = patch ? s_load (patch, strlen (patch), "meta", err, errlen) : NULL;
    sl_meta_t *self = NULL;
    if (base && !json_is_object (changes))
        s_err (err, errlen, "meta must be a JSON object such as {\"team\": \"legal\"} "
               "(a key set to null is removed)");
    else
    if (base && json_is_object (base)) {
        const char *key;
        json_t *value;
        char shown [48];
        bool ok = true;
        json_object_foreach (changes, key, value) {
            if (!s_key_ok (key)) {
                s_err (err, errlen, "meta key \"%s\" is not 1-64 characters of A-Z a-z 0-9 _ . -",
                       s_show (key, shown, sizeof shown));
                ok = false;
                break;
            }
            if (json_is_null (value))
                json_object_del (base, key);
            else
                json_object_set (base, key, value);
        }
        if (ok)
            self = sl_meta_from_json (base, err, errlen);
    }
    json_decref (base);
    json_decref (changes);
    return self;
}

void
sl_meta_destroy (sl_meta_t **self_p)
{
    assert (self_p);
    sl_meta_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->n_attrs; i++)
        free (self->attrs [i].text);
    free (self->attrs);
    free (self->json);
    json_decref ((json_t *) self->object);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Filters

//  A value to compare with: string, number or boolean
static int
s_fvalue (const char *key, json_t *value, sl_fvalue_t *out, char *err, size_t errlen)
{
    if (json_is_string (value)) {
        if (json_string_length (value) > SL_META_STRING) {
            s_err (err, errlen, "filter: \"%s\" compares with a string longer than %d bytes",
                   key, SL_META_STRING);
            return -1;
        }
        out->vtype = 's';
        out->text = strdup (json_string_value (value));
    }
    else
    if (json_is_number (value)) {
        out->vtype = 'n';
        out->text = s_number_text (json_number_value (value));
    }
    else
    if (json_is_boolean (value)) {
        out->vtype = 'b';
        out->text = strdup (json_is_true (value) ? "true" : "false");
    }
    else {
        s_err (err, errlen, "filter: \"%s\" compares with %s: use a string, number or boolean",
               key, json_is_null (value) ? "null" : json_is_array (value) ? "a list (for any of "
               "several values write {\"any\": [...]})" : "an object");
        return -1;
    }
    return 0;
}

//  A range bound: a number, or a string that is an instant
static int
s_bound (sl_cond_t *cond, const char *op, json_t *value, char *out, char *err, size_t errlen)
{
    char vtype;
    double num;
    if (json_is_number (value)) {
        vtype = 'n';
        num = json_number_value (value);
    }
    else
    if (json_is_string (value) && sl_instant_parse (json_string_value (value), &num))
        vtype = 'd';
    else {
        s_err (err, errlen, "filter: \"%s\": \"%s\" takes a number or a date (2024-03-01 or "
               "2024-03-01T09:30:00Z), not %s", cond->key, op,
               json_is_string (value) ? "that string" : json_is_null (value) ? "null"
               : json_is_boolean (value) ? "a boolean" : "a list or object");
        return -1;
    }
    if (cond->vtype && cond->vtype != vtype) {
        s_err (err, errlen, "filter: \"%s\" mixes number and date bounds", cond->key);
        return -1;
    }
    cond->vtype = vtype;
    snprintf (out, 32, "%.17g", num);
    return 0;
}

static int
s_operators (sl_cond_t *cond, json_t *ops, char *err, size_t errlen)
{
    if (json_object_size (ops) == 0) {
        s_err (err, errlen, "filter: \"%s\" has no operator: use any, gte, gt, lte or lt",
               cond->key);
        return -1;
    }
    json_t *any = json_object_get (ops, "any");
    if (any) {
        if (json_object_size (ops) != 1) {
            s_err (err, errlen, "filter: \"%s\": \"any\" cannot be combined with other operators",
                   cond->key);
            return -1;
        }
        if (!json_is_array (any) || json_array_size (any) == 0
        ||  json_array_size (any) > SL_FILTER_VALUES) {
            s_err (err, errlen, "filter: \"%s\": \"any\" takes a list of 1 to %d values",
                   cond->key, SL_FILTER_VALUES);
            return -1;
        }
        cond->op = SL_COND_ANY;
        cond->values = calloc (json_array_size (any), sizeof *cond->values);
        assert (cond->values);
        size_t i;
        json_t *item;
        json_array_foreach (any, i, item) {
            if (s_fvalue (cond->key, item, &cond->values [i], err, errlen))
                return -1;
            cond->n_values++;
        }
        return 0;
    }
    cond->op = SL_COND_RANGE;
    const char *op;
    json_t *value;
    char shown [48];
    json_object_foreach (ops, op, value) {
        bool lo = strcmp (op, "gte") == 0 || strcmp (op, "gt") == 0;
        bool hi = strcmp (op, "lte") == 0 || strcmp (op, "lt") == 0;
        if (!lo && !hi) {
            s_err (err, errlen, "filter: \"%s\" has an unknown operator \"%s\": use any, gte, "
                   "gt, lte or lt", cond->key, s_show (op, shown, sizeof shown));
            return -1;
        }
        if ((lo && cond->has_lo) || (hi && cond->has_hi)) {
            s_err (err, errlen, "filter: \"%s\" has two %s bounds", cond->key,
                   lo ? "lower" : "upper");
            return -1;
        }
        if (s_bound (cond, op, value, lo ? cond->lo : cond->hi, err, errlen))
            return -1;
        if (lo) {
            cond->has_lo = true;
            cond->lo_incl = op [2] == 'e';
        }
        else {
            cond->has_hi = true;
            cond->hi_incl = op [2] == 'e';
        }
    }
    return 0;
}

static int
s_conditions (sl_filter_t *self, json_t *filter, char *err, size_t errlen)
{
    if (!json_is_object (filter)) {
        s_err (err, errlen, "filter must be a JSON object such as {\"team\": \"legal\", "
               "\"year\": {\"gte\": 2020}}");
        return -1;
    }
    if (json_object_size (filter) > SL_FILTER_CONDITIONS) {
        s_err (err, errlen, "filter has %zu conditions, more than %d", json_object_size (filter),
               SL_FILTER_CONDITIONS);
        return -1;
    }
    const char *key;
    json_t *value;
    char shown [48];
    json_object_foreach (filter, key, value) {
        if (!s_key_ok (key)) {
            s_err (err, errlen, "filter key \"%s\" is not an attribute name (1-64 characters of "
                   "A-Z a-z 0-9 _ . -)", s_show (key, shown, sizeof shown));
            return -1;
        }
        sl_cond_t *cond = &self->conds [self->n_conds++];
        snprintf (cond->key, sizeof cond->key, "%s", key);
        if (json_is_object (value)) {
            if (s_operators (cond, value, err, errlen))
                return -1;
        }
        else {
            cond->op = SL_COND_EQ;
            cond->values = calloc (1, sizeof *cond->values);
            assert (cond->values);
            if (s_fvalue (key, value, &cond->values [0], err, errlen))
                return -1;
            cond->n_values = 1;
        }
    }
    return 0;
}

static bool
s_mime_ok (const char *mime)
{
    size_t len = strlen (mime);
    if (len < 3 || len > 255 || !strchr (mime, '/'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = mime [i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || strchr ("!#$&^_.+-/", c)))
            return false;
    }
    return true;
}

static int
s_mimes (sl_filter_t *self, json_t *mime, char *err, size_t errlen)
{
    json_t *list = json_is_string (mime) ? json_pack ("[O]", mime) : json_incref (mime);
    int rc = 0;
    if (!json_is_array (list) || json_array_size (list) == 0
    ||  json_array_size (list) > SL_FILTER_MIMES) {
        s_err (err, errlen, "mime must be a type such as \"application/pdf\" or a list of 1 to "
               "%d types", SL_FILTER_MIMES);
        rc = -1;
    }
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        if (rc)
            break;
        if (!json_is_string (item) || !s_mime_ok (json_string_value (item))) {
            s_err (err, errlen, "mime: \"%.60s\" is not a type such as application/pdf",
                   json_is_string (item) ? json_string_value (item) : "(not a string)");
            rc = -1;
        }
        else
            self->mimes [self->n_mimes++] = strdup (json_string_value (item));
    }
    json_decref (list);
    return rc;
}

static int
s_prefix (sl_filter_t *self, json_t *prefix, char *err, size_t errlen)
{
    if (!json_is_string (prefix) || json_string_length (prefix) == 0
    ||  json_string_length (prefix) > SL_FILTER_PREFIX) {
        s_err (err, errlen, "source_prefix must be a non-empty string of at most %d bytes, "
               "such as \"https://docs.example.com/\" or \"upload:reports/\"", SL_FILTER_PREFIX);
        return -1;
    }
    const char *text = json_string_value (prefix);
    self->source_prefix = strdup (text);
    //  every source starting with the prefix sorts below prefix + U+10FFFF
    //  (the largest code point), byte-wise: an index range, not a LIKE scan
    size_t len = strlen (text);
    self->source_upper = malloc (len + 5);
    assert (self->source_upper);
    memcpy (self->source_upper, text, len);
    memcpy (self->source_upper + len, "\xF4\x8F\xBF\xBF", 5);
    return 0;
}

int
sl_filter_from_request (const void *request, sl_filter_t **filter_p, char *err, size_t errlen)
{
    assert (filter_p);
    *filter_p = NULL;
    json_t *in = (json_t *) request;
    json_t *filter = json_object_get (in, "filter");
    json_t *prefix = json_object_get (in, "source_prefix");
    json_t *mime = json_object_get (in, "mime");
    if (json_is_null (filter))
        filter = NULL;
    if (json_is_null (prefix))
        prefix = NULL;
    if (json_is_null (mime))
        mime = NULL;
    if (json_is_object (filter) && json_object_size (filter) == 0)
        filter = NULL;
    if (!filter && !prefix && !mime)
        return 0;
    sl_filter_t *self = calloc (1, sizeof *self);
    assert (self);
    int rc = 0;
    if (filter)
        rc = s_conditions (self, filter, err, errlen);
    if (rc == 0 && prefix)
        rc = s_prefix (self, prefix, err, errlen);
    if (rc == 0 && mime)
        rc = s_mimes (self, mime, err, errlen);
    if (rc)
        sl_filter_destroy (&self);
    *filter_p = self;
    return rc;
}

int
sl_filter_parse (const char *filter_json, const char *source_prefix, const char *const *mimes,
                 int n_mimes, sl_filter_t **filter_p, char *err, size_t errlen)
{
    assert (filter_p);
    *filter_p = NULL;
    json_t *request = json_object ();
    int rc = 0;
    if (filter_json) {
        json_t *filter = s_load (filter_json, strlen (filter_json), "filter", err, errlen);
        if (!filter)
            rc = -1;
        else
            json_object_set_new (request, "filter", filter);
    }
    if (rc == 0 && source_prefix) {
        json_t *prefix = json_string (source_prefix);
        if (!prefix) {
            s_err (err, errlen, "source_prefix is not valid UTF-8");
            rc = -1;
        }
        else
            json_object_set_new (request, "source_prefix", prefix);
    }
    if (rc == 0 && n_mimes > 0) {
        json_t *list = json_array ();
        for (int i = 0; i < n_mimes; i++)
            json_array_append_new (list, mimes [i] ? json_string (mimes [i]) : json_null ());
        json_object_set_new (request, "mime", list);
    }
    if (rc == 0)
        rc = sl_filter_from_request (request, filter_p, err, errlen);
    json_decref (request);
    return rc;
}

void
sl_filter_destroy (sl_filter_t **self_p)
{
    assert (self_p);
    sl_filter_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < self->n_conds; i++) {
        for (int v = 0; v < self->conds [i].n_values; v++)
            free (self->conds [i].values [v].text);
        free (self->conds [i].values);
    }
    free (self->source_prefix);
    free (self->source_upper);
    for (int i = 0; i < self->n_mimes; i++)
        free (self->mimes [i]);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  SQL for the backends

typedef struct {
    char *sql;
    size_t size, used;
    char mark;
    const char **params;
    int max, n, next;
    bool full;
} s_sql_t;

static void
s_put (s_sql_t *b, const char *fmt, ...)
{
    if (b->full)
        return;
    va_list args;
    va_start (args, fmt);
    int wrote = vsnprintf (b->sql + b->used, b->size - b->used, fmt, args);
    va_end (args);
    if (wrote < 0 || (size_t) wrote >= b->size - b->used)
        b->full = true;
    else
        b->used += (size_t) wrote;
}

//  Append the next placeholder bound to value
static void
s_param (s_sql_t *b, const char *value)
{
    if (b->n >= b->max) {
        b->full = true;
        return;
    }
    b->params [b->n++] = value;
    s_put (b, "%c%d", b->mark, b->next++);
}

static void
s_value_sql (s_sql_t *b, const sl_fvalue_t *v)
{
    if (v->vtype == 'n') {
        s_put (b, "(vtype = 'n' AND vnum = CAST (");
        s_param (b, v->text);
        s_put (b, " AS DOUBLE PRECISION))");
    }
    else {
        s_put (b, v->vtype == 'b' ? "(vtype = 'b' AND vtext = " : "(vtype IN ('s', 'd') AND vtext = ");
        s_param (b, v->text);
        s_put (b, ")");
    }
}

static void
s_cond_sql (s_sql_t *b, const sl_cond_t *cond, int ws_param)
{
    s_put (b, " AND d.id IN (SELECT document_id FROM doc_attrs WHERE workspace = %c%d AND key = ",
           b->mark, ws_param);
    s_param (b, cond->key);
    s_put (b, " AND (");
    if (cond->op == SL_COND_RANGE) {
        s_put (b, "vtype = '%c'", cond->vtype);
        if (cond->has_lo) {
            s_put (b, " AND vnum %s CAST (", cond->lo_incl ? ">=" : ">");
            s_param (b, cond->lo);
            s_put (b, " AS DOUBLE PRECISION)");
        }
        if (cond->has_hi) {
            s_put (b, " AND vnum %s CAST (", cond->hi_incl ? "<=" : "<");
            s_param (b, cond->hi);
            s_put (b, " AS DOUBLE PRECISION)");
        }
    }
    else
        for (int i = 0; i < cond->n_values; i++) {
            s_put (b, i ? " OR " : "");
            s_value_sql (b, &cond->values [i]);
        }
    s_put (b, "))");
}

int
sl_filter_sql (const sl_filter_t *filter, bool pg, int ws_param, int first_param, char *sql,
               size_t size, const char **params, int max_params, int *n_params)
{
    assert (filter && sql && size > 0 && n_params);
    s_sql_t b = { .sql = sql, .size = size, .used = strlen (sql), .mark = pg ? '$' : '?',
                  .params = params, .max = max_params, .next = first_param };
    if (b.used >= size)
        return -1;
    for (int i = 0; i < filter->n_conds; i++)
        s_cond_sql (&b, &filter->conds [i], ws_param);
    if (filter->source_prefix) {
        //  PostgreSQL compares text by the database's collation unless told
        //  to compare bytes; the prefix range needs byte order
        const char *bytes = pg ? " COLLATE \"C\"" : "";
        s_put (&b, " AND d.id IN (SELECT document_id FROM document_sources WHERE workspace = "
               "%c%d AND source%s >= ", b.mark, ws_param, bytes);
        s_param (&b, filter->source_prefix);
        s_put (&b, " AND source%s < ", bytes);
        s_param (&b, filter->source_upper);
        s_put (&b, ")");
    }
    if (filter->n_mimes > 0) {
        s_put (&b, " AND d.mime IN (");
        for (int i = 0; i < filter->n_mimes; i++) {
            s_put (&b, i ? ", " : "");
            s_param (&b, filter->mimes [i]);
        }
        s_put (&b, ")");
    }
    *n_params = b.n;
    return b.full ? -1 : 0;
}
