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

//  --------------------------------------------------------------------------
//  Self-test: a good file in every float dtype, then one hostile file per check

//  Write 8-byte length + header + data; the header is padded with spaces to
//  pad bytes past the length prefix (0 = no padding), as writers may do.
static void
s_write_file (const char *path, const char *header, size_t pad_to, const void *data, size_t size)
{
    size_t hlen = strlen (header);
    size_t padded = hlen;
    if (pad_to)
        while ((8 + padded) % pad_to)
            padded++;
    FILE *f = fopen (path, "wb");
    assert (f);
    unsigned char len [8];
    for (int i = 0; i < 8; i++)
        len [i] = (unsigned char) ((uint64_t) padded >> (8 * i));
    assert (fwrite (len, 1, 8, f) == 8);
    assert (fwrite (header, 1, hlen, f) == hlen);
    for (size_t i = hlen; i < padded; i++)
        fputc (' ', f);
    if (size)
        assert (fwrite (data, 1, size, f) == size);
    assert (fclose (f) == 0);
}

static uint16_t
s_f32_to_f16 (float f)
{
    //  test-only, round to nearest even for normal values in range
    uint32_t bits;
    memcpy (&bits, &f, sizeof bits);
    uint32_t sign = (bits >> 16) & 0x8000;
    int exp = (int) ((bits >> 23) & 0xFF) - 127 + 15;
    uint32_t mant = bits & 0x7FFFFF;
    if (exp <= 0)
        return (uint16_t) sign;
    uint32_t h = sign | (uint32_t) exp << 10 | mant >> 13;
    uint32_t rest = mant & 0x1FFF;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
        h++;
    return (uint16_t) h;
}

void
sl_safetensors_test (bool verbose)
{
    printf (" * sl_safetensors: ");
    if (verbose)
        printf ("\n");
    char dir [] = "/tmp/sl_safetensors_test_XXXXXX";
    assert (mkdtemp (dir));
    char path [256], err [512];
    snprintf (path, sizeof path, "%s/t.safetensors", dir);

    //  Conversions are exact
    assert (sl_safetensors_f16_to_f32 (0x3C00) == 1.0f);
    assert (sl_safetensors_f16_to_f32 (0xC000) == -2.0f);
    assert (sl_safetensors_f16_to_f32 (0x7BFF) == 65504.0f);
    assert (sl_safetensors_f16_to_f32 (0x0001) == 0x1.0p-24f);     //  smallest subnormal
    assert (sl_safetensors_f16_to_f32 (0x03FF) == 1023 * 0x1.0p-24f);
    assert (sl_safetensors_f16_to_f32 (0x8000) == 0.0f && signbit (sl_safetensors_f16_to_f32 (0x8000)));
    assert (isinf (sl_safetensors_f16_to_f32 (0x7C00)) && isnan (sl_safetensors_f16_to_f32 (0x7E00)));
    assert (sl_safetensors_bf16_to_f32 (0x3F80) == 1.0f);
    assert (sl_safetensors_bf16_to_f32 (0xC0A0) == -5.0f);
    for (int i = 0; i < 0x7C00; i++)        //  every finite positive half round-trips
        assert (s_f32_to_f16 (sl_safetensors_f16_to_f32 ((uint16_t) i)) == i || i < 0x400);

    //  A good file: F32 matrix, F16 and BF16 vectors, an I64 tensor, metadata.
    //  Data order differs from name order on purpose.
    float w [6] = { 1, -2, 3.5f, 0.25f, -0.125f, 1e-3f };
    unsigned char data [24 + 8 + 8 + 16];
    memcpy (data, w, 24);
    uint16_t h [4] = { 0x3C00, 0xC000, 0x3800, 0x0001 };   //  1, -2, 0.5, 2^-24
    memcpy (data + 24, h, 8);
    uint16_t b [4] = { 0x3F80, 0xC0A0, 0x4049, 0x0000 };   //  1, -5, 3.140625, 0
    memcpy (data + 32, b, 8);
    int64_t ids [2] = { 7, -1 };
    memcpy (data + 40, ids, 16);
    const char *good =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"half\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[24,32]},"
        "\"brain\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[32,40]},"
        "\"ids\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[40,56]},"
        "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[56,56]}}";
    s_write_file (path, good, 8, data, sizeof data);
    sl_safetensors_t *st = sl_safetensors_open (path, err, sizeof err);
    if (!st)
        fprintf (stderr, "%s\n", err);
    assert (st);
    assert (sl_safetensors_count (st) == 5);
    long wi = sl_safetensors_find (st, "w");
    assert (wi >= 0 && strcmp (sl_safetensors_name (st, (size_t) wi), "w") == 0);
    assert (sl_safetensors_dtype (st, (size_t) wi) == SL_ST_F32);
    assert (sl_safetensors_ndim (st, (size_t) wi) == 2);
    assert (sl_safetensors_shape (st, (size_t) wi) [1] == 3);
    assert (sl_safetensors_find (st, "nope") == -1);
    assert (strcmp (sl_safetensors_dtype_name (SL_ST_BF16), "BF16") == 0);
    size_t nbytes = 0;
    const void *raw = sl_safetensors_data (st, (size_t) sl_safetensors_find (st, "ids"), &nbytes);
    assert (nbytes == 16 && memcmp (raw, ids, 16) == 0);
    size_t fsize = 0;
    assert (sl_safetensors_file (st, &fsize) && fsize > sizeof data);

    const float *fw = sl_safetensors_f32 (st, "w", 2, (int64_t []) { 2, 3 }, err, sizeof err);
    assert (fw && memcmp (fw, w, sizeof w) == 0);
    //  in place: the pointer is inside the mapping, nothing copied
    assert ((const unsigned char *) fw > (const unsigned char *) sl_safetensors_file (st, NULL));
    assert (sl_safetensors_copied_bytes (st) == 0);
    const float *fh = sl_safetensors_f32 (st, "half", 1, (int64_t []) { 4 }, err, sizeof err);
    assert (fh && fh [0] == 1.0f && fh [1] == -2.0f && fh [2] == 0.5f && fh [3] == 0x1.0p-24f);
    assert (sl_safetensors_copied_bytes (st) == 16);
    assert (sl_safetensors_f32 (st, "half", 1, (int64_t []) { 4 }, err, sizeof err) == fh);
    assert (sl_safetensors_copied_bytes (st) == 16);
    const float *fb = sl_safetensors_f32 (st, "brain", 2, (int64_t []) { 2, 2 }, err, sizeof err);
    assert (fb && fb [0] == 1.0f && fb [1] == -5.0f && fb [2] == 3.140625f && fb [3] == 0.0f);
    assert (sl_safetensors_f32 (st, "empty", 2, (int64_t []) { 0, 4 }, err, sizeof err));

    //  Accessor errors are messages
    assert (!sl_safetensors_f32 (st, "w", 2, (int64_t []) { 3, 2 }, err, sizeof err));
    assert (strstr (err, "shape [2, 3], expected [3, 2]"));
    assert (!sl_safetensors_f32 (st, "w", 1, (int64_t []) { 6 }, err, sizeof err));
    assert (!sl_safetensors_f32 (st, "ids", 1, (int64_t []) { 2 }, err, sizeof err));
    assert (strstr (err, "I64"));
    assert (!sl_safetensors_f32 (st, "missing", 1, (int64_t []) { 2 }, err, sizeof err));
    assert (strstr (err, "'missing' is missing"));
    sl_safetensors_destroy (&st);
    assert (st == NULL);
    sl_safetensors_destroy (&st);

    //  Misaligned F32 (header not padded to a multiple of 4) is copied
    const char *odd = "{\"w\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,24]}}  ";
    assert ((8 + strlen (odd)) % 4 != 0);
    s_write_file (path, odd, 0, w, sizeof w);
    st = sl_safetensors_open (path, err, sizeof err);
    if (!st)
        fprintf (stderr, "%s\n", err);
    assert (st);
    fw = sl_safetensors_f32 (st, "w", 1, (int64_t []) { 6 }, err, sizeof err);
    assert (fw && ((uintptr_t) fw % 4) == 0 && memcmp (fw, w, sizeof w) == 0);
    assert (sl_safetensors_copied_bytes (st) == 24);
    sl_safetensors_destroy (&st);

    //  Hostile files: each is refused with a message naming the problem
    struct {
        const char *header;
        size_t data_size;
        const char *expect;
    } bad [] = {
        { "[1,2,3]", 0, "not a JSON object" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "not valid JSON" },
        { "{\"w\":[1]}", 0, "not a JSON object" },
        { "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "string \"dtype\"" },
        { "{\"w\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "unknown dtype 'F33'" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "shape[0]" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}", 8,
          "9 dimensions" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8,
          "overflows" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "two non-negative" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,-8]}}", 8, "two non-negative" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8, "outside" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4, "outside" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,9223372036854775807]}}", 8,
          "outside" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12 bytes" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlap or leave a gap" },
        { "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
          "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12, "overlap or leave a gap" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 12, "trailing bytes" },
        { "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
          "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "not valid JSON" },
        { "{\"__metadata__\":{\"a\":1}}", 0, "is not a string" },
        { "{\"__metadata__\":[]}", 0, "__metadata__ is not" },
        { "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "empty name" },
    };
    unsigned char zeros [64] = { 0 };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        s_write_file (path, bad [i].header, 8, zeros, bad [i].data_size);
        err [0] = 0;
        st = sl_safetensors_open (path, err, sizeof err);
        if (st || !strstr (err, bad [i].expect))
            printf ("case %zu: expected '%s', got '%s'\n", i, bad [i].expect, err);
        assert (!st && strstr (err, bad [i].expect));
        assert (strstr (err, path));       //  the message names the file
        if (verbose)
            printf ("  %s\n", err);
    }

    //  Broken length prefixes, short, empty and missing files, a directory
    FILE *f = fopen (path, "wb");
    assert (f);
    fwrite ("\xff\xff\xff\xff\xff\xff\xff\x7f{}", 1, 10, f);     //  2^63 header bytes
    fclose (f);
    assert (!sl_safetensors_open (path, err, sizeof err) && strstr (err, "impossible"));
    f = fopen (path, "wb");
    fwrite ("\x10\x00\x00\x00\x00\x00\x00\x00{}", 1, 10, f);     //  claims 16, has 2
    fclose (f);
    assert (!sl_safetensors_open (path, err, sizeof err) && strstr (err, "impossible"));
    f = fopen (path, "wb");
    fwrite ("\x02\x00\x00", 1, 3, f);
    fclose (f);
    assert (!sl_safetensors_open (path, err, sizeof err) && strstr (err, "too short"));
    f = fopen (path, "wb");
    fclose (f);
    assert (!sl_safetensors_open (path, err, sizeof err) && strstr (err, "too short"));
    //  an empty header is a valid file with no tensors
    s_write_file (path, "{}", 8, NULL, 0);
    st = sl_safetensors_open (path, err, sizeof err);
    assert (st && sl_safetensors_count (st) == 0);
    sl_safetensors_destroy (&st);
    assert (!sl_safetensors_open (dir, err, sizeof err) && strstr (err, "not a regular file"));
    char missing [300];
    snprintf (missing, sizeof missing, "%s/none.safetensors", dir);
    assert (!sl_safetensors_open (missing, err, sizeof err) && strstr (err, "No such file"));

    //  Every truncation of the good file is refused cleanly (no crash, no
    //  read past the end: run under ASan)
    s_write_file (path, good, 8, data, sizeof data);
    f = fopen (path, "rb");
    unsigned char whole [1024];
    size_t total = fread (whole, 1, sizeof whole, f);
    fclose (f);
    for (size_t cut = 0; cut < total; cut++) {
        f = fopen (path, "wb");
        fwrite (whole, 1, cut, f);
        fclose (f);
        st = sl_safetensors_open (path, err, sizeof err);
        assert (!st && strlen (err) > 10);
    }
    //  and flipping any single header byte never crashes either
    for (size_t i = 8; i < total - sizeof data; i++) {
        unsigned char saved = whole [i];
        whole [i] ^= 0x5A;
        f = fopen (path, "wb");
        fwrite (whole, 1, total, f);
        fclose (f);
        st = sl_safetensors_open (path, err, sizeof err);
        sl_safetensors_destroy (&st);
        whole [i] = saved;
    }

    unlink (path);
    assert (rmdir (dir) == 0);
    printf ("OK\n");
}
