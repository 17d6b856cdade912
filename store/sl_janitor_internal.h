/*  sl_janitor_internal: what sl_janitor shares with its self-test
    (sl_janitor_test.c). Not part of the public API.
*/
#ifndef SL_JANITOR_INTERNAL_H_INCLUDED
#define SL_JANITOR_INTERNAL_H_INCLUDED

//  The store lease every janitor of the cluster competes for: one holder
//  collects, the others are idle (the test takes it for another process).
#define SL_JANITOR_LEASE_NAME "janitor"

#endif
