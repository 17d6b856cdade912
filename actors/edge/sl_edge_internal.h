/*  sl_edge_internal: the pieces of sl_edge.c its self-test (sl_edge_test.c)
    checks directly. Not part of the public API: only sl_edge.c and the
    test include this. The actor itself is reached through sl_edge_actor
    (start, stop) like any other.
*/
#ifndef SL_EDGE_INTERNAL_H_INCLUDED
#define SL_EDGE_INTERNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Does path match the template? Fills id from the {id} segment. A
//  segment that is not a valid token never matches (*bad_id is set), so
//  ids from the network are safe to pass on.
bool sl_edge_path_match (const char *tmpl, const char *path, char id [65], bool *bad_id);

//  Split a Host header into a lower-case name (IPv6 without brackets) and
//  return true, or false if it is malformed.
bool sl_edge_host_name (const char *host, char *name, size_t cap);

//  Blank the value of every access_token=... in text (in place): URLs that
//  reach a log must not carry keys.
void sl_edge_scrub_keys (char *text);

//  The port a started edge (the state sl_edge_actor.start returned)
//  actually bound: tests bind port 0.
int sl_edge_state_port (void *state);

#endif
