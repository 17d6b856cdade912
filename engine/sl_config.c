/*  sl_config: layered settings. See sl_config.h. */
#include "sl_config.h"
#include "sl_log.h"

#include <czmq.h>
#include <ctype.h>

struct _sl_config_t {
    zhashx_t *values;           //  "section/key" → strdup'd value
};

sl_config_t *
sl_config_new (void)
{
    sl_config_t *self = calloc (1, sizeof *self);
    assert (self);
    self->values = zhashx_new ();
    zhashx_set_destructor (self->values, (zhashx_destructor_fn *) zstr_free);
    return self;
}

void
sl_config_destroy (sl_config_t **self_p)
{
    if (*self_p) {
        zhashx_destroy (&(*self_p)->values);
        free (*self_p);
        *self_p = NULL;
    }
}

//  Normalise "a.b" to "a/b"; refuse empty parts and odd characters.
static int
s_key (const char *key, char *out, size_t cap)
{
    size_t n = strlen (key);
    if (n == 0 || n >= cap)
        return -1;
    for (size_t i = 0; i <= n; i++) {
        char c = key [i];
        if (c == '.')
            c = '/';
        if (c && !(isalnum ((unsigned char) c) || c == '_' || c == '/' || c == '-'))
            return -1;
        out [i] = c;
    }
    if (out [0] == '/' || out [n - 1] == '/')
        return -1;
    return 0;
}

int
sl_config_set (sl_config_t *self, const char *key, const char *value)
{
    char norm [256];
    if (!value || s_key (key, norm, sizeof norm))
        return -1;
    zhashx_update (self->values, norm, strdup (value));
    return 0;
}

int
sl_config_set_pair (sl_config_t *self, const char *pair)
{
    const char *eq = strchr (pair, '=');
    if (!eq || eq == pair)
        return -1;
    char key [256];
    size_t n = (size_t) (eq - pair);
    if (n >= sizeof key)
        return -1;
    memcpy (key, pair, n);
    key [n] = 0;
    return sl_config_set (self, key, eq + 1);
}

static void
s_flatten (sl_config_t *self, zconfig_t *node, const char *prefix)
{
    for (zconfig_t *child = zconfig_child (node); child; child = zconfig_next (child)) {
        char path [256];
        snprintf (path, sizeof path, "%s%s%s", prefix, *prefix ? "/" : "", zconfig_name (child));
        if (zconfig_value (child) && *zconfig_value (child))
            sl_config_set (self, path, zconfig_value (child));
        s_flatten (self, child, path);
    }
}

int
sl_config_load_file (sl_config_t *self, const char *path, char *err, size_t errlen)
{
    if (access (path, R_OK) != 0) {
        snprintf (err, errlen, "cannot read config file %s: %s", path, strerror (errno));
        return -1;
    }
    zconfig_t *root = zconfig_load (path);
    if (!root) {
        snprintf (err, errlen, "config file %s is not valid ZPL (indent with 4 spaces, key = value)", path);
        return -1;
    }
    s_flatten (self, root, "");
    zconfig_destroy (&root);
    return 0;
}

void
sl_config_load_env (sl_config_t *self, char **envp)
{
    for (char **e = envp; e && *e; e++) {
        if (strncmp (*e, "SLUICE_", 7) != 0)
            continue;
        const char *eq = strchr (*e, '=');
        if (!eq)
            continue;
        char key [256];
        size_t n = (size_t) (eq - *e) - 7;
        if (n == 0 || n >= sizeof key)
            continue;
        bool sectioned = false;
        for (size_t i = 0; i < n; i++) {
            char c = (char) tolower ((unsigned char) (*e) [7 + i]);
            if (c == '_' && !sectioned) {
                c = '/';
                sectioned = true;
            }
            key [i] = c;
        }
        key [n] = 0;
        if (sectioned)
            sl_config_set (self, key, eq + 1);
    }
}

const char *
sl_config_get (sl_config_t *self, const char *key, const char *def)
{
    char norm [256];
    if (s_key (key, norm, sizeof norm))
        return def;
    const char *value = zhashx_lookup (self->values, norm);
    return value ? value : def;
}

int64_t
sl_config_int (sl_config_t *self, const char *key, int64_t def)
{
    const char *value = sl_config_get (self, key, NULL);
    if (!value)
        return def;
    char *end;
    errno = 0;
    long long v = strtoll (value, &end, 10);
    if (errno || end == value || *end) {
        sl_warn (NULL, "config %s = '%s' is not an integer: using %lld", key, value, (long long) def);
        return def;
    }
    return v;
}

double
sl_config_double (sl_config_t *self, const char *key, double def)
{
    const char *value = sl_config_get (self, key, NULL);
    if (!value)
        return def;
    char *end;
    double v = strtod (value, &end);
    if (end == value || *end) {
        sl_warn (NULL, "config %s = '%s' is not a number: using %g", key, value, def);
        return def;
    }
    return v;
}

bool
sl_config_bool (sl_config_t *self, const char *key, bool def)
{
    const char *value = sl_config_get (self, key, NULL);
    if (!value)
        return def;
    if (!strcasecmp (value, "1") || !strcasecmp (value, "true") || !strcasecmp (value, "yes") || !strcasecmp (value, "on"))
        return true;
    if (!strcasecmp (value, "0") || !strcasecmp (value, "false") || !strcasecmp (value, "no") || !strcasecmp (value, "off"))
        return false;
    sl_warn (NULL, "config %s = '%s' is not a boolean: using %s", key, value, def ? "true" : "false");
    return def;
}

int64_t
sl_config_size (sl_config_t *self, const char *key, int64_t def)
{
    const char *value = sl_config_get (self, key, NULL);
    if (!value)
        return def;
    char *end;
    errno = 0;
    double v = strtod (value, &end);
    int64_t mult = 1;
    if (*end == 'k' || *end == 'K') { mult = 1 << 10; end++; }
    else if (*end == 'm' || *end == 'M') { mult = 1 << 20; end++; }
    else if (*end == 'g' || *end == 'G') { mult = 1 << 30; end++; }
    if (*end == 'b' || *end == 'B' || *end == 'i')
        end += *end == 'i' ? 2 : 1;
    if (errno || end == value || *end || v < 0) {
        sl_warn (NULL, "config %s = '%s' is not a size: using %lld", key, value, (long long) def);
        return def;
    }
    return (int64_t) (v * (double) mult);
}

static int
s_compare (const void *a, const void *b)
{
    return strcmp (*(const char **) a, *(const char **) b);
}

void
sl_config_print (sl_config_t *self, FILE *out)
{
    size_t n = zhashx_size (self->values);
    const char **keys = calloc (n + 1, sizeof (char *));
    size_t i = 0;
    for (void *v = zhashx_first (self->values); v; v = zhashx_next (self->values))
        keys [i++] = zhashx_cursor (self->values);
    qsort (keys, n, sizeof (char *), s_compare);
    for (i = 0; i < n; i++)
        fprintf (out, "%s = %s\n", keys [i], (const char *) zhashx_lookup (self->values, keys [i]));
    free (keys);
}
