/*  sluice_args: short forms of attributes and filters. See sluice_args.h. */
#include "sluice_args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *
s_scalar (const char *text, size_t len)
{
    char buf [1100];
    if (len >= sizeof buf)
        return json_stringn (text, len);
    memcpy (buf, text, len);
    buf [len] = 0;
    if (strcmp (buf, "true") == 0)
        return json_true ();
    if (strcmp (buf, "false") == 0)
        return json_false ();
    char *end = NULL;
    if (*buf && strspn (buf, "0123456789+-.eE") == len) {
        long long whole = strtoll (buf, &end, 10);
        if (*end == 0)
            return json_integer (whole);
        double real = strtod (buf, &end);
        if (*end == 0 && isfinite (real))
            return json_real (real);
    }
    return json_stringn (buf, len);
}

json_t *
sluice_arg_value (const char *text, bool split)
{
    if (!split || !strchr (text, ','))
        return s_scalar (text, strlen (text));
    json_t *list = json_array ();
    for (const char *p = text;;) {
        const char *comma = strchr (p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen (p);
        if (len > 0)
            json_array_append_new (list, s_scalar (p, len));
        if (!comma)
            break;
        p = comma + 1;
    }
    return list;
}

static bool
s_key (const char *arg, size_t len, char *key, size_t size)
{
    if (len == 0 || len >= size)
        return false;
    memcpy (key, arg, len);
    key [len] = 0;
    return true;
}

int
sluice_meta_add (json_t *meta, const char *arg, bool removable, char *err, size_t errlen)
{
    const char *eq = strchr (arg, '=');
    char key [128];
    if (!eq || !s_key (arg, (size_t) (eq - arg), key, sizeof key)) {
        snprintf (err, errlen, "--meta wants key=value, got '%.80s'", arg);
        return -1;
    }
    if (removable && eq [1] == 0)
        json_object_set_new (meta, key, json_null ());
    else
        json_object_set_new (meta, key, sluice_arg_value (eq + 1, true));
    return 0;
}

int
sluice_filter_add (json_t *filter, const char *arg, char *err, size_t errlen)
{
    size_t at = strcspn (arg, "<>=~");
    char key [128];
    if (!arg [at] || !s_key (arg, at, key, sizeof key)) {
        snprintf (err, errlen, "--filter wants key=v, key~a,b, key>=v, key>v, key<=v or key<v, "
                  "got '%.80s'", arg);
        return -1;
    }
    const char *op = arg + at;
    const char *value = op + 1;
    const char *name = NULL;
    if (op [0] == '>' || op [0] == '<') {
        bool equal = op [1] == '=';
        value = op + 1 + equal;
        name = op [0] == '>' ? (equal ? "gte" : "gt") : (equal ? "lte" : "lt");
    }
    if (!*value) {
        snprintf (err, errlen, "--filter '%.80s' has no value", arg);
        return -1;
    }
    if (op [0] == '=')
        json_object_set_new (filter, key, sluice_arg_value (value, false));
    else
    if (op [0] == '~')
        json_object_set_new (filter, key, json_pack ("{s:o}", "any", sluice_arg_value (value, true)));
    else {
        json_t *range = json_object_get (filter, key);
        if (!json_is_object (range)) {
            range = json_object ();
            json_object_set_new (filter, key, range);
        }
        json_object_set_new (range, name, sluice_arg_value (value, false));
    }
    return 0;
}
