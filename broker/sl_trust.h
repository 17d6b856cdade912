/*  sl_trust: who may talk to the broker, and what each peer may do.

    With CURVE on, every peer of the broker proves a public key during the
    handshake. sl_trust holds the keys the broker accepts and answers the
    broker's ZAP requests itself (it is the process's ZAP handler, bound on
    inproc://zeromq.zap.01): a known key is admitted with its Z85 text as
    ZeroMQ's "User-Id", so every message and every subscription the broker
    receives afterwards names the key that sent it (zframe_meta (frame,
    "User-Id")); an unknown key fails the handshake and never gets a
    socket-level connection at all.

    Two kinds of keys (docs/config.md, "Trust"):

      worker  curve.worker_keys, curve.workers_dir: the pipeline's own
              processes (stages, intake/journal/query/upload, the HTTP
              edge). Trusted for every workspace and every command.
      client  curve.client_keys = "KEY:WORKSPACE,...": a program outside
              the pipeline (the bindings, the CLI). It acts only for its
              workspaces, only through the client services (intake, query,
              upload), sees only its workspaces' events and dead letters,
              and may not serve, acknowledge, reply or publish.

    Without CURVE there are no keys, no sl_trust, and every peer is trusted:
    that is only allowed on loopback, inproc and ipc endpoints, or with
    broker.insecure (sl_trust_endpoint_local).

    Owned by the broker thread; not thread-safe.
*/
#ifndef SL_TRUST_H_INCLUDED
#define SL_TRUST_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

#define SL_TRUST_KEY_LEN 40             //  a Z85 CURVE public key
#define SL_TRUST_CLIENT_SERVICES "intake,query,upload,sources"

typedef struct _sl_trust_t sl_trust_t;

typedef struct {
    char key [SL_TRUST_KEY_LEN + 1];
    bool worker;                        //  trusted for everything
    bool from_dir;                      //  loaded from curve.workers_dir (reloaded)
    int ws_count;                       //  client: its workspaces
    char (*ws) [65];
} sl_peer_t;

//  Keys from the settings: worker_keys "KEY,KEY,...", workers_dir a folder
//  of czmq public certificates (each file one worker), client_keys
//  "KEY:WORKSPACE,..." (a key may be listed with several workspaces);
//  client_services the services a client key may address (NULL: intake,
//  query, upload). Any may be NULL or empty. NULL with a reason in err if
//  a key or workspace is malformed, a key is both worker and client, or no
//  key is configured at all.
sl_trust_t *sl_trust_new (const char *worker_keys, const char *workers_dir, const char *client_keys,
                          const char *client_services, char *err, size_t errlen);
void sl_trust_destroy (sl_trust_t **self_p);

//  Re-read workers_dir if it changed (a rotated Kubernetes Secret). Cheap:
//  one stat unless the folder changed. Call from time to time.
void sl_trust_refresh (sl_trust_t *self);

//  The peer with this public key (Z85), or NULL.
const sl_peer_t *sl_trust_lookup (sl_trust_t *self, const char *key);

//  Numbers of worker and client keys (logs, tests).
size_t sl_trust_workers (sl_trust_t *self);
size_t sl_trust_clients (sl_trust_t *self);

//  May peer act for (read, write, watch) workspace ws? Workers: always.
bool sl_trust_peer_may_act_for (const sl_peer_t *peer, const char *ws);

//  May peer send an envelope for this service (route[0]) with this route
//  length? Workers: always. Clients: a one-step route to a client service.
bool sl_trust_peer_may_address (sl_trust_t *self, const sl_peer_t *peer, const char *service,
                                size_t route_size);

//  May peer subscribe to this topic prefix (bytes, not NUL-terminated)?
//  Workers: any. Clients: "<ws>/..." for one of their workspaces only (an
//  empty prefix, one without "/", or another workspace's is refused).
bool sl_trust_peer_may_subscribe (const sl_peer_t *peer, const void *topic, size_t size);

//  The ZAP handler: a REP socket bound on inproc://zeromq.zap.01 in czmq's
//  context. Bind it before any CURVE server socket binds. NULL (with err)
//  if another ZAP handler is bound in this process already.
zsock_t *sl_trust_zap_new (char *err, size_t errlen);

//  Answer one ZAP request waiting on zap: 200 with User-Id = the key's Z85
//  text if the key is known, 400 otherwise. Refusals are logged (at most
//  once a minute per key).
void sl_trust_zap_handle (sl_trust_t *self, zsock_t *zap);

//  Is this bind endpoint reachable only from this machine? inproc://,
//  ipc://, and tcp:// on 127.0.0.0/8, ::1 or localhost. Everything else
//  (tcp://*, 0.0.0.0, a routable address, an interface name, other
//  transports) is public.
bool sl_trust_endpoint_local (const char *endpoint);

void sl_trust_test (bool verbose);

#endif
