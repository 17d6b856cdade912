#!/usr/bin/python3
"""test_tus: resumable uploads over HTTP (tus 1.0 at /v1/uploads), on real
processes over loopback.

Each test starts its own real `sluiced` (hash embedder) and sends real
documents (PDFs written by tests/corpus.py, generated text) the way a tus
client does: create, PATCH the bytes in pieces, HEAD to learn where to
resume. A dropped connection is a real socket closed in the middle of a
body; a second edge is a second process sharing the data folder; an
abandoned upload is collected by the real collector.

Usage: /usr/bin/python3 tests/test_tus.py [test_name ...]
Env:   SLUICED (path of the binary), SLUICE (the CLI, for the CLI test)
"""
import base64, hashlib, http.client, json, os, socket, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_edge  # noqa: E402
from corpus import filler, make_pdf  # noqa: E402
from test_edge import Sluiced, call, check, wait_job  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HASH = "embed.provider=hash"
CLI = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(test_edge.SLUICED))), "bindings", "cli", "sluice")
TUS = {"Tus-Resumable": "1.0.0"}
OCTETS = "application/offset+octet-stream"


def raw(srv, method, path, headers=None, body=b"", key=None):
    """One request; (status, lower-cased headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=30)
    h = dict(headers or {})
    if key:
        h["Authorization"] = "Bearer " + key
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, hdrs, data


def b64(text):
    return base64.b64encode(text.encode()).decode()


def create(srv, size, name="doc.pdf", ftype=None, meta=None, key=None, expect=201):
    md = ["filename " + b64(name)]
    if ftype:
        md.append("filetype " + b64(ftype))
    if meta is not None:
        md.append("meta " + b64(json.dumps(meta)))
    st, h, body = raw(srv, "POST", "/v1/uploads", dict(TUS, **{"Upload-Length": str(size),
                                                              "Upload-Metadata": ",".join(md)}), key=key)
    check(st == expect, "create answers %d" % expect, st, body)
    if st != 201:
        return None
    check(h.get("tus-resumable") == "1.0.0", "every answer says its tus version", h)
    check(h["location"].startswith("/v1/uploads/") and "upload-expires" in h, "Location and expiry", h)
    return h["location"]


def patch(srv, loc, offset, data, checksum=None, key=None):
    h = dict(TUS, **{"Upload-Offset": str(offset), "Content-Type": OCTETS})
    if checksum:
        h["Upload-Checksum"] = checksum
    return raw(srv, "PATCH", loc, h, data, key=key)


def head(srv, loc, key=None, tries=100):
    """HEAD, waiting out 423 (a dropped PATCH the edge has not noticed yet)."""
    for _ in range(tries):
        st, h, _ = raw(srv, "HEAD", loc, TUS, key=key)
        if st != 423:
            return st, h
        time.sleep(0.1)
    return st, h


def prose(seed, words):
    return "\n\n".join(filler(seed, words))


def pdf_bytes(tmp, name, pages=6, seed=7):
    path = os.path.join(tmp, name)
    make_pdf(path, [prose(seed + i, 260) for i in range(pages)], title=name)
    with open(path, "rb") as f:
        return f.read()


def ingested(srv, job_id, data, key=None):
    """The job completes, and the stored document is exactly data."""
    job = wait_job(srv, job_id, key=key)
    check(job["state"] == "completed", "the upload's job completes", job)
    st, _, body = raw(srv, "GET", "/v1/documents/%s/content" % job["document_id"], key=key)
    check(st == 200 and hashlib.sha256(body).hexdigest() == hashlib.sha256(data).hexdigest(),
          "the stored document is the uploaded bytes", st, len(body), len(data))
    return job


def uploads_dir(srv):
    d = os.path.join(srv.data, "uploads")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


# --------------------------------------------------------------------------

def test_options_advertise_the_protocol(tmp):
    srv = Sluiced(tmp, sets=[HASH, "http.max_upload=5000000"])
    st, h, _ = raw(srv, "OPTIONS", "/v1/uploads")
    check(st == 204, "OPTIONS /v1/uploads answers without a key", st)
    check(h.get("tus-version") == "1.0.0" and h.get("tus-max-size") == "5000000", "version and max size", h)
    ext = set(h.get("tus-extension", "").split(","))
    check({"creation", "termination", "checksum", "expiration"} <= ext, "the extensions", h)
    check("sha1" in h.get("tus-checksum-algorithm", ""), "sha1 checksums", h)


def test_upload_in_pieces_is_ingested(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    data = pdf_bytes(tmp, "manual.pdf")
    loc = create(srv, len(data), "manual.pdf", "application/pdf")
    cuts = [0, len(data) // 3, 2 * len(data) // 3, len(data)]
    for a, b in zip(cuts, cuts[1:]):
        st, h, body = patch(srv, loc, a, data[a:b])
        check(st == 204 and h.get("upload-offset") == str(b), "PATCH %d..%d" % (a, b), st, h, body)
    check("sluice-job" in h, "the PATCH that completes the upload names its job", h)
    ingested(srv, h["sluice-job"], data)
    st, h2 = head(srv, loc)
    check(st == 200 and h2.get("sluice-job") == h["sluice-job"], "HEAD after completion names the job too", h2)
    # GET (no tus header needed) tells a script the same in JSON
    st, _, body = raw(srv, "GET", loc)
    info = json.loads(body)
    check(st == 200 and info["complete"] and info["job"] == h["sluice-job"], "GET gives JSON", info)


def test_resume_after_dropped_connection(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    data = pdf_bytes(tmp, "long.pdf", pages=12)
    loc = create(srv, len(data), "long.pdf", "application/pdf")
    # A PATCH announcing every byte, cut off after 40% of them
    sent = int(len(data) * 0.4)
    sock = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
    req = ("PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
           "Content-Type: %s\r\nContent-Length: %d\r\n\r\n" % (loc, OCTETS, len(data))).encode()
    sock.sendall(req + data[:sent])
    time.sleep(0.3)
    sock.close()
    st, h = head(srv, loc)
    offset = int(h.get("upload-offset", "-1"))
    check(st == 200 and offset == sent, "what arrived before the drop is kept", st, h, sent)
    st, h, body = patch(srv, loc, offset, data[offset:])
    check(st == 204 and h.get("upload-offset") == str(len(data)), "the rest from the offset", st, h, body)
    ingested(srv, h["sluice-job"], data)


def test_wrong_offset_is_409(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    loc = create(srv, 100, "a.txt")
    check(patch(srv, loc, 0, b"x" * 40)[0] == 204, "first 40 bytes")
    st, _, body = patch(srv, loc, 10, b"y" * 10)
    check(st == 409 and b"holds 40 bytes" in body, "an offset that is not the upload's says where it is", st, body)
    check(head(srv, loc)[1]["upload-offset"] == "40", "nothing was written")


def test_checksum_checked(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    text = prose(3, 300).encode()
    loc = create(srv, len(text), "notes.txt", "text/plain")
    half = len(text) // 2
    wrong = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    st, _, body = patch(srv, loc, 0, text[:half], checksum=wrong)
    check(st == 460 and b"Upload-Checksum" in body, "a body that does not match its checksum: 460", st, body)
    check(head(srv, loc)[1]["upload-offset"] == "0", "and it is not kept")
    st, _, body = patch(srv, loc, 0, text[:half], checksum="md5 AAAA")
    check(st == 400 and b"not supported" in body, "an unknown algorithm is named", st, body)
    good = "sha1 " + base64.b64encode(hashlib.sha1(text[:half]).digest()).decode()
    check(patch(srv, loc, 0, text[:half], checksum=good)[0] == 204, "sha1 that matches: kept")
    good = "sha256 " + base64.b64encode(hashlib.sha256(text[half:]).digest()).decode()
    st, h, body = patch(srv, loc, half, text[half:], checksum=good)
    check(st == 204, "sha256 that matches: kept", st, body)
    ingested(srv, h["sluice-job"], text)


def test_terminate_removes_upload(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    loc = create(srv, 100, "a.txt")
    patch(srv, loc, 0, b"z" * 50)
    check(len(uploads_dir(srv)) == 2, "an upload is two files", uploads_dir(srv))
    st, _, _ = raw(srv, "DELETE", loc, TUS)
    check(st == 204, "DELETE terminates", st)
    check(head(srv, loc)[0] == 404 and uploads_dir(srv) == [], "gone, with its bytes", uploads_dir(srv))
    check(raw(srv, "DELETE", loc, TUS)[0] == 404, "twice: 404")


def test_upload_is_the_workspace_s(tmp):
    ka, kb = "a" * 32, "b" * 32
    srv = Sluiced(tmp, sets=[HASH, "auth.keys=%s:alpha,%s:bravo" % (ka, kb)])
    check(raw(srv, "POST", "/v1/uploads", dict(TUS, **{"Upload-Length": "5"}))[0] == 401, "no key: 401")
    loc = create(srv, 10, "a.txt", key=ka)
    for method, args in (("HEAD", {}), ("PATCH", {"Upload-Offset": "0", "Content-Type": OCTETS}), ("DELETE", {})):
        st, _, _ = raw(srv, method, loc, dict(TUS, **args), body=b"12345" if method == "PATCH" else b"", key=kb)
        check(st == 404, "another workspace's key cannot %s it" % method, st)
    st, h, _ = raw(srv, "HEAD", loc, TUS, key=ka)
    check(st == 200 and h["upload-offset"] == "0", "its own workspace can", st, h)


def test_refusals_say_why(tmp):
    srv = Sluiced(tmp, sets=[HASH, "http.max_upload=1000000"])
    cases = [
        ({"Upload-Length": "10"}, 412, b"Tus-Resumable"),
        (dict(TUS), 400, b"Upload-Length"),
        (dict(TUS, **{"Upload-Length": "-5"}), 400, b"Upload-Length"),
        (dict(TUS, **{"Upload-Defer-Length": "1"}), 400, b"not supported"),
        (dict(TUS, **{"Upload-Length": "0"}), 400, b"empty"),
        (dict(TUS, **{"Upload-Length": "2000000"}), 413, b"http.max_upload"),
        (dict(TUS, **{"Upload-Length": "10", "Upload-Metadata": "filetype " + b64("video/mp4")}), 415,
         b"unsupported"),
        (dict(TUS, **{"Upload-Length": "10", "Upload-Metadata": "filename ***"}), 400, b"base64"),
        (dict(TUS, **{"Upload-Length": "10", "Upload-Metadata": "filename " + b64("../x.txt")}), 400, b"filename"),
        (dict(TUS, **{"Upload-Length": "10", "Upload-Metadata": "meta " + b64("[1]")}), 400, b"meta"),
    ]
    for headers, status, words in cases:
        st, _, body = raw(srv, "POST", "/v1/uploads", headers)
        check(st == status and words in body, "create %r: %d" % (headers, status), st, body)
    loc = create(srv, 10, "a.txt")
    st, _, body = raw(srv, "PATCH", loc, dict(TUS, **{"Upload-Offset": "0", "Content-Type": "text/plain"}), b"1")
    check(st == 415 and b"offset+octet-stream" in body, "PATCH body type", st, body)
    st, _, body = raw(srv, "PATCH", loc, dict(TUS, **{"Content-Type": OCTETS}), b"1")
    check(st == 400 and b"Upload-Offset" in body, "PATCH without offset", st, body)
    st, _, body = patch(srv, loc, 0, b"0123456789ABC")
    check(st == 413 and head(srv, loc)[1]["upload-offset"] == "0", "more than the length: 413, nothing kept", st)
    check(head(srv, "/v1/uploads/" + "f" * 32)[0] == 404, "an unknown upload: 404")
    check(raw(srv, "HEAD", "/v1/uploads/..%2f..", TUS)[0] == 404, "a malformed id: 404")


def test_attributes_from_metadata(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    text = prose(11, 200).encode()
    loc = create(srv, len(text), "policy.txt", "text/plain", meta={"team": "legal", "year": 2024})
    st, h, _ = patch(srv, loc, 0, text)
    job = ingested(srv, h["sluice-job"], text)
    st, _, body = call(srv, "GET", "/v1/documents/" + job["document_id"])
    doc = body.get("document", body)
    check(doc.get("meta") == {"team": "legal", "year": 2024}, "the document has the upload's attributes", doc)
    st, _, res = call(srv, "POST", "/v1/search", {"query": text.decode().split(".")[0], "mode": "lexical",
                                                   "filter": {"team": "legal"}})
    check(st == 200 and res["hits"], "a filter on them finds it", st, res)


def test_second_edge_continues_upload(tmp):
    main = Sluiced(tmp, name="main", sets=[HASH])
    main.wait_http(ready=True)
    edge = Sluiced(tmp, name="edge2", role="edge", broker_port=main.broker_port, data=main.data)
    edge.wait_http(ready=True)
    data = pdf_bytes(tmp, "shared.pdf")
    loc = create(main, len(data), "shared.pdf", "application/pdf")
    half = len(data) // 2
    check(patch(main, loc, 0, data[:half])[0] == 204, "first half through edge 1")
    st, h = head(edge, loc)
    check(st == 200 and h["upload-offset"] == str(half), "edge 2 sees where edge 1 left it", st, h)
    st, h, body = patch(edge, loc, half, data[half:])
    check(st == 204, "second half through edge 2", st, body)
    ingested(edge, h["sluice-job"], data)


def test_abandoned_upload_collected(tmp):
    srv = Sluiced(tmp, sets=[HASH, "uploads.expire_s=1", "storage.gc_interval_s=1"])
    loc = create(srv, 1000, "a.txt")
    patch(srv, loc, 0, b"q" * 300)
    deadline = time.time() + 60
    while time.time() < deadline and uploads_dir(srv):
        time.sleep(0.5)
    check(uploads_dir(srv) == [], "the collector removed the abandoned upload", uploads_dir(srv))
    check(head(srv, loc)[0] == 404, "and it answers 404")
    _, _, text = raw(srv, "GET", "/metrics")
    line = [ln for ln in text.decode().splitlines()
            if ln.startswith('sluice_reclaimed_bytes_total{what="uploads"}')]
    check(line and float(line[0].split()[-1]) >= 300, "counted in the metrics", line)


def test_concurrent_patch_is_423(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    loc = create(srv, 1000, "a.txt")
    # A PATCH whose body is still coming holds the upload
    sock = socket.create_connection(("127.0.0.1", srv.http_port), timeout=10)
    sock.sendall(("PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                  "Content-Type: %s\r\nContent-Length: 1000\r\n\r\n" % (loc, OCTETS)).encode() + b"a" * 100)
    time.sleep(0.5)
    st, h, body = patch(srv, loc, 0, b"b" * 100)
    check(st == 423 and h.get("retry-after"), "a second writer is told to come back", st, h, body)
    sock.sendall(b"a" * 900)
    sock.settimeout(10)
    reply = sock.recv(4096)
    sock.close()
    check(b" 204 " in reply.split(b"\r\n")[0], "the first finishes", reply[:200])


def big_pdf(path, junk_mb):
    """A valid one-page PDF of junk_mb MiB: its text is one short sentence, and
    the bulk is a stream object no page uses (random bytes, so nothing along
    the way can compress it), which a reader never opens."""
    text = b"BT /F1 12 Tf 72 720 Td (The kestrel ledger of the big upload.) Tj ET"
    junk = os.urandom(junk_mb << 20)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(text) + text + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
            b"<< /Length %d >>\nstream\n" % len(junk) + junk + b"\nendstream"]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    with open(path, "wb") as f:
        f.write(out)
    return bytes(out)


def cut_patch(srv, loc, offset, data, cut_after):
    """A PATCH announcing every remaining byte, its connection closed after
    cut_after of them, as a dropped network does."""
    sock = socket.create_connection(("127.0.0.1", srv.http_port), timeout=30)
    sock.sendall(("PATCH %s HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: %d\r\n"
                  "Content-Type: %s\r\nContent-Length: %d\r\n\r\n" % (loc, offset, OCTETS, len(data) - offset)).encode())
    view = memoryview(data)[offset:offset + cut_after]
    for i in range(0, len(view), 1 << 20):
        sock.sendall(view[i:i + (1 << 20)])
    time.sleep(0.2)
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def test_big_upload_cut_three_times_two_edges(tmp):
    """200 MB through tus, its connection cut three times mid-body, each
    resumption through the other edge: the document is the file (sha256),
    and only the bytes in flight were lost each time."""
    main = Sluiced(tmp, name="main", sets=[HASH, "http.max_upload=300m"])
    main.wait_http(ready=True)
    edge = Sluiced(tmp, name="edge2", role="edge", broker_port=main.broker_port, data=main.data,
                   sets=["http.max_upload=300m"])
    edge.wait_http(ready=True)
    data = big_pdf(os.path.join(tmp, "big.pdf"), 200)
    want = hashlib.sha256(data).hexdigest()
    loc = create(main, len(data), "big.pdf", "application/pdf")
    edges, offset = [main, edge], 0
    for cut in range(3):
        via = edges[cut % 2]
        cut_patch(via, loc, offset, data, (len(data) - offset) // 3)
        st, h = head(edges[(cut + 1) % 2], loc, tries=300)
        got = int(h.get("upload-offset", "-1"))
        check(st == 200 and offset < got < len(data), "cut %d: the other edge sees the bytes that arrived" % (cut + 1),
              st, h, offset)
        offset = got
    st, h, body = patch(edges[1], loc, offset, data[offset:])
    check(st == 204 and h.get("upload-offset") == str(len(data)), "the rest completes it", st, h, body)
    job = wait_job(main, h["sluice-job"], timeout=180)
    check(job["state"] == "completed" and job["sha256"] == want, "the document is the file (sha256)", job, want)
    st, _, res = call(main, "POST", "/v1/search", {"query": "kestrel ledger", "mode": "lexical"})
    check(st == 200 and res["hits"] and res["hits"][0]["document_id"] == job["document_id"], "and its text is found",
          res)


def test_cli_resumes_interrupted_upload(tmp):
    """The CLI sends big files with tus; a proxy cuts its connection once, and
    the CLI resumes from the offset instead of starting over."""
    cli = CLI
    srv = Sluiced(tmp, sets=[HASH])
    data = pdf_bytes(tmp, "big.pdf", pages=30)
    path = os.path.join(tmp, "big.pdf")
    proxy = CuttingProxy(srv.http_port, cut_after=len(data) // 2)
    try:
        env = dict(os.environ, SLUICE_SERVER="http://127.0.0.1:%d" % proxy.port, SLUICE_RESUMABLE_MIN="1",
                   SLUICE_UPLOAD_PIECE="65536", SLUICE_STATE_DIR=os.path.join(tmp, "state"))
        out = subprocess.run([cli, "ingest", "--wait", path], env=env, capture_output=True, text=True, timeout=120)
        check(out.returncode == 0, "the CLI finishes the upload", out.returncode, out.stdout, out.stderr)
        check(proxy.cuts == 1, "the connection was cut once", proxy.cuts)
        check(proxy.upstream_bytes < len(data) * 1.3, "bytes sent once, not twice", proxy.upstream_bytes, len(data))
        check("resum" in out.stderr.lower(), "the CLI says it resumed", out.stderr)
    finally:
        proxy.close()
    st, _, body = call(srv, "GET", "/v1/documents")
    check(len(body["documents"]) == 1, "one document", body)


def test_cli_resumes_after_restart(tmp):
    """A CLI that gave up (no retries) leaves where its upload stood; the same
    command run again resumes it from the server's offset."""
    srv = Sluiced(tmp, sets=[HASH])
    data = pdf_bytes(tmp, "big.pdf", pages=30)
    path = os.path.join(tmp, "big.pdf")
    proxy = CuttingProxy(srv.http_port, cut_after=len(data) // 2)
    try:
        env = dict(os.environ, SLUICE_SERVER="http://127.0.0.1:%d" % proxy.port, SLUICE_RESUMABLE_MIN="1",
                   SLUICE_STATE_DIR=os.path.join(tmp, "state"))
        out = subprocess.run([CLI, "ingest", "--retries", "0", path], env=env, capture_output=True, text=True,
                             timeout=60)
        check(out.returncode != 0 and proxy.cuts == 1, "the first run gives up at the cut", out.returncode,
              out.stderr)
        check(len(os.listdir(os.path.join(tmp, "state"))) == 1, "it left where the upload stands")
        before = proxy.upstream_bytes
        out = subprocess.run([CLI, "ingest", "--wait", path], env=env, capture_output=True, text=True, timeout=120)
        check(out.returncode == 0, "the second run finishes", out.returncode, out.stderr)
        check("resuming the upload at" in out.stderr, "from where the first stopped", out.stderr)
        check(proxy.upstream_bytes - before < len(data) * 0.8, "without sending the first half again",
              proxy.upstream_bytes - before, len(data))
        check(os.listdir(os.path.join(tmp, "state")) == [], "and forgets it once done")
    finally:
        proxy.close()


class CuttingProxy:
    """A TCP proxy to the edge that cuts the first connection once it has
    carried cut_after request bytes, and counts what it forwarded."""

    def __init__(self, port, cut_after):
        self.target, self.cut_after = port, cut_after
        self.cuts = 0
        self.upstream_bytes = 0
        self.lock = threading.Lock()
        self.srv = socket.socket()
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        up = socket.create_connection(("127.0.0.1", self.target))
        done = threading.Event()

        def back():
            try:
                while True:
                    d = up.recv(65536)
                    if not d:
                        break
                    c.sendall(d)
            except OSError:
                pass
            done.set()
            try:
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        threading.Thread(target=back, daemon=True).start()
        carried = 0
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                with self.lock:
                    cut = self.cuts == 0 and carried + len(d) > self.cut_after
                    if cut:
                        self.cuts += 1
                if cut:
                    up.sendall(d[:self.cut_after - carried])
                    self.upstream_bytes += self.cut_after - carried
                    break
                up.sendall(d)
                carried += len(d)
                with self.lock:
                    self.upstream_bytes += len(d)
        except OSError:
            pass
        for s in (c, up):
            try:
                # shutdown first: close alone does not end a connection
                # another thread is blocked reading
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        self.closed = True
        self.srv.close()


TESTS = [
    test_options_advertise_the_protocol,
    test_upload_in_pieces_is_ingested,
    test_resume_after_dropped_connection,
    test_wrong_offset_is_409,
    test_checksum_checked,
    test_terminate_removes_upload,
    test_upload_is_the_workspace_s,
    test_refusals_say_why,
    test_attributes_from_metadata,
    test_second_edge_continues_upload,
    test_abandoned_upload_collected,
    test_concurrent_patch_is_423,
    test_big_upload_cut_three_times_two_edges,
    test_cli_resumes_interrupted_upload,
    test_cli_resumes_after_restart,
]

if __name__ == "__main__":
    test_edge.TESTS = TESTS
    sys.exit(test_edge.main())
