/*  sl_tfjs: TensorFlow.js manifest and shard reader. See sl_tfjs.h.

    Open is three passes: parse model.json and validate every entry into a
    tensor table (no file touched yet); per group, open and stat the shards
    and compare their total with the bytes the table needs; then map the
    shards and point each tensor into its group. Only after all three can a
    pointer exist, so no pointer ever reaches past what a file holds.
*/
#include "sl_tfjs.h"
#include "sl_util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined (__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#   error "sl_tfjs maps little-endian TF.js shards as they are: add byte swapping for this host"
#endif

#define S_MAX_MANIFEST (64u << 20)      //  model.json bigger than this is not a model
#define S_MAX_DIM ((int64_t) 1 << 31)
#define S_MAX_SHARDS 4096

typedef struct {
    char **paths;               //  shard file names, as in the manifest
    int npaths;
    size_t bytes;               //  what the tensors need
    unsigned char *base;        //  mapped range or malloc'd copy
    size_t span;                //  mapped length (page-rounded), 0 if copied
    bool copied;
} s_group_t;

struct sl_tfjs_s {
    char *dir;
    s_group_t *groups;
    int ngroups;
    sl_tfjs_tensor_t *tensors;
    int *group_of;              //  tensor -> group index
    int ntensors;
    size_t bytes;
    char digest [SL_SHA256_HEX];
};

static size_t
s_dtype_size (sl_tfjs_dtype_t dtype)
{
    return dtype == SL_TFJS_BOOL ? 1 : 4;
}

//  A shard name must stay inside the model folder: a plain file name.
static bool
s_safe_name (const char *name, size_t len)
{
    if (len == 0 || len > 255 || strlen (name) != len)
        return false;
    if (strcmp (name, ".") == 0 || strcmp (name, "..") == 0)
        return false;
    return strchr (name, '/') == NULL && strchr (name, '\\') == NULL;
}

static void
s_free_tables (sl_tfjs_t *self)
{
    for (int g = 0; g < self->ngroups; g++) {
        s_group_t *group = &self->groups [g];
        for (int p = 0; p < group->npaths; p++)
            free (group->paths [p]);
        free (group->paths);
        if (group->copied)
            free (group->base);
        else
        if (group->base)
            munmap (group->base, group->span);
    }
    free (self->groups);
    for (int t = 0; t < self->ntensors; t++)
        free ((char *) self->tensors [t].name);
    free (self->tensors);
    free (self->group_of);
}

void
sl_tfjs_destroy (sl_tfjs_t **self_p)
{
    assert (self_p);
    sl_tfjs_t *self = *self_p;
    if (self) {
        s_free_tables (self);
        free (self->dir);
        free (self);
        *self_p = NULL;
    }
}

//  Read a whole small file. Returns a NUL-terminated buffer or NULL.
static char *
s_slurp (const char *path, size_t max, size_t *size_p, char *err, size_t errlen)
{
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf (err, errlen, "cannot open %s: %s", path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fd, &st) || !S_ISREG (st.st_mode)) {
        snprintf (err, errlen, "%s is not a regular file", path);
        close (fd);
        return NULL;
    }
    if ((uint64_t) st.st_size > max) {
        snprintf (err, errlen, "%s is %lld bytes, more than the %zu a model file may have",
                  path, (long long) st.st_size, max);
        close (fd);
        return NULL;
    }
    size_t size = (size_t) st.st_size;
    char *buf = malloc (size + 1);
    if (!buf) {
        snprintf (err, errlen, "out of memory reading %s", path);
        close (fd);
        return NULL;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read (fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t) n;
    }
    close (fd);
    if (got != size) {
        snprintf (err, errlen, "cannot read %s (file changed while reading?)", path);
        free (buf);
        return NULL;
    }
    buf [size] = 0;
    *size_p = size;
    return buf;
}

//  Pass 1: the manifest into groups and tensors, all checked.
static int
s_parse_manifest (sl_tfjs_t *self, json_t *root, const char *mpath, char *err, size_t errlen)
{
    json_t *manifest = json_is_object (root) ? json_object_get (root, "weightsManifest") : NULL;
    if (!json_is_array (manifest) || json_array_size (manifest) == 0) {
        snprintf (err, errlen, "%s has no \"weightsManifest\" list: not a TensorFlow.js model", mpath);
        return -1;
    }
    size_t ngroups = json_array_size (manifest), ntensors = 0;
    for (size_t g = 0; g < ngroups; g++) {
        json_t *weights = json_object_get (json_array_get (manifest, g), "weights");
        if (!json_is_array (weights)) {
            snprintf (err, errlen, "%s: weightsManifest[%zu] has no \"weights\" list", mpath, g);
            return -1;
        }
        ntensors += json_array_size (weights);
    }
    if (ngroups > S_MAX_SHARDS || ntensors > 1000000) {
        snprintf (err, errlen, "%s: implausibly many groups or tensors", mpath);
        return -1;
    }
    self->groups = calloc (ngroups, sizeof *self->groups);
    self->tensors = calloc (ntensors ? ntensors : 1, sizeof *self->tensors);
    self->group_of = calloc (ntensors ? ntensors : 1, sizeof *self->group_of);
    if (!self->groups || !self->tensors || !self->group_of) {
        snprintf (err, errlen, "out of memory reading %s", mpath);
        return -1;
    }
    self->ngroups = (int) ngroups;
    size_t total_paths = 0;
    for (size_t g = 0; g < ngroups; g++) {
        json_t *entry = json_array_get (manifest, g);
        s_group_t *group = &self->groups [g];
        json_t *paths = json_object_get (entry, "paths");
        if (!json_is_array (paths) || json_array_size (paths) == 0) {
            snprintf (err, errlen, "%s: weightsManifest[%zu] has no \"paths\" list", mpath, g);
            return -1;
        }
        total_paths += json_array_size (paths);
        if (total_paths > S_MAX_SHARDS) {
            snprintf (err, errlen, "%s: more than %d shard files", mpath, S_MAX_SHARDS);
            return -1;
        }
        group->paths = calloc (json_array_size (paths), sizeof *group->paths);
        if (!group->paths) {
            snprintf (err, errlen, "out of memory reading %s", mpath);
            return -1;
        }
        for (size_t p = 0; p < json_array_size (paths); p++) {
            json_t *path = json_array_get (paths, p);
            if (!json_is_string (path)
            ||  !s_safe_name (json_string_value (path), json_string_length (path))) {
                snprintf (err, errlen, "%s: weightsManifest[%zu].paths[%zu] is not a plain file "
                          "name in the model folder", mpath, g, p);
                return -1;
            }
            group->paths [p] = strdup (json_string_value (path));
            if (!group->paths [p]) {
                snprintf (err, errlen, "out of memory reading %s", mpath);
                return -1;
            }
            group->npaths++;
        }
        json_t *weights = json_object_get (entry, "weights");
        for (size_t w = 0; w < json_array_size (weights); w++) {
            json_t *spec = json_array_get (weights, w);
            json_t *name = json_object_get (spec, "name");
            json_t *shape = json_object_get (spec, "shape");
            json_t *dtype = json_object_get (spec, "dtype");
            if (!json_is_string (name) || json_string_length (name) == 0
            ||  strlen (json_string_value (name)) != json_string_length (name)) {
                snprintf (err, errlen, "%s: weight %zu of group %zu has no valid name", mpath, w, g);
                return -1;
            }
            const char *tname = json_string_value (name);
            if (json_object_get (spec, "quantization")) {
                snprintf (err, errlen, "%s: tensor %s is quantised, which is not supported", mpath, tname);
                return -1;
            }
            sl_tfjs_tensor_t *t = &self->tensors [self->ntensors];
            const char *dt = json_is_string (dtype) ? json_string_value (dtype) : "";
            if (strcmp (dt, "float32") == 0)
                t->dtype = SL_TFJS_FLOAT32;
            else
            if (strcmp (dt, "int32") == 0)
                t->dtype = SL_TFJS_INT32;
            else
            if (strcmp (dt, "bool") == 0)
                t->dtype = SL_TFJS_BOOL;
            else {
                snprintf (err, errlen, "%s: tensor %s has dtype '%.20s' (supported: float32, int32, bool)",
                          mpath, tname, dt);
                return -1;
            }
            if (!json_is_array (shape) || json_array_size (shape) > SL_TFJS_MAX_RANK) {
                snprintf (err, errlen, "%s: tensor %s has no valid shape (a list of at most %d sizes)",
                          mpath, tname, SL_TFJS_MAX_RANK);
                return -1;
            }
            size_t count = 1;
            t->rank = (int) json_array_size (shape);
            for (int d = 0; d < t->rank; d++) {
                json_t *dim = json_array_get (shape, (size_t) d);
                json_int_t v = json_is_integer (dim) ? json_integer_value (dim) : -1;
                if (v < 0 || v > S_MAX_DIM) {
                    snprintf (err, errlen, "%s: tensor %s has a bad size in its shape (dimension %d)",
                              mpath, tname, d);
                    return -1;
                }
                t->shape [d] = v;
                if (v && count > SIZE_MAX / 8 / (size_t) v) {
                    snprintf (err, errlen, "%s: tensor %s is impossibly large", mpath, tname);
                    return -1;
                }
                count *= (size_t) v;
            }
            size_t size = count * s_dtype_size (t->dtype);
            if (group->bytes > SIZE_MAX / 4 - size) {
                snprintf (err, errlen, "%s: the tensors of group %zu add up to an impossible size", mpath, g);
                return -1;
            }
            for (int o = 0; o < self->ntensors; o++)
                if (strcmp (self->tensors [o].name, tname) == 0) {
                    snprintf (err, errlen, "%s: tensor %s appears twice", mpath, tname);
                    return -1;
                }
            t->name = strdup (tname);
            if (!t->name) {
                snprintf (err, errlen, "out of memory reading %s", mpath);
                return -1;
            }
            t->count = count;
            t->offset = group->bytes;
            group->bytes += size;
            self->group_of [self->ntensors] = (int) g;
            self->ntensors++;
        }
    }
    return 0;
}

//  Pass 2 and 3 for one group: check the shard sizes, then map (or read).
static int
s_load_group (sl_tfjs_t *self, int g, char *err, size_t errlen)
{
    s_group_t *group = &self->groups [g];
    int *fds = calloc ((size_t) group->npaths, sizeof *fds);
    size_t *sizes = calloc ((size_t) group->npaths, sizeof *sizes);
    size_t page = (size_t) sysconf (_SC_PAGESIZE);
    size_t have = 0;
    bool aligned = true;
    int rc = -1, opened = 0;
    if (!fds || !sizes) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    for (int p = 0; p < group->npaths; p++, opened++) {
        char path [PATH_MAX];
        snprintf (path, sizeof path, "%s/%s", self->dir, group->paths [p]);
        fds [p] = open (path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fds [p] < 0) {
            snprintf (err, errlen, "cannot open weight shard %s: %s", path, strerror (errno));
            goto done;
        }
        if (fstat (fds [p], &st) || !S_ISREG (st.st_mode)) {
            close (fds [p]);
            snprintf (err, errlen, "weight shard %s is not a regular file", path);
            goto done;
        }
        sizes [p] = (size_t) st.st_size;
        have += sizes [p];
        if (p + 1 < group->npaths && sizes [p] % page)
            aligned = false;
    }
    if (have != group->bytes) {
        snprintf (err, errlen, "weight shards of %s/model.json (%s%s) hold %zu bytes, but its "
                  "manifest describes %zu: %s", self->dir, group->paths [0],
                  group->npaths > 1 ? ", ..." : "", have, group->bytes,
                  have < group->bytes ? "a shard is truncated or a shape is wrong"
                                      : "a shard has extra bytes or a shape is wrong");
        goto done;
    }
    if (group->bytes == 0) {
        rc = 0;
        goto done;
    }
    if (aligned) {
        //  Reserve the whole range, then lay each shard over its slice
        size_t span = (group->bytes + page - 1) / page * page;
        void *base = mmap (NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) {
            snprintf (err, errlen, "cannot reserve %zu bytes of address space for the weights", span);
            goto done;
        }
        group->base = base;
        group->span = span;
        size_t at = 0;
        for (int p = 0; p < group->npaths; p++) {
            if (sizes [p] == 0)
                continue;
            void *got = mmap (group->base + at, sizes [p], PROT_READ, MAP_PRIVATE | MAP_FIXED,
                              fds [p], 0);
            if (got == MAP_FAILED) {
                snprintf (err, errlen, "cannot map weight shard %s/%s: %s", self->dir,
                          group->paths [p], strerror (errno));
                goto done;
            }
            at += sizes [p];
        }
    }
    else {
        //  Shards not on page boundaries: a copy is the only way to keep
        //  tensors contiguous
        group->base = malloc (group->bytes);
        if (!group->base) {
            snprintf (err, errlen, "out of memory for %zu bytes of weights", group->bytes);
            goto done;
        }
        group->copied = true;
        size_t at = 0;
        for (int p = 0; p < group->npaths; p++) {
            size_t got = 0;
            while (got < sizes [p]) {
                ssize_t n = pread (fds [p], group->base + at + got, sizes [p] - got, (off_t) got);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    break;
                got += (size_t) n;
            }
            if (got != sizes [p]) {
                snprintf (err, errlen, "cannot read weight shard %s/%s", self->dir, group->paths [p]);
                goto done;
            }
            at += sizes [p];
        }
    }
    rc = 0;
done:
    for (int p = 0; p < opened; p++)
        close (fds [p]);
    free (fds);
    free (sizes);
    return rc;
}

sl_tfjs_t *
sl_tfjs_open (const char *dir, char *err, size_t errlen)
{
    assert (dir);
    assert (err && errlen);
    err [0] = 0;
    sl_tfjs_t *self = calloc (1, sizeof *self);
    if (!self || !(self->dir = strdup (dir))) {
        free (self);
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    char mpath [PATH_MAX];
    if ((size_t) snprintf (mpath, sizeof mpath, "%s/model.json", dir) >= sizeof mpath) {
        snprintf (err, errlen, "model folder path is too long");
        sl_tfjs_destroy (&self);
        return NULL;
    }
    size_t size = 0;
    char *text = s_slurp (mpath, S_MAX_MANIFEST, &size, err, errlen);
    if (!text) {
        sl_tfjs_destroy (&self);
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loadb (text, size, JSON_REJECT_DUPLICATES, &jerr);
    free (text);
    if (!root) {
        snprintf (err, errlen, "%s is not valid JSON (line %d: %s)", mpath, jerr.line, jerr.text);
        sl_tfjs_destroy (&self);
        return NULL;
    }
    int rc = s_parse_manifest (self, root, mpath, err, errlen);
    json_decref (root);
    for (int g = 0; g < self->ngroups && rc == 0; g++)
        rc = s_load_group (self, g, err, errlen);
    if (rc) {
        sl_tfjs_destroy (&self);
        return NULL;
    }
    for (int t = 0; t < self->ntensors; t++) {
        s_group_t *group = &self->groups [self->group_of [t]];
        self->tensors [t].data = group->base ? group->base + self->tensors [t].offset : NULL;
    }
    sl_sha256_t *sha = sl_sha256_new ();
    for (int g = 0; g < self->ngroups; g++) {
        self->bytes += self->groups [g].bytes;
        if (self->groups [g].bytes)
            sl_sha256_update (sha, self->groups [g].base, self->groups [g].bytes);
    }
    sl_sha256_final (&sha, self->digest);
    return self;
}

int
sl_tfjs_count (sl_tfjs_t *self)
{
    assert (self);
    return self->ntensors;
}

const sl_tfjs_tensor_t *
sl_tfjs_at (sl_tfjs_t *self, int index)
{
    assert (self);
    assert (index >= 0 && index < self->ntensors);
    return &self->tensors [index];
}

const sl_tfjs_tensor_t *
sl_tfjs_find (sl_tfjs_t *self, const char *name)
{
    assert (self && name);
    for (int t = 0; t < self->ntensors; t++)
        if (strcmp (self->tensors [t].name, name) == 0)
            return &self->tensors [t];
    return NULL;
}

static void
s_shape_str (int rank, const int64_t *shape, char *buf, size_t len)
{
    size_t at = (size_t) snprintf (buf, len, "[");
    for (int d = 0; d < rank && at < len; d++)
        at += (size_t) snprintf (buf + at, len - at, "%s%lld", d ? "," : "", (long long) shape [d]);
    if (at < len)
        snprintf (buf + at, len - at, "]");
}

const float *
sl_tfjs_floats (sl_tfjs_t *self, const char *name, int rank, const int64_t *shape,
                char *err, size_t errlen)
{
    assert (self && name);
    assert (rank >= 0 && rank <= SL_TFJS_MAX_RANK && (shape || rank == 0));
    const sl_tfjs_tensor_t *t = sl_tfjs_find (self, name);
    if (!t) {
        snprintf (err, errlen, "%s/model.json lacks tensor %s", self->dir, name);
        return NULL;
    }
    bool same = t->dtype == SL_TFJS_FLOAT32 && t->rank == rank;
    for (int d = 0; same && d < rank; d++)
        same = t->shape [d] == shape [d];
    if (!same) {
        char want [96], got [96];
        s_shape_str (rank, shape, want, sizeof want);
        s_shape_str (t->rank, t->shape, got, sizeof got);
        snprintf (err, errlen, "%s/model.json: tensor %s is %s %s, expected float32 %s", self->dir,
                  name, t->dtype == SL_TFJS_FLOAT32 ? "float32" : t->dtype == SL_TFJS_INT32 ? "int32" : "bool",
                  got, want);
        return NULL;
    }
    if (t->count && (!t->data || (uintptr_t) t->data % sizeof (float))) {
        snprintf (err, errlen, "%s/model.json: tensor %s is not 4-byte aligned in its shard", self->dir, name);
        return NULL;
    }
    return (const float *) t->data;
}

int
sl_tfjs_scalar (sl_tfjs_t *self, const char *name, double *value, char *err, size_t errlen)
{
    assert (self && name && value);
    const sl_tfjs_tensor_t *t = sl_tfjs_find (self, name);
    if (!t || t->count != 1 || t->rank > 1 || t->dtype == SL_TFJS_BOOL
    ||  (uintptr_t) t->data % 4) {
        snprintf (err, errlen, "%s/model.json: %s is %s", self->dir, name,
                  t ? "not a float32 or int32 scalar" : "missing");
        return -1;
    }
    if (t->dtype == SL_TFJS_FLOAT32)
        *value = *(const float *) t->data;
    else
        *value = *(const int32_t *) t->data;
    return 0;
}

size_t
sl_tfjs_bytes (sl_tfjs_t *self)
{
    assert (self);
    return self->bytes;
}

bool
sl_tfjs_mapped (sl_tfjs_t *self)
{
    assert (self);
    for (int g = 0; g < self->ngroups; g++)
        if (self->groups [g].copied)
            return false;
    return true;
}

const char *
sl_tfjs_digest (sl_tfjs_t *self)
{
    assert (self);
    return self->digest;
}
