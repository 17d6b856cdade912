/*  sl_safetensors_test: self-test of sl_safetensors. A good file in every
    float dtype, then one hostile file per check open makes.
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
