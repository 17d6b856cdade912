#!/usr/bin/python3
"""test_edge: the HTTP API of Sluice, over real HTTP on loopback.

Every test starts its own real `sluiced` (temp --data folder, free ports),
talks to it with nothing but the standard library (http.client, urllib,
json, socket), asserts real values, and kills it at the end. Documents come
from a tiny HTTP server started by the test (so jobs can be made slow or
stalled on purpose) and from the project's generated corpus (tests/corpus.py).

Usage: test_edge.py [test_name ...]   (no names: run everything)
Env:   SLUICED (path of the binary)
Ends with "N passed, N failed"; exits non-zero if anything failed.
"""
import hashlib, http.client, http.server, json, os, re, resource, shutil, signal, socket, subprocess, sys
import tempfile, threading, time, traceback, urllib.parse, uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICED = os.environ.get("SLUICED", os.path.join(ROOT, "build", "actors", "sluiced"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from corpus import corpus_dir  # noqa: E402
import ports  # noqa: E402
PROCS = []
CLEANUPS = []       # callables run after each test (other files' servers to stop)


class Skip(Exception):
    pass


def check(cond, what, *context):
    if not cond:
        raise AssertionError(what + ("" if not context else ": " + " | ".join(str(c)[:600] for c in context)))


# --------------------------------------------------------------------------
# Processes

def free_ports(n):
    """n consecutive free loopback ports, reserved for this test (tests/ports.py)."""
    return ports.free_ports(n)


class Sluiced:
    """A real sluiced. role 'all' binds its broker on tcp so other processes can join."""

    def __init__(self, tmp, name="all", role="all", sets=(), broker_port=None, data=None, wait=True,
                 nofile=None):
        self.http_port = free_ports(1)
        self.data = data or os.path.join(tmp, name)
        os.makedirs(self.data, exist_ok=True)
        # A node that is not role all serves operational HTTP on 9101/9102
        # by default (for pods): two tests on one machine would fight over
        # them, and the loser exits. Ports 0 unless a test asks for them.
        args = [SLUICED, "--role", role, "--data", self.data, "--set", "log.level=warn",
                "--set", "http.port=%d" % self.http_port,
                "--set", "broker.metrics_port=0", "--set", "worker.health_port=0"]
        if role == "all":
            self.broker_port = broker_port or free_ports(2)
            args += ["--set", "broker.bind=tcp://127.0.0.1:%d" % self.broker_port]
        else:
            self.broker_port = broker_port
            args += ["--broker", "tcp://127.0.0.1:%d" % broker_port]
        for s in sets:
            args += ["--set", s]
        self.log_path = os.path.join(tmp, "sluiced-%s.log" % name)
        self.log = open(self.log_path, "ab")
        # nofile: RLIMIT_NOFILE for the process (descriptor exhaustion tests)
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) if nofile else None
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, preexec_fn=limit)
        PROCS.append(self)
        if wait:
            self.wait_http()

    def wait_http(self, ready=False, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            check(self.proc.poll() is None, "sluiced exited early (see %s)" % self.log_path)
            try:
                st, _, _ = call(self, "GET", "/readyz" if ready else "/healthz", timeout=3)
                if st == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass            # not up yet (or not ours: then it exits, and the check above says so)
            time.sleep(0.1)
        raise TimeoutError("sluiced not %s on port %d" % ("ready" if ready else "up", self.http_port))

    def fds(self):
        """Open file descriptors of the process now."""
        return len(os.listdir("/proc/%d/fd" % self.proc.pid))

    def stop(self, sig=signal.SIGTERM, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


# --------------------------------------------------------------------------
# HTTP

def call(srv, method, path, body=None, headers=None, key=None, timeout=30):
    """One request; returns (status, headers dict lower-cased, parsed JSON or raw text)."""
    port = srv if isinstance(srv, int) else srv.http_port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = dict(headers or {})
    if key:
        h["Authorization"] = "Bearer " + key
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    raw = resp.read()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    data = raw
    if hdrs.get("content-type", "").startswith("application/json"):
        data = json.loads(raw)
    else:
        data = raw.decode("utf-8", "replace")
    return resp.status, hdrs, data


def expect_error(result, status, what):
    st, hdrs, body = result
    check(st == status, "%s: expected %d, got %d" % (what, status, st), body)
    check(hdrs.get("content-type", "").startswith("application/json"), what + ": error is not JSON", hdrs)
    err = body.get("error") if isinstance(body, dict) else None
    check(isinstance(err, dict) and err.get("code") == status and err.get("message"),
          what + ": error body is not {error: {code, message}}", body)
    return body


def multipart(files, fields=()):
    """files: [(field, filename, content_type, bytes)] -> (body, content-type).
    A filename given as bytes is sent as those bytes (e.g. not UTF-8)."""
    boundary = "----sluice" + uuid.uuid4().hex
    out = []
    for name, value in fields:
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                    % (boundary, name, value)).encode())
    for name, filename, ctype, data in files:
        fn = filename if isinstance(filename, bytes) else filename.encode()
        out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\""
                    % (boundary, name)).encode() + fn + ("\"\r\nContent-Type: %s\r\n\r\n" % ctype).encode())
        out.append(data)
        out.append(b"\r\n")
    out.append(("--%s--\r\n" % boundary).encode())
    return b"".join(out), "multipart/form-data; boundary=" + boundary


class SSE:
    """A minimal EventSource: reads events from /v1/jobs/{id}/events."""

    def __init__(self, srv, job, key=None, last_id=None, timeout=60, query=""):
        self.conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=timeout)
        h = {"Accept": "text/event-stream"}
        if key:
            h["Authorization"] = "Bearer " + key
        if last_id is not None:
            h["Last-Event-ID"] = str(last_id)
        self.conn.request("GET", "/v1/jobs/%s/events%s" % (job, query), headers=h)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}

    def next(self):
        """The next event as dict {id, event, data}, or None at the end of the stream."""
        ev = {}
        while True:
            line = self.resp.readline()
            if not line:
                return None
            line = line.decode("utf-8").rstrip("\n")
            if line == "":
                if "data" in ev or "event" in ev:
                    if "data" in ev:
                        ev["raw"] = ev["data"]          # the data line(s) as sent
                        ev["data"] = json.loads(ev["data"])
                    return ev
                ev = {}
                continue
            if line.startswith(":"):
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field in ("id", "event", "retry"):
                ev[field] = value
            elif field == "data":
                ev["data"] = ev["data"] + "\n" + value if "data" in ev else value

    def close(self):
        self.conn.close()


def follow(srv, job, key=None, last_id=None, timeout=90):
    """Read the whole stream: list of events (heartbeats dropped)."""
    s = SSE(srv, job, key=key, last_id=last_id, timeout=timeout)
    check(s.status == 200, "SSE status", s.status)
    events = []
    while True:
        ev = s.next()
        if ev is None:
            break
        if ev.get("event") != "heartbeat":
            events.append(ev)
    s.close()
    return events


def request_on(sock, method, path, body=b"", headers=None):
    """One request on an open socket, kept alive (closing it would free a
    descriptor); returns (status, headers, JSON or text). For connections
    opened before the server ran out of descriptors."""
    h = {"Host": "127.0.0.1", "Content-Length": str(len(body))}
    h.update(headers or {})
    head = "%s %s HTTP/1.1\r\n%s\r\n" % (method, path, "".join("%s: %s\r\n" % kv for kv in h.items()))
    sock.sendall(head.encode() + body)
    resp = http.client.HTTPResponse(sock, method=method)
    resp.begin()
    raw = resp.read()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    if hdrs.get("content-type", "").startswith("application/json"):
        return resp.status, hdrs, json.loads(raw)
    return resp.status, hdrs, raw.decode("utf-8", "replace")


def blobs_of(srv):
    """The hashes in the blob area."""
    root = os.path.join(srv.data, "blobs")
    return {f for d in (os.listdir(root) if os.path.isdir(root) else []) for f in os.listdir(os.path.join(root, d))}


def temp_files(srv):
    tmpdir = os.path.join(srv.data, "tmp")
    return os.listdir(tmpdir) if os.path.isdir(tmpdir) else []


def wait_job(srv, job, key=None, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, _, body = call(srv, "GET", "/v1/jobs/" + job, key=key)
        check(st == 200, "GET job", st, body)
        if body["job"]["state"] in ("completed", "failed"):
            return body["job"]
        time.sleep(0.2)
    raise TimeoutError("job %s not finished" % job)


def wait_gone(srv, doc, key=None, timeout=90):
    """Poll until the document's deletion (accepted with 202) is done: 404."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        st, _, body = call(srv, "GET", "/v1/documents/" + doc, key=key)
        if st == 404:
            return
        check(st == 200 and body["document"]["state"] == "deleting", "deleting meanwhile", st, body)
        time.sleep(0.1)
    raise TimeoutError("document %s not deleted" % doc)


# --------------------------------------------------------------------------
# A document server: /doc/<name> serves a small HTML page at once,
# /slow/<name> waits for the gate, /trickle/<name> sends its body slowly.

DOC_TEMPLATE = ("<html><head><title>%s</title></head><body><h1>%s</h1><p>%s</p>"
                "<p>The marmalade lighthouse keeper counted %s seagulls before breakfast.</p></body></html>")


class DocServer:
    def __init__(self):
        self.gate = threading.Event()
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle(self):
                try:
                    super().handle()
                except OSError:
                    pass                        # the fetcher hung up: fine

            def do_GET(self):
                outer.hits += 1
                kind, _, name = self.path.strip("/").partition("/")
                body = (DOC_TEMPLATE % (name, name, "Unique marker zq%sq." % name, name)).encode()
                if kind == "slow":
                    outer.gate.wait(120)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if kind == "trickle":
                    for i in range(0, len(body), 16):
                        self.wfile.write(body[i:i + 16])
                        self.wfile.flush()
                        time.sleep(0.12)
                else:
                    self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, kind, name):
        return "http://127.0.0.1:%d/%s/%s" % (self.httpd.server_port, kind, name)

    def close(self):
        self.gate.set()
        self.httpd.shutdown()
        self.httpd.server_close()


LOCAL = "fetch.allow_cidrs=127.0.0.1/32"


def ingest_url(srv, url, key=None):
    st, hdrs, body = call(srv, "POST", "/v1/ingest", {"url": url}, key=key)
    check(st == 202, "ingest %s" % url, st, body)
    return body["jobs"][0]["id"], hdrs, body


# --------------------------------------------------------------------------
# Tests

def test_health_ready_metrics_openapi(tmp):
    srv = Sluiced(tmp)
    srv.wait_http(ready=True)
    st, _, body = call(srv, "GET", "/healthz")
    check(st == 200 and body["status"] == "ok", "healthz", body)
    st, _, body = call(srv, "GET", "/readyz")
    check(st == 200 and body["ready"] is True, "readyz", body)
    for c in ("broker", "intake", "query", "store"):
        check(body["checks"][c] == "ok", "readyz check " + c, body)
    st, hdrs, text = call(srv, "GET", "/v1/openapi.yaml")
    check(st == 200 and hdrs["content-type"].startswith("application/yaml"), "openapi served", st, hdrs)
    with open(os.path.join(ROOT, "docs", "openapi.yaml"), encoding="utf-8") as f:
        check(text == f.read(), "served openapi.yaml is the repository's docs/openapi.yaml")
    for path in ("/v1/ingest", "/v1/jobs/{id}/events", "/v1/search", "/v1/dlq/{id}/replay", "/readyz"):
        check(("  %s:" % path) in text, "openapi documents " + path)
    call(srv, "GET", "/v1/jobs")
    st, hdrs, text = call(srv, "GET", "/metrics")
    check(st == 200 and hdrs["content-type"].startswith("text/plain"), "metrics served", st)
    for needle in ('sluice_http_requests_total{route="/v1/jobs",method="GET",status="200"} 1',
                   'sluice_broker_queue_depth{service="intake"}', 'sluice_broker_workers{service="fetch"} ',
                   'sluice_broker_up 1', 'sluice_store_up 1', 'sluice_sse_streams 0',
                   '# TYPE sluice_http_request_duration_seconds histogram', 'sluice_broker_dlq_size 0',
                   '# TYPE sluice_broker_submitted_total counter'):
        check(needle in text, "metrics contain " + needle, text[:3000])
    for gone in ("sluice_queue_depth", "sluice_inflight", "sluice_workers", "sluice_dlq_size",
                 "sluice_service_messages_total"):         # one name per figure: the broker's
        check(not re.search(r"^%s[{ ]" % gone, text, re.M), "no second name " + gone, text[:3000])
    check(srv.stop() == 0, "clean exit on SIGTERM")


def test_ingest_url_follow_documents_search_delete(tmp):
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])
        job, hdrs, body = ingest_url(srv, docs.url("doc", "alpha"))
        check(hdrs.get("location") == "/v1/jobs/" + job, "Location header", hdrs)
        j = body["jobs"][0]
        check(j["status_url"] == "/v1/jobs/" + job and j["events_url"] == "/v1/jobs/%s/events" % job,
              "job links", j)
        check(j["state"] == "queued", "a new job is queued", j)
        events = follow(srv, job)
        seqs = [int(e["id"]) for e in events]
        check(seqs == list(range(1, len(seqs) + 1)), "event ids are 1..n without gaps", seqs)
        types = [e["event"] for e in events]
        check(types[0] == "job_started" and types[-1] == "job_completed", "first/last event", types)
        for t in ("stage_started", "stage_completed"):
            check(t in types, "stream has " + t, types)
        for e in events:
            check(e["data"]["type"] == e["event"] and e["data"]["seq"] == int(e["id"])
                  and e["data"]["job"] == job, "event data matches its id/type", e)
        done = [e["data"] for e in events if e["event"] == "stage_completed"]
        check(all(isinstance(d.get("duration_ms"), int) and d.get("stage") for d in done),
              "stage_completed has stage + duration_ms", done)
        st, _, body = call(srv, "GET", "/v1/jobs/" + job)
        check(st == 200 and body["job"]["state"] == "completed" and body["job"]["document_id"], "job done", body)
        doc_id = body["job"]["document_id"]
        st, _, body = call(srv, "GET", "/v1/jobs?state=completed&limit=10")
        check(st == 200 and any(x["id"] == job for x in body["jobs"]), "jobs list by state", body)
        check(all(x["state"] == "completed" for x in body["jobs"]), "state filter", body)
        st, _, body = call(srv, "GET", "/v1/jobs?state=failed")
        check(st == 200 and not any(x["id"] == job for x in body["jobs"]), "failed list excludes it", body)
        st, _, body = call(srv, "GET", "/v1/documents?limit=5&offset=0")
        check(st == 200 and [d["id"] for d in body["documents"]] == [doc_id] and body["total"] == 1,
              "documents list", body)
        st, _, body = call(srv, "GET", "/v1/documents?offset=1")
        check(st == 200 and body["documents"] == [], "documents offset paginates", body)
        st, _, body = call(srv, "GET", "/v1/documents/" + doc_id)
        check(st == 200 and body["document"]["id"] == doc_id and body["document"]["title"] == "alpha",
              "document get", body)
        st, _, body = call(srv, "GET", "/v1/documents/%s/chunks" % doc_id)
        check(st == 200 and body["total"] >= 1 and "marmalade lighthouse" in body["chunks"][0]["text"],
              "chunks", body)
        st, _, body = call(srv, "POST", "/v1/search", {"query": "marmalade lighthouse keeper seagulls", "k": 3})
        check(st == 200 and body["hits"] and body["hits"][0]["document_id"] == doc_id, "search finds it", body)
        check(len(body["hits"]) <= 3, "k respected", body)
        check(body.get("mode") == "hybrid" and body["hits"][0]["match"] == "both", "hybrid by default", body)
        st, _, body = call(srv, "POST", "/v1/search", {"query": "Marmalade LIGHTHOUSE", "mode": "lexical"})
        check(st == 200 and [h["document_id"] for h in body["hits"]] == [doc_id]
              and body["hits"][0]["match"] == "lexical", "lexical mode: the words, any case", body)
        st, _, body = call(srv, "POST", "/v1/search", {"query": "marmalade", "mode": "vector", "k": 2})
        check(st == 200 and body["mode"] == "vector" and all(h["match"] == "vector" for h in body["hits"]),
              "vector mode", body)
        st, _, body = call(srv, "POST", "/v1/search", {"query": "marmalade lighthouse", "documents": [doc_id]})
        check(st == 200 and body["hits"] and all(h["document_id"] == doc_id for h in body["hits"]),
              "search within a document", body)
        st, _, body = call(srv, "POST", "/v1/search", {"query": "marmalade lighthouse", "documents": ["nope"]})
        check(st == 200 and body["hits"] == [], "search within an unknown document finds nothing", body)
        # the same search as a GET, for curl and the address bar
        st, _, body = call(srv, "GET", "/v1/search?q=Marmalade%20lighthouse&k=2&mode=lexical&documents=nope," + doc_id)
        check(st == 200 and body["mode"] == "lexical" and [h["document_id"] for h in body["hits"]] == [doc_id],
              "GET search", body)
        st, _, body = call(srv, "DELETE", "/v1/documents/" + doc_id)
        check(st == 202 and body.get("deleted") is True and body.get("state") == "deleting",
              "delete accepted", st, body)
        wait_gone(srv, doc_id)
        expect_error(call(srv, "GET", "/v1/documents/" + doc_id), 404, "deleted document")
        expect_error(call(srv, "DELETE", "/v1/documents/" + doc_id), 404, "delete twice")
        st, _, body = call(srv, "POST", "/v1/search", {"query": "marmalade lighthouse keeper"})
        check(st == 200 and not any(h["document_id"] == doc_id for h in body["hits"]), "deleted not found", body)
        # A late subscriber after the end gets the whole history (then the stream ends)
        again = follow(srv, job)
        check([e["id"] for e in again] == [e["id"] for e in events], "late subscriber gets everything")
        # Reconnecting after the terminal event: 204 (EventSource stops)
        s = SSE(srv, job, last_id=seqs[-1])
        check(s.status == 204, "reconnect after the end is 204", s.status)
        s.close()
    finally:
        docs.close()


def test_sse_reconnect_exactly_once(tmp):
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL, "http.sse_heartbeat_s=1"])
        job, _, _ = ingest_url(srv, docs.url("trickle", "beta"))
        s = SSE(srv, job)
        check(s.status == 200, "stream opens")
        check(s.headers["content-type"].startswith("text/event-stream"), "SSE content type", s.headers)
        first = []
        while len(first) < 2:
            ev = s.next()
            check(ev is not None, "stream ended before the job did")
            if ev["event"] != "heartbeat":
                first.append(ev)
        s.close()                               # drop the connection mid-job
        st, _, body = call(srv, "GET", "/v1/jobs/" + job)
        check(body["job"]["state"] not in ("completed", "failed"), "disconnected mid-job", body)
        time.sleep(0.5)
        rest = follow(srv, job, last_id=first[-1]["id"])
        ids = [int(e["id"]) for e in first + rest]
        check(len(ids) == len(set(ids)), "no event twice", ids)
        check(ids == list(range(1, len(ids) + 1)), "every event exactly once, in order", ids)
        check((first + rest)[-1]["event"] == "job_completed", "ends with job_completed", rest[-1:])
        # The same history as a fresh subscriber sees
        whole = follow(srv, job)
        check([int(e["id"]) for e in whole] == ids, "resumed == fresh", [e["id"] for e in whole])
        # Last-Event-ID as a query parameter works too
        s = SSE(srv, job, query="?last_event_id=%d" % (ids[-1] - 1))
        ev = s.next()
        check(ev and int(ev["id"]) == ids[-1], "?last_event_id resumes", ev)
        s.close()
        expect_error(call(srv, "GET", "/v1/jobs/%s/events" % job, headers={"Last-Event-ID": "abc"}), 400,
                     "bad Last-Event-ID")
    finally:
        docs.close()


def test_sse_heartbeat_and_stalled_job(tmp):
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL, "http.sse_heartbeat_s=1"])
        job, _, _ = ingest_url(srv, docs.url("slow", "gamma"))
        s = SSE(srv, job, timeout=10)
        t0 = time.time()
        beats, seen = 0, []
        while beats < 2:
            ev = s.next()
            check(ev is not None, "stream stays open while the job is stalled")
            if ev["event"] == "heartbeat":
                beats += 1
                check("id" not in ev, "heartbeats carry no id (Last-Event-ID unchanged)", ev)
            else:
                seen.append(ev["event"])
        check(time.time() - t0 < 6, "two heartbeats within a few seconds at sse_heartbeat_s=1")
        docs.gate.set()                         # let the document through
        while True:
            ev = s.next()
            if ev is None:
                break
            seen.append(ev["event"])
        s.close()
        check(seen[-1] == "job_completed" if seen else False, "ends after the terminal event", seen)
    finally:
        docs.close()


def test_sse_replay_equals_live(tmp):
    """An event replayed from the journal is the same bytes as the one sent
    live, also when it carried invalid UTF-8 and binary: both paths convert
    msgpack to JSON with one policy (engine/sl_json: repair to U+FFFD, bins
    as text or base64). The odd event is forged the way a worker sends one
    (an EVENT command to the broker), so it goes through the real journal."""
    try:
        import msgpack
        import zmq
    except ImportError:
        raise Skip("needs python3-zmq and python3-msgpack to forge a worker event")
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL, "http.sse_heartbeat_s=1"])
        job, _, _ = ingest_url(srv, docs.url("slow", "delta"))     # stalls in fetch: the stream stays open
        live = SSE(srv, job, timeout=30)
        check(live.status == 200, "stream opens", live.status)
        while True:                             # caught up, subscribed: the next events come live
            ev = live.next()
            check(ev is not None, "stream ended early")
            if ev["event"] == "heartbeat":
                break

        def raw_str(b):                         # a msgpack str whose bytes are not UTF-8
            assert len(b) < 32
            return bytes([0xa0 | len(b)]) + b
        pk = lambda v: msgpack.packb(v, use_bin_type=True)
        fields = [("type", pk("stage_progress")), ("stage", pk("fetch")), ("percent", pk(3)),
                  ("message", raw_str(b"caf\xc3 bad \xff\xfe end")),
                  ("title", raw_str(b"\xed\xa0\x80 surrogate, \xc0\xaf overlong")),
                  ("blob", pk(b"\x00\xff\x10")), ("text_bin", pk(b"plain")),
                  ("ratio", pk(0.1)), ("big", pk(2 ** 64 - 1)), ("nested", pk({"k": [1, None, True, "\u00e9"]})),
                  ("ts", pk(int(time.time() * 1000)))]
        event = bytes([0x80 | len(fields)]) + b"".join(pk(k) + v for k, v in fields)
        ctx = zmq.Context.instance()
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.LINGER, 0)
        dealer.connect("tcp://127.0.0.1:%d" % srv.broker_port)
        try:
            def stats():                        # a round trip: connected before, delivered after
                dealer.send_multipart([pk({"p": "SLP1", "c": 15, "corr": "c0ffee"})])
                check(dealer.poll(10000), "broker answers STATS")
                dealer.recv_multipart()
            stats()
            for i in range(2):                  # SL_CMD_EVENT: topic = the job, name = its workspace
                dealer.send_multipart([pk({"p": "SLP1", "c": 13, "topic": job, "name": "default"}), event])
            stats()
        finally:
            dealer.close()

        seen = []
        while len([e for e in seen if e["event"] == "stage_progress" and "blob" in e["data"]]) < 2:
            ev = live.next()
            check(ev is not None, "stream ended before the forged events came", seen)
            if ev["event"] != "heartbeat":
                seen.append(ev)
        live.close()
        forged = [e for e in seen if "blob" in e["data"]]
        d = forged[0]["data"]
        check(d["message"] == "caf\ufffd bad \ufffd\ufffd end", "invalid UTF-8 repaired live", d)
        check(d["title"].count("\ufffd") == 5, "surrogate and overlong bytes repaired live", d)
        check(d["blob"] == "AP8Q" and d["text_bin"] == "plain", "bins: base64 or text", d)
        check(d["nested"] == {"k": [1, None, True, "\u00e9"]} and d["job"] == job, "the rest as sent", d)

        replay = SSE(srv, job, last_id=0, timeout=30)
        check(replay.status == 200, "replay opens", replay.status)
        stored = {}
        last = max(int(e["id"]) for e in seen)
        while not stored or max(stored) < last:
            ev = replay.next()
            check(ev is not None, "replay ended early", sorted(stored))
            if "id" in ev:
                stored[int(ev["id"])] = ev
        replay.close()
        for e in seen:
            r = stored.get(int(e["id"]))
            check(r is not None, "event %s replayed" % e["id"])
            check(r["event"] == e["event"], "same type replayed", e["event"], r["event"])
            check(r["raw"] == e["raw"], "replayed data line == live data line, byte for byte",
                  "live: " + e["raw"], "replay: " + r["raw"])
        docs.gate.set()
        wait_job(srv, job)
    finally:
        docs.close()


def test_upload_pdf_then_search_page(tmp):
    pdf = os.path.join(corpus_dir(), "pdf", "currency.pdf")
    page = 3
    def page_text(n):
        return subprocess.run(["mutool", "draw", "-F", "txt", "-o", "-", pdf, str(n)],
                              capture_output=True, check=True).stdout.decode("utf-8", "replace")
    info = subprocess.run(["mutool", "info", pdf], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s*(\d+)", info).group(1))
    others = " ".join(page_text(n) for n in range(1, pages + 1) if n != page)
    lines = [l.strip() for l in page_text(page).splitlines()]
    # A passage only page N has: two consecutive long lines found nowhere else
    picks = [i for i in range(len(lines) - 1)
             if len(lines[i]) > 50 and len(lines[i + 1]) > 40 and lines[i] not in others and lines[i + 1] not in others]
    check(picks, "page %d has a passage of its own" % page)
    phrase = lines[picks[len(picks) // 2]] + " " + lines[picks[len(picks) // 2] + 1]
    srv = Sluiced(tmp)
    with open(pdf, "rb") as f:
        data = f.read()
    body, ctype = multipart([("file", "currency.pdf", "application/pdf", data)])
    st, hdrs, reply = call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": ctype})
    check(st == 202 and len(reply["jobs"]) == 1, "multipart upload accepted", st, reply)
    j = reply["jobs"][0]
    check(j["sha256"] and j["mime"] == "application/pdf" and "currency.pdf" in j["source"], "upload job", j)
    job = wait_job(srv, j["id"])
    check(job["state"] == "completed", "PDF job completed", job)
    st, _, doc = call(srv, "GET", "/v1/documents/" + job["document_id"])
    check(doc["document"]["pages"] >= page, "pages recorded", doc)
    st, _, res = call(srv, "POST", "/v1/search", {"query": phrase, "k": 3})
    check(st == 200 and res["hits"], "search answers", res)
    top = res["hits"][0]
    check(top["document_id"] == job["document_id"], "top hit is the PDF", top)
    check(top["page_start"] <= page <= top["page_end"], "top hit is on page %d" % page, phrase, top)
    # Same bytes as a raw body with Content-Disposition: a second job, same blob
    st, _, reply = call(srv, "POST", "/v1/ingest", data,
                        headers={"Content-Type": "application/pdf",
                                 "Content-Disposition": 'attachment; filename="again.pdf"'})
    check(st == 202 and reply["jobs"][0]["sha256"] == j["sha256"], "raw upload", st, reply)
    st, _, text = call(srv, "GET", "/metrics")
    m = re.search(r"^sluice_ingest_bytes_total (\d+)", text, re.M)
    check(m and int(m.group(1)) == 2 * len(data), "bytes ingested counted", m and m.group(0))


def test_multipart_many_files_and_refusals(tmp):
    srv = Sluiced(tmp)
    files = [("file", "one.txt", "text/plain", b"first plain text document about quokkas\n"),
             ("file", "two.md", "text/markdown", b"# Second\n\nA markdown note about wombats.\n"),
             ("file", "pic.gif", "image/gif", b"GIF89a0000"),
             ("file", "empty.txt", "text/plain", b"")]
    body, ctype = multipart(files)
    st, _, reply = call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": ctype})
    check(st == 202, "mixed multipart accepted", st, reply)
    check([j["source"] for j in reply["jobs"]] == ["upload:one.txt", "upload:two.md"], "two jobs", reply)
    rej = {r["filename"]: r["error"]["code"] for r in reply["rejected"]}
    check(rej == {"pic.gif": 415, "empty.txt": 400}, "refused parts named with codes", reply)
    for j in reply["jobs"]:
        check(wait_job(srv, j["id"])["state"] == "completed", "uploaded text completes", j)
    # Only refusable parts: the request is refused with the first part's status
    body, ctype = multipart([("file", "x.exe", "application/octet-stream", b"MZ\x90\x00")])
    expect_error(call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": ctype}), 415, "only .exe")
    # url fields in a form
    body, ctype = multipart([], fields=[("url", "http://127.0.0.1:9/a.html"), ("url", "https://127.0.0.1:9/b")])
    st, _, reply = call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": ctype})
    check(st == 202 and len(reply["jobs"]) == 2, "url form fields", st, reply)
    st, _, reply = call(srv, "POST", "/v1/ingest", b"url=http%3A%2F%2F127.0.0.1%3A9%2Fc",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    check(st == 202 and reply["jobs"][0]["source"] == "http://127.0.0.1:9/c", "urlencoded form", st, reply)
    st, _, reply = call(srv, "POST", "/v1/ingest", {"urls": ["http://127.0.0.1:9/d", "http://127.0.0.1:9/e"]})
    check(st == 202 and len(reply["jobs"]) == 2, "urls array", st, reply)


def test_error_codes(tmp):
    srv = Sluiced(tmp, sets=["http.max_upload=64k"])
    expect_error(call(srv, "GET", "/v1/nope"), 404, "unknown route")
    expect_error(call(srv, "GET", "/v1/jobs/" + "0" * 32), 404, "unknown job")
    expect_error(call(srv, "GET", "/v1/jobs/%s/events" % ("0" * 32)), 404, "unknown job events")
    expect_error(call(srv, "GET", "/v1/documents/" + "0" * 32), 404, "unknown document")
    expect_error(call(srv, "GET", "/v1/documents/%s/chunks" % ("0" * 32)), 404, "unknown document chunks")
    expect_error(call(srv, "GET", "/v1/jobs/bad%20id"), 404, "malformed id")
    # A NUL must not cut the path short ("/v1/documents", the caller's list)
    expect_error(call(srv, "GET", "/v1/documents/%00/content"), 404, "NUL in a path segment")
    expect_error(call(srv, "GET", "/v1/documents%00/x"), 404, "NUL after a route")
    expect_error(call(srv, "DELETE", "/v1/jobs"), 405, "DELETE /v1/jobs")
    r = call(srv, "PATCH", "/v1/documents/abc")
    expect_error(r, 405, "PATCH document")
    check(set(x.strip() for x in r[1]["allow"].split(",")) == {"GET", "DELETE"}, "Allow header", r[1])
    expect_error(call(srv, "POST", "/v1/ingest", b"{\"url\": ", headers={"Content-Type": "application/json"}),
                 400, "malformed JSON")
    expect_error(call(srv, "POST", "/v1/ingest", {"url": 42}), 400, "url not a string")
    expect_error(call(srv, "POST", "/v1/ingest", {"urls": []}), 400, "empty urls")
    expect_error(call(srv, "POST", "/v1/ingest", {"url": "file:///etc/passwd"}), 400, "file URL")
    expect_error(call(srv, "POST", "/v1/ingest", {"link": "http://x/"}), 400, "wrong field")
    expect_error(call(srv, "POST", "/v1/search", {"k": 3}), 400, "search without query")
    expect_error(call(srv, "POST", "/v1/search", {"query": "x", "k": 1000}), 400, "search k too big")
    expect_error(call(srv, "POST", "/v1/search", {"query": "x", "mode": "fuzzy"}), 400, "search mode unknown")
    expect_error(call(srv, "POST", "/v1/search", {"query": "x", "mode": 3}), 400, "search mode not a string")
    expect_error(call(srv, "POST", "/v1/search", {"query": "x", "documents": "abc"}), 400, "documents not a list")
    expect_error(call(srv, "GET", "/v1/search"), 400, "GET search without q")
    expect_error(call(srv, "GET", "/v1/search?q=x&k=ten"), 400, "GET search k not a number")
    expect_error(call(srv, "GET", "/v1/search?q=x&k=0"), 400, "GET search k 0")
    expect_error(call(srv, "GET", "/v1/search?q=x&mode=fuzzy"), 400, "GET search mode unknown")
    expect_error(call(srv, "GET", "/v1/search?q=x&documents=bad%20id"), 400, "GET search bad document id")
    expect_error(call(srv, "GET", "/v1/search?q=%FF%FE"), 400, "GET search q not UTF-8")
    expect_error(call(srv, "POST", "/v1/search", {"query": "x", "documents": ["bad id!"]}), 400, "bad document id")
    expect_error(call(srv, "POST", "/v1/search", {"query": "x", "documents": ["d%d" % i for i in range(101)]}),
                 400, "too many documents")
    expect_error(call(srv, "POST", "/v1/search", b"nope", headers={"Content-Type": "application/json"}),
                 400, "search malformed")
    expect_error(call(srv, "GET", "/v1/jobs?limit=0"), 400, "limit 0")
    expect_error(call(srv, "GET", "/v1/documents?offset=-1"), 400, "negative offset")
    expect_error(call(srv, "GET", "/v1/jobs?state=done"), 400, "unknown state")
    # 415: declared type, extension, missing type
    expect_error(call(srv, "POST", "/v1/ingest?filename=a.gif", b"GIF89a", headers={"Content-Type": "image/gif"}),
                 415, "image/gif")
    expect_error(call(srv, "POST", "/v1/ingest?filename=movie.mp4", b"0000",
                      headers={"Content-Type": "application/octet-stream"}), 415, ".mp4")
    # 413: by Content-Length (answered before the body is read)...
    big = b"x" * (65 * 1024)
    expect_error(call(srv, "POST", "/v1/ingest?filename=big.txt", big, headers={"Content-Type": "text/plain"}),
                 413, "upload over max_upload")
    # ... and mid-stream for a chunked body with no length
    s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
    s.sendall(b"POST /v1/ingest?filename=big.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    reply = b""
    try:
        for _ in range(40):
            chunk = b"y" * 4096
            s.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass                                     # the server may close early: fine
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            reply += d
            if b"\r\n\r\n" in reply and b"}" in reply:
                break
    except OSError:
        pass
    s.close()
    check(reply.startswith(b"HTTP/1.1 413"), "chunked upload over the limit is 413", reply[:300])
    # Nothing half-written is left behind
    tmpdir = os.path.join(srv.data, "tmp")
    time.sleep(0.3)
    check(not os.path.isdir(tmpdir) or os.listdir(tmpdir) == [], "no temp files left", os.listdir(tmpdir))
    # Every error above is counted by route and status
    st, _, text = call(srv, "GET", "/metrics")
    check('route="/v1/ingest",method="POST",status="413"} 2' in text, "413s counted", text[:2000])


def test_workspaces_are_separate(tmp):
    docs = DocServer()
    try:
        ka, kb = "key-alpha-123456", "key-bravo-654321"
        srv = Sluiced(tmp, sets=[LOCAL, "auth.keys=%s:alpha,%s:bravo" % (ka, kb)])
        expect_error(call(srv, "GET", "/v1/jobs"), 401, "no key")
        r = expect_error(call(srv, "GET", "/v1/jobs", key="key-alpha-123457"), 401, "wrong key")
        check(call(srv, "GET", "/healthz")[0] == 200, "healthz needs no key")
        expect_error(call(srv, "POST", "/v1/ingest", {"url": docs.url("doc", "a")}), 401, "ingest without key")
        job, _, body = ingest_url(srv, docs.url("doc", "delta"), key=ka)
        check(body["jobs"][0]["workspace"] == "alpha", "job in the key's workspace", body)
        done = wait_job(srv, job, key=ka)
        doc = done["document_id"]
        expect_error(call(srv, "GET", "/v1/jobs/" + job, key=kb), 404, "other workspace's job")
        expect_error(call(srv, "GET", "/v1/jobs/%s/events" % job, key=kb), 404, "other workspace's events")
        expect_error(call(srv, "GET", "/v1/documents/" + doc, key=kb), 404, "other workspace's document")
        expect_error(call(srv, "GET", "/v1/documents/%s/chunks" % doc, key=kb), 404, "other workspace's chunks")
        expect_error(call(srv, "DELETE", "/v1/documents/" + doc, key=kb), 404, "delete across workspaces")
        st, _, body = call(srv, "GET", "/v1/jobs", key=kb)
        check(st == 200 and body["jobs"] == [], "bravo sees no jobs", body)
        st, _, body = call(srv, "GET", "/v1/documents", key=kb)
        check(st == 200 and body["documents"] == [], "bravo sees no documents", body)
        st, _, body = call(srv, "POST", "/v1/search", {"query": "marmalade lighthouse keeper"}, key=kb)
        check(st == 200 and body["hits"] == [], "search never crosses workspaces", body)
        st, _, body = call(srv, "POST", "/v1/search", {"query": "marmalade lighthouse keeper"}, key=ka)
        check(st == 200 and body["hits"] and body["hits"][0]["document_id"] == doc, "alpha finds it", body)
        # EventSource-style key in the query string
        s = SSE(srv, job, query="?access_token=" + ka)
        check(s.status == 200 and s.next()["event"] == "job_started", "access_token works for SSE")
        s.close()
        check(call(srv, "GET", "/v1/documents/" + doc, key=ka)[0] == 200, "alpha still has its document")
    finally:
        docs.close()


def test_backpressure_429(tmp):
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL, "jobs.max_pending=2"])
        j1, _, _ = ingest_url(srv, docs.url("slow", "s1"))
        j2, _, _ = ingest_url(srv, docs.url("slow", "s2"))
        r = call(srv, "POST", "/v1/ingest", {"url": docs.url("slow", "s3")})
        body = expect_error(r, 429, "third pending job")
        check(r[1].get("retry-after", "").isdigit() and int(r[1]["retry-after"]) >= 1, "Retry-After", r[1])
        check(body["rejected"][0]["url"].endswith("/slow/s3"), "the refused URL is named", body)
        # A batch is refused whole when nothing fits
        r = call(srv, "POST", "/v1/ingest", {"urls": [docs.url("slow", "s4"), docs.url("slow", "s5")]})
        expect_error(r, 429, "batch while full")
        docs.gate.set()
        for j in (j1, j2):
            check(wait_job(srv, j)["state"] == "completed", "accepted jobs complete", j)
        # Room again: a batch of three with room for two -> 202 + one rejected
        docs.gate.clear()
        r = call(srv, "POST", "/v1/ingest", {"urls": [docs.url("slow", "t%d" % i) for i in range(3)]})
        check(r[0] == 202 and len(r[2]["jobs"]) == 2 and r[2]["rejected"][0]["error"]["code"] == 429,
              "partial batch: accepted + rejected", r)
        docs.gate.set()
        for j in r[2]["jobs"]:
            check(wait_job(srv, j["id"])["state"] == "completed", "batch jobs complete", j)
        st, _, body = call(srv, "GET", "/v1/jobs?limit=100")
        check(body["total"] if "total" in body else len(body["jobs"]) == 4, "exactly the accepted jobs exist", body)
        check(len(body["jobs"]) == 4, "every 202 is a job", [j["source"] for j in body["jobs"]])
    finally:
        docs.close()


def test_two_edges_one_broker(tmp):
    docs = DocServer()
    try:
        main = Sluiced(tmp, name="main", sets=[LOCAL])
        main.wait_http(ready=True)
        edge = Sluiced(tmp, name="edge2", role="edge", broker_port=main.broker_port, data=main.data)
        edge.wait_http(ready=True)
        job, _, _ = ingest_url(edge, docs.url("trickle", "epsilon"))
        # Follow through the other edge, and read the job from both
        events = follow(main, job)
        check(events[-1]["event"] == "job_completed", "followed via the other edge", [e["event"] for e in events])
        a = call(main, "GET", "/v1/jobs/" + job)[2]["job"]
        b = call(edge, "GET", "/v1/jobs/" + job)[2]["job"]
        check(a == b and a["state"] == "completed", "both edges see the same job", a, b)
        # An upload through the second edge (shared data folder), followed via the first
        body, ctype = multipart([("file", "note.txt", "text/plain", b"zephyr notes on the second edge\n")])
        st, _, reply = call(edge, "POST", "/v1/ingest", body, headers={"Content-Type": ctype})
        check(st == 202, "upload via edge 2", st, reply)
        events = follow(main, reply["jobs"][0]["id"])
        check(events[-1]["event"] == "job_completed", "upload via edge 2 completes", events[-3:])
        # Mid-stream switch: start on edge 2, resume on edge 1 with Last-Event-ID
        job, _, _ = ingest_url(edge, docs.url("trickle", "zeta"))
        s = SSE(edge, job)
        first = [s.next(), s.next()]
        s.close()
        rest = follow(main, job, last_id=first[-1]["id"])
        ids = [int(e["id"]) for e in first + rest]
        check(ids == list(range(1, len(ids) + 1)), "resume across edges: every event once", ids)
        check(edge.stop() == 0 and main.stop() == 0, "both exit cleanly")
    finally:
        docs.close()


def test_open_mode_refuses_public_bind(tmp):
    srv = Sluiced(tmp, sets=["http.bind=0.0.0.0"], wait=False)
    rc = srv.proc.wait(timeout=20)
    check(rc != 0, "refuses to start open on 0.0.0.0", rc)
    with open(srv.log_path, errors="replace") as f:
        log = f.read()
    check("auth.keys" in log and "allow_open" in log, "says why", log[-2000:])
    srv = Sluiced(tmp, name="allowed", sets=["http.bind=0.0.0.0", "http.allow_open=true"])
    check(call(srv, "GET", "/healthz")[0] == 200, "allow_open=true starts")
    srv.stop()
    srv = Sluiced(tmp, name="keyed", sets=["http.bind=0.0.0.0", "auth.keys=abcdefgh1234:ws"])
    check(call(srv, "GET", "/v1/jobs", key="abcdefgh1234")[0] == 200, "with keys it serves")
    srv.stop()
    srv = Sluiced(tmp, name="badkeys", sets=["auth.keys=short:ws"], wait=False)
    check(srv.proc.wait(timeout=20) != 0, "malformed auth.keys refuses to start")


def test_dlq_list_and_replay(tmp):
    srv = Sluiced(tmp, sets=["auth.keys=key-one-aaaaaaaa:one,key-two-bbbbbbbb:two"])
    # A document the pipeline cannot read fails permanently and is dead-lettered
    garbage = bytes(range(256)) * 64
    st, _, reply = call(srv, "POST", "/v1/ingest?filename=junk.bin", garbage,
                        headers={"Content-Type": "application/octet-stream"}, key="key-one-aaaaaaaa")
    check(st == 202, "junk accepted for sniffing", st, reply)
    job = reply["jobs"][0]["id"]
    done = wait_job(srv, job, key="key-one-aaaaaaaa")
    check(done["state"] == "failed" and done["error"], "junk fails with a reason", done)
    deadline, letters = time.time() + 20, []
    while time.time() < deadline and not letters:
        st, _, body = call(srv, "GET", "/v1/dlq", key="key-one-aaaaaaaa")
        check(st == 200, "dlq list", st, body)
        letters = [l for l in body["letters"] if l.get("job") == job]
        time.sleep(0.2)
    check(letters and letters[0]["id"] and letters[0]["reason"], "the failed job's letter is listed", body)
    st, _, body = call(srv, "GET", "/v1/dlq", key="key-two-bbbbbbbb")
    check(st == 200 and not any(l.get("job") == job for l in body["letters"]), "other workspace: hidden", body)
    expect_error(call(srv, "POST", "/v1/dlq/%s/replay" % letters[0]["id"], key="key-two-bbbbbbbb"), 404,
                 "replay across workspaces")
    st, _, body = call(srv, "POST", "/v1/dlq/%s/replay" % letters[0]["id"], key="key-one-aaaaaaaa")
    check(st == 202 and body["replayed"] is True, "replay", st, body)
    expect_error(call(srv, "POST", "/v1/dlq/%s/replay" % ("f" * 32), key="key-one-aaaaaaaa"), 404, "no letter")


def test_slow_client_timeout(tmp):
    srv = Sluiced(tmp, sets=["http.timeout_s=2"])
    s = socket.create_connection(("127.0.0.1", srv.http_port), timeout=15)
    s.sendall(b"POST /v1/ingest HTTP/1.1\r\nHost: 127.0.0.1\r\n")      # ...and never finishes
    t0 = time.time()
    try:
        data = s.recv(4096)
    except OSError:
        data = b""
    elapsed = time.time() - t0
    s.close()
    check(data == b"" or data.startswith(b"HTTP/1.1 408"), "idle connection closed", data[:100])
    check(1.5 <= elapsed <= 10, "closed after about http.timeout_s", elapsed)
    check(call(srv, "GET", "/healthz")[0] == 200, "server fine afterwards")


def test_drain_with_open_stream(tmp):
    docs = DocServer()
    try:
        # The stalled fetch holds its worker: keep its drain short, the edge's is under test
        srv = Sluiced(tmp, sets=[LOCAL, "worker.drain_timeout_ms=1000"])
        job, _, _ = ingest_url(srv, docs.url("slow", "eta"))
        s = SSE(srv, job, timeout=30)
        check(s.next() is not None, "stream open")
        t0 = time.time()
        rc = srv.stop()
        took = time.time() - t0
        check(rc == 0 and took < 10, "SIGTERM with an open SSE stream exits cleanly", rc, took)
        while s.next() is not None:
            pass
        s.close()
    finally:
        docs.close()


def test_cors_for_browsers(tmp):
    srv = Sluiced(tmp, sets=["http.cors_origin=http://app.example", "auth.keys=browser-key-1234:web"])
    st, hdrs, _ = call(srv, "OPTIONS", "/v1/jobs/abc/events",
                       headers={"Origin": "http://app.example", "Access-Control-Request-Method": "GET"})
    check(st == 204 and "Authorization" in hdrs.get("access-control-allow-headers", ""), "preflight", st, hdrs)
    st, hdrs, _ = call(srv, "GET", "/v1/jobs", key="browser-key-1234", headers={"Origin": "http://app.example"})
    check(st == 200 and hdrs.get("access-control-allow-origin") == "http://app.example", "CORS on a call", hdrs)
    check("Location" in hdrs.get("access-control-expose-headers", ""), "Location exposed", hdrs)
    st, hdrs, _ = call(srv, "GET", "/v1/jobs", key="browser-key-1234", headers={"Origin": "http://evil.example"})
    check("access-control-allow-origin" not in hdrs, "other origins get no CORS header", hdrs)
    plain = Sluiced(tmp, name="plain")
    st, hdrs, _ = call(plain, "GET", "/v1/jobs", headers={"Origin": "http://app.example"})
    check(st == 200 and "access-control-allow-origin" not in hdrs, "no CORS unless configured", hdrs)
    expect_error(call(plain, "OPTIONS", "/v1/jobs"), 405, "OPTIONS without CORS")


# --------------------------------------------------------------------------
# Browser safety in open mode (no keys): other origins may not change the
# library, other Host names (DNS rebinding) get nothing

EVIL = "http://evil.example"


def no_jobs(srv, what):
    st, _, body = call(srv, "GET", "/v1/jobs")
    check(st == 200 and body["jobs"] == [], what + ": nothing was ingested", body)


def test_browser_cross_origin_post_refused(tmp):
    srv = Sluiced(tmp)
    # What a page on another site can send without asking: a form, a text/plain body
    body, ctype = multipart([("file", "note.txt", "text/plain", b"planted by another site\n")])
    r = call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": ctype, "Origin": EVIL})
    e = expect_error(r, 403, "cross-origin multipart form")
    check("evil.example" in e["error"]["message"] and "allowed_origins" in e["error"]["message"],
          "says whose origin and how to allow it", e)
    expect_error(call(srv, "POST", "/v1/ingest?name=x.txt", b"planted", headers={
        "Content-Type": "text/plain", "Origin": EVIL}), 403, "cross-origin text/plain")
    expect_error(call(srv, "POST", "/v1/ingest", b"url=http%3A%2F%2F127.0.0.1%3A9%2Fx", headers={
        "Content-Type": "application/x-www-form-urlencoded", "Origin": "null"}), 403, "opaque origin (null)")
    expect_error(call(srv, "DELETE", "/v1/documents/abc", headers={"Origin": EVIL}), 403, "cross-origin DELETE")
    no_jobs(srv, "cross-origin posts")
    check(not temp_files(srv) and not blobs_of(srv), "refused before any byte was stored", blobs_of(srv))


def test_browser_cross_site_fetch_metadata_refused(tmp):
    srv = Sluiced(tmp)
    for site in ("cross-site", "same-site"):
        r = call(srv, "POST", "/v1/ingest?name=x.txt", b"planted", headers={
            "Content-Type": "text/plain", "Sec-Fetch-Site": site})
        e = expect_error(r, 403, "Sec-Fetch-Site: " + site)
        check(site in e["error"]["message"], "names the header value", e)
    no_jobs(srv, "cross-site posts")
    # What the user does themselves (typed URL, own page) passes
    for site in ("same-origin", "none"):
        st, _, body = call(srv, "POST", "/v1/ingest?name=%s.txt" % site, b"mine", headers={
            "Content-Type": "text/plain", "Sec-Fetch-Site": site})
        check(st == 202, "Sec-Fetch-Site: %s accepted" % site, st, body)


def test_browser_same_origin_allowed(tmp):
    srv = Sluiced(tmp, sets=["http.allowed_origins=https://tools.example/"])
    port = srv.http_port
    # The server's own page, under each of its names
    for host in ("127.0.0.1:%d" % port, "localhost:%d" % port, "[::1]:%d" % port):
        st, _, body = call(srv, "POST", "/v1/ingest?name=n.txt", ("from " + host).encode(), headers={
            "Content-Type": "text/plain", "Host": host, "Origin": "http://" + host, "Sec-Fetch-Site": "same-origin"})
        check(st == 202, "same-origin POST via " + host, st, body)
    # curl, the CLI, the bindings: no Origin at all
    st, _, body = call(srv, "POST", "/v1/ingest?name=curl.txt", b"from curl", headers={"Content-Type": "text/plain"})
    check(st == 202, "no Origin (curl) accepted", st, body)
    # An origin the operator allowed
    st, _, body = call(srv, "POST", "/v1/ingest?name=t.txt", b"from tools", headers={
        "Content-Type": "text/plain", "Origin": "https://TOOLS.example", "Sec-Fetch-Site": "cross-site"})
    check(st == 202, "http.allowed_origins entry accepted", st, body)
    # Another port of the same host is another origin
    expect_error(call(srv, "POST", "/v1/ingest?name=p.txt", b"x", headers={
        "Content-Type": "text/plain", "Origin": "http://127.0.0.1:%d" % (port + 1)}), 403, "other port")


def test_browser_foreign_host_refused(tmp):
    srv = Sluiced(tmp)
    r = call(srv, "POST", "/v1/ingest?name=x.txt", b"rebound", headers={
        "Content-Type": "text/plain", "Host": "evil.example:%d" % srv.http_port,
        "Origin": "http://evil.example:%d" % srv.http_port})
    e = expect_error(r, 421, "foreign Host, even with a matching Origin")
    check("evil.example" in e["error"]["message"] and "allowed_hosts" in e["error"]["message"], "says why", e)
    no_jobs(srv, "foreign Host")


def test_browser_rebinding_get_refused(tmp):
    srv = Sluiced(tmp)
    foreign = {"Host": "rebind.evil.example:%d" % srv.http_port}
    for path in ("/v1/documents", "/v1/jobs", "/v1/status", "/metrics", "/", "/app.js"):
        expect_error(call(srv, "GET", path, headers=foreign), 421, "GET %s with a foreign Host" % path)
    check(call(srv, "GET", "/healthz", headers=foreign)[0] == 200, "liveness answers any Host")
    check(call(srv, "GET", "/v1/documents")[0] == 200, "own names still served")
    # The address the client connected to is a name of the server too
    check(call(srv, "GET", "/v1/documents", headers={"Host": "127.0.0.1"})[0] == 200, "Host without port")
    listed = Sluiced(tmp, name="listed", sets=["http.allowed_hosts=mybox.lan,other.lan:9999"])
    check(call(listed, "GET", "/v1/documents", headers={"Host": "MyBox.lan:%d" % listed.http_port})[0] == 200,
          "http.allowed_hosts entry served")
    check(call(listed, "GET", "/v1/documents", headers={"Host": "other.lan"})[0] == 200, "entry with a port")
    expect_error(call(listed, "GET", "/v1/documents", headers={"Host": "mybox.lan.evil.example"}), 421,
                 "a longer name is another name")


def test_query_key_only_for_events_and_not_logged(tmp):
    key = "query-string-key-5f3a9c"
    srv = Sluiced(tmp, sets=["auth.keys=%s:ws" % key, "log.level=debug"])
    r = call(srv, "GET", "/v1/jobs?access_token=" + key)
    e = expect_error(r, 401, "query-string key on /v1/jobs")
    check("event stream" in e["error"]["message"] and "Authorization" in e["error"]["message"], "says where", e)
    expect_error(call(srv, "GET", "/v1/documents?access_token=" + key), 401, "on /v1/documents")
    expect_error(call(srv, "POST", "/v1/search?access_token=" + key, {"query": "x"}), 401, "on /v1/search")
    expect_error(call(srv, "GET", "/v1/documents?access_token=wrong-key-000000"), 401, "a wrong one too")
    # The event stream takes it (EventSource cannot send headers)
    st, _, body = call(srv, "POST", "/v1/ingest?name=k.txt", b"key test", headers={"Content-Type": "text/plain"},
                       key=key)
    check(st == 202, "ingest with the header", st, body)
    job = body["jobs"][0]["id"]
    s = SSE(srv, job, query="?access_token=" + key)
    check(s.status == 200 and s.next()["event"] == "job_started", "?access_token= on the event stream")
    s.close()
    # A malformed request line with the key in it makes the HTTP library log
    raw = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
    raw.sendall(("GET /v1/jobs/%s/events?access_token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\n\r\n"
                 % (job, key)).encode())
    try:
        raw.recv(4096)
    except OSError:
        pass
    raw.close()
    wait_job(srv, job, key=key)
    srv.stop()
    with open(srv.log_path, errors="replace") as f:
        log = f.read()
    check(len(log) > 0 and key not in log, "the key never reaches the log", [l for l in log.splitlines() if key in l][:3])


# --------------------------------------------------------------------------
# Bounded resources: descriptors and broker connections

NOFILE = 256                # sluiced idles at about 110 descriptors


def test_thousand_parts_with_few_descriptors(tmp):
    srv = Sluiced(tmp, sets=["jobs.max_pending=3"], nofile=NOFILE)
    srv.wait_http(ready=True)
    check(srv.fds() < NOFILE - 60, "room to work under the limit", srv.fds())
    files = [("file", "many/p%04d.txt" % i, "text/plain", b"part %d of a thousand, about lanterns\n" % i)
             for i in range(1000)]
    body, ctype = multipart(files)
    # Other requests are served meanwhile
    others, stop = [], threading.Event()
    def poll():
        while not stop.is_set():
            try:
                others.append(call(srv, "GET", "/v1/documents", timeout=30)[0])
            except OSError as e:
                others.append(repr(e))
            time.sleep(0.05)
    t = threading.Thread(target=poll)
    t.start()
    peak = [0]
    def watch():
        while not stop.is_set():
            try:
                peak[0] = max(peak[0], srv.fds())
            except OSError:
                pass
            time.sleep(0.01)
    w = threading.Thread(target=watch)
    w.start()
    try:
        st, hdrs, reply = call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": ctype}, timeout=170)
    finally:
        stop.set()
        t.join()
        w.join()
    check(srv.proc.poll() is None, "sluiced is still up")
    check(st == 202, "1000 parts answered", st, str(reply)[:500])
    jobs, rejected = reply["jobs"], reply.get("rejected", [])
    check(len(jobs) + len(rejected) == 1000, "every part accounted for", len(jobs), len(rejected))
    check(1 <= len(jobs) <= 3 and all(r["error"]["code"] == 429 for r in rejected),
          "accepted up to jobs.max_pending, the rest refused with a reason", len(jobs), rejected[:2])
    check(jobs[0]["source"] == "upload:many/p0000.txt", "names keep their folder", jobs[0])
    check(peak[0] < NOFILE - 20, "a few descriptors for the whole upload, not one per part", peak[0])
    check(others and all(x == 200 for x in others), "other requests served meanwhile", others[:5])
    check(call(srv, "GET", "/readyz")[0] == 200, "ready afterwards")
    # the accepted parts' jobs write through data/tmp while they run: the
    # upload's own temp files must be gone once they have finished
    for job in jobs:
        wait_job(srv, job["id"])
    check(not temp_files(srv), "no temp files left", temp_files(srv))


def test_descriptor_exhaustion_is_503(tmp):
    srv = Sluiced(tmp, nofile=NOFILE)          # /healthz only: no broker connection made yet
    # Hold idle connections until the server has no descriptor left
    socks = []
    try:
        for i in range(NOFILE + 20):
            socks.append(socket.create_connection(("127.0.0.1", srv.http_port), timeout=30))
            if i % 10 == 9 and srv.fds() >= NOFILE - 1:
                break
        deadline = time.time() + 10
        while srv.fds() < NOFILE - 1 and time.time() < deadline:
            time.sleep(0.1)
        check(srv.fds() >= NOFILE - 1, "descriptors exhausted", srv.fds())
        time.sleep(0.5)
        # Needs a new broker connection: a 503 with a reason, not an abort
        st, hdrs, body = request_on(socks[0], "GET", "/v1/jobs")
        check(srv.proc.poll() is None, "sluiced survives a request it cannot serve")
        check(st == 503 and "descriptor" in body["error"]["message"] and hdrs.get("retry-after") == "1",
              "no descriptor for a broker connection: 503 + Retry-After", st, hdrs, body)
        # Needs a file: the same
        mp, ctype = multipart([("file", "a.txt", "text/plain", b"alpha"), ("file", "b.txt", "text/plain", b"beta")])
        st, hdrs, body = request_on(socks[1], "POST", "/v1/ingest", mp, {"Content-Type": ctype})
        check(st == 503 and "descriptor" in body["error"]["message"] and hdrs.get("retry-after") == "1",
              "no descriptor for an upload: 503 + Retry-After", st, hdrs, body)
        st, _, body = request_on(socks[2], "GET", "/healthz")
        check(st == 200, "liveness still answers", st, body)
    finally:
        for s in socks:
            s.close()
    check(srv.proc.poll() is None, "sluiced is still up")
    # Descriptors free again: everything works
    deadline = time.time() + 20
    while time.time() < deadline and call(srv, "GET", "/v1/jobs")[0] != 200:
        time.sleep(0.2)
    check(call(srv, "GET", "/v1/jobs")[0] == 200, "served again once descriptors are free")
    st, _, body = call(srv, "POST", "/v1/ingest?name=after.txt", b"after the storm", headers={"Content-Type": "text/plain"})
    check(st == 202, "uploads work again", st, body)
    check(wait_job(srv, body["jobs"][0]["id"])["state"] == "completed", "and complete")


# --------------------------------------------------------------------------
# Names from callers

def test_upload_names_keep_relative_paths(tmp):
    srv = Sluiced(tmp)
    files = [("file", "d/a/n.txt", "text/plain", b"the north note\n"),
             ("file", "d\\b\\n.txt", "text/plain", b"the other north note\n"),
             ("file", "../escape.txt", "text/plain", b"out of the folder\n"),
             ("file", "d/../../x.txt", "text/plain", b"out again\n"),
             ("file", "bell\x07.txt", "text/plain", b"control character\n")]
    body, ctype = multipart(files)
    st, _, reply = call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": ctype})
    check(st == 202, "form with good and bad names", st, reply)
    check([j["source"] for j in reply["jobs"]] == ["upload:d/a/n.txt", "upload:d/b/n.txt"],
          "relative paths kept ('\\\\' is a separator)", reply["jobs"])
    rej = {r["filename"]: (r["error"]["code"], r["error"]["message"]) for r in reply["rejected"]}
    check(rej["../escape.txt"][0] == 400 and ".." in rej["../escape.txt"][1], "'..' refused", rej)
    check(rej["d/../../x.txt"][0] == 400, "'..' inside refused", rej)
    check(rej["bell\x07.txt"][0] == 400 and "control" in rej["bell\x07.txt"][1], "control character refused", rej)
    # Raw bodies name themselves: ?name=, Content-Disposition (RFC 5987 too)
    st, _, reply = call(srv, "POST", "/v1/ingest?name=" + urllib.parse.quote("notes/été.md"), b"# Summer\n",
                        headers={"Content-Type": "text/markdown"})
    check(st == 202 and reply["jobs"][0]["source"] == "upload:notes/été.md", "?name=", st, reply)
    st, _, reply = call(srv, "POST", "/v1/ingest", b"disposition body\n", headers={
        "Content-Type": "text/plain", "Content-Disposition": "attachment; filename*=UTF-8''r%C3%A9p/x.txt"})
    check(st == 202 and reply["jobs"][0]["source"] == "upload:rép/x.txt", "Content-Disposition name", st, reply)
    # Unnamed: a document of its own, named by its job (never collides with a name)
    st, _, reply = call(srv, "POST", "/v1/ingest", b"no name at all\n", headers={"Content-Type": "text/plain"})
    check(st == 202 and reply["jobs"][0]["source"] == "upload:/" + reply["jobs"][0]["id"], "unnamed", st, reply)
    expect_error(call(srv, "POST", "/v1/ingest?name=../up.txt", b"x", headers={"Content-Type": "text/plain"}),
                 400, "raw ?name= with '..'")
    for j in call(srv, "GET", "/v1/jobs")[2]["jobs"]:
        check(wait_job(srv, j["id"])["state"] == "completed", "named uploads complete", j)


def test_non_utf8_name_refused_no_blob(tmp):
    srv = Sluiced(tmp)
    before = blobs_of(srv)
    # Latin-1 bytes, not UTF-8: a raw body...
    r = call(srv, "POST", "/v1/ingest?name=caf%E9.txt", b"raw body with a latin-1 name\n",
             headers={"Content-Type": "text/plain"})
    e = expect_error(r, 400, "raw upload named in Latin-1")
    check("UTF-8" in e["error"]["message"], "the message names the problem", e)
    # ... a Content-Disposition header ...
    r = call(srv, "POST", "/v1/ingest", b"header named in latin-1\n", headers={
        "Content-Type": "text/plain", "Content-Disposition": "attachment; filename*=UTF-8''caf%E9.txt"})
    expect_error(r, 400, "Content-Disposition name not UTF-8")
    # ... and a form part (alone: the request is a 400; beside a good part: rejected alone)
    body, ctype = multipart([("file", b"caf\xe9.txt", "text/plain", b"form part named in latin-1\n")])
    e = expect_error(call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": ctype}), 400, "form part")
    check("UTF-8" in e["error"]["message"] and e["rejected"][0]["filename"] == "caf\ufffd.txt",
          "names the problem, shows the name repaired", e)
    body, ctype = multipart([("file", b"caf\xe9.txt", "text/plain", b"form part named in latin-1\n"),
                             ("file", "good.txt", "text/plain", b"a good part\n")])
    st, _, reply = call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": ctype})
    check(st == 202 and len(reply["jobs"]) == 1 and reply["rejected"][0]["error"]["code"] == 400,
          "the good part goes on", st, reply)
    time.sleep(0.2)
    added = blobs_of(srv) - before
    # the good part's bytes are a blob (and, once stored, its kept parse
    # output is another); none of the badly named parts' bytes are
    refused = {hashlib.sha256(b).hexdigest() for b in (b"raw body with a latin-1 name\n",
               b"header named in latin-1\n", b"form part named in latin-1\n")}
    check(reply["jobs"][0]["sha256"] in added and not added & refused,
          "no blob for any badly named document", added)
    check(not temp_files(srv), "no temp files", temp_files(srv))


# --------------------------------------------------------------------------
# Small ones

def test_url_scheme_any_case(tmp):
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])
        url = docs.url("doc", "kappa")
        for variant in ("HTTP" + url[4:], "HtTp" + url[4:]):
            st, _, body = call(srv, "POST", "/v1/ingest", {"url": variant})
            check(st == 202 and body["jobs"][0]["source"] == url, "JSON url %s accepted, scheme lower-cased"
                  % variant[:8], st, body)
            check(wait_job(srv, body["jobs"][0]["id"])["state"] == "completed", "and fetched", variant)
        mp, ctype = multipart([], fields=[("url", "HTTP" + docs.url("doc", "lambda")[4:])])
        st, _, body = call(srv, "POST", "/v1/ingest", mp, headers={"Content-Type": ctype})
        check(st == 202 and body["jobs"][0]["source"] == docs.url("doc", "lambda"), "form url field", st, body)
        st, _, body = call(srv, "POST", "/v1/ingest", {"url": "HTTPS://127.0.0.1:9/x"})
        check(st == 202 and body["jobs"][0]["source"] == "https://127.0.0.1:9/x", "HTTPS too", st, body)
        expect_error(call(srv, "POST", "/v1/ingest", {"url": "FTP://127.0.0.1/x"}), 400, "other schemes still refused")
    finally:
        docs.close()


def test_last_event_id_out_of_range(tmp):
    srv = Sluiced(tmp)
    st, _, body = call(srv, "POST", "/v1/ingest?name=e.txt", b"events", headers={"Content-Type": "text/plain"})
    job = body["jobs"][0]["id"]
    for bad in ("9223372036854775808", "18446744073709551616", "9223372036854775807", "1000000000000000000",
                "abc", "-1", "+5", "5x", "1e3", "5 5"):
        e = expect_error(call(srv, "GET", "/v1/jobs/%s/events" % job, headers={"Last-Event-ID": bad}), 400,
                         "Last-Event-ID %r" % bad)
        check("Last-Event-ID" in e["error"]["message"], "says which header", e)
        expect_error(call(srv, "GET", "/v1/jobs/%s/events?last_event_id=%s" % (job, urllib.parse.quote(bad))),
                     400, "?last_event_id=%r" % bad)
    expect_error(call(srv, "GET", "/v1/jobs/%s/events?last_event_id=%%205" % job), 400, "?last_event_id=' 5'")
    wait_job(srv, job)
    s = SSE(srv, job, last_id="999999999999999999", timeout=10)
    check(s.status in (200, 204), "the largest id is accepted", s.status)
    s.close()


def test_offset_out_of_range(tmp):
    srv = Sluiced(tmp)
    for path in ("/v1/jobs", "/v1/documents", "/v1/documents/%s/chunks" % ("0" * 32)):
        for bad in ("2147483648", "9999999999", "99999999999999999999", "-1", "-2147483649", "1.5", ""):
            e = expect_error(call(srv, "GET", "%s?offset=%s" % (path, bad)), 400, "%s offset=%r" % (path, bad))
            check("offset" in e["error"]["message"], "says which parameter", e)
    st, _, body = call(srv, "GET", "/v1/documents?offset=2147483647")
    check(st == 200 and body["documents"] == [], "INT_MAX itself is fine", st, body)
    st, _, body = call(srv, "GET", "/v1/jobs?offset=2147483647&limit=1000")
    check(st == 200 and body["jobs"] == [], "with the largest page too", st, body)


def test_delete_hides_blob_removed(tmp):
    ka, kb = "key-alpha-delete-1", "key-bravo-delete-2"
    srv = Sluiced(tmp, sets=["auth.keys=%s:alpha,%s:bravo" % (ka, kb)])
    same = b"the same bytes in two workspaces\n"
    ids = {}
    for key in (ka, kb):
        st, _, body = call(srv, "POST", "/v1/ingest?name=same.txt", same, headers={"Content-Type": "text/plain"},
                           key=key)
        check(st == 202, "ingest", st, body)
        ids[key] = wait_job(srv, body["jobs"][0]["id"], key=key)["document_id"]
    for key in (ka, kb):
        st, _, body = call(srv, "DELETE", "/v1/documents/" + ids[key], key=key)
        check(st == 202 and body.get("deleted") is True, "deleted", st, body)
        check("blob_removed" not in body, "nothing says whether another workspace holds the bytes", body)


def test_status_and_metrics_scoped_by_key(tmp):
    ka, kb, admin = "key-alpha-status-1", "key-bravo-status-2", "admin-key-status-3"
    srv = Sluiced(tmp, sets=["auth.keys=%s:alpha,%s:bravo" % (ka, kb), "auth.admin_keys=" + admin])
    for i in range(2):
        st, _, body = call(srv, "POST", "/v1/ingest?name=a%d.txt" % i, b"alpha document %d\n" % i,
                           headers={"Content-Type": "text/plain"}, key=ka)
        wait_job(srv, body["jobs"][0]["id"], key=ka)
    st, _, body = call(srv, "GET", "/v1/status", key=kb)
    check(st == 200 and body["scope"] == "workspace" and body["workspace"] == "bravo", "bravo: its scope", body)
    check(body["documents"] == 0 and "jobs" not in body and "chunks" not in body,
          "bravo sees none of alpha's numbers", body)
    check(body["store"] == "ok" and body.get("model"), "but the store's health and model", body)
    st, _, body = call(srv, "GET", "/v1/status", key=ka)
    check(st == 200 and body["documents"] == 2, "alpha sees its own", body)
    st, _, body = call(srv, "GET", "/v1/status", key=admin)
    check(st == 200 and body["scope"] == "store" and body["documents"] == 2 and body["jobs"]["completed"] == 2
          and "chunks" in body, "admin: the whole store", body)
    expect_error(call(srv, "GET", "/metrics"), 401, "/metrics without a key")
    e = expect_error(call(srv, "GET", "/metrics", key=ka), 403, "/metrics with a workspace key")
    check("admin" in e["error"]["message"], "says which key it needs", e)
    st, hdrs, text = call(srv, "GET", "/metrics", key=admin)
    check(st == 200 and "sluice_documents 2" in text, "/metrics with the admin key", st, text[:500])
    expect_error(call(srv, "GET", "/v1/documents", key=admin), 403, "an admin-only key has no workspace")
    bad = Sluiced(tmp, name="adminonly", sets=["auth.admin_keys=" + admin], wait=False)
    check(bad.proc.wait(timeout=20) != 0, "admin keys without workspace keys refuse to start")


TESTS = [test_health_ready_metrics_openapi, test_ingest_url_follow_documents_search_delete,
         test_sse_reconnect_exactly_once, test_sse_heartbeat_and_stalled_job, test_sse_replay_equals_live,
         test_upload_pdf_then_search_page,
         test_multipart_many_files_and_refusals, test_error_codes, test_workspaces_are_separate,
         test_backpressure_429, test_two_edges_one_broker, test_open_mode_refuses_public_bind,
         test_dlq_list_and_replay, test_slow_client_timeout, test_drain_with_open_stream,
         test_cors_for_browsers, test_browser_cross_origin_post_refused,
         test_browser_cross_site_fetch_metadata_refused, test_browser_same_origin_allowed,
         test_browser_foreign_host_refused, test_browser_rebinding_get_refused,
         test_query_key_only_for_events_and_not_logged, test_thousand_parts_with_few_descriptors,
         test_descriptor_exhaustion_is_503, test_upload_names_keep_relative_paths,
         test_non_utf8_name_refused_no_blob, test_url_scheme_any_case, test_last_event_id_out_of_range,
         test_offset_out_of_range, test_delete_hides_blob_removed, test_status_and_metrics_scoped_by_key]


def main():
    only = set(sys.argv[1:])
    unknown = only - {t.__name__ for t in TESTS}
    if unknown:
        print("unknown test(s): " + ", ".join(sorted(unknown)))
        return 2
    if not os.access(SLUICED, os.X_OK):
        print("no sluiced at %s (set SLUICED)" % SLUICED)
        return 2
    passed = failed = skipped = 0
    for t in TESTS:
        if only and t.__name__ not in only:
            continue
        tmp = tempfile.mkdtemp(prefix="sluice-edge-")
        t0 = time.time()
        try:
            t(tmp)
            passed += 1
            print("ok   %s (%.1f s)" % (t.__name__, time.time() - t0), flush=True)
        except Skip as e:
            skipped += 1
            print("SKIP %s: %s" % (t.__name__, e), flush=True)
        except Exception:
            failed += 1
            print("FAIL %s" % t.__name__, flush=True)
            traceback.print_exc()
            for f in sorted(os.listdir(tmp)):
                if f.endswith(".log"):
                    print("---- %s (tail)" % f)
                    with open(os.path.join(tmp, f), errors="replace") as fh:
                        print("".join(fh.readlines()[-30:]))
        finally:
            while PROCS:
                PROCS.pop().stop(signal.SIGKILL)
            for cleanup in CLEANUPS:
                cleanup()
            shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed:
        return 1
    if skipped and not passed:
        return 77
    return 0


if __name__ == "__main__":
    sys.exit(main())
