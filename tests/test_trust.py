"""test_trust: the broker's trust model on the scaled topology: a broker
process with CURVE, a worker process holding a worker key, and ZeroMQ
clients holding client keys for workspace "alpha" (key A) and "bravo"
(key B), all over real tcp on loopback. docs/architecture.md, "Trust model",
says what each key may do; every test here is one line of that table.
Usage: /usr/bin/python3 tests/test_trust.py [test_name ...]
"""
import os, re, subprocess, sys, time

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SLUICED, Client, Runner, free_port, start, wait_for  # noqa: E402

SERVICES = ("intake", "journal", "query", "upload", "fetch", "parse", "chunk", "embed", "store")
WORKER_ROLES = ",".join(SERVICES)
FAST = ["embed.provider=hash"]


def keygen(path):
    subprocess.run([SLUICED, "--keygen", path], check=True, capture_output=True)
    keys = {"path": path}
    for f, field in ((path, "public-key"), (path + "_secret", "secret-key")):
        keys[field] = re.search(field + r' = "(.+)"', open(f).read()).group(1).encode()
    return keys


class KeyClient(Client):
    """The harness client holding a CURVE key (a worker's or a client's)."""

    def __init__(self, port, mine, broker_public, ws="default", subscribe=None):
        self.ctx = zmq.Context.instance()
        self.port, self.ws = port, ws
        self.mine, self.broker_public = mine, broker_public
        self.dealer = self._socket(zmq.DEALER)
        self.dealer.connect("tcp://127.0.0.1:%d" % port)
        self.sub = self._socket(zmq.SUB)
        self.sub.connect("tcp://127.0.0.1:%d" % (port + 1))
        for topic in subscribe or ():
            self.sub.setsockopt(zmq.SUBSCRIBE, topic.encode())

    def _socket(self, kind):
        s = self.ctx.socket(kind)
        s.setsockopt(zmq.LINGER, 0)
        s.curve_secretkey = self.mine["secret-key"]
        s.curve_publickey = self.mine["public-key"]
        s.curve_serverkey = self.broker_public
        return s

    def command(self, header, frames=(), timeout=5000):
        """Any broker command; the answer's header."""
        h, _ = self._call(header, frames, timeout)
        return h

    def live(self, seconds):
        """(topic, event) pairs the SUB socket receives within seconds."""
        got, deadline = [], time.time() + seconds
        while time.time() < deadline:
            if self.sub.poll(max(1, int((deadline - time.time()) * 1000))):
                topic, data = self.sub.recv_multipart()
                got.append((topic.decode(), msgpack.unpackb(data)))
        return got

    def ingest_text(self, text, name, ws=None):
        r = self.request("upload", "put", {"data": text.encode(), "filename": name, "mime": "text/plain"}, ws=ws)
        assert "blob" in r, r
        job = self.ingest(ws=ws, blob=r["blob"], size=r["size"], filename=r["filename"], mime=r["mime"])
        assert "id" in job, job
        return job["id"]


class Node:
    """Broker (CURVE: one worker key, client keys A -> alpha, B -> bravo) and
    one worker process serving every service with the worker key."""

    def __init__(self, tmp, broker_sets=(), start_worker=True):
        keys = os.path.join(tmp, "keys")
        os.makedirs(keys)
        self.broker_key = keygen(os.path.join(keys, "broker"))
        self.worker_key = keygen(os.path.join(keys, "worker"))
        self.a_key = keygen(os.path.join(keys, "a"))
        self.b_key = keygen(os.path.join(keys, "b"))
        self.data = os.path.join(tmp, "data")
        os.makedirs(self.data)
        clients = "%s:alpha,%s:bravo" % (self.a_key["public-key"].decode(), self.b_key["public-key"].decode())
        self.broker = start(self.data, role="broker", sets=[
            "curve.broker_secret=" + self.broker_key["path"] + "_secret",
            "curve.worker_keys=" + self.worker_key["public-key"].decode(),
            "curve.client_keys=" + clients] + list(broker_sets))
        self.port = self.broker.port
        self.peer_sets = ["curve.broker_public=" + self.broker_key["path"]] + FAST
        self.admin = self.client(self.worker_key)
        if start_worker:
            start(self.data, role=WORKER_ROLES, port=self.port,
                  sets=self.peer_sets + ["curve.client_cert=" + self.worker_key["path"] + "_secret"])
            wait_for(lambda: all(self.admin.stats()["services"].get(s, {}).get("workers") == 1 for s in SERVICES),
                     60, "the worker process")

    def client(self, key, ws="default", subscribe=None):
        return KeyClient(self.port, key, self.broker_key["public-key"], ws=ws, subscribe=subscribe)

    def a(self, **kw):
        return self.client(self.a_key, ws="alpha", **kw)

    def b(self, **kw):
        return self.client(self.b_key, ws="bravo", **kw)


def forbidden(reply):
    return isinstance(reply, dict) and reply.get("error", {}).get("code") == 403


def completed(client, job_id, ws):
    job = client.wait(job_id, timeout=60, ws=ws)
    assert job["state"] == "completed", job
    return job


# ---------------------------------------------------------------------------


def test_client_cannot_list_search_or_delete_other_workspace(tmp):
    n = Node(tmp)
    a, b = n.a(), n.b()
    b_doc = completed(b, b.ingest_text("The bravo ledger lists every turbine.", "b.txt"), "bravo")["document_id"]
    # A's key, B's workspace: refused by the broker before any service sees it
    for op, body in (("doc_list", {"limit": 10}), ("jobs_list", {"limit": 10}),
                     ("search", {"query": "turbine", "k": 5}), ("doc_delete", {"id": b_doc}),
                     ("doc_get", {"id": b_doc}), ("doc_chunks", {"id": b_doc, "limit": 5})):
        r = a.request("query", op, body, ws="bravo")
        assert forbidden(r), (op, r)
    r = a.request("intake", "ingest", {"url": "http://127.0.0.1:9/x.txt"}, ws="bravo")
    assert forbidden(r), r
    r = a.request("upload", "put", {"data": b"x", "filename": "x.txt"}, ws="bravo")
    assert forbidden(r), r
    # ... and in its own workspace, B's ids are simply not there
    assert a.request("query", "doc_delete", {"id": b_doc}, ws="alpha")["error"]["code"] == 404
    assert a.search("turbine", ws="alpha")["hits"] == []
    # B's document is untouched
    docs = b.request("query", "doc_list", {"limit": 10}, ws="bravo")["documents"]
    assert [d["id"] for d in docs] == [b_doc], docs
    assert n.admin.stats()["refused"] >= 8


def test_client_can_list_search_delete_and_watch_own_workspace(tmp):
    n = Node(tmp)
    a = n.a(subscribe=["alpha/"])
    time.sleep(0.5)                         # the subscription travels to the broker
    job = a.ingest_text("Alpha keeps the lighthouse keeper's logbook.", "a.txt")
    doc = completed(a, job, "alpha")["document_id"]
    # live events of its own job, on "alpha/<job>", in order
    live = [e for t, e in a.live(1.5) if t == "alpha/" + job]
    types = [e["type"] for e in live]
    assert "job_completed" in types and [e["seq"] for e in live] == sorted(e["seq"] for e in live), types
    assert [d["id"] for d in a.request("query", "doc_list", {"limit": 10}, ws="alpha")["documents"]] == [doc]
    hits = a.search("lighthouse logbook", ws="alpha")["hits"]
    assert hits and hits[0]["document_id"] == doc, hits
    assert a.request("query", "doc_delete", {"id": doc}, ws="alpha").get("deleted") is True
    assert a.request("query", "doc_list", {"limit": 10}, ws="alpha")["documents"] == []
    assert a.stats()["services"]["query"]["workers"] == 1      # STATS is allowed


def test_client_cannot_watch_other_workspace(tmp):
    n = Node(tmp)
    b = n.b()
    # A tries every way into B's events; a worker key may follow anything
    a = n.a(subscribe=["bravo/", "", "bravo", "b", "/", "alpha"])
    admin = n.client(n.worker_key, subscribe=["bravo/"])
    time.sleep(0.5)
    job = b.ingest_text("Bravo's harbour schedule for the ferries.", "b.txt")
    a.sub.setsockopt(zmq.SUBSCRIBE, ("bravo/" + job).encode())     # even the exact job
    completed(b, job, "bravo")
    seen_by_admin = [t for t, _ in admin.live(1.5)]
    assert "bravo/" + job in seen_by_admin, seen_by_admin           # events were published
    assert a.live(1.0) == []
    assert n.admin.stats()["refused"] >= 6


def test_client_cannot_register_as_worker(tmp):
    n = Node(tmp)
    a, b = n.a(), n.b()
    before = n.admin.stats()["services"]["query"]
    r = a.command({"c": 1, "svc": ["query"], "credit": 100, "name": "impostor"})
    assert r["c"] == 10 and r["code"] == 403, r
    st = n.admin.stats()["services"]["query"]
    assert st["workers"] == 1 and st["credit"] == before["credit"], (before, st)     # only the real worker
    # B's requests go to the real query worker; A's socket gets none of them
    for i in range(5):
        assert "hits" in b.search("ferries %d" % i, ws="bravo")
    assert not a.dealer.poll(500), a.dealer.recv_multipart()
    # nor may it act as one in any other way
    for c in (4, 5, 6, 12, 20):           # ACK, NACK, CREDIT, REPLY, BYE
        r = a.command({"c": c, "mid": "0" * 32, "credit": 5})
        assert r["c"] == 10 and r["code"] == 403, (c, r)
    assert n.admin.stats()["services"]["query"]["workers"] == 1


def test_client_cannot_publish_events(tmp):
    n = Node(tmp)
    a = n.a()
    job = a.ingest_text("Alpha's weather notes: wind from the west.", "a.txt")
    completed(a, job, "alpha")
    watcher = n.client(n.worker_key, subscribe=[""])
    time.sleep(0.5)
    forged = msgpack.packb({"type": "job_failed", "reason": "forged", "ts": 1})
    for c, header in ((13, {"topic": job, "name": "alpha"}), (14, {"topic": job, "name": "alpha"}),
                      (14, {"topic": "anything", "name": "bravo"})):
        r = a.command(dict(header, c=c), [forged])
        assert r["c"] == 10 and r["code"] == 403, (c, r)
    # nor through the pipeline: an event straight to the journal, a stage
    for route, kind in ((["journal"], "event"), (["store"], "duplicate"), (["fetch", "parse"], "ingest")):
        env = a.envelope(kind, route, {"type": "job_failed", "reason": "forged"}, job=job, ws="alpha")
        for c in (7, 11):                   # SUBMIT, REQUEST
            r = a.command({"c": c, "timeout": 2000}, [env])
            assert r["c"] == 10 and r["code"] == 403, (route, c, r)
    assert watcher.live(1.0) == []
    stored = a.events(job, ws="alpha")["events"]
    assert [e["type"] for e in stored][-1] == "job_completed" and "forged" not in str(stored), stored
    assert a.job(job, ws="alpha")["job"]["state"] == "completed"


def test_dead_letters_by_workspace(tmp):
    n = Node(tmp)
    a, b = n.a(), n.b()
    # A permanent parse failure in each workspace leaves a dead letter
    jobs = {}
    for c, ws in ((a, "alpha"), (b, "bravo")):
        r = c.request("upload", "put", {"data": b"%PDF-1.4 not really", "filename": "x.pdf",
                                        "mime": "application/pdf"}, ws=ws)
        jobs[ws] = c.ingest(ws=ws, blob=r["blob"], size=r["size"], filename=r["filename"], mime=r["mime"])["id"]
    for c, ws in ((a, "alpha"), (b, "bravo")):
        assert c.wait(jobs[ws], timeout=60, ws=ws)["state"] == "failed"
    def letters(c):
        h, frames = c._call({"c": 16, "limit": 100})
        return msgpack.unpackb(frames[0])
    wait_for(lambda: {d["ws"] for d in letters(n.admin)} == {"alpha", "bravo"}, 20, "dead letters in both")
    mine = letters(a)
    assert mine and {d["ws"] for d in mine} == {"alpha"}, mine        # A sees only its own
    assert {d["ws"] for d in letters(b)} == {"bravo"}
    theirs = [d["mid"] for d in letters(n.admin) if d["ws"] == "bravo"][0]
    r = a.command({"c": 17, "mid": theirs})
    assert r["c"] == 10 and r["code"] == 404, r                      # as if it did not exist
    r = a.command({"c": 17, "mid": mine[0]["mid"]})
    assert r["c"] == 8, r                                           # its own: replayed


def test_public_bind_without_curve_refused(tmp):
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    for sets, named in ((["broker.bind=tcp://0.0.0.0:%d" % free_port()], "broker.bind"),
                        (["broker.bind=tcp://*:%d" % free_port()], "broker.bind"),
                        (["broker.events_bind=tcp://*:%d" % free_port()], "broker.events_bind")):
        p = start(data, role="broker", sets=sets)
        assert p.proc.wait(timeout=20) != 0, sets
        log = open(p.log_path).read()
        assert "refusing to bind" in log and named in log and "broker.insecure" in log \
            and "curve.broker_secret" in log, log


def test_insecure_public_bind_starts_and_warns(tmp):
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    port = free_port()
    p = start(data, role="broker", port=port, sets=["broker.bind=tcp://0.0.0.0:%d" % port, "broker.insecure=true"])
    c = Client(port)
    assert c.stats()["workers"] == 0
    assert p.alive()
    log = open(p.log_path).read()
    assert "INSECURE" in log and "broker.insecure=true" in log, log
    c.close()


def test_oversized_message_dropped(tmp):
    n = Node(tmp, broker_sets=["broker.max_msg_size=1m"])
    a, b = n.a(), n.b()
    # under the limit: served
    r = a.request("upload", "put", {"data": b"x" * (512 << 10), "filename": "half.txt", "mime": "text/plain"},
                  ws="alpha")
    assert r.get("size") == 512 << 10, r
    # over it: libzmq drops the connection, nothing is answered or queued
    big = a.envelope("put", ["upload"], {"data": b"x" * (2 << 20), "filename": "big.txt"}, ws="alpha")
    try:
        a._call({"c": 11, "timeout": 3000}, [big], timeout=3000)
        raise AssertionError("an oversized message was answered")
    except TimeoutError:
        pass
    # the broker keeps serving everyone, the sender too once it reconnected
    assert n.broker.alive()
    assert "hits" in b.search("anything", ws="bravo")
    wait_for(lambda: a.stats()["services"]["upload"]["workers"] == 1, 20, "the sender reconnected")
    assert n.admin.stats()["services"]["upload"]["completed"] == 1


if __name__ == "__main__":
    tests = [test_client_cannot_list_search_or_delete_other_workspace,
             test_client_can_list_search_delete_and_watch_own_workspace,
             test_client_cannot_watch_other_workspace, test_client_cannot_register_as_worker,
             test_client_cannot_publish_events, test_dead_letters_by_workspace,
             test_public_bind_without_curve_refused, test_insecure_public_bind_starts_and_warns,
             test_oversized_message_dropped]
    sys.exit(Runner().run(tests, only=set(sys.argv[1:]) or None))
