/*  sl_bstar: Binary Star state machine. Design and rules in sl_bstar.h. */
#include "sl_bstar.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_TAG "SLBS1"

struct _sl_bstar_t {
    bool primary;               //  configured role
    sl_bstar_state_t state;
    int64_t timeout_ms;         //  peer silence after which it is gone
    int64_t peer_expiry;        //  mono ms: the peer is gone from then on
    uint64_t failovers;
    char reason [200];
};

sl_bstar_t *
sl_bstar_new (bool primary, int64_t timeout_ms, int64_t now)
{
    sl_bstar_t *self = calloc (1, sizeof *self);
    assert (self);
    self->primary = primary;
    self->state = primary ? SL_BSTAR_PRIMARY : SL_BSTAR_BACKUP;
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    //  Not heard yet is not gone yet: a primary that restarts while its
    //  backup serves must hear it before it may serve itself
    self->peer_expiry = now + self->timeout_ms;
    snprintf (self->reason, sizeof self->reason, "started as %s", primary ? "primary" : "backup");
    return self;
}

void
sl_bstar_destroy (sl_bstar_t **self_p)
{
    if (*self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

sl_bstar_state_t sl_bstar_state (sl_bstar_t *self) { return self->state; }
bool sl_bstar_active (sl_bstar_t *self) { return self->state == SL_BSTAR_ACTIVE; }
bool sl_bstar_primary (sl_bstar_t *self) { return self->primary; }
const char *sl_bstar_reason (sl_bstar_t *self) { return self->reason; }
uint64_t sl_bstar_failovers (sl_bstar_t *self) { return self->failovers; }

const char *
sl_bstar_state_name (sl_bstar_state_t state)
{
    switch (state) {
        case SL_BSTAR_PRIMARY: return "primary";
        case SL_BSTAR_BACKUP:  return "backup";
        case SL_BSTAR_ACTIVE:  return "active";
        case SL_BSTAR_PASSIVE: return "passive";
    }
    return "?";
}

static bool
s_move (sl_bstar_t *self, sl_bstar_state_t to, const char *why)
{
    snprintf (self->reason, sizeof self->reason, "%s", why);
    if (self->state == to)
        return false;
    self->state = to;
    return true;
}

//  What the peer's state means for ours (the table in sl_bstar.h)
bool
sl_bstar_peer (sl_bstar_t *self, sl_bstar_state_t peer, bool peer_primary, int64_t now)
{
    self->peer_expiry = now + self->timeout_ms;
    switch (self->state) {
        case SL_BSTAR_PRIMARY:
            if (peer == SL_BSTAR_BACKUP)
                return s_move (self, SL_BSTAR_ACTIVE, "the backup is up: serving as active");
            if (peer == SL_BSTAR_ACTIVE)
                return s_move (self, SL_BSTAR_PASSIVE, "the peer serves: standing by as passive");
            return false;
        case SL_BSTAR_BACKUP:
            if (peer == SL_BSTAR_ACTIVE)
                return s_move (self, SL_BSTAR_PASSIVE, "the primary serves: standing by as passive");
            return false;
        case SL_BSTAR_ACTIVE:
            if (peer != SL_BSTAR_ACTIVE)
                return false;
            if (peer_primary == self->primary) {
                snprintf (self->reason, sizeof self->reason, "both brokers are active and both are "
                          "configured %s: set broker.pair=primary on one and backup on the other",
                          self->primary ? "primary" : "backup");
                return false;
            }
            if (!self->primary)
                return s_move (self, SL_BSTAR_PASSIVE, "both brokers were active (a partition healed): "
                               "the backup steps down, what it held is re-driven from the store");
            return false;
        case SL_BSTAR_PASSIVE:
            if (peer == SL_BSTAR_PRIMARY || peer == SL_BSTAR_BACKUP)
                return s_move (self, SL_BSTAR_ACTIVE, "the active peer restarted: serving as active");
            if (peer == SL_BSTAR_PASSIVE && self->primary)
                return s_move (self, SL_BSTAR_ACTIVE, "both brokers were passive: the primary serves");
            return false;
    }
    return false;
}

void
sl_bstar_peer_gone (sl_bstar_t *self, int64_t now)
{
    if (self->peer_expiry > now)
        self->peer_expiry = now;
}

bool
sl_bstar_request (sl_bstar_t *self, int64_t now)
{
    switch (self->state) {
        case SL_BSTAR_ACTIVE:
            return true;
        case SL_BSTAR_BACKUP:
            s_move (self, SL_BSTAR_BACKUP, "this broker is the backup and has never seen its primary "
                    "serve: it does not serve alone (start the primary, or ask it)");
            return false;
        case SL_BSTAR_PRIMARY:
            if (now >= self->peer_expiry) {
                s_move (self, SL_BSTAR_ACTIVE, "no peer heard since start: the primary serves alone");
                return true;
            }
            s_move (self, SL_BSTAR_PRIMARY, "this broker (primary) has just started and waits to hear "
                    "its peer, which may be serving");
            return false;
        case SL_BSTAR_PASSIVE:
            if (now >= self->peer_expiry) {
                self->failovers++;
                s_move (self, SL_BSTAR_ACTIVE, "the active peer is gone and a peer asked: "
                        "failing over, serving as active");
                return true;
            }
            s_move (self, SL_BSTAR_PASSIVE, "this broker is passive: its peer is active; ask the other "
                    "endpoint");
            return false;
    }
    return false;
}

int64_t
sl_bstar_retry_ms (sl_bstar_t *self, int64_t now)
{
    //  The peer spoke within the last heartbeat or so: it is there
    int64_t left = self->peer_expiry - now;
    if (self->state == SL_BSTAR_BACKUP || left <= 0)
        return 0;
    //  A primary that just started cannot say: its peer may be serving
    //  (then go there) or gone (then it serves once the wait is over). "Go
    //  to the other" costs a round trip if wrong; "wait" would cost up to
    //  the whole timeout if wrong, so it says the former
    if (self->state == SL_BSTAR_PRIMARY)
        return 0;
    return left > self->timeout_ms / 2 ? 0 : left;
}

int
sl_bstar_encode (sl_bstar_t *self, char *buf, size_t cap)
{
    int n = snprintf (buf, cap, S_TAG " %s %s", self->primary ? "primary" : "backup",
                      sl_bstar_state_name (self->state));
    return n < 0 || (size_t) n >= cap ? -1 : 0;
}

int
sl_bstar_decode (const void *data, size_t size, sl_bstar_state_t *state, bool *primary)
{
    char text [32];
    if (!data || size == 0 || size >= sizeof text)
        return -1;
    memcpy (text, data, size);
    text [size] = 0;
    if (strlen (text) != size)
        return -1;              //  a NUL inside
    static const char *const words [] = { "primary", "backup", "active", "passive" };
    for (int role = 0; role < 2; role++)
        for (int s = 0; s < 4; s++) {
            char expect [32];
            snprintf (expect, sizeof expect, S_TAG " %s %s", words [role], words [s]);
            if (strcmp (text, expect) == 0) {
                *primary = role == 0;
                *state = (sl_bstar_state_t) (s + 1);
                return 0;
            }
        }
    return -1;
}
