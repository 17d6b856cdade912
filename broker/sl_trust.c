/*  sl_trust: keys, ZAP and the broker's authorization rules. See sl_trust.h. */
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

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_REFUSAL_LOG_MS 60000          //  one log line per refused key per minute

struct _sl_trust_t {
    zhashx_t *peers;                    //  Z85 key -> sl_peer_t *
    char *services;                     //  ",intake,query,upload,"
    char *workers_dir;
    struct timespec dir_mtime;
    bool dir_seen;
    size_t workers, clients;
    zhashx_t *refused;                  //  key -> last time logged (mono ms)
};

static void
s_peer_destroy (void **item)
{
    sl_peer_t *peer = (sl_peer_t *) *item;
    free (peer->ws);
    free (peer);
    *item = NULL;
}

//  A Z85 CURVE public key: 40 characters that decode to 32 bytes.
static bool
s_key_valid (const char *key)
{
    uint8_t bytes [32];
    return strlen (key) == SL_TRUST_KEY_LEN && zmq_z85_decode (bytes, key) != NULL;
}

//  Trim spaces around tok, in place.
static char *
s_trim (char *tok)
{
    while (isspace ((unsigned char) *tok))
        tok++;
    char *end = tok + strlen (tok);
    while (end > tok && isspace ((unsigned char) end [-1]))
        *--end = 0;
    return tok;
}

static sl_peer_t *
s_peer_require (sl_trust_t *self, const char *key)
{
    sl_peer_t *peer = zhashx_lookup (self->peers, key);
    if (!peer) {
        peer = calloc (1, sizeof *peer);
        assert (peer);
        snprintf (peer->key, sizeof peer->key, "%s", key);
        zhashx_insert (self->peers, key, peer);
    }
    return peer;
}

static void
s_count (sl_trust_t *self)
{
    self->workers = self->clients = 0;
    for (sl_peer_t *p = zhashx_first (self->peers); p; p = zhashx_next (self->peers))
        if (p->worker)
            self->workers++;
        else
            self->clients++;
}

//  (Re)load the workers folder: every file czmq reads as a certificate is
//  one worker. Keys listed as clients stay clients (least privilege).
static int
s_load_dir (sl_trust_t *self, char *err, size_t errlen)
{
    //  Forget what the folder said last time
    zlistx_t *gone = zlistx_new ();
    for (sl_peer_t *p = zhashx_first (self->peers); p; p = zhashx_next (self->peers))
        if (p->from_dir)
            zlistx_add_end (gone, p->key);
    for (char *key = zlistx_first (gone); key; key = zlistx_next (gone))
        zhashx_delete (self->peers, key);
    zlistx_destroy (&gone);

    struct stat st;
    DIR *dir = NULL;
    errno = 0;
    if (stat (self->workers_dir, &st) || !S_ISDIR (st.st_mode) || !(dir = opendir (self->workers_dir))) {
        snprintf (err, errlen, "curve.workers_dir %s: %s", self->workers_dir,
                  errno ? strerror (errno) : "not a folder");
        self->dir_seen = false;
        s_count (self);
        return -1;
    }
    self->dir_mtime = st.st_mtim;
    self->dir_seen = true;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        if (entry->d_name [0] == '.')
            continue;               //  also Kubernetes' ..data links
        char path [2048];
        snprintf (path, sizeof path, "%s/%s", self->workers_dir, entry->d_name);
        struct stat fst;
        if (stat (path, &fst) || !S_ISREG (fst.st_mode))
            continue;
        zcert_t *cert = zcert_load (path);
        const char *key = cert ? zcert_public_txt (cert) : NULL;
        if (!key || !s_key_valid (key)) {
            sl_warn (NULL, "curve.workers_dir: %s is not a CURVE certificate: ignored", path);
            zcert_destroy (&cert);
            continue;
        }
        sl_peer_t *peer = zhashx_lookup (self->peers, key);
        if (peer && !peer->worker)
            sl_warn (NULL, "curve.workers_dir: %s holds client key %.8s...: it stays a client", path, key);
        else
        if (!peer) {
            peer = s_peer_require (self, key);
            peer->worker = true;
            peer->from_dir = true;
        }
        zcert_destroy (&cert);
    }
    closedir (dir);
    s_count (self);
    return 0;
}

sl_trust_t *
sl_trust_new (const char *worker_keys, const char *workers_dir, const char *client_keys,
              const char *client_services, char *err, size_t errlen)
{
    worker_keys = worker_keys ? worker_keys : "";
    client_keys = client_keys ? client_keys : "";
    workers_dir = workers_dir && *workers_dir ? workers_dir : NULL;
    if (!*worker_keys && !*client_keys && !workers_dir) {
        snprintf (err, errlen, "CURVE is on (curve.broker_secret) but no key may connect: set "
                  "curve.worker_keys or curve.workers_dir (the pipeline's processes) and, for "
                  "outside programs, curve.client_keys=KEY:WORKSPACE,...");
        return NULL;
    }
    sl_trust_t *self = calloc (1, sizeof *self);
    assert (self);
    self->peers = zhashx_new ();
    zhashx_set_destructor (self->peers, s_peer_destroy);
    self->refused = zhashx_new ();
    zhashx_set_destructor (self->refused, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->refused, (zhashx_duplicator_fn *) strdup);

    //  Services a client key may address
    const char *services = client_services && *client_services ? client_services : SL_TRUST_CLIENT_SERVICES;
    self->services = malloc (strlen (services) + 3);
    assert (self->services);
    strcpy (self->services, ",");
    char *copy = strdup (services), *save = NULL;
    for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        tok = s_trim (tok);
        if (!*tok)
            continue;
        if (!sl_envelope_name_valid (tok)) {
            snprintf (err, errlen, "broker.client_services: '%.32s' is not a service name", tok);
            free (copy);
            goto fail;
        }
        strcat (self->services, tok);
        strcat (self->services, ",");
    }
    free (copy);

    //  Workers: trusted for everything
    int n = 0;
    copy = strdup (worker_keys);
    save = NULL;
    for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        tok = s_trim (tok);
        if (!*tok)
            continue;
        n++;
        if (!s_key_valid (tok)) {
            snprintf (err, errlen, "curve.worker_keys: key #%d is not a Z85 public key (40 characters, "
                      "as `sluiced --keygen` prints)", n);
            free (copy);
            goto fail;
        }
        s_peer_require (self, tok)->worker = true;
    }
    free (copy);

    //  Clients: KEY:WORKSPACE, a key may come back with more workspaces
    n = 0;
    copy = strdup (client_keys);
    save = NULL;
    for (char *tok = strtok_r (copy, ",", &save); tok; tok = strtok_r (NULL, ",", &save)) {
        tok = s_trim (tok);
        if (!*tok)
            continue;
        n++;
        //  A key is 40 characters, and Z85 has ':' in its alphabet
        if (strlen (tok) < SL_TRUST_KEY_LEN + 2 || tok [SL_TRUST_KEY_LEN] != ':') {
            snprintf (err, errlen, "curve.client_keys: entry #%d is not KEY:WORKSPACE (KEY: the 40-character "
                      "Z85 public key)", n);
            free (copy);
            goto fail;
        }
        tok [SL_TRUST_KEY_LEN] = 0;
        const char *ws = tok + SL_TRUST_KEY_LEN + 1;
        if (!s_key_valid (tok)) {
            snprintf (err, errlen, "curve.client_keys: key #%d is not a Z85 public key (40 characters, "
                      "as `sluiced --keygen` prints)", n);
            free (copy);
            goto fail;
        }
        if (!sl_token_valid (ws)) {
            snprintf (err, errlen, "curve.client_keys: workspace '%.64s' must be 1..64 of [A-Za-z0-9_.-]", ws);
            free (copy);
            goto fail;
        }
        sl_peer_t *peer = s_peer_require (self, tok);
        if (peer->worker) {
            snprintf (err, errlen, "curve.client_keys: key #%d (%.8s...) is also in curve.worker_keys: "
                      "a key is either a worker or a client", n, tok);
            free (copy);
            goto fail;
        }
        bool known = false;
        for (int i = 0; i < peer->ws_count; i++)
            known = known || streq (peer->ws [i], ws);
        if (!known) {
            peer->ws = realloc (peer->ws, (size_t) (peer->ws_count + 1) * sizeof *peer->ws);
            assert (peer->ws);
            snprintf (peer->ws [peer->ws_count++], sizeof peer->ws [0], "%s", ws);
        }
    }
    free (copy);

    if (workers_dir) {
        self->workers_dir = strdup (workers_dir);
        if (s_load_dir (self, err, errlen))
            goto fail;
    }
    s_count (self);
    return self;
fail:
    sl_trust_destroy (&self);
    return NULL;
}

void
sl_trust_destroy (sl_trust_t **self_p)
{
    if (*self_p) {
        sl_trust_t *self = *self_p;
        zhashx_destroy (&self->peers);
        zhashx_destroy (&self->refused);
        free (self->services);
        free (self->workers_dir);
        free (self);
        *self_p = NULL;
    }
}

void
sl_trust_refresh (sl_trust_t *self)
{
    if (!self->workers_dir)
        return;
    struct stat st;
    bool changed = stat (self->workers_dir, &st) ? self->dir_seen
                 : !self->dir_seen || st.st_mtim.tv_sec != self->dir_mtime.tv_sec
                                   || st.st_mtim.tv_nsec != self->dir_mtime.tv_nsec;
    if (!changed)
        return;
    size_t before = self->workers;
    char err [512];
    if (s_load_dir (self, err, sizeof err))
        sl_error (NULL, "%s: no worker key from that folder is accepted now", err);
    else
        sl_info (NULL, "curve.workers_dir changed: %zu worker key(s) now (were %zu)", self->workers, before);
}

const sl_peer_t *
sl_trust_lookup (sl_trust_t *self, const char *key)
{
    return key ? zhashx_lookup (self->peers, key) : NULL;
}

size_t sl_trust_workers (sl_trust_t *self) { return self->workers; }
size_t sl_trust_clients (sl_trust_t *self) { return self->clients; }

bool
sl_trust_peer_may_act_for (const sl_peer_t *peer, const char *ws)
{
    if (!peer)
        return false;
    if (peer->worker)
        return true;
    for (int i = 0; ws && i < peer->ws_count; i++)
        if (streq (peer->ws [i], ws))
            return true;
    return false;
}

bool
sl_trust_peer_may_address (sl_trust_t *self, const sl_peer_t *peer, const char *service, size_t route_size)
{
    if (!peer)
        return false;
    if (peer->worker)
        return true;
    if (route_size != 1 || !service || !sl_envelope_name_valid (service))
        return false;
    char needle [40];
    snprintf (needle, sizeof needle, ",%s,", service);
    return strstr (self->services, needle) != NULL;
}

bool
sl_trust_peer_may_subscribe (const sl_peer_t *peer, const void *topic, size_t size)
{
    if (!peer)
        return false;
    if (peer->worker)
        return true;
    const char *slash = topic ? memchr (topic, '/', size) : NULL;
    size_t n = slash ? (size_t) (slash - (const char *) topic) : 0;
    if (n == 0 || n > 64)
        return false;
    char ws [65];
    memcpy (ws, topic, n);
    ws [n] = 0;
    return sl_token_valid (ws) && sl_trust_peer_may_act_for (peer, ws);
}

//  ---------------------------------------------------------------------
//  ZAP (RFC 27): request = version, id, domain, address, routing id,
//  mechanism, credentials; reply = version, id, status, text, user id,
//  metadata

zsock_t *
sl_trust_zap_new (char *err, size_t errlen)
{
    zsock_t *zap = zsock_new (ZMQ_REP);
    assert (zap);
    zsock_set_linger (zap, 0);
    if (zsock_bind (zap, S_ZAP_ENDPOINT) < 0) {
        snprintf (err, errlen, "cannot bind the ZAP handler %s: %s (another CURVE server in this process?)",
                  S_ZAP_ENDPOINT, zmq_strerror (zmq_errno ()));
        zsock_destroy (&zap);
    }
    return zap;
}

void
sl_trust_zap_handle (sl_trust_t *self, zsock_t *zap)
{
    zmsg_t *request = zmsg_recv (zap);
    if (!request)
        return;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    char *routing = zmsg_popstr (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credentials = zmsg_pop (request);
    char key [SL_TRUST_KEY_LEN + 1] = "";
    bool ok = false;
    if (version && streq (version, "1.0") && mechanism && streq (mechanism, "CURVE")
    &&  credentials && zframe_size (credentials) == 32) {
        zmq_z85_encode (key, zframe_data (credentials), 32);
        ok = sl_trust_lookup (self, key) != NULL;
    }
    if (!ok) {
        //  Logged once a minute per key: a refused peer reconnects every 100 ms
        const char *id = *key ? key : "(no CURVE key)";
        char *last = zhashx_lookup (self->refused, id);
        int64_t now = sl_mono_ms ();
        if (!last || now - atoll (last) >= S_REFUSAL_LOG_MS) {
            sl_warn (NULL, "refused a %s handshake from %s: key %s is neither a worker nor a client key",
                     mechanism ? mechanism : "?", address ? address : "?", id);
            if (zhashx_size (self->refused) > 10000)
                zhashx_purge (self->refused);
            char stamp [32];
            snprintf (stamp, sizeof stamp, "%lld", (long long) now);
            zhashx_update (self->refused, id, stamp);
        }
    }
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence ? sequence : "");
    zmsg_addstr (reply, ok ? "200" : "400");
    zmsg_addstr (reply, ok ? "OK" : "unknown key");
    zmsg_addstr (reply, ok ? key : "");
    zmsg_addmem (reply, NULL, 0);
    zmsg_send (&reply, zap);
    zmsg_destroy (&reply);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&routing);
    zstr_free (&mechanism);
    zframe_destroy (&credentials);
    zmsg_destroy (&request);
}

//  ---------------------------------------------------------------------
//  Endpoints

bool
sl_trust_endpoint_local (const char *endpoint)
{
    if (!endpoint)
        return false;
    if (!strncmp (endpoint, "inproc://", 9) || !strncmp (endpoint, "ipc://", 6))
        return true;
    if (strncmp (endpoint, "tcp://", 6))
        return false;
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    if (!colon || strchr (host, ';'))
        return false;
    char name [256];
    size_t n = (size_t) (colon - host);
    if (n >= sizeof name)
        return false;
    memcpy (name, host, n);
    name [n] = 0;
    char *h = name;
    if (*h == '[' && n >= 2 && h [n - 1] == ']') {
        h [n - 1] = 0;
        h++;
    }
    if (streq (h, "localhost"))
        return true;
    struct in_addr v4;
    if (inet_pton (AF_INET, h, &v4) == 1)
        return (ntohl (v4.s_addr) >> 24) == 127;
    struct in6_addr v6;
    if (inet_pton (AF_INET6, h, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK (&v6)
            || (IN6_IS_ADDR_V4MAPPED (&v6) && v6.s6_addr [12] == 127);
    return false;
}

//  ---------------------------------------------------------------------
//  Self-test

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
