/*  sl_edge_pool_test: self-test of sl_edge_pool.

    A real in-process broker is not available to this library (it lives in
    sl_broker), so the self-test covers the mapping table and the pool
    bound; tests/test_edge.py drives requests end to end.
*/
#include "sl_edge_pool.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_util.h"
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    sl_edge_pool_t *pool;
    int rounds;
} test_thread_t;

static void *
s_test_thread (void *arg)
{
    test_thread_t *t = (test_thread_t *) arg;
    sl_edge_fail_t fail;
    for (int i = 0; i < t->rounds; i++) {
        sl_client_t *client = sl_edge_pool_take (t->pool, &fail);
        assert (client);
        sl_edge_pool_give (t->pool, client);
    }
    return NULL;
}

void
sl_edge_pool_test (bool verbose)
{
    if (verbose)
        printf (" * sl_edge_pool: ");
    sl_client_result_t result;
    sl_edge_fail_t fail;
    memset (&result, 0, sizeof result);
    result.rc = SL_CLIENT_BUSY;
    result.retry_ms = 1500;
    result.depth = 10000;
    snprintf (result.service, sizeof result.service, "intake");
    assert (sl_edge_pool_map (&result, "intake/ingest", &fail) == 429);
    assert (fail.retry_after_s == 2);
    assert (strstr (fail.message, "intake"));
    result.rc = SL_CLIENT_TIMEOUT;
    assert (sl_edge_pool_map (&result, "x", &fail) == 503);
    assert (fail.timed_out);
    result.rc = SL_CLIENT_ERROR;
    result.code = 503;
    assert (sl_edge_pool_map (&result, "x", &fail) == 503);
    assert (!fail.timed_out);
    result.code = 404;
    assert (sl_edge_pool_map (&result, "x", &fail) == 404);
    result.code = 500;
    assert (sl_edge_pool_map (&result, "x", &fail) == 502);

    //  Eight threads share a pool of two: never more than two clients
    sl_edge_pool_t *pool = sl_edge_pool_new ("inproc://sl-edge-pool-test", NULL, NULL, 2, 60000);
    pthread_t threads [8];
    test_thread_t t = { pool, 200 };
    for (int i = 0; i < 8; i++)
        pthread_create (&threads [i], NULL, s_test_thread, &t);
    for (int i = 0; i < 8; i++)
        pthread_join (threads [i], NULL);
    assert (sl_edge_pool_size (pool) <= 2 && sl_edge_pool_size (pool) >= 1);

    //  Nobody serves the request: a short timeout becomes 503, not a hang
    json_t *reply = NULL;
    int64_t start = sl_mono_ms ();
    int status = sl_edge_pool_request (pool, "default", "query", "status", NULL, NULL, 200, &reply, &fail);
    assert (status == 503 && reply == NULL);
    assert (sl_mono_ms () - start < 2000);
    assert (sl_edge_pool_request (pool, "bad ws!", "query", "status", NULL, NULL, 200, &reply, &fail) == 400);
    sl_edge_pool_destroy (&pool);

    //  Every client busy: a taker gives up after wait_ms with a 503
    pool = sl_edge_pool_new ("inproc://sl-edge-pool-test", NULL, NULL, 1, 100);
    sl_client_t *held = sl_edge_pool_take (pool, &fail);
    assert (held);
    start = sl_mono_ms ();
    assert (sl_edge_pool_take (pool, &fail) == NULL);
    assert (fail.status == 503 && fail.retry_after_s == 1 && strstr (fail.message, "busy"));
    assert (sl_mono_ms () - start >= 90 && sl_mono_ms () - start < 2000);
    assert (sl_edge_pool_request (pool, "default", "query", "status", NULL, NULL, 200, &reply, &fail) == 503);
    sl_edge_pool_give (pool, held);
    held = sl_edge_pool_take (pool, &fail);
    assert (held);
    sl_edge_pool_give (pool, held);
    sl_edge_pool_destroy (&pool);
    assert (pool == NULL);
    if (verbose)
        printf ("OK\n");
}
