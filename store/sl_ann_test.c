/*  sl_ann_test: self-test of sl_ann, the C face over hnswlib.

    The graph on its own (sl_vindex_test covers the policy above it):
    add, replace on re-add, remove, live and removed counts, growth past
    the first allocation, search order and scores, each, width, and the
    file round trip, with a file of another dim or a damaged one refused.
*/
#include "sl_ann.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sl_check.h"

#define DIM 16

//  Unit vector along axis a, tilted a little towards axis b
static void
s_vec (float *v, int a, int b, float tilt)
{
    memset (v, 0, DIM * sizeof (float));
    v [a % DIM] = 1;
    v [b % DIM] += tilt;
    float norm = sqrtf (1 + tilt * tilt + (a % DIM == b % DIM ? 2 * tilt : 0));
    for (int i = 0; i < DIM; i++)
        v [i] /= norm;
}

static void
s_count (int64_t id, void *arg)
{
    (*(int64_t *) arg) += id;
}

static void
s_test_rows (void)
{
    sl_ann_t *ann = sl_ann_new (DIM, 8, 50, 32);
    CHECK (ann);
    float v [DIM];
    //  more rows than the first allocation (1024): the graph grows
    for (int i = 0; i < 3000; i++) {
        s_vec (v, i, i + 1, 0.01f * (float) (i / DIM));
        CHECK (sl_ann_add (ann, 1000 + i, v) == 0);
    }
    CHECK (sl_ann_size (ann) == 3000 && sl_ann_removed (ann) == 0);
    //  re-add replaces: same count, the new vector held
    s_vec (v, 3, 5, 0.5f);
    CHECK (sl_ann_add (ann, 1000, v) == 0);
    CHECK (sl_ann_size (ann) == 3000 && sl_ann_holds (ann, 1000, v));
    //  remove: counted, not held, not found, twice refused, re-add revives
    CHECK (sl_ann_remove (ann, 1001) == 0);
    CHECK (sl_ann_remove (ann, 1001) == -1 && sl_ann_remove (ann, 7) == -1);
    CHECK (sl_ann_size (ann) == 2999 && sl_ann_removed (ann) == 1);
    s_vec (v, 1, 2, 0);
    CHECK (!sl_ann_holds (ann, 1001, v));
    int64_t ids [10];
    float scores [10];
    int n = sl_ann_search (ann, v, 10, ids, scores);
    CHECK (n == 10);
    for (int i = 0; i < n; i++) {
        CHECK (ids [i] != 1001);
        CHECK (i == 0 || scores [i - 1] >= scores [i]);
    }
    CHECK (sl_ann_add (ann, 1001, v) == 0 && sl_ann_removed (ann) == 0);
    CHECK (sl_ann_search (ann, v, 1, ids, scores) == 1 && fabsf (scores [0] - 1) < 1e-5f);
    int64_t sum = 0, want = 0;
    sl_ann_each (ann, s_count, &sum);
    for (int i = 0; i < 3000; i++)
        want += 1000 + i;
    CHECK (sum == want);
    CHECK (sl_ann_search (ann, v, 0, ids, scores) == 0);
    sl_ann_set_ef (ann, 200);
    CHECK (sl_ann_search (ann, v, 10, ids, scores) == 10);
    CHECK (sl_ann_memory (ann) > 3000 * DIM * sizeof (float));
    sl_ann_destroy (&ann);
    CHECK (ann == NULL);
    sl_ann_destroy (&ann);
}

static void
s_test_file (void)
{
    char path [] = "/tmp/sl_ann_test.XXXXXX";
    int fd = mkstemp (path);
    CHECK (fd >= 0);
    close (fd);
    sl_ann_t *ann = sl_ann_new (DIM, 8, 50, 32);
    float v [DIM];
    for (int i = 0; i < 500; i++) {
        s_vec (v, i, i * 7, 0.3f);
        CHECK (sl_ann_add (ann, i, v) == 0);
    }
    CHECK (sl_ann_remove (ann, 42) == 0);
    CHECK (sl_ann_write (ann, path) == 0);
    sl_ann_t *back = sl_ann_read (path, DIM, 32);
    CHECK (back);
    CHECK (sl_ann_size (back) == 499 && sl_ann_removed (back) == 1);
    CHECK (sl_ann_holds (back, 43, (s_vec (v, 43, 43 * 7, 0.3f), v)));
    int64_t a [5], b [5];
    float sa [5], sb [5];
    CHECK (sl_ann_search (ann, v, 5, a, sa) == 5 && sl_ann_search (back, v, 5, b, sb) == 5);
    CHECK (memcmp (a, b, sizeof a) == 0);
    //  another dim: the layout does not match, refused
    CHECK (sl_ann_read (path, DIM + 4, 32) == NULL);
    //  a damaged file (cut short) and no file: refused, nothing thrown
    CHECK (truncate (path, 1000) == 0);
    CHECK (sl_ann_read (path, DIM, 32) == NULL);
    CHECK (unlink (path) == 0);
    CHECK (sl_ann_read (path, DIM, 32) == NULL);
    CHECK (sl_ann_write (ann, "/nonexistent/dir/g.hnsw") == -1);
    sl_ann_destroy (&back);
    sl_ann_destroy (&ann);
}

void
sl_ann_test (bool verbose)
{
    printf (" * sl_ann: ");
    if (verbose)
        printf ("\n");
    CASE ("add, grow, re-add replaces, remove, each, search order and width", s_test_rows ());
    CASE ("file: round trip; other dim, cut short, missing refused", s_test_file ());
    printf ("OK\n");
}
