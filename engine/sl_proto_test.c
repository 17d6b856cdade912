/*  sl_proto_test: self-test of sl_proto.

    Broker protocol messages: encode/decode round trips,
    rejections (garbage header, wrong tag, unknown command, bad types), the
    process-wide message size limit, and event topics.
*/
#include "sl_proto.h"
#include "sl_envelope.h"
#include "sl_mp.h"
#include "sl_util.h"
#include <assert.h>

void
sl_proto_test (bool verbose)
{
    char err [256];
    sl_proto_t p;
    sl_proto_init (&p, SL_CMD_READY);
    strcpy (p.name, "w1");
    strcpy (p.svc [0], "parse");
    strcpy (p.svc [1], "chunk");
    p.svc_count = 2;
    p.credit = 4;
    p.retry = true;
    p.if_absent = true;
    strcpy (p.reason, "why");
    p.frames = zmsg_new ();
    zmsg_addstr (p.frames, "payload");
    zmsg_t *msg = sl_proto_encode (&p);
    assert (p.frames == NULL);
    assert (zmsg_size (msg) == 2);
    sl_proto_t q;
    assert (sl_proto_decode (&msg, &q, err, sizeof err) == 0);
    assert (msg == NULL);
    assert (q.cmd == SL_CMD_READY && q.credit == 4 && q.retry && q.if_absent);
    assert (q.svc_count == 2 && strcmp (q.svc [1], "chunk") == 0);
    assert (strcmp (q.name, "w1") == 0 && strcmp (q.reason, "why") == 0);
    assert (zmsg_size (q.frames) == 1);
    char *s = zmsg_popstr (q.frames);
    assert (streq (s, "payload"));
    free (s);
    sl_proto_clear (&q);

    //  Rejections: garbage header, wrong tag, unknown command, bad types
    const char *bad [] = {
        "\xc1",
        "\x82\xa1p\xa4XXXX\xa1" "c\x01",
        "\x82\xa1p\xa4SLP1\xa1" "c\x7f",
        "\x83\xa1p\xa4SLP1\xa1" "c\x01\xa6" "credit\xa1x",
        "\x83\xa1p\xa4SLP1\xa1" "c\x01\xa3svc\x91\xa3" "A B",
    };
    for (int i = 0; i < 5; i++) {
        msg = zmsg_new ();
        zmsg_addmem (msg, bad [i], strlen (bad [i]));
        err [0] = 0;
        int rc = sl_proto_decode (&msg, &q, err, sizeof err);
        if (verbose)
            printf ("bad header %d: %s\n", i, err);
        assert (rc == -1 && msg == NULL && *err);
        assert (i == 0 || strstr (err, i == 1 ? "header" : i == 2 ? "unknown" : i == 3 ? "wrong type" : "service"));
    }
    msg = zmsg_new ();
    assert (sl_proto_decode (&msg, &q, err, sizeof err) == -1);

    //  Event topics: "<workspace>/<job>", both parts tokens
    char topic [SL_TOPIC_MAX];
    assert (sl_proto_topic (topic, sizeof topic, "ws", "job-1") == 0 && streq (topic, "ws/job-1"));
    assert (sl_proto_topic (topic, sizeof topic, "", "job-1") == -1 && !*topic);
    assert (sl_proto_topic (topic, sizeof topic, "a/b", "job") == -1);
    char long_ws [65], long_job [65];
    memset (long_ws, 'w', 64);
    memset (long_job, 'j', 64);
    long_ws [64] = long_job [64] = 0;
    assert (sl_proto_topic (topic, sizeof topic, long_ws, long_job) == 0 && strlen (topic) == 129);
    //  Message size limit: process-wide, applied per socket
    int64_t was = sl_proto_max_msg_size ();
    assert (was == SL_MAX_MSG_DEFAULT);
    sl_proto_set_max_msg_size (4096);
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    sl_proto_limit (sock);
    int64_t got = 0;
    size_t got_size = sizeof got;
    zmq_getsockopt (zsock_resolve (sock), ZMQ_MAXMSGSIZE, &got, &got_size);
    assert (got == 4096);
    zsock_destroy (&sock);
    sl_proto_set_max_msg_size (0);
    assert (sl_proto_max_msg_size () == -1);
    sl_proto_set_max_msg_size (was);
}
