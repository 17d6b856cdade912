/*  sl_bstar_test: self-test of sl_bstar. Every transition of the table in
    sl_bstar.h, with the time given, so the split-brain guard (silence
    alone never makes a passive broker serve) is shown without waiting;
    and the state messages, which come from the network.
*/
#include "sl_bstar.h"
#include "sl_check.h"

#include <string.h>

#define T 3000                  //  peer timeout (liveness x heartbeat)

static void
s_test_start (void)
{
    sl_bstar_t *p = sl_bstar_new (true, T, 0);
    sl_bstar_t *b = sl_bstar_new (false, T, 0);
    CHECK (sl_bstar_state (p) == SL_BSTAR_PRIMARY && sl_bstar_primary (p));
    CHECK (sl_bstar_state (b) == SL_BSTAR_BACKUP && !sl_bstar_primary (b));
    //  The pair forms: the backup's state makes the primary active, and
    //  the primary's then makes the backup passive
    CHECK (sl_bstar_peer (p, SL_BSTAR_BACKUP, false, 100));
    CHECK (sl_bstar_active (p));
    CHECK (sl_bstar_peer (b, SL_BSTAR_ACTIVE, true, 100));
    CHECK (sl_bstar_state (b) == SL_BSTAR_PASSIVE);
    CHECK (sl_bstar_request (p, 200));
    CHECK (!sl_bstar_request (b, 200));
    CHECK (strstr (sl_bstar_reason (b), "passive"));
    CHECK (sl_bstar_retry_ms (b, 200) == 0);        //  the peer is alive: go there
    //  Heard again: nothing changes
    CHECK (!sl_bstar_peer (p, SL_BSTAR_PASSIVE, false, 1100));
    CHECK (!sl_bstar_peer (b, SL_BSTAR_ACTIVE, true, 1100));
    sl_bstar_destroy (&p);
    sl_bstar_destroy (&b);
    CHECK (p == NULL && b == NULL);
    sl_bstar_destroy (&p);                          //  safe on NULL
}

static void
s_test_alone (void)
{
    //  A primary alone serves once it waited the timeout for a peer that
    //  may be serving; before that it refuses
    sl_bstar_t *p = sl_bstar_new (true, T, 1000);
    CHECK (!sl_bstar_request (p, 1000 + T - 1));
    CHECK (strstr (sl_bstar_reason (p), "waits to hear"));
    CHECK (sl_bstar_retry_ms (p, 1000 + T - 1) == 0);   //  "ask the other", not "wait"
    CHECK (sl_bstar_request (p, 1000 + T));
    CHECK (sl_bstar_active (p));
    CHECK (sl_bstar_failovers (p) == 0);
    sl_bstar_destroy (&p);
    //  A backup alone never serves, however long it waits
    sl_bstar_t *b = sl_bstar_new (false, T, 0);
    CHECK (!sl_bstar_request (b, 1000000));
    CHECK (sl_bstar_state (b) == SL_BSTAR_BACKUP);
    CHECK (strstr (sl_bstar_reason (b), "never seen its primary"));
    CHECK (sl_bstar_retry_ms (b, 1000000) == 0);
    //  Nor does a backup whose peer is passive make itself active: the
    //  passive peer becomes active on hearing it, then it stands by
    CHECK (!sl_bstar_peer (b, SL_BSTAR_PASSIVE, true, 10));
    CHECK (sl_bstar_state (b) == SL_BSTAR_BACKUP);
    CHECK (!sl_bstar_peer (b, SL_BSTAR_PRIMARY, true, 10));
    CHECK (sl_bstar_state (b) == SL_BSTAR_BACKUP);
    sl_bstar_destroy (&b);
}

static void
s_test_failover (void)
{
    sl_bstar_t *b = sl_bstar_new (false, T, 0);
    sl_bstar_peer (b, SL_BSTAR_ACTIVE, true, 0);
    CHECK (sl_bstar_state (b) == SL_BSTAR_PASSIVE);
    //  The primary's last word at 5000, then silence. Silence alone
    //  changes nothing: no request, no takeover (no split brain when a
    //  partition cuts the backup off from both the primary and the peers)
    sl_bstar_peer (b, SL_BSTAR_ACTIVE, true, 5000);
    CHECK (sl_bstar_state (b) == SL_BSTAR_PASSIVE);
    //  A request before the timeout is refused, with when to ask again
    //  once the peer has been quiet long enough to be falling silent
    CHECK (!sl_bstar_request (b, 5000 + T - 1000));
    CHECK (sl_bstar_retry_ms (b, 5000 + T - 1000) == 1000);
    CHECK (sl_bstar_retry_ms (b, 5000 + 100) == 0);
    CHECK (sl_bstar_state (b) == SL_BSTAR_PASSIVE);
    //  Long silence, still no request: still passive
    CHECK (sl_bstar_state (b) == SL_BSTAR_PASSIVE);
    //  Silence AND a request: failover
    CHECK (sl_bstar_request (b, 5000 + T + 50000));
    CHECK (sl_bstar_active (b));
    CHECK (sl_bstar_failovers (b) == 1);
    CHECK (strstr (sl_bstar_reason (b), "failing over"));
    //  The old primary comes back (as primary or backup): it hears us
    //  active and stands by; we stay active
    CHECK (!sl_bstar_peer (b, SL_BSTAR_PRIMARY, true, 60000));
    CHECK (sl_bstar_active (b));
    sl_bstar_t *p = sl_bstar_new (true, T, 60000);
    CHECK (!sl_bstar_request (p, 60001));           //  not before it heard us
    CHECK (sl_bstar_peer (p, SL_BSTAR_ACTIVE, false, 60100));
    CHECK (sl_bstar_state (p) == SL_BSTAR_PASSIVE);
    CHECK (!sl_bstar_request (p, 60200));
    sl_bstar_destroy (&p);
    sl_bstar_destroy (&b);
}

static void
s_test_peer_gone (void)
{
    //  The peer's connection closed (its process died): the next request
    //  takes over at once instead of after the timeout
    sl_bstar_t *b = sl_bstar_new (false, T, 0);
    sl_bstar_peer (b, SL_BSTAR_ACTIVE, true, 1000);
    CHECK (!sl_bstar_request (b, 1500));
    sl_bstar_peer_gone (b, 1600);
    CHECK (sl_bstar_state (b) == SL_BSTAR_PASSIVE);  //  still needs a request
    CHECK (sl_bstar_retry_ms (b, 1600) == 0);
    CHECK (sl_bstar_request (b, 1600));
    CHECK (sl_bstar_active (b));
    //  A later "gone" never extends the expiry
    sl_bstar_peer_gone (b, 99999);
    sl_bstar_destroy (&b);
}

static void
s_test_passive_transitions (void)
{
    //  Passive: the active peer restarted (says primary or backup) -> active
    sl_bstar_t *b = sl_bstar_new (false, T, 0);
    sl_bstar_peer (b, SL_BSTAR_ACTIVE, true, 0);
    CHECK (sl_bstar_peer (b, SL_BSTAR_PRIMARY, true, 10));
    CHECK (sl_bstar_active (b));
    sl_bstar_destroy (&b);
    sl_bstar_t *p = sl_bstar_new (true, T, 0);
    sl_bstar_peer (p, SL_BSTAR_ACTIVE, false, 0);
    CHECK (sl_bstar_state (p) == SL_BSTAR_PASSIVE);
    CHECK (sl_bstar_peer (p, SL_BSTAR_BACKUP, false, 10));
    CHECK (sl_bstar_active (p));
    sl_bstar_destroy (&p);
    //  Dual passives: the primary serves, the backup keeps standing by
    p = sl_bstar_new (true, T, 0);
    b = sl_bstar_new (false, T, 0);
    sl_bstar_peer (p, SL_BSTAR_ACTIVE, false, 0);
    sl_bstar_peer (b, SL_BSTAR_ACTIVE, true, 0);
    CHECK (sl_bstar_peer (p, SL_BSTAR_PASSIVE, false, 10));
    CHECK (sl_bstar_active (p));
    CHECK (!sl_bstar_peer (b, SL_BSTAR_PASSIVE, true, 10));
    CHECK (sl_bstar_state (b) == SL_BSTAR_PASSIVE);
    //  Passive hearing active: nothing
    CHECK (!sl_bstar_peer (b, SL_BSTAR_ACTIVE, true, 20));
    sl_bstar_destroy (&p);
    sl_bstar_destroy (&b);
}

static void
s_test_dual_active (void)
{
    //  Both active after a partition healed: the backup steps down
    sl_bstar_t *p = sl_bstar_new (true, T, 0);
    sl_bstar_t *b = sl_bstar_new (false, T, 0);
    CHECK (sl_bstar_request (p, T));
    sl_bstar_peer (b, SL_BSTAR_ACTIVE, true, 0);
    CHECK (sl_bstar_request (b, 10 * T));
    CHECK (sl_bstar_active (p) && sl_bstar_active (b));
    CHECK (!sl_bstar_peer (p, SL_BSTAR_ACTIVE, false, 11 * T));
    CHECK (sl_bstar_active (p));
    CHECK (sl_bstar_peer (b, SL_BSTAR_ACTIVE, true, 11 * T));
    CHECK (sl_bstar_state (b) == SL_BSTAR_PASSIVE);
    CHECK (strstr (sl_bstar_reason (b), "steps down"));
    //  Active hearing anything else: stays
    CHECK (!sl_bstar_peer (p, SL_BSTAR_PASSIVE, false, 12 * T));
    CHECK (!sl_bstar_peer (p, SL_BSTAR_PRIMARY, false, 12 * T));
    CHECK (!sl_bstar_peer (p, SL_BSTAR_BACKUP, false, 12 * T));
    CHECK (sl_bstar_active (p));
    sl_bstar_destroy (&b);
    //  Two brokers configured alike: neither steps down, the reason says why
    sl_bstar_t *q = sl_bstar_new (true, T, 0);
    CHECK (sl_bstar_request (q, T));
    CHECK (!sl_bstar_peer (q, SL_BSTAR_ACTIVE, true, 2 * T));
    CHECK (sl_bstar_active (q));
    CHECK (strstr (sl_bstar_reason (q), "configured primary"));
    sl_bstar_destroy (&q);
    sl_bstar_destroy (&p);
}

static void
s_test_wire (void)
{
    sl_bstar_t *p = sl_bstar_new (true, T, 0);
    char buf [64];
    CHECK (sl_bstar_encode (p, buf, sizeof buf) == 0);
    CHECK (strcmp (buf, "SLBS1 primary primary") == 0);
    sl_bstar_state_t state;
    bool primary;
    CHECK (sl_bstar_decode (buf, strlen (buf), &state, &primary) == 0);
    CHECK (state == SL_BSTAR_PRIMARY && primary);
    CHECK (sl_bstar_decode ("SLBS1 backup passive", 20, &state, &primary) == 0);
    CHECK (state == SL_BSTAR_PASSIVE && !primary);
    CHECK (sl_bstar_encode (p, buf, 8) == -1);
    //  Hostile: anything but the exact words is refused
    const char *bad [] = { "", "SLBS1", "SLBS1 primary", "SLBS2 primary active", "SLBS1 primary  active",
                           "SLBS1 primary active ", "slbs1 primary active", "SLBS1 backup ACTIVE" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++)
        CHECK (sl_bstar_decode (bad [i], strlen (bad [i]), &state, &primary) == -1);
    CHECK (sl_bstar_decode ("SLBS1 backup active\0x", 21, &state, &primary) == -1);
    CHECK (sl_bstar_decode (NULL, 5, &state, &primary) == -1);
    char big [4096];
    memset (big, 'A', sizeof big);
    CHECK (sl_bstar_decode (big, sizeof big, &state, &primary) == -1);
    CHECK (strcmp (sl_bstar_state_name (SL_BSTAR_ACTIVE), "active") == 0);
    CHECK (strcmp (sl_bstar_state_name ((sl_bstar_state_t) 99), "?") == 0);
    sl_bstar_destroy (&p);
}

void
sl_bstar_test (bool verbose)
{
    CASE ("a pair forms: primary active, backup passive", s_test_start ());
    CASE ("alone: a primary serves after the timeout, a backup never", s_test_alone ());
    CASE ("failover needs the peer's silence AND a request", s_test_failover ());
    CASE ("a closed peer connection ends the wait", s_test_peer_gone ());
    CASE ("passive: a restarting peer, dual passives", s_test_passive_transitions ());
    CASE ("dual actives: the backup steps down", s_test_dual_active ());
    CASE ("state messages: exact words only", s_test_wire ());
}
