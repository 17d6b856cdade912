/*  sl_vindex_internal: what sl_vindex shares with its self-test
    (sl_vindex_test.c, whose brute-force reference must rank exactly as
    the index does). Not part of the public API.
*/
#ifndef SL_VINDEX_INTERNAL_H_INCLUDED
#define SL_VINDEX_INTERNAL_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

//  Heap order: a is "worse" than b (lower score; on equal score the larger
//  id loses, so results are deterministic).
static inline bool
sl_vindex_worse (float sa, int64_t ia, float sb, int64_t ib)
{
    return sa < sb || (sa == sb && ia > ib);
}

#endif
