/*  sl_tfjs_test: self-test of sl_tfjs on small TensorFlow.js models
    written here (manifests and shards, good and damaged), so it runs
    without model files.
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

//  --------------------------------------------------------------------------
//  Self-test on small models written here, so it runs without model files.

static void
s_write (const char *dir, const char *name, const void *data, size_t size)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen (path, "wb");
    assert (f);
    assert (fwrite (data, 1, size, f) == size);
    fclose (f);
}

static void
s_expect_fail (const char *dir, const char *manifest, const char *needle, bool verbose)
{
    char err [512];
    s_write (dir, "model.json", manifest, strlen (manifest));
    sl_tfjs_t *m = sl_tfjs_open (dir, err, sizeof err);
    if (verbose || m || !strstr (err, needle))
        printf ("    %s -> %s\n", needle, m ? "(opened)" : err);
    assert (m == NULL);
    assert (strstr (err, needle));
}

void
sl_tfjs_test (bool verbose)
{
    printf (" * sl_tfjs: ");
    if (verbose)
        printf ("\n");
    char dir [] = "/tmp/sl_tfjs_test_XXXXXX";
    assert (mkdtemp (dir));
    char err [512];
    size_t page = (size_t) sysconf (_SC_PAGESIZE);

    //  A float tensor spanning two page-sized shards, then an int scalar
    size_t nf = page / 4 + 8;
    size_t total = nf * 4 + 4;
    unsigned char *blob = calloc (1, 2 * page);
    assert (blob);
    for (size_t i = 0; i < nf; i++) {
        float v = (float) i * 0.5f;
        memcpy (blob + i * 4, &v, 4);
    }
    int32_t seven = 7;
    memcpy (blob + nf * 4, &seven, 4);
    s_write (dir, "w1", blob, page);
    s_write (dir, "w2", blob + page, total - page);
    char manifest [1024];
    snprintf (manifest, sizeof manifest,
              "{\"modelTopology\": {}, \"weightsManifest\": [{\"paths\": [\"w1\", \"w2\"], \"weights\": ["
              "{\"name\": \"a\", \"shape\": [%zu], \"dtype\": \"float32\"},"
              "{\"name\": \"n\", \"shape\": [], \"dtype\": \"int32\"}]}]}", nf);
    s_write (dir, "model.json", manifest, strlen (manifest));
    sl_tfjs_t *m = sl_tfjs_open (dir, err, sizeof err);
    if (!m)
        printf ("%s\n", err);
    assert (m);
    assert (sl_tfjs_count (m) == 2);
    assert (sl_tfjs_bytes (m) == total);
    assert (sl_tfjs_mapped (m));
    int64_t shape [1] = { (int64_t) nf };
    const float *a = sl_tfjs_floats (m, "a", 1, shape, err, sizeof err);
    assert (a);
    assert (a [nf - 1] == (float) (nf - 1) * 0.5f);  //  read across the shard boundary
    double v = 0;
    assert (sl_tfjs_scalar (m, "n", &v, err, sizeof err) == 0 && v == 7);
    char want [SL_SHA256_HEX];
    sl_sha256_hex (blob, total, want);
    assert (strcmp (sl_tfjs_digest (m), want) == 0);
    int64_t wrong [2] = { 1, (int64_t) nf };
    assert (sl_tfjs_floats (m, "a", 2, wrong, err, sizeof err) == NULL);
    assert (strstr (err, "expected float32 [1,"));
    assert (sl_tfjs_floats (m, "n", 0, NULL, err, sizeof err) == NULL);
    assert (sl_tfjs_floats (m, "zz", 0, NULL, err, sizeof err) == NULL && strstr (err, "lacks tensor zz"));
    assert (sl_tfjs_find (m, "n") == sl_tfjs_at (m, 1));
    sl_tfjs_destroy (&m);
    assert (m == NULL);
    sl_tfjs_destroy (&m);

    //  Shards not page-sized: read into memory, same values
    s_write (dir, "w1", blob, 12);
    s_write (dir, "w2", blob + 12, total - 12);
    s_write (dir, "model.json", manifest, strlen (manifest));
    m = sl_tfjs_open (dir, err, sizeof err);
    assert (m);
    assert (!sl_tfjs_mapped (m));
    a = sl_tfjs_floats (m, "a", 1, shape, err, sizeof err);
    assert (a && a [3] == 1.5f && a [nf - 1] == (float) (nf - 1) * 0.5f);
    sl_tfjs_destroy (&m);

    //  Damage: each gives a message, never a pointer past the data
    s_write (dir, "w2", blob + 12, total - 13);
    s_expect_fail (dir, manifest, "a shard is truncated", verbose);
    s_write (dir, "w2", blob + 12, total - 12 + 4);
    s_expect_fail (dir, manifest, "extra bytes", verbose);
    s_write (dir, "w2", blob + 12, total - 12);
    char big [1024];
    snprintf (big, sizeof big, "{\"weightsManifest\": [{\"paths\": [\"w1\", \"w2\"], \"weights\": ["
              "{\"name\": \"a\", \"shape\": [%zu], \"dtype\": \"float32\"}]}]}", nf + 2);
    s_expect_fail (dir, big, "manifest describes", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [", "is not valid JSON", verbose);
    s_expect_fail (dir, "\x01\x02garbage", "is not valid JSON", verbose);
    s_expect_fail (dir, "{\"modelTopology\": {}}", "no \"weightsManifest\"", verbose);
    s_expect_fail (dir, "[]", "no \"weightsManifest\"", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"../w1\"], \"weights\": []}]}",
                   "not a plain file name", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"/etc/passwd\"], \"weights\": []}]}",
                   "not a plain file name", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"nope\"], \"weights\": []}]}",
                   "cannot open weight shard", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"w1\"], \"weights\": ["
                   "{\"name\": \"a\", \"shape\": [-4], \"dtype\": \"float32\"}]}]}", "bad size", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"w1\"], \"weights\": ["
                   "{\"name\": \"a\", \"shape\": [4294967296, 4294967296, 4294967296], "
                   "\"dtype\": \"float32\"}]}]}", "bad size", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"w1\"], \"weights\": ["
                   "{\"name\": \"a\", \"shape\": [2147483648, 2147483648, 2147483648], "
                   "\"dtype\": \"float32\"}]}]}", "impossibly large", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"w1\"], \"weights\": ["
                   "{\"name\": \"a\", \"shape\": [\"4\"], \"dtype\": \"float32\"}]}]}", "bad size", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"w1\"], \"weights\": ["
                   "{\"name\": \"a\", \"shape\": [4], \"dtype\": \"string\"}]}]}", "dtype", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"w1\"], \"weights\": ["
                   "{\"name\": \"a\", \"shape\": [4], \"dtype\": \"float32\", "
                   "\"quantization\": {\"dtype\": \"uint8\"}}]}]}", "quantised", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"w1\"], \"weights\": ["
                   "{\"name\": \"a\", \"shape\": [4], \"dtype\": \"float32\"},"
                   "{\"name\": \"a\", \"shape\": [4], \"dtype\": \"float32\"}]}]}", "appears twice", verbose);
    s_expect_fail (dir, "{\"weightsManifest\": [{\"paths\": [\"w1\"], \"weights\": ["
                   "{\"shape\": [4], \"dtype\": \"float32\"}]}]}", "no valid name", verbose);
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%s/model.json", dir);
    unlink (path);
    assert (sl_tfjs_open (dir, err, sizeof err) == NULL && strstr (err, "cannot open"));

    //  Clean up
    const char *files [] = { "w1", "w2" };
    for (size_t i = 0; i < 2; i++) {
        snprintf (path, sizeof path, "%s/%s", dir, files [i]);
        unlink (path);
    }
    rmdir (dir);
    free (blob);
    printf ("OK\n");
}
