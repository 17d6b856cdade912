/*  sl_records_test: self-test of sl_records.

    The record file writer and reader: commit and read back,
    abort leaves nothing, truncated files and garbage length prefixes are
    errors, not crashes.
*/
#include "sl_records.h"
#include "sl_util.h"
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
sl_records_test (bool verbose)
{
    char dir [] = "/tmp/sl_records_XXXXXX";
    assert (mkdtemp (dir));
    char path [128];
    snprintf (path, sizeof path, "%s/pages.mp", dir);
    sl_recw_t *w = sl_recw_new (path);
    assert (w);
    sl_mpw_t mpw;
    sl_mpw_init (&mpw);
    for (int i = 0; i < 100; i++) {
        msgpack_pack_map (&mpw.pk, 2);
        sl_mpw_kv_int (&mpw, "p", i + 1);
        sl_mpw_kv_str (&mpw, "t", "some page text");
        assert (sl_recw_write_mpw (w, &mpw) == 0);
    }
    assert (access (path, F_OK) != 0);          //  invisible until commit
    assert (sl_recw_commit (&w) == 0 && w == NULL);
    sl_recr_t *r = sl_recr_new (path);
    assert (r);
    sl_mp_t *mp;
    char err [128];
    int n = 0, rc;
    while ((rc = sl_recr_next (r, &mp, err, sizeof err)) == 1) {
        int64_t p;
        assert (sl_mp_get_int (sl_mp_root (mp), "p", &p) == 0 && p == n + 1);
        sl_mp_destroy (&mp);
        n++;
    }
    assert (rc == 0 && n == 100);
    sl_recr_destroy (&r);
    //  skip: the next record read is the one after those passed over; past
    //  the end is an error
    r = sl_recr_new (path);
    assert (r && sl_recr_skip (r, 40, err, sizeof err) == 0);
    int64_t p;
    assert (sl_recr_next (r, &mp, err, sizeof err) == 1);
    assert (sl_mp_get_int (sl_mp_root (mp), "p", &p) == 0 && p == 41);
    sl_mp_destroy (&mp);
    assert (sl_recr_skip (r, 60, err, sizeof err) == -1 && strstr (err, "ends before"));
    sl_recr_destroy (&r);
    //  A truncated file is an error, not a crash
    assert (truncate (path, 60) == 0);      //  mid-record (records are 25 bytes)
    r = sl_recr_new (path);
    while ((rc = sl_recr_next (r, &mp, err, sizeof err)) == 1)
        sl_mp_destroy (&mp);
    assert (rc == -1 && strstr (err, "truncated"));
    sl_recr_destroy (&r);
    //  Garbage length prefix
    FILE *f = fopen (path, "wb");
    fwrite ("\xff\xff\xff\xff", 1, 4, f);
    fclose (f);
    r = sl_recr_new (path);
    assert (sl_recr_next (r, &mp, err, sizeof err) == -1);
    sl_recr_destroy (&r);
    //  Abort leaves nothing
    w = sl_recw_new (path);
    sl_recw_abort (&w);
    char cmd [200];
    snprintf (cmd, sizeof cmd, "test $(ls %s | wc -l) = 1", dir);
    assert (system (cmd) == 0);
    sl_mpw_reset (&mpw);
    unlink (path);
    rmdir (dir);
    if (verbose)
        printf ("sl_records: OK\n");
}
