/*  sl_trust_test: self-test of sl_trust.

    Settings that are refused (and why); the decisions (acting for a
    workspace, addressing a service, subscribing to a topic); local
    endpoints; real CURVE handshakes on loopback whose ZAP answer becomes
    every message's User-Id on the ROUTER and on XPUB subscriptions; a
    workers folder read at start and re-read when it changes.
*/
#include "sl_trust.h"
#include "sl_envelope.h"
#include "sl_log.h"
#include "sl_proto.h"
#include "sl_util.h"
#include <arpa/inet.h>
#include <assert.h>
#include <ctype.h>
#include <dirent.h>
#include <sys/stat.h>

//  Poll the ZAP handler, the router and the xpub for a while; collect what
//  the router and the xpub receive (each message with its User-Id).
static void
s_test_pump (sl_trust_t *trust, zsock_t *zap, zsock_t *router, zsock_t *xpub, int ms,
             zlistx_t *got)
{
    zpoller_t *poller = zpoller_new (zap, router, xpub, NULL);
    int64_t until = sl_mono_ms () + ms;
    while (sl_mono_ms () < until) {
        void *which = zpoller_wait (poller, 20);
        if (which == zap)
            sl_trust_zap_handle (trust, zap);
        else
        if (which == router || which == xpub) {
            zmsg_t *msg = zmsg_recv (which);
            zframe_t *first = zmsg_first (msg);
            //  The router's identity frame carries no metadata in czmq:
            //  the peer's own first frame does
            zframe_t *body = which == router ? zmsg_next (msg) : first;
            const char *uid = zframe_meta (body, "User-Id");
            char line [300];
            snprintf (line, sizeof line, "%s %s %.*s", which == router ? "router" : "xpub",
                      uid ? uid : "-", (int) zframe_size (body), (char *) zframe_data (body));
            zlistx_add_end (got, strdup (line));
            zmsg_destroy (&msg);
        }
    }
    zpoller_destroy (&poller);
}

static bool
s_test_has (zlistx_t *got, const char *line)
{
    for (char *s = zlistx_first (got); s; s = zlistx_next (got))
        if (streq (s, line))
            return true;
    return false;
}

void
sl_trust_test (bool verbose)
{
    char err [512];
    zcert_t *worker = zcert_new (), *client = zcert_new (), *rogue = zcert_new (), *server = zcert_new ();
    const char *wk = zcert_public_txt (worker), *ck = zcert_public_txt (client);

    //  Settings: what is refused, and why
    char spec [512];
    assert (!sl_trust_new (NULL, NULL, NULL, NULL, err, sizeof err) && strstr (err, "no key"));
    assert (!sl_trust_new ("short", NULL, NULL, NULL, err, sizeof err) && strstr (err, "worker_keys"));
    snprintf (spec, sizeof spec, "%s", ck);
    assert (!sl_trust_new (NULL, NULL, spec, NULL, err, sizeof err) && strstr (err, "KEY:WORKSPACE"));
    snprintf (spec, sizeof spec, "%s:no/slash", ck);
    assert (!sl_trust_new (NULL, NULL, spec, NULL, err, sizeof err) && strstr (err, "workspace"));
    snprintf (spec, sizeof spec, "%s:alpha", wk);
    assert (!sl_trust_new (wk, NULL, spec, NULL, err, sizeof err) && strstr (err, "either a worker"));
    assert (!sl_trust_new (wk, NULL, NULL, "intake,no such", err, sizeof err) && strstr (err, "client_services"));
    assert (!sl_trust_new (NULL, "/nonexistent/sluice-keys", NULL, NULL, err, sizeof err)
            && strstr (err, "workers_dir"));
    if (verbose)
        printf ("refused: %s\n", err);

    //  Decisions
    snprintf (spec, sizeof spec, " %s:alpha , %s:gamma,%s:alpha ", ck, ck, ck);
    sl_trust_t *trust = sl_trust_new (wk, NULL, spec, NULL, err, sizeof err);
    assert (trust);
    assert (sl_trust_workers (trust) == 1 && sl_trust_clients (trust) == 1);
    const sl_peer_t *w = sl_trust_lookup (trust, wk), *c = sl_trust_lookup (trust, ck);
    assert (w && w->worker && c && !c->worker && c->ws_count == 2);
    assert (!sl_trust_lookup (trust, zcert_public_txt (rogue)) && !sl_trust_lookup (trust, NULL));
    assert (sl_trust_peer_may_act_for (w, "beta") && sl_trust_peer_may_act_for (c, "alpha"));
    assert (sl_trust_peer_may_act_for (c, "gamma") && !sl_trust_peer_may_act_for (c, "beta"));
    assert (!sl_trust_peer_may_act_for (c, "alph") && !sl_trust_peer_may_act_for (NULL, "alpha"));
    assert (sl_trust_peer_may_address (trust, c, "query", 1) && sl_trust_peer_may_address (trust, c, "upload", 1));
    assert (!sl_trust_peer_may_address (trust, c, "journal", 1) && !sl_trust_peer_may_address (trust, c, "intake", 2));
    assert (!sl_trust_peer_may_address (trust, c, "quer", 1));
    assert (sl_trust_peer_may_address (trust, w, "journal", 5));
    assert (sl_trust_peer_may_subscribe (c, "alpha/job-1", 11) && sl_trust_peer_may_subscribe (c, "alpha/", 6));
    assert (!sl_trust_peer_may_subscribe (c, "", 0) && !sl_trust_peer_may_subscribe (c, "alpha", 5));
    assert (!sl_trust_peer_may_subscribe (c, "alp", 3) && !sl_trust_peer_may_subscribe (c, "beta/x", 6));
    assert (!sl_trust_peer_may_subscribe (c, "/alpha/", 7) && !sl_trust_peer_may_subscribe (NULL, "alpha/", 6));
    assert (sl_trust_peer_may_subscribe (w, "", 0));

    //  Endpoints
    const char *local [] = { "inproc://x", "ipc:///tmp/x", "tcp://127.0.0.1:5555", "tcp://127.1.2.3:*",
                             "tcp://localhost:5555", "tcp://[::1]:5555", "tcp://::1:5555", NULL };
    const char *public [] = { "tcp://*:5555", "tcp://0.0.0.0:5555", "tcp://10.0.0.5:5555", "tcp://[::]:5555",
                              "tcp://eth0:5555", "tcp://lo:5555", "tcp://128.0.0.1:1", "pgm://x", "tcp://x",
                              "ws://127.0.0.1:1", NULL };
    for (int i = 0; local [i]; i++)
        assert (sl_trust_endpoint_local (local [i]));
    for (int i = 0; public [i]; i++)
        assert (!sl_trust_endpoint_local (public [i]));
    assert (!sl_trust_endpoint_local (NULL));

    //  Real CURVE handshakes on loopback: the ZAP answer becomes every
    //  message's User-Id, on the router and on XPUB subscriptions alike
    zsock_t *zap = sl_trust_zap_new (err, sizeof err);
    assert (zap);
    zsock_t *second = sl_trust_zap_new (err, sizeof err);
    assert (!second && strstr (err, "ZAP"));
    zsock_t *router = zsock_new (ZMQ_ROUTER), *xpub = zsock_new (ZMQ_XPUB);
    zsock_set_xpub_manual (xpub, 1);
    zsock_t *servers [] = { router, xpub };
    for (int i = 0; i < 2; i++) {
        zcert_apply (server, servers [i]);
        zsock_set_curve_server (servers [i], 1);
        zsock_set_zap_domain (servers [i], "sluice");
        zsock_set_linger (servers [i], 0);
    }
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    int pub_port = zsock_bind (xpub, "tcp://127.0.0.1:*");
    assert (port > 0 && pub_port > 0);
    zcert_t *certs [] = { worker, client, rogue };
    const char *names [] = { "worker", "client", "rogue" };
    zsock_t *dealers [3], *subs [3];
    for (int i = 0; i < 3; i++) {
        dealers [i] = zsock_new (ZMQ_DEALER);
        subs [i] = zsock_new (ZMQ_SUB);
        zsock_t *pair [] = { dealers [i], subs [i] };
        for (int j = 0; j < 2; j++) {
            zcert_apply (certs [i], pair [j]);
            zsock_set_curve_serverkey (pair [j], zcert_public_txt (server));
            zsock_set_linger (pair [j], 0);
            zsock_set_sndtimeo (pair [j], 0);
        }
        zsock_connect (dealers [i], "tcp://127.0.0.1:%d", port);
        zsock_connect (subs [i], "tcp://127.0.0.1:%d", pub_port);
        zsock_set_subscribe (subs [i], "alpha/job");
        zsock_set_subscribe (subs [i], "beta/");
    }
    zlistx_t *got = zlistx_new ();
    zlistx_set_destructor (got, (zlistx_destructor_fn *) zstr_free);
    s_test_pump (trust, zap, router, xpub, 300, got);      //  handshakes, subscriptions
    for (int i = 0; i < 3; i++)
        zstr_send (dealers [i], names [i]);
    s_test_pump (trust, zap, router, xpub, 300, got);
    if (verbose)
        for (char *s = zlistx_first (got); s; s = zlistx_next (got))
            printf ("received: %s\n", s);
    char line [300];
    snprintf (line, sizeof line, "router %s worker", wk);
    assert (s_test_has (got, line));
    snprintf (line, sizeof line, "router %s client", ck);
    assert (s_test_has (got, line));
    snprintf (line, sizeof line, "xpub %s \001alpha/job", ck);
    assert (s_test_has (got, line));
    snprintf (line, sizeof line, "xpub %s \001beta/", wk);
    assert (s_test_has (got, line));
    for (char *s = zlistx_first (got); s; s = zlistx_next (got))
        assert (!strstr (s, "rogue") && !strstr (s, zcert_public_txt (rogue)));
    assert (zlistx_size (got) == 6);
    zlistx_destroy (&got);
    for (int i = 0; i < 3; i++) {
        zsock_destroy (&dealers [i]);
        zsock_destroy (&subs [i]);
    }
    zsock_destroy (&router);
    zsock_destroy (&xpub);
    zsock_destroy (&zap);
    sl_trust_destroy (&trust);

    //  A workers folder: read at start, re-read when it changes
    char dir [] = "/tmp/sl_trust_test_XXXXXX";
    assert (mkdtemp (dir));
    char path [256];
    snprintf (path, sizeof path, "%s/worker.key", dir);
    zcert_save_public (worker, path);
    snprintf (spec, sizeof spec, "%s:alpha", ck);
    trust = sl_trust_new (NULL, dir, spec, NULL, err, sizeof err);
    assert (trust && sl_trust_workers (trust) == 1 && sl_trust_clients (trust) == 1);
    assert (sl_trust_lookup (trust, wk)->worker);
    snprintf (path, sizeof path, "%s/client.key", dir);
    zcert_save_public (client, path);        //  a client key in the folder stays a client
    snprintf (path, sizeof path, "%s/other.key", dir);
    zcert_save_public (rogue, path);
    snprintf (path, sizeof path, "%s/junk", dir);
    FILE *junk = fopen (path, "w");
    fputs ("not a certificate\n", junk);
    fclose (junk);
    struct timespec later [2] = { { 0, UTIME_OMIT }, { time (NULL) + 5, 0 } };
    utimensat (AT_FDCWD, dir, later, 0);
    sl_trust_refresh (trust);
    assert (sl_trust_workers (trust) == 2 && sl_trust_clients (trust) == 1);
    assert (!sl_trust_lookup (trust, ck)->worker && sl_trust_lookup (trust, zcert_public_txt (rogue))->worker);
    const char *files [] = { "worker.key", "client.key", "other.key", "junk", NULL };
    for (int i = 0; files [i]; i++) {
        snprintf (path, sizeof path, "%s/%s", dir, files [i]);
        unlink (path);
    }
    later [1].tv_sec += 5;
    utimensat (AT_FDCWD, dir, later, 0);
    sl_trust_refresh (trust);
    assert (sl_trust_workers (trust) == 0 && sl_trust_clients (trust) == 1);
    rmdir (dir);
    sl_trust_refresh (trust);               //  the folder is gone: no worker from it
    assert (sl_trust_workers (trust) == 0);
    sl_trust_destroy (&trust);

    zcert_destroy (&worker);
    zcert_destroy (&client);
    zcert_destroy (&rogue);
    zcert_destroy (&server);
}
