/*  sl_proto: the commands spoken between the broker and its peers.

    Every ZeroMQ message between a peer (a DEALER: worker, client, edge) and
    the broker (a ROUTER) is:
        frame 0   header: msgpack map {"p":"SLP1","c":<cmd>, ...fields}
        frame 1.. payload frames (envelopes, bodies), depending on cmd
    The ROUTER prepends the peer identity frame on receipt; peers never see
    it. The full table of commands, fields and payloads is in
    docs/protocol.md. This module only turns headers into structs and back;
    what the commands mean lives in broker/sl_broker.c (broker side) and
    engine/sl_worker.c / engine/sl_client.c (peer side).

    Decoding never trusts the peer: wrong protocol tag, unknown command,
    wrong field types or oversized strings give -1 and a reason.
*/
#ifndef SL_PROTO_H_INCLUDED
#define SL_PROTO_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#define SL_PROTO_TAG "SLP1"
#define SL_PROTO_MAX_SERVICES 16
#define SL_REASON_MAX 512
#define SL_TOPIC_MAX 130            //  "<workspace>/<job>" + NUL: 64 + 1 + 64 + 1
#define SL_MAX_MSG_DEFAULT (64LL << 20)     //  broker.max_msg_size default

typedef enum {
    SL_CMD_READY = 1,       //  worker → broker: svc[], credit, name
    SL_CMD_HEARTBEAT,       //  both ways
    SL_CMD_DELIVER,         //  broker → worker: + envelope frame
    SL_CMD_ACK,             //  worker → broker: mid, + N forward envelope frames
    SL_CMD_NACK,            //  worker → broker: mid, retry, reason
    SL_CMD_CREDIT,          //  worker → broker: credit (new total; 0 = draining)
    SL_CMD_SUBMIT,          //  any → broker: corr, ifabsent, + envelope frame
    SL_CMD_ACCEPTED,        //  broker → peer: corr, mid
    SL_CMD_BUSY,            //  broker → peer: corr, svc, retry_ms, depth
    SL_CMD_ERROR,           //  broker → peer: corr, code, reason
    SL_CMD_REQUEST,         //  client → broker: corr, timeout, + envelope frame
    SL_CMD_REPLY,           //  worker → broker: mid, + body frame;
                            //  broker → client: corr, + body frame
    SL_CMD_EVENT,           //  worker → broker: topic (job), name (workspace), + event frame
    SL_CMD_PUBLISH,         //  worker → broker: topic (job), name (workspace), + data frame
                            //  (fanned out live on "<workspace>/<job>")
    SL_CMD_STATS,           //  client → broker: corr
    SL_CMD_DLQ_LIST,        //  client → broker: corr, limit
    SL_CMD_DLQ_REPLAY,      //  client → broker: corr, mid
    SL_CMD_RESULT,          //  broker → client: corr, + msgpack frame (stats, dlq list)
    SL_CMD_DISCONNECT,      //  broker → worker: reason (re-announce yourself)
    SL_CMD_BYE,             //  worker → broker: leaving; re-queue what I hold
    SL_CMD_MAX_
} sl_cmd_t;

//  Error codes carried by SL_CMD_ERROR (and by client results).
typedef enum {
    SL_ERR_NONE = 0,
    SL_ERR_MALFORMED = 400,     //  could not decode what you sent
    SL_ERR_FORBIDDEN = 403,     //  this peer's key may not do that
    SL_ERR_NOT_FOUND = 404,     //  no such message / service
    SL_ERR_TIMEOUT = 408,
    SL_ERR_HELD = 409,          //  SUBMIT ifabsent: the broker already holds a
                                //  live pipeline message of that job
    SL_ERR_TOO_LARGE = 413,
    SL_ERR_PASSIVE = 421,       //  this broker of a pair stands by: ask the other
                                //  one (retry_ms 0), or this one again after
                                //  retry_ms (it is about to take over)
    SL_ERR_NO_SERVICE = 503,    //  no worker serves that request
    SL_ERR_INTERNAL = 500
} sl_errcode_t;

typedef struct {
    sl_cmd_t cmd;
    char corr [65];                 //  client correlation id (echoed back)
    char mid [65];                  //  message id
    char topic [65];                //  event / publish topic (job id; with name, its workspace)
    char name [65];                 //  worker name (logs)
    char svc [SL_PROTO_MAX_SERVICES][32];
    int svc_count;
    int64_t credit;
    int64_t retry_ms;
    int64_t depth;
    int64_t timeout_ms;
    int64_t limit;
    int64_t code;
    bool retry;
    bool if_absent;                 //  SUBMIT "ifabsent": queue only if the broker holds
                                    //  no live pipeline message of the envelope's job
    char reason [SL_REASON_MAX];
    zmsg_t *frames;                 //  payload frames after the header (owned)
} sl_proto_t;

//  Reset a struct to an empty command of the given kind.
void sl_proto_init (sl_proto_t *self, sl_cmd_t cmd);

//  Free the payload frames held by self.
void sl_proto_clear (sl_proto_t *self);

//  Build a message: header + the payload frames (ownership of self->frames
//  moves into the returned message). Caller owns the result.
zmsg_t *sl_proto_encode (sl_proto_t *self);

//  Send self on socket (consumes payload frames). 0 or -1.
int sl_proto_send (sl_proto_t *self, void *socket);

//  Decode msg (whose identity frame, if any, was already popped). Takes
//  ownership of msg's remaining frames into self->frames. 0, or -1 with a
//  reason in err; msg is destroyed in both cases.
int sl_proto_decode (zmsg_t **msg_p, sl_proto_t *self, char *err, size_t errlen);

//  Command name for logs.
const char *sl_proto_cmd_name (sl_cmd_t cmd);

//  The live-event topic of a job, "<workspace>/<job>", into buf (at least
//  SL_TOPIC_MAX). Subscribers subscribe to exactly this (one job) or to
//  "<workspace>/" (every job of the workspace); the broker publishes every
//  event under it and, with CURVE, lets a client key subscribe only to its
//  own workspaces' prefixes. 0, or -1 if ws or job is not a valid token.
int sl_proto_topic (char *buf, size_t cap, const char *ws, const char *job);

//  The largest message part a socket facing the network accepts
//  (ZMQ_MAXMSGSIZE; a peer that sends more is disconnected by libzmq).
//  Process-wide, set once at start-up from broker.max_msg_size; default
//  SL_MAX_MSG_DEFAULT. sl_proto_limit applies it to a socket (before
//  connect or bind); -1 disables the limit.
void sl_proto_set_max_msg_size (int64_t bytes);
int64_t sl_proto_max_msg_size (void);
void sl_proto_limit (void *socket);

//  The event endpoint of a broker endpoint, by convention: tcp://host:5555
//  -> tcp://host:5556, anything else gets "-events" appended; a comma
//  list (a broker pair) maps element by element. 0, or -1 if cap is short.
int sl_proto_events_endpoint (const char *broker, char *out, size_t cap);

void sl_proto_test (bool verbose);

#endif
