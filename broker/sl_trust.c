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
