/*  sl_safetensors: validate and map a .safetensors file. See sl_safetensors.h.

    open does all the checking up front, in this order: the file (regular,
    at least 8 bytes), the header length (inside the file, under 100 MB),
    the JSON (an object, no duplicate keys), each tensor (an object with a
    known dtype, a shape of at most 8 non-negative integers, and two
    non-negative integer data offsets whose span equals the element count
    times the dtype size, computed without overflow), and finally the
    layout (sorted by offset the tensors tile the data area exactly: no
    overlap, no gap, nothing left over). Every later accessor can then trust
    the table.
*/
#include "sl_safetensors.h"
#include "sl_util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *name;
    sl_st_dtype_t dtype;
    int ndim;
    int64_t shape [SL_ST_MAX_DIMS];
    uint64_t begin, end;        //  offsets into the data area
    float *copy;                //  converted F32 copy, or NULL
} s_tensor_t;

struct sl_safetensors_s {
    unsigned char *map;         //  the whole file, read-only
    size_t map_size;
    const unsigned char *data;  //  data area: map + 8 + header length
    uint64_t data_size;
    s_tensor_t *tensors;        //  sorted by name, for bsearch
    size_t count;
    size_t copied;
};

static const struct {
    const char *name;
    int size;
} s_dtypes [] = {
    [SL_ST_BOOL] = { "BOOL", 1 }, [SL_ST_U8] = { "U8", 1 }, [SL_ST_I8] = { "I8", 1 },
    [SL_ST_F8_E4M3] = { "F8_E4M3", 1 }, [SL_ST_F8_E5M2] = { "F8_E5M2", 1 },
    [SL_ST_I16] = { "I16", 2 }, [SL_ST_U16] = { "U16", 2 }, [SL_ST_F16] = { "F16", 2 },
    [SL_ST_BF16] = { "BF16", 2 }, [SL_ST_I32] = { "I32", 4 }, [SL_ST_U32] = { "U32", 4 },
    [SL_ST_F32] = { "F32", 4 }, [SL_ST_F64] = { "F64", 8 }, [SL_ST_I64] = { "I64", 8 },
    [SL_ST_U64] = { "U64", 8 },
};
#define S_NDTYPES ((int) (sizeof s_dtypes / sizeof s_dtypes [0]))

const char *
sl_safetensors_dtype_name (sl_st_dtype_t dtype)
{
    assert ((int) dtype >= 0 && (int) dtype < S_NDTYPES);
    return s_dtypes [dtype].name;
}

static int
s_cmp_name (const void *a, const void *b)
{
    return strcmp (((const s_tensor_t *) a)->name, ((const s_tensor_t *) b)->name);
}

static int
s_cmp_offset (const void *a, const void *b)
{
    const s_tensor_t *x = *(const s_tensor_t * const *) a, *y = *(const s_tensor_t * const *) b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

//  Check one tensor entry and fill t. Returns 0, or -1 with err set.
static int
s_parse_tensor (sl_safetensors_t *self, const char *name, json_t *value, s_tensor_t *t,
                char *err, size_t errlen)
{
    if (!json_is_object (value)) {
        snprintf (err, errlen, "tensor '%s': header entry is not a JSON object", name);
        return -1;
    }
    json_t *dtype = json_object_get (value, "dtype");
    json_t *shape = json_object_get (value, "shape");
    json_t *offsets = json_object_get (value, "data_offsets");
    if (!json_is_string (dtype) || !json_is_array (shape) || !json_is_array (offsets)) {
        snprintf (err, errlen, "tensor '%s': needs a string \"dtype\", an array \"shape\" "
                  "and an array \"data_offsets\"", name);
        return -1;
    }
    int d = 0;
    while (d < S_NDTYPES && strcmp (s_dtypes [d].name, json_string_value (dtype)) != 0)
        d++;
    if (d == S_NDTYPES) {
        snprintf (err, errlen, "tensor '%s': unknown dtype '%.32s'", name, json_string_value (dtype));
        return -1;
    }
    t->dtype = (sl_st_dtype_t) d;
    size_t ndim = json_array_size (shape);
    if (ndim > SL_ST_MAX_DIMS) {
        snprintf (err, errlen, "tensor '%s': %zu dimensions (at most %d supported)",
                  name, ndim, SL_ST_MAX_DIMS);
        return -1;
    }
    t->ndim = (int) ndim;
    //  elements x size in 64 bits, refusing anything that would overflow
    uint64_t bytes = (uint64_t) s_dtypes [d].size;
    for (size_t i = 0; i < ndim; i++) {
        json_t *dim = json_array_get (shape, i);
        if (!json_is_integer (dim) || json_integer_value (dim) < 0) {
            snprintf (err, errlen, "tensor '%s': shape[%zu] is not a non-negative integer", name, i);
            return -1;
        }
        uint64_t n = (uint64_t) json_integer_value (dim);
        t->shape [i] = (int64_t) n;
        if (n && bytes > UINT64_MAX / n) {
            snprintf (err, errlen, "tensor '%s': shape overflows 64 bits", name);
            return -1;
        }
        bytes *= n;
    }
    if (json_array_size (offsets) != 2
    ||  !json_is_integer (json_array_get (offsets, 0))
    ||  !json_is_integer (json_array_get (offsets, 1))
    ||  json_integer_value (json_array_get (offsets, 0)) < 0
    ||  json_integer_value (json_array_get (offsets, 1)) < 0) {
        snprintf (err, errlen, "tensor '%s': data_offsets must be two non-negative integers", name);
        return -1;
    }
    t->begin = (uint64_t) json_integer_value (json_array_get (offsets, 0));
    t->end = (uint64_t) json_integer_value (json_array_get (offsets, 1));
    if (t->begin > t->end || t->end > self->data_size) {
        snprintf (err, errlen, "tensor '%s': data_offsets [%llu, %llu] outside the %llu bytes of "
                  "tensor data (file truncated?)", name, (unsigned long long) t->begin,
                  (unsigned long long) t->end, (unsigned long long) self->data_size);
        return -1;
    }
    if (t->end - t->begin != bytes) {
        snprintf (err, errlen, "tensor '%s': %s with this shape needs %llu bytes but data_offsets "
                  "span %llu", name, s_dtypes [d].name, (unsigned long long) bytes,
                  (unsigned long long) (t->end - t->begin));
        return -1;
    }
    return 0;
}

//  Parse and check the JSON header. Returns 0, or -1 with err set.
static int
s_parse_header (sl_safetensors_t *self, const char *header, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb (header, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf (err, errlen, "header is not valid JSON (%s at byte %d)", jerr.text, jerr.position);
        return -1;
    }
    int rc = -1;
    if (!json_is_object (root)) {
        snprintf (err, errlen, "header is not a JSON object");
        goto done;
    }
    self->tensors = calloc (json_object_size (root) + 1, sizeof *self->tensors);
    if (!self->tensors) {
        snprintf (err, errlen, "out of memory for %zu tensor entries", json_object_size (root));
        goto done;
    }
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value) {
        if (strcmp (key, "__metadata__") == 0) {
            //  free-form strings; checked so a malformed file is refused whole
            const char *mkey;
            json_t *mvalue;
            if (!json_is_object (value)) {
                snprintf (err, errlen, "__metadata__ is not a JSON object");
                goto done;
            }
            json_object_foreach (value, mkey, mvalue)
                if (!json_is_string (mvalue)) {
                    snprintf (err, errlen, "__metadata__ value '%.64s' is not a string", mkey);
                    goto done;
                }
            continue;
        }
        if (!key [0]) {
            snprintf (err, errlen, "a tensor has an empty name");
            goto done;
        }
        s_tensor_t *t = &self->tensors [self->count];
        if (s_parse_tensor (self, key, value, t, err, errlen))
            goto done;
        t->name = strdup (key);
        if (!t->name) {
            snprintf (err, errlen, "out of memory");
            goto done;
        }
        self->count++;
    }
    //  The tensors must tile the data area: sorted by offset, each starts
    //  where the previous ended and the last ends at the end of the file.
    //  This is what makes "every byte belongs to exactly one tensor" true.
    s_tensor_t **order = malloc ((self->count + 1) * sizeof *order);
    if (!order) {
        snprintf (err, errlen, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < self->count; i++)
        order [i] = &self->tensors [i];
    qsort (order, self->count, sizeof *order, s_cmp_offset);
    uint64_t at = 0;
    for (size_t i = 0; i < self->count; i++) {
        if (order [i]->begin != at) {
            snprintf (err, errlen, "tensor '%s' starts at byte %llu of the data, expected %llu "
                      "(tensors overlap or leave a gap)", order [i]->name,
                      (unsigned long long) order [i]->begin, (unsigned long long) at);
            free (order);
            goto done;
        }
        at = order [i]->end;
    }
    free (order);
    if (at != self->data_size) {
        snprintf (err, errlen, "tensors cover %llu bytes of data but the file holds %llu "
                  "(trailing bytes or missing entries)", (unsigned long long) at,
                  (unsigned long long) self->data_size);
        goto done;
    }
    qsort (self->tensors, self->count, sizeof *self->tensors, s_cmp_name);
    rc = 0;
done:
    json_decref (root);
    return rc;
}

sl_safetensors_t *
sl_safetensors_open (const char *path, char *err, size_t errlen)
{
    assert (path);
    assert (err && errlen);
    char why [320] = "";
    sl_safetensors_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, errlen, "%s: out of memory", path);
        return NULL;
    }
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        snprintf (why, sizeof why, "%s", strerror (errno));
        goto fail;
    }
    if (fstat (fd, &st) || !S_ISREG (st.st_mode)) {
        snprintf (why, sizeof why, "not a regular file");
        goto fail;
    }
    if (st.st_size < 8) {
        snprintf (why, sizeof why, "%lld bytes, too short for a safetensors header",
                  (long long) st.st_size);
        goto fail;
    }
    self->map_size = (size_t) st.st_size;
    self->map = mmap (NULL, self->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (self->map == MAP_FAILED) {
        self->map = NULL;
        snprintf (why, sizeof why, "mmap failed: %s", strerror (errno));
        goto fail;
    }
    close (fd);
    fd = -1;
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = (header_len << 8) | self->map [i];
    if (header_len > self->map_size - 8 || header_len > SL_ST_MAX_HEADER || header_len < 2) {
        snprintf (why, sizeof why, "header length %llu is impossible for a file of %zu bytes "
                  "(not a safetensors file, or truncated)", (unsigned long long) header_len,
                  self->map_size);
        goto fail;
    }
    self->data = self->map + 8 + header_len;
    self->data_size = self->map_size - 8 - header_len;
    if (s_parse_header (self, (const char *) self->map + 8, (size_t) header_len, why, sizeof why))
        goto fail;
    return self;
fail:
    if (fd >= 0)
        close (fd);
    snprintf (err, errlen, "%s: %s", path, why);
    sl_safetensors_destroy (&self);
    return NULL;
}

void
sl_safetensors_destroy (sl_safetensors_t **self_p)
{
    assert (self_p);
    sl_safetensors_t *self = *self_p;
    if (self) {
        for (size_t i = 0; self->tensors && self->tensors [i].name; i++) {
            free (self->tensors [i].name);
            free (self->tensors [i].copy);
        }
        free (self->tensors);
        if (self->map)
            munmap (self->map, self->map_size);
        free (self);
        *self_p = NULL;
    }
}

size_t
sl_safetensors_count (sl_safetensors_t *self)
{
    assert (self);
    return self->count;
}

const char *
sl_safetensors_name (sl_safetensors_t *self, size_t index)
{
    assert (self && index < self->count);
    return self->tensors [index].name;
}

long
sl_safetensors_find (sl_safetensors_t *self, const char *name)
{
    assert (self && name);
    s_tensor_t key = { .name = (char *) name };
    s_tensor_t *t = bsearch (&key, self->tensors, self->count, sizeof key, s_cmp_name);
    return t ? (long) (t - self->tensors) : -1;
}

sl_st_dtype_t
sl_safetensors_dtype (sl_safetensors_t *self, size_t index)
{
    assert (self && index < self->count);
    return self->tensors [index].dtype;
}

int
sl_safetensors_ndim (sl_safetensors_t *self, size_t index)
{
    assert (self && index < self->count);
    return self->tensors [index].ndim;
}

const int64_t *
sl_safetensors_shape (sl_safetensors_t *self, size_t index)
{
    assert (self && index < self->count);
    return self->tensors [index].shape;
}

const void *
sl_safetensors_data (sl_safetensors_t *self, size_t index, size_t *nbytes)
{
    assert (self && index < self->count);
    s_tensor_t *t = &self->tensors [index];
    if (nbytes)
        *nbytes = (size_t) (t->end - t->begin);
    return self->data + t->begin;
}

const void *
sl_safetensors_file (sl_safetensors_t *self, size_t *size)
{
    assert (self);
    if (size)
        *size = self->map_size;
    return self->map;
}

size_t
sl_safetensors_copied_bytes (sl_safetensors_t *self)
{
    assert (self);
    return self->copied;
}

float
sl_safetensors_f16_to_f32 (uint16_t h)
{
    uint32_t sign = (uint32_t) (h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
    uint32_t bits;
    if (exp == 0x1F)                    //  inf / NaN (payload kept)
        bits = sign | 0x7F800000 | (mant << 13);
    else
    if (exp)                            //  normal: rebias 15 -> 127
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    else
    if (mant) {                         //  subnormal: mant x 2^-24, exact in float
        float f = (float) mant * 0x1.0p-24f;
        return sign ? -f : f;
    }
    else
        bits = sign;
    float f;
    memcpy (&f, &bits, sizeof f);
    return f;
}

float
sl_safetensors_bf16_to_f32 (uint16_t h)
{
    uint32_t bits = (uint32_t) h << 16;
    float f;
    memcpy (&f, &bits, sizeof f);
    return f;
}

const float *
sl_safetensors_f32 (sl_safetensors_t *self, const char *name, int ndim, const int64_t *shape,
                    char *err, size_t errlen)
{
    assert (self && name && ndim >= 0 && (shape || ndim == 0));
    long index = sl_safetensors_find (self, name);
    if (index < 0) {
        snprintf (err, errlen, "tensor '%s' is missing", name);
        return NULL;
    }
    s_tensor_t *t = &self->tensors [index];
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape [i] == shape [i];
    if (!same) {
        char want [128] = "", got [128] = "";
        size_t wl = 0, gl = 0;
        for (int i = 0; i < ndim && wl < sizeof want; i++)
            wl += (size_t) snprintf (want + wl, sizeof want - wl, "%s%lld", i ? ", " : "",
                                     (long long) shape [i]);
        for (int i = 0; i < t->ndim && gl < sizeof got; i++)
            gl += (size_t) snprintf (got + gl, sizeof got - gl, "%s%lld", i ? ", " : "",
                                     (long long) t->shape [i]);
        snprintf (err, errlen, "tensor '%s' has shape [%s], expected [%s] (config.json and "
                  "weights disagree?)", name, got, want);
        return NULL;
    }
    if (t->copy)
        return t->copy;
    const unsigned char *src = self->data + t->begin;
    size_t count = (size_t) ((t->end - t->begin) / (uint64_t) s_dtypes [t->dtype].size);
    if (t->dtype == SL_ST_F32 && ((uintptr_t) src % _Alignof (float)) == 0)
        return (const float *) (const void *) src;
    if (t->dtype != SL_ST_F32 && t->dtype != SL_ST_F16 && t->dtype != SL_ST_BF16) {
        snprintf (err, errlen, "tensor '%s' is %s; only F32, F16 and BF16 weights are supported",
                  name, s_dtypes [t->dtype].name);
        return NULL;
    }
    t->copy = malloc (count ? count * sizeof (float) : 1);
    if (!t->copy) {
        snprintf (err, errlen, "out of memory converting tensor '%s' (%zu floats)", name, count);
        return NULL;
    }
    self->copied += count * sizeof (float);
    //  byte by byte: the format is little-endian and src may be misaligned
    for (size_t i = 0; i < count; i++) {
        if (t->dtype == SL_ST_F32) {
            uint32_t bits = (uint32_t) src [4 * i] | (uint32_t) src [4 * i + 1] << 8
                          | (uint32_t) src [4 * i + 2] << 16 | (uint32_t) src [4 * i + 3] << 24;
            memcpy (&t->copy [i], &bits, sizeof bits);
        }
        else {
            uint16_t h = (uint16_t) (src [2 * i] | src [2 * i + 1] << 8);
            t->copy [i] = t->dtype == SL_ST_F16 ? sl_safetensors_f16_to_f32 (h)
                                                : sl_safetensors_bf16_to_f32 (h);
        }
    }
    return t->copy;
}
