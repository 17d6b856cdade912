/*  sl_broker: the message router at the centre of Sluice.

    One ROUTER socket takes every peer: workers that serve stages (fetch,
    parse, …), clients that submit jobs and ask questions (the HTTP edge,
    bindings, the CLI). One PUB socket fans out live events on
    "<workspace>/<job>" topics.
    The broker keeps, per service, a bounded FIFO of envelopes and the set
    of workers that serve it, and moves messages from the first to the
    second under these rules (docs/protocol.md has the full contract):

    - credit: a worker says how many messages it may hold; the broker never
      sends more, and picks among workers with credit round-robin;
    - acknowledgement: a message leaves the broker only when the worker
      ACKs it, and the ACK carries the message's successors (the next stage
      of its route) so "done here" and "queued there" happen together;
    - liveness: both sides heartbeat; a worker silent for `liveness`
      intervals (or unreachable when sent more work) is dead and every
      message it held is re-queued with attempt+1 (a message in flight has
      no deadline of its own: it stays while its worker heartbeats); after
      max attempts a message goes to the dead-letter queue (listable,
      replayable) and a `dead_letter` event is emitted;
    - backpressure: a SUBMIT to a service whose queue is full gets BUSY
      with a retry hint, never a silent drop;
    - dedupe: message ids already completed are remembered for a while, so a
      late ACK from a worker declared dead does not forward twice;
    - one message per job: the broker counts each job's live pipeline
      messages (queued or in flight), and a SUBMIT flagged "ifabsent" is
      queued only when its job has none. Re-drivers use it to tell a job
      that waits in a queue from one whose message was lost;
    - durability across restarts: on a clean stop the queues and the DLQ
      are written to a snapshot file and loaded at the next start. A crash
      loses the broker's memory, which is why jobs are also recorded in the
      store and re-driven from there (actors/intake).

    Failover (pair set): two brokers, a primary and a backup, run the
    Binary Star state machine (sl_bstar.h). Each publishes its state every
    heartbeat on state_endpoint and follows the other's on peer (same
    rules as the other sockets: CURVE with the broker's own key, which the
    pair shares, or loopback unless `insecure`). The passive one answers
    every command with ERROR / DISCONNECT code 421 (SL_ERR_PASSIVE) and a
    reason, and retry_ms: 0 means "my peer is alive, go there", more means
    "my peer is falling silent: ask me again then". It takes over when its
    peer has been silent for `liveness` heartbeats (or its connection
    closed: the process died) AND a worker or client asks it for
    something; STATS alone never makes it take over. Workers and clients
    know both endpoints (sl_worker.h, sl_client.h) and move. What the dead
    broker held in memory is lost as in a crash (see durability): handlers
    still running ACK to the new broker, whose dedupe and the orphan rule
    below keep that from doubling anything, and intake re-drives the rest.

    Trust (docs/architecture.md, "Trust model"): with CURVE every peer is
    known by its public key (sl_trust answers ZAP and names the key on every
    message). Worker keys are the pipeline and may do everything; a client
    key acts only for its workspaces, only through the client services, and
    subscribes only to its workspaces' events (the event socket is an XPUB
    that accepts a subscription only if the subscriber's key may see it).
    Without CURVE every peer is trusted, so the broker refuses to bind
    anything but loopback, inproc or ipc endpoints unless told `insecure`.

    The broker runs as a czmq actor thread, inside `sluiced --role all` or
    alone as `sluiced --role broker`. All state is owned by that thread.
*/
#ifndef SL_BROKER_H_INCLUDED
#define SL_BROKER_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>

typedef struct {
    const char *endpoint;        //  ROUTER bind, e.g. "tcp://*:5555" or "inproc://sluice"
    const char *pub_endpoint;    //  PUB bind for live events
    int heartbeat_ms;            //  heartbeat interval (default 1000)
    int liveness;                //  intervals of silence before a worker is dead (default 3)
    size_t queue_limit;          //  max queued messages per service (default 10000)
    int retry_after_ms;          //  hint sent with BUSY (default 1000)
    size_t dlq_limit;            //  dead letters kept (default 100000)
    const char *journal_service; //  events are queued to this service (NULL: publish directly)
    const char *snapshot_path;   //  queues saved here on stop, loaded on start (NULL: none)
    const char *services;        //  comma-separated services listed in stats even before
                                 //  any worker announces them (autoscalers read zeros)
    const char *curve_secret;    //  path of the broker's CURVE secret cert (NULL: plain)
    const char *curve_workers;   //  worker public keys, Z85, comma-separated
    const char *curve_workers_dir;  //  folder of worker public certs (re-read when it changes)
    const char *curve_clients;   //  client keys: "KEY:WORKSPACE,..." (see sl_trust.h)
    const char *client_services; //  services client keys may address (NULL: intake,query,upload,sources)
    bool insecure;               //  allow a non-local bind without CURVE (logged loudly)
    int64_t max_msg_size;        //  largest message part a peer may send (default 64 MiB; -1 none)
    const char *pair;            //  NULL: a single broker; "primary" or "backup" of a pair
    const char *state_endpoint;  //  pair: PUB bind where this broker tells its state
    const char *peer;            //  pair: the other broker's state endpoint
} sl_broker_config_t;

typedef struct _sl_broker_t sl_broker_t;

//  Fill cfg with defaults (endpoints left NULL).
void sl_broker_config_defaults (sl_broker_config_t *cfg);

//  Start a broker thread bound to the configured endpoints. Returns NULL
//  (and logs why) if binding fails, if pair is set but is not "primary"
//  or "backup" or lacks state_endpoint or peer, if an endpoint other than loopback,
//  inproc or ipc would be bound without CURVE and without `insecure`, or if
//  the keys are malformed. Caller owns the result.
sl_broker_t *sl_broker_new (const sl_broker_config_t *cfg);

//  Stop the broker: it writes its snapshot, then the thread ends.
void sl_broker_destroy (sl_broker_t **self_p);

//  The ROUTER endpoint actually bound (resolves tcp://*:* ports).
const char *sl_broker_endpoint (sl_broker_t *self);
const char *sl_broker_pub_endpoint (sl_broker_t *self);

//  The broker's statistics as of its last heartbeat (the same msgpack map
//  as the STATS command), copied into *data (caller frees). For
//  operational endpoints in the broker's own process: no socket, so no
//  CURVE keys needed. 0, or -1 before the first snapshot.
int sl_broker_stats (sl_broker_t *self, char **data, size_t *size);

//  Run a broker in the calling thread until interrupted (SIGINT/SIGTERM);
//  used by `sluiced --role broker`. Returns 0 on clean stop.
int sl_broker_run (const sl_broker_config_t *cfg);

void sl_broker_test (bool verbose);

#endif
