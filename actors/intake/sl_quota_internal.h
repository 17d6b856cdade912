/*  sl_quota_internal: what sl_quota shares with its self-test
    (sl_quota_test.c). Not part of the public API.
*/
#ifndef SL_QUOTA_INTERNAL_H_INCLUDED
#define SL_QUOTA_INTERNAL_H_INCLUDED

//  A workspace's stored bytes are read from the store at most this often;
//  in between, what was accepted since the last read is added (the test
//  waits this long to see the count start over).
#define SL_QUOTA_REFRESH_MS 1000

#endif
