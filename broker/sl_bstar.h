/*  sl_bstar: the Binary Star state machine of a broker pair (the zguide's
    "Binary Star" pattern, chapter 4), as a pure class: no sockets, no
    clock of its own (every call is given the time), so every transition
    is tested without waiting (sl_bstar_test.c).

    Two brokers, one configured `primary` and one `backup`, tell each other
    their state every heartbeat (sl_broker.c sends what sl_bstar_encode
    writes on a PUB socket; the peer's SUB feeds sl_bstar_decode into
    sl_bstar_peer). At any time at most one of them is ACTIVE and serves;
    the other is PASSIVE and refuses every peer (workers and clients) with
    a clear error, so they move to the active one.

        start       PRIMARY or BACKUP (the configured role)
        PRIMARY     peer BACKUP -> ACTIVE;  peer ACTIVE -> PASSIVE;
                    a request once the peer was silent for the whole
                    timeout since start -> ACTIVE (a primary alone serves;
                    one that restarts while its peer serves must not)
        BACKUP      peer ACTIVE -> PASSIVE; a request is refused (a
                    backup alone never serves: it only takes over from
                    a primary it has seen serve)
        ACTIVE      peer ACTIVE: dual actives (a partition healed):
                    the configured backup steps down to PASSIVE, the
                    primary stays (two brokers configured alike both
                    stay, and say so: a configuration error)
        PASSIVE     peer PRIMARY or BACKUP (the active one restarted and
                    has not decided yet) -> ACTIVE;
                    peer PASSIVE: dual passives (nobody serves): the
                    configured primary takes over;
                    a request while the peer has been silent for the
                    timeout -> ACTIVE (failover); before that: refused

    The split-brain guard is the last rule: silence alone never makes a
    passive broker serve, it takes silence AND a peer that asks it for
    something. A backup cut off from the primary by a partition that also
    cuts it off from the workers stays passive; one that the workers reach
    because the primary is gone takes over. The timeout is `liveness`
    heartbeats (sl_broker.c); sl_bstar_peer_gone shortens it to "now" when
    the peer's connection was closed (its process died: the kernel closed
    the socket, which a partition never does).

    Failure model: a decision is only as good as the clocks of the two
    processes, which are monotonic and local (no clock is compared across
    machines). Dual actives after a partition are resolved by role, the
    work the stepping-down broker held in memory is lost like a crashed
    broker's (intake re-drives it from the store).
*/
#ifndef SL_BSTAR_H_INCLUDED
#define SL_BSTAR_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SL_BSTAR_PRIMARY = 1,       //  configured primary, has not heard its peer yet
    SL_BSTAR_BACKUP,            //  configured backup, has not heard its peer yet
    SL_BSTAR_ACTIVE,            //  serving
    SL_BSTAR_PASSIVE            //  standing by: refuses peers
} sl_bstar_state_t;

typedef struct _sl_bstar_t sl_bstar_t;

//  A machine for the configured role (primary true: "primary"), at time
//  now (monotonic ms), that considers its peer gone after timeout_ms of
//  silence. Caller owns the result.
sl_bstar_t *sl_bstar_new (bool primary, int64_t timeout_ms, int64_t now);
void sl_bstar_destroy (sl_bstar_t **self_p);

sl_bstar_state_t sl_bstar_state (sl_bstar_t *self);
bool sl_bstar_active (sl_bstar_t *self);
bool sl_bstar_primary (sl_bstar_t *self);

//  The peer said it is in state peer (and is configured primary or not).
//  Returns true if our state changed (sl_bstar_reason says why).
bool sl_bstar_peer (sl_bstar_t *self, sl_bstar_state_t peer, bool peer_primary, int64_t now);

//  The peer's connection closed: its process is gone, no need to wait
//  for the timeout (the next request may take over at once).
void sl_bstar_peer_gone (sl_bstar_t *self, int64_t now);

//  A worker or client asks for something. true: serve it (we are, or just
//  became, active); false: refuse it (sl_bstar_reason says why, and
//  sl_bstar_retry_ms when to ask again).
bool sl_bstar_request (sl_bstar_t *self, int64_t now);

//  After a refusal: 0 if the peer is alive (go to it), else the ms until
//  this broker would take over if asked again (the peer is falling silent).
int64_t sl_bstar_retry_ms (sl_bstar_t *self, int64_t now);

//  A sentence: why the last transition or refusal happened.
const char *sl_bstar_reason (sl_bstar_t *self);

//  How many times this broker became active by failover (for stats).
uint64_t sl_bstar_failovers (sl_bstar_t *self);

//  "primary", "backup", "active", "passive".
const char *sl_bstar_state_name (sl_bstar_state_t state);

//  The state message a broker publishes: "SLBS1 <role> <state>", NUL-terminated
//  into buf. 0, or -1 if cap is too small.
int sl_bstar_encode (sl_bstar_t *self, char *buf, size_t cap);

//  Parse a peer's state message (hostile: exact words only). 0 with
//  *state and *primary set, or -1.
int sl_bstar_decode (const void *data, size_t size, sl_bstar_state_t *state, bool *primary);

void sl_bstar_test (bool verbose);

#endif
