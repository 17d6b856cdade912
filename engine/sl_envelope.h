/*  sl_envelope: the message every Sluice component exchanges.

    An envelope is one msgpack map (see docs/protocol.md):
        v      uint    protocol version (1); other versions are refused
        id     str     message id, unique per message (32 hex)
        kind   str     what the body is: "ingest", "parsed", "event", ...
        job    str     job id ("" for messages outside any job)
        ws     str     workspace the job belongs to
        route  [str]   routing slip: the services still to run, first = next
        att    uint    delivery attempt (0 on first delivery)
        max    uint    attempts allowed before the message is dead-lettered
        dl     int     deadline, ms since epoch (0 = none)
        ts     int     creation time, ms since epoch
        run    uint    the job's run (0 first, +1 per retry); omitted when 0,
                       copied to every successor so a stage can tell a
                       retried job's old messages from its new ones
        body   bin     the stage-specific payload, itself msgpack
    The broker reads only v, id, route, att, max, dl; everything else passes
    through untouched. Unknown keys are ignored so a newer sender can add
    fields without breaking an older receiver (same major version).

    Decoding treats every byte as hostile: size, structure (sl_mp_check),
    types, string lengths and characters are all checked, and any failure is
    an error value with a reason, never a crash or an over-read.

    An envelope owns copies of everything it holds. Not thread-safe; pass
    ownership between threads instead of sharing.
*/
#ifndef SL_ENVELOPE_H_INCLUDED
#define SL_ENVELOPE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_ENVELOPE_VERSION   1
#define SL_ENVELOPE_MAX_SIZE  (16u << 20)   //  default decode limit
#define SL_ROUTE_MAX          16            //  services in a routing slip
#define SL_NAME_MAX           32            //  kind and service names
#define SL_TOKEN_MAX          64            //  job ids and workspaces

typedef struct _sl_envelope_t sl_envelope_t;

//  Create an envelope with a fresh id, attempt 0, max_attempts 3, no
//  deadline, empty route and body. kind is required; job_id and workspace
//  may be NULL. Caller owns the result. Returns NULL if a name is invalid.
sl_envelope_t *sl_envelope_new (const char *kind, const char *job_id, const char *workspace);

//  Destroy; nulls the caller's pointer; safe to call twice.
void sl_envelope_destroy (sl_envelope_t **self_p);

//  Deep copy. Caller owns the result.
sl_envelope_t *sl_envelope_dup (const sl_envelope_t *self);

const char *sl_envelope_id (const sl_envelope_t *self);
const char *sl_envelope_kind (const sl_envelope_t *self);
const char *sl_envelope_job (const sl_envelope_t *self);
const char *sl_envelope_workspace (const sl_envelope_t *self);
uint32_t sl_envelope_attempt (const sl_envelope_t *self);
uint32_t sl_envelope_max_attempts (const sl_envelope_t *self);
int64_t sl_envelope_deadline (const sl_envelope_t *self);
int64_t sl_envelope_created (const sl_envelope_t *self);
uint32_t sl_envelope_run (const sl_envelope_t *self);

//  Setters return 0, or -1 if the value is not acceptable (bad characters,
//  too long); the envelope is unchanged on failure.
int sl_envelope_set_id (sl_envelope_t *self, const char *id);
int sl_envelope_set_kind (sl_envelope_t *self, const char *kind);
void sl_envelope_set_attempt (sl_envelope_t *self, uint32_t attempt);
void sl_envelope_set_max_attempts (sl_envelope_t *self, uint32_t max_attempts);
void sl_envelope_set_deadline (sl_envelope_t *self, int64_t deadline_ms);
void sl_envelope_set_run (sl_envelope_t *self, uint32_t run);

//  Routing slip. The next service is route[0]; NULL when the route is done.
int sl_envelope_route_size (const sl_envelope_t *self);
const char *sl_envelope_route_at (const sl_envelope_t *self, int index);
const char *sl_envelope_service (const sl_envelope_t *self);
//  Replace the route with a comma-separated list ("fetch,parse,chunk").
int sl_envelope_set_route (sl_envelope_t *self, const char *csv);
//  Append one service; -1 if full or the name is invalid.
int sl_envelope_route_append (sl_envelope_t *self, const char *service);
//  Drop the first service (the one just completed).
void sl_envelope_route_pop (sl_envelope_t *self);

//  Body bytes (msgpack, opaque to the engine). Not owned by the caller.
const void *sl_envelope_body (const sl_envelope_t *self, size_t *size);
//  Copy data in as the new body.
int sl_envelope_set_body (sl_envelope_t *self, const void *data, size_t size);
//  Take ownership of a malloc'd buffer as the new body (no copy).
void sl_envelope_take_body (sl_envelope_t *self, void *data, size_t size);

//  Encode into a malloc'd buffer. Caller owns *data and must free it.
int sl_envelope_encode (const sl_envelope_t *self, char **data, size_t *size);

//  Decode untrusted bytes. max_size 0 means SL_ENVELOPE_MAX_SIZE. Returns
//  NULL with a reason in err (e.g. "envelope: field 'route' has wrong type").
sl_envelope_t *sl_envelope_decode (const void *data, size_t size, size_t max_size,
                                   char *err, size_t errlen);

//  True if name is acceptable as a kind or service name: 1..31 chars of
//  [a-z0-9_.-].
bool sl_envelope_name_valid (const char *name);

void sl_envelope_test (bool verbose);

#endif
