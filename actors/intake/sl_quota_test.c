/*  sl_quota_test: self-test of sl_quota.

    Admission of jobs against per-workspace storage quotas, over a
    real store in a temporary folder.
*/
#include "sl_quota.h"
#include "sl_quota_internal.h"
#include "sl_log.h"
#include "sl_util.h"
#include <assert.h>
#include <czmq.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

void
sl_quota_test (bool verbose)
{
    printf (" * sl_quota: ");
    fflush (stdout);
    if (!verbose)
        sl_log_set_level (SL_LOG_WARN);
    char dir [] = "/tmp/sl_quota_test_XXXXXX";
    assert (mkdtemp (dir));
    char url [256], err [256];
    snprintf (url, sizeof url, "sqlite:%s/sluice.db", dir);
    sl_store_t *store = sl_store_open (url, err, sizeof err);
    assert (store);
    sl_config_t *config = sl_config_new ();
    sl_quota_t *quota = sl_quota_new (config, dir);

    //  Unlimited by default, whatever comes in
    assert (sl_quota_check (quota, store, "ws", (int64_t) 1 << 40, err, sizeof err) == 0);
    assert (sl_quota_limit (quota, "ws") == 0);

    //  A 2 MiB quota, a 1.5 MiB document stored
    sl_config_set (config, "storage.quota_mb", "2");
    char sha [SL_SHA256_HEX];
    sl_sha256_hex ("doc", 3, sha);
    sl_doc_meta_t meta = { .workspace = "ws", .source = "upload:doc", .sha256 = sha,
                           .bytes = 3 << 19 };
    char id [SL_STORE_ID];
    assert (sl_store_document_commit (store, &meta, NULL, 0, NULL, 0, NULL, id) == 0);
    assert (sl_quota_limit (quota, "ws") == 2 << 20);
    assert (sl_quota_check (quota, store, "ws", 1 << 20, err, sizeof err) == 413);
    assert (strstr (err, "workspace ws is over its storage quota: 1.5 MiB stored + 1.0 MiB in this upload, quota 2.0 MiB"));
    //  what fits is accepted and counted until the next read
    assert (sl_quota_check (quota, store, "ws", 300 << 10, err, sizeof err) == 0);
    assert (sl_quota_check (quota, store, "ws", 300 << 10, err, sizeof err) == 413);
    assert (sl_quota_check (quota, store, "ws", 0, err, sizeof err) == 0);
    //  another workspace has its own account, and its own quota
    assert (sl_quota_check (quota, store, "other", 1 << 20, err, sizeof err) == 0);
    sl_config_set (config, "storage.quota.other", "1");
    sl_config_set (config, "storage.quota.big", "0");
    assert (sl_quota_limit (quota, "other") == 1 << 20);
    assert (sl_quota_limit (quota, "big") == 0);
    assert (sl_quota_check (quota, store, "big", (int64_t) 1 << 40, err, sizeof err) == 0);
    usleep ((SL_QUOTA_REFRESH_MS + 50) * 1000);
    //  after the refresh only what is stored counts again
    assert (sl_quota_check (quota, store, "ws", 300 << 10, err, sizeof err) == 0);
    assert (sl_quota_check (quota, store, "other", (1 << 20) + 1, err, sizeof err) == 413);
    assert (strstr (err, "quota 1.0 MiB"));
    //  a full workspace is refused even a URL (size not known yet)
    meta.source = "upload:doc2";
    sl_sha256_hex ("doc2", 4, sha);
    meta.bytes = 1 << 20;
    assert (sl_store_document_commit (store, &meta, NULL, 0, NULL, 0, NULL, id) == 0);
    usleep ((SL_QUOTA_REFRESH_MS + 50) * 1000);
    assert (sl_quota_check (quota, store, "ws", 0, err, sizeof err) == 413);
    assert (strstr (err, "2.5 MiB stored, quota 2.0 MiB"));

    //  Free space: a floor no disk has enough for gives 507
    sl_config_set (config, "storage.min_free_mb", "1000000000");
    assert (sl_quota_check (quota, store, "big", 0, err, sizeof err) == 507);
    assert (strstr (err, "disk full") && strstr (err, dir));
    sl_config_set (config, "storage.min_free_mb", "0");
    assert (sl_quota_check (quota, store, "big", 0, err, sizeof err) == 0);

    sl_quota_destroy (&quota);
    assert (quota == NULL);
    sl_quota_destroy (&quota);
    sl_config_destroy (&config);
    sl_store_destroy (&store);
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert (system (cmd) == 0);
    printf ("OK\n");
}
