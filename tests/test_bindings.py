"""test_bindings: the client bindings against real sluiced processes.

The C library (bindings/c, through the test program test_sluice_client and
the example), the Python package (bindings/python, imported from the source
tree with /usr/bin/python3) and the upload service (actors/upload) they
send bytes through. Real processes, real sockets, real documents; the
upload folder and the database are inspected directly.

Usage: /usr/bin/python3 tests/test_bindings.py [test_name ...]
Environment: SLUICED, SLUICE_TEST_CLIENT, SLUICE_EXAMPLE_C (set by ctest).
"""
import hashlib, os, re, signal, subprocess, sys, threading, time

import msgpack
import zmq

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bindings", "python"))
from harness import CORPUS, ROOT, SLUICED, Client, Runner, start, wait_for, wait_ready  # noqa: E402

import sluice  # noqa: E402

TEST_CLIENT = os.environ.get("SLUICE_TEST_CLIENT", os.path.join(ROOT, "build", "bindings", "c", "test_sluice_client"))
EXAMPLE_C = os.environ.get("SLUICE_EXAMPLE_C", os.path.join(ROOT, "build", "bindings", "examples", "sluice_ingest_folder"))
EXAMPLE_PY = os.path.join(ROOT, "bindings", "examples", "ingest_folder.py")
PYENV = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "bindings", "python"))
# The hash embedder keeps multi-megabyte documents fast; the bindings, not
# the model, are under test here
FAST = ["embed.provider=hash", "log.level=warn"]
PIPELINE = ("intake", "query", "journal", "fetch", "parse", "chunk", "embed", "store", "upload")


def node(tmp, sets=()):
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    s = start(data, sets=FAST + list(sets))
    c = Client(s.port)
    wait_ready(c, PIPELINE)
    return s, c, data


def uploads_in(data):
    """Upload files (records and bytes) in the blob area's temp folder."""
    tmp = os.path.join(data, "tmp")
    return sorted(f for f in os.listdir(tmp) if f.startswith("upload-")) if os.path.isdir(tmp) else []


def blobs_in(data):
    found = []
    for d, _, names in os.walk(os.path.join(data, "blobs")):
        found += [os.path.join(d, n) for n in names]
    return found


def big_text(size, marker):
    """Distinct words, a marker phrase near the end: `size` bytes."""
    words = [b"river", b"stone", b"copper", b"meadow", b"lantern", b"harbor", b"violet", b"summit", b"ember"]
    out, n, seed = [], 0, 11
    while n < size - 1000:
        seed = (seed * 1103515245 + 12345) & 0xFFFFFFFF
        w = words[(seed >> 16) % len(words)] + (b"\n" if (seed >> 8) % 17 == 0 else b" ")
        out.append(w)
        n += len(w)
    out.append((b"\n" + marker) * 10 + b"\n")      # the last chunk is about the marker
    body = b"".join(out)
    return body + b"\n" * (size - len(body))


def run(args, timeout=300, env=None):
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise AssertionError("%s exited %d\nstdout:\n%s\nstderr:\n%s" % (args[0], p.returncode, p.stdout, p.stderr))
    return p.stdout


# ---------------------------------------------------------------------------
# End to end


def test_c_client_end_to_end(tmp):
    """libsluice: file, 2.5 MiB of bytes in parts, PDF, events exactly once,
    search, list, delete, errors, failed job, workspaces."""
    s, c, data = node(tmp)
    out = run([TEST_CLIENT, "e2e", s.endpoint(), os.path.join(CORPUS, "text", "abacus-README.txt"),
               os.path.join(CORPUS, "pdf", "drafting.pdf")])
    assert "e2e: OK" in out, out
    # every upload committed: nothing left in the temp folder
    assert [f for f in uploads_in(data) if f.endswith(".part")] == [], uploads_in(data)


def test_python_client_end_to_end(tmp):
    s, c, data = node(tmp)
    with sluice.Client(s.endpoint(), timeout=30) as client:
        # a PDF from disk, followed live: exactly once, in order
        pdf = client.ingest_file(os.path.join(CORPUS, "pdf", "currency.pdf"))
        assert re.match(r"^[0-9a-f]{32}$", pdf.id) and pdf.state == "queued"
        events = list(client.events(pdf.id, timeout=120))
        assert [e.seq for e in events] == list(range(1, len(events) + 1)), [e.seq for e in events]
        assert events[0].type == "job_started" and events[-1].type == "job_completed"
        assert all(e.job == pdf.id for e in events)
        stages = [e.stage for e in events if e.type == "stage_completed"]
        assert stages == ["fetch", "parse", "chunk", "embed", "store"], stages
        done = client.job(pdf.id)
        assert done.state == "completed" and done.terminal and done.document_id and done.percent == 100
        assert events[-1].document_id == done.document_id
        # 2.5 MiB of bytes: three parts
        marker = b"The ocelot harpsichord nebula closes the text."
        body = big_text(2621440, marker)
        big = client.ingest_bytes(body, filename="big.txt", mime="text/plain")
        big = client.wait(big.id, timeout=180)
        assert big.completed, big
        doc = client.document(big.document_id)
        assert doc.bytes == len(body) and doc.sha256 == hashlib.sha256(body).hexdigest(), doc
        # chunking: the workspace's settings, each document's record
        ws = client.workspace_info()
        assert ws["chunking_source"] == "server" and doc.chunking == ws["chunking"], (ws, doc)
        ws = client.set_chunking(target_tokens=48, overlap_tokens=6)
        assert ws["chunking"]["target_tokens"] == 48 and ws["chunking_source"] == "workspace", ws
        try:
            client.set_chunking(overlap_tokens=40)
            raise AssertionError("overlap over half the target accepted")
        except sluice.Refused as e:
            assert "half of target_tokens" in str(e), e
        assert client.reset_chunking()["chunking_source"] == "server"
        hits = client.search("ocelot harpsichord nebula", k=3)
        assert hits and hits[0].document_id == big.document_id and "ocelot" in hits[0].text, hits[:1]
        assert hits[0].match in ("lexical", "both"), hits[0].match
        assert hits[0].kind == "text" and hits[0].section == "" and not hits[0].ocr, hits[0]
        assert hits[0].ocr_confidence is None, hits[0]
        # structure: a Markdown table under a heading comes back as a table
        # hit with its section path
        md = b"# Harbour\n\n## Tides\n\n| Port | High water |\n|---|---|\n| Gravesend | 04:12 |\n"
        tides = client.wait(client.ingest_bytes(md, filename="tides.md", mime="text/markdown").id, timeout=120)
        assert tides.completed, tides
        th = client.search("Gravesend", k=1, mode="lexical")
        assert th and th[0].kind == "table" and th[0].section == "Harbour \u203a Tides", th[:1]
        assert th[0].text.startswith("| Port | High water |\n"), th[0].text
        lex = client.search("Ocelot HARPSICHORD nebula", k=3, mode="lexical")
        assert lex and all(h.match == "lexical" and "ocelot" in h.text for h in lex), lex[:1]
        within = client.search("ocelot harpsichord nebula", k=3, documents=[big.document_id])
        assert within and all(h.document_id == big.document_id for h in within), within[:1]
        assert client.search("ocelot harpsichord nebula", k=3, documents=["no-such-doc"]) == []
        # several jobs on one watch, resumed from a seq
        a = client.ingest_file(os.path.join(CORPUS, "text", "currency-notes.txt"))
        b = client.ingest_file(os.path.join(CORPUS, "html", "deflate.html"))
        seen = {a.id: [], b.id: []}
        with client.watch([a.id, b.id]) as w:
            for e in w:
                seen[e.job].append(e.seq)
            assert w.done and w.pending == 0
        for job_id, seqs in seen.items():
            assert seqs == list(range(1, len(seqs) + 1)), (job_id, seqs)
        resumed = list(client.events(a.id, after=3, timeout=30))
        assert [e.seq for e in resumed] == seen[a.id][3:]
        t0 = time.time()
        assert list(client.events(a.id, after=seen[a.id][-1], timeout=30)) == []
        assert time.time() - t0 < 3
        # an idempotent ingest: the same job id twice is one job
        j1 = client.ingest_bytes(b"idempotent retry body\n", filename="i.txt", job_id="py-idem-1")
        j2 = client.ingest_bytes(b"idempotent retry body\n", filename="i.txt", job_id="py-idem-1")
        assert j1.id == j2.id == "py-idem-1"
        client.wait("py-idem-1", timeout=60)
        # list and delete
        page = client.documents(limit=100)
        ids = {d.id for d in page.documents}
        assert page.total >= 4 and {done.document_id, big.document_id} <= ids, page.total
        client.delete_document(big.document_id)
        try:
            client.delete_document(big.document_id)    # accepted already: harmless
        except sluice.NotFound as e:                    # or gone already
            assert e.status == 404
        assert all(h.document_id != big.document_id for h in client.search("ocelot harpsichord nebula", k=3))
        # a job that fails says why, as its last event
        bad = client.ingest_url("http://127.0.0.1:9/nothing.pdf")
        last = list(client.events(bad.id, timeout=60))[-1]
        assert last.type == "job_failed" and last.reason and last.terminal, last
        assert client.job(bad.id).state == "failed"
        # refused locally, or by the server, with a message
        for call, exc in ((lambda: client.job("no-such-job"), sluice.NotFound),
                          (lambda: client.ingest_url("ftp://x/y"), sluice.Refused),
                          (lambda: client.ingest_bytes(b""), sluice.Refused),
                          (lambda: client.search(""), sluice.Refused),
                          (lambda: client.search("x", mode="fuzzy"), sluice.Refused),
                          (lambda: client.search("x", documents=["bad id!"]), sluice.Refused),
                          (lambda: client.search("x", documents="abc"), sluice.Refused),
                          (lambda: client.ingest_bytes(b"x", job_id="bad id!"), sluice.Refused),
                          (lambda: client.call("query", "no_such_op", {}), sluice.Refused)):
            try:
                call()
                raise AssertionError("no %s" % exc.__name__)
            except exc as e:
                assert str(e), e
    # another workspace sees none of it
    with sluice.Client(s.endpoint(), workspace="elsewhere") as other:
        try:
            other.job(pdf.id)
            raise AssertionError("another workspace read the job")
        except sluice.NotFound:
            pass
        assert other.documents().total == 0
    assert [f for f in uploads_in(data) if f.endswith(".part")] == []


def test_examples_c_and_python(tmp):
    """Both examples ingest a folder, print live progress, then search."""
    s, c, data = node(tmp)
    folder = os.path.join(tmp, "docs")
    os.makedirs(folder)
    for name in ("currency-notes.txt", "abacus-README.txt"):
        with open(os.path.join(CORPUS, "text", name), "rb") as src, open(os.path.join(folder, name), "wb") as dst:
            dst.write(src.read())
    with open(os.path.join(CORPUS, "pdf", "intro.pdf"), "rb") as src, open(os.path.join(folder, "intro.pdf"), "wb") as dst:
        dst.write(src.read())
    out = run([EXAMPLE_C, s.endpoint(), folder, "arbitrary precision arithmetic library"])
    assert out.count("submitted as job") == 3 and out.count("completed -> document") == 3, out
    assert "%" in out and "search \"arbitrary precision arithmetic" in out, out
    assert "3 submitted, 0 failed" in out, out
    hits = [l for l in out.splitlines() if re.match(r"^\s+\d\.\d{3}\s", l)]
    assert hits and "abacus" in hits[0].lower(), out
    out = run([sys.executable, EXAMPLE_PY, s.endpoint(), folder, "euro sign in the text fonts"], env=PYENV)
    assert out.count("submitted as job") == 3 and out.count("completed -> document") == 3, out
    assert "3 submitted, 0 failed" in out, out
    hits = [l for l in out.splitlines() if re.match(r"^\s+\d\.\d{3}\s", l)]
    assert hits and "currency" in hits[0].lower(), out


# ---------------------------------------------------------------------------
# The upload service


def test_upload_protocol(tmp):
    """begin/part/commit/abort on the wire, with two upload processes
    sharing one blob area: parts of one upload land on either, and one of
    them is killed half-way."""
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    core = start(data, role="broker,intake,journal,query", sets=FAST)
    ups = [start(data, role="upload", port=core.port, sets=FAST + ["upload.max_bytes=5m"]) for _ in range(2)]
    c = Client(core.port)
    wait_for(lambda: c.stats()["services"].get("upload", {}).get("workers") == 2, 30, "two upload workers")
    up = lambda kind, body, ws=None: c.request("upload", kind, body, ws=ws, timeout=15000)
    payload = os.urandom(3 * 1024 * 1024 + 12345)
    begun = up("begin", {"size": len(payload), "filename": "../../x/rand.bin", "mime": "application/octet-stream"})
    uid = begun["upload_id"]
    assert re.match(r"^[0-9a-f]{32}$", uid) and begun["part_max"] == 1 << 20, begun
    part = 256 * 1024                       # 13 parts: both processes get some
    pieces = [payload[i:i + part] for i in range(0, len(payload), part)]
    for seq, piece in enumerate(pieces[:6]):
        r = up("part", {"upload_id": uid, "seq": seq, "data": piece})
        assert r["received"] == (seq + 1) * part and not r["duplicate"], r
    # a retried part is acknowledged, not written twice; a skipped one is refused
    r = up("part", {"upload_id": uid, "seq": 5, "data": pieces[5]})
    assert r["duplicate"] and r["received"] == 6 * part, r
    r = up("part", {"upload_id": uid, "seq": 9, "data": pieces[9]})
    assert r["error"]["code"] == 409 and "expected part 6" in r["error"]["message"], r
    # another workspace cannot touch it; a commit before the end is refused
    assert up("part", {"upload_id": uid, "seq": 6, "data": pieces[6]}, ws="other")["error"]["code"] == 404
    assert up("commit", {"upload_id": uid})["error"]["code"] == 409
    # one upload process dies; the other carries on with the same upload
    ups[0].kill()
    for seq in range(6, len(pieces)):
        r = up("part", {"upload_id": uid, "seq": seq, "data": pieces[seq]})
        assert "error" not in r, r
    # a wrong hash (bytes changed on the way) discards the upload, publishes nothing
    sha = hashlib.sha256(payload).hexdigest()
    r = up("commit", {"upload_id": uid, "sha256": "0" * 64})
    assert r["error"]["code"] == 400 and sha in r["error"]["message"], r
    assert blobs_in(data) == [] and uploads_in(data) == []
    assert up("part", {"upload_id": uid, "seq": 0, "data": pieces[0]})["error"]["code"] == 404
    uid = up("begin", {"size": len(payload), "filename": "../../x/rand.bin"})["upload_id"]
    for seq, piece in enumerate(pieces):
        assert "error" not in up("part", {"upload_id": uid, "seq": seq, "data": piece})
    done = up("commit", {"upload_id": uid, "sha256": sha})
    assert done["blob"] == sha and done["size"] == len(payload) and done["filename"] == "rand.bin", done
    blob = os.path.join(data, "blobs", sha[:2], sha)
    assert open(blob, "rb").read() == payload
    assert up("commit", {"upload_id": uid})["blob"] == sha         # a retried commit: same answer
    assert [f for f in uploads_in(data) if f.endswith(".part")] == []
    # limits: over upload.max_bytes up front, and a part over 1 MiB
    assert up("begin", {"size": 6 << 20})["error"]["code"] == 413
    uid2 = up("begin", {})["upload_id"]
    assert up("part", {"upload_id": uid2, "seq": 0, "data": b"x" * ((1 << 20) + 1)})["error"]["code"] == 413
    assert up("abort", {"upload_id": uid2}) == {"aborted": True}
    assert up("abort", {"upload_id": uid2})["error"]["code"] == 404
    assert up("part", {"upload_id": "../../etc/passwd", "seq": 0, "data": b"x"})["error"]["code"] == 404
    assert up("begin", {"size": "big"})["error"]["code"] == 400
    assert up("nonsense", {})["error"]["code"] == 400
    # put: a one-part document in one round trip, checked before it is stored
    small = b"one part is enough for most documents\n"
    small_sha = hashlib.sha256(small).hexdigest()
    r = up("put", {"data": small, "filename": "dir/s.txt", "mime": "text/plain", "sha256": "1" * 64})
    assert r["error"]["code"] == 400 and small_sha in r["error"]["message"], r
    assert not os.path.exists(os.path.join(data, "blobs", small_sha[:2], small_sha))
    r = up("put", {"data": small, "filename": "dir/s.txt", "mime": "text/plain", "sha256": small_sha})
    assert r == {"blob": small_sha, "size": len(small), "filename": "s.txt", "mime": "text/plain"}, r
    assert open(os.path.join(data, "blobs", small_sha[:2], small_sha), "rb").read() == small
    assert up("put", {"data": b"x" * ((1 << 20) + 1)})["error"]["code"] == 413
    assert up("put", {"data": b""})["error"]["code"] == 400
    # the blob is ingestible by intake as is
    job = c.ingest(blob=sha, size=len(payload), filename="rand.bin", mime="application/octet-stream")
    assert job["state"] == "queued", job


def test_killed_mid_upload_leaves_nothing(tmp):
    """kill -9 of a Python client half-way through an upload: its parts
    expire after upload.idle_s, no blob and no job appear."""
    s, c, data = node(tmp, ["upload.idle_s=2"])
    script = r'''
import sys, time, sluice
class Slow:
    """A stream that gives 512 KiB at a time, then hangs after 3 reads."""
    def __init__(self): self.n = 0
    def read(self, size):
        self.n += 1
        if self.n == 4:
            print("PARTS SENT", flush=True)
            time.sleep(3600)
        return bytes([65 + self.n]) * (512 * 1024)
with sluice.Client(sys.argv[1]) as c:
    c.ingest_stream(Slow(), size=10 * 1024 * 1024, filename="never.bin")
'''
    p = subprocess.Popen([sys.executable, "-c", script, s.endpoint()], stdout=subprocess.PIPE, text=True, env=PYENV)
    try:
        line = p.stdout.readline()
        assert line.strip() == "PARTS SENT", line
        files = uploads_in(data)
        assert len(files) == 2 and any(f.endswith(".part") for f in files), files
        part = [f for f in files if f.endswith(".part")][0]
        assert os.path.getsize(os.path.join(data, "tmp", part)) == 3 * 512 * 1024
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
    wait_for(lambda: uploads_in(data) == [], 20, "the abandoned upload to expire")
    assert blobs_in(data) == [], blobs_in(data)
    assert c.request("query", "jobs_list", {"limit": 10})["jobs"] == []
    # the service is still fine
    with sluice.Client(s.endpoint()) as client:
        assert client.wait(client.ingest_bytes(b"after the crash\n", filename="a.txt").id, timeout=60).completed


# ---------------------------------------------------------------------------
# Backpressure


def saturated(tmp):
    """A pipeline without parse workers and room for 3 unfinished jobs."""
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    core = start(data, role="broker,intake,journal,query,fetch,chunk,embed,store,upload",
                 sets=FAST + ["jobs.max_pending=3"])
    c = Client(core.port)
    wait_ready(c, ("intake", "query", "journal", "fetch", "upload"))
    return core, c, data


def test_busy_then_retry_c(tmp):
    core, c, data = saturated(tmp)
    p = subprocess.Popen([TEST_CLIENT, "busy", core.endpoint(), os.path.join(CORPUS, "text", "currency-notes.txt")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("BUSY after 3 accepted"), (line, p.stderr.read() if p.poll() is not None else "")
        assert "retry in" in line
        time.sleep(2)                       # it keeps being told BUSY meanwhile
        start(data, role="parse", port=core.port, sets=FAST)
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, (out, err)
        assert re.search(r"accepted after \d+ retries", out), out
    finally:
        if p.poll() is None:
            p.kill()


def test_busy_then_retry_python(tmp):
    core, c, data = saturated(tmp)
    with sluice.Client(core.endpoint()) as client:
        accepted = []
        busy = None
        for i in range(20):
            try:
                accepted.append(client.ingest_bytes(b"saturation document %d\n" % i, filename="s%d.txt" % i))
            except sluice.Busy as e:
                busy = e
                break
        assert busy is not None and len(accepted) == 3, (len(accepted), busy)
        assert busy.status == 429 and busy.retry_after > 0 and "3 jobs are unfinished" in busy.message, busy
        start(data, role="parse", port=core.port, sets=FAST)
        t0, retries = time.time(), 0
        while True:
            try:
                job = client.ingest_file(os.path.join(CORPUS, "text", "currency-notes.txt"))
                break
            except sluice.Busy as e:
                assert time.time() - t0 < 120, "still busy after 120 s"
                retries += 1
                time.sleep(e.retry_after)
        assert client.wait(job.id, timeout=120).completed
        for j in accepted:
            assert client.wait(j.id, timeout=120).completed


def test_watch_fills_gaps_and_silence(tmp):
    """Lost live messages: the watch listens to an event endpoint that
    only ever carries a bogus future seq and a stale duplicate, so every
    real event must come from the journal, exactly once, in order."""
    core, c, data = saturated(tmp)
    pub = zmq.Context.instance().socket(zmq.PUB)
    pub.setsockopt(zmq.LINGER, 0)
    port = pub.bind_to_random_port("tcp://127.0.0.1")
    try:
        with sluice.Client(core.endpoint(), events_endpoint="tcp://127.0.0.1:%d" % port) as client:
            job = client.ingest_file(os.path.join(CORPUS, "text", "currency-notes.txt"))
            got = []
            with client.watch([job.id]) as w:
                # the stored events, up to where the job waits for a parse worker
                while not (got and got[-1].type == "stage_completed" and got[-1].stage == "fetch"):
                    e = w.next(timeout=20)
                    assert e is not None, [x.type for x in got]
                    got.append(e)
                last = got[-1].seq
                for _ in range(20):
                    pub.send_multipart([job.id.encode(), msgpack.packb({"seq": last + 5, "type": "bogus", "ts": 1})])
                    pub.send_multipart([job.id.encode(), msgpack.packb({"seq": 1, "type": "job_started", "ts": 1})])
                    time.sleep(0.05)
                assert w.next(timeout=1) is None          # neither the gap nor the duplicate is given
                start(data, role="parse", port=core.port, sets=FAST)
                got += list(w)
        assert [e.seq for e in got] == list(range(1, len(got) + 1)), [(e.seq, e.type) for e in got]
        assert "bogus" not in [e.type for e in got] and got[-1].type == "job_completed"
        assert [e.type for e in got].count("job_started") == 1
    finally:
        pub.close()


# ---------------------------------------------------------------------------
# CURVE


def keygen(path):
    subprocess.run([SLUICED, "--keygen", path], check=True, capture_output=True)
    return path, path + "_secret"


def z85_public(path):
    return re.search(r'public-key = "(.+)"', open(path).read()).group(1)


def curve_node(tmp):
    """One process, CURVE on its tcp links; returns (server, keys dir). The
    node's own actors hold a worker key; the bindings a client key for the
    workspace "default"."""
    keys = os.path.join(tmp, "keys")
    os.makedirs(keys)
    broker_pub, broker_sec = keygen(os.path.join(keys, "broker"))
    worker_pub, worker_sec = keygen(os.path.join(keys, "worker"))
    client_pub, client_sec = keygen(os.path.join(keys, "client"))
    keygen(os.path.join(keys, "rogue"))
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    s = start(data, sets=FAST + ["curve.broker_secret=" + broker_sec, "curve.worker_keys=" + z85_public(worker_pub),
                                 "curve.client_keys=%s:default" % z85_public(client_pub),
                                 "curve.client_cert=" + worker_sec, "curve.broker_public=" + broker_pub])
    good = sluice.Client(s.endpoint(), client_cert=client_sec, broker_cert=broker_pub, connect=False)
    def ready():
        try:
            good.connect(timeout=2)
            st = good.stats()["services"]
            return all(st.get(x, {}).get("workers", 0) > 0 for x in PIPELINE)
        except sluice.SluiceError:
            return False
    wait_for(ready, 60, "CURVE pipeline")
    good.close()
    return s, keys


def test_wrong_curve_key_refused(tmp):
    s, keys = curve_node(tmp)
    broker_pub = os.path.join(keys, "broker")
    # C: a key the broker does not know, and no key at all
    out = run([TEST_CLIENT, "auth", s.endpoint(), os.path.join(keys, "rogue_secret"), broker_pub])
    assert "refused" in out and "curve" in out.lower(), out
    run([TEST_CLIENT, "auth", s.endpoint()])
    # Python: the same, quickly and with a reason
    for kw in ({"client_cert": os.path.join(keys, "rogue_secret"), "broker_cert": broker_pub}, {},
               {"client_cert": os.path.join(keys, "client_secret"), "broker_cert": os.path.join(keys, "rogue")}):
        t0 = time.time()
        try:
            sluice.Client(s.endpoint(), timeout=5, **kw)
            raise AssertionError("connected with %s" % kw)
        except sluice.AuthError as e:
            assert e.status == 401 and "handshake" in e.message or "refused" in e.message, e
        except sluice.Timeout:
            # a wrong *broker* key cannot always be told from silence
            assert kw.get("broker_cert", "").endswith("rogue"), kw
        assert time.time() - t0 < 7
    # nothing the refused clients tried reached the pipeline
    c = sluice.Client(s.endpoint(), client_cert=os.path.join(keys, "client_secret"), broker_cert=broker_pub)
    assert c.call("query", "jobs_list", {"limit": 5})["jobs"] == []
    c.close()


def test_curve_key_accepted(tmp):
    s, keys = curve_node(tmp)
    cert, broker_pub = os.path.join(keys, "client_secret"), os.path.join(keys, "broker")
    out = run([TEST_CLIENT, "curve", s.endpoint(), cert, broker_pub, os.path.join(CORPUS, "text", "currency-notes.txt")])
    assert "curve: OK" in out, out
    with sluice.Client(s.endpoint(), client_cert=cert, broker_cert=broker_pub) as client:
        job = client.ingest_file(os.path.join(CORPUS, "text", "abacus-README.txt"))
        assert [e.type for e in client.events(job.id, timeout=60)][-1] == "job_completed"
        # both libraries' event subscriptions ("default/<job>") were accepted
        assert client.stats()["refused"] == 0


# ---------------------------------------------------------------------------
# Many clients


def test_many_python_clients(tmp):
    """50 clients, one per thread, submit and follow at the same time."""
    s, c, data = node(tmp)
    n = 50
    results, failures = {}, []
    barrier = threading.Barrier(n)

    def one(i):
        try:
            with sluice.Client(s.endpoint(), timeout=60) as client:
                body = ("client %d writes about the %s expedition\n" % (i, "aurora-%03d" % i)).encode() * 20
                barrier.wait(timeout=60)
                while True:
                    try:
                        job = client.ingest_bytes(body, filename="c%d.txt" % i)
                        break
                    except sluice.Busy as e:
                        time.sleep(e.retry_after)
                events = list(client.events(job.id, timeout=180))
                assert [e.seq for e in events] == list(range(1, len(events) + 1))
                results[i] = (job.id, events[-1].type)
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((i, repr(e)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not failures, failures[:5]
    assert len(results) == n and all(t == "job_completed" for _, t in results.values()), results
    assert len({j for j, _ in results.values()}) == n
    print("   %d clients: all completed in %.1f s" % (n, time.time() - t0))
    with sluice.Client(s.endpoint()) as client:
        assert client.documents(limit=100).total == n
        hit = client.search("aurora-017 expedition", k=1)[0]
        assert "aurora-017" in hit.text, hit


if __name__ == "__main__":
    tests = [test_c_client_end_to_end, test_python_client_end_to_end, test_examples_c_and_python,
             test_upload_protocol, test_killed_mid_upload_leaves_nothing, test_busy_then_retry_c,
             test_busy_then_retry_python, test_watch_fills_gaps_and_silence, test_wrong_curve_key_refused, test_curve_key_accepted,
             test_many_python_clients]
    sys.exit(Runner().run(tests, only=set(sys.argv[1:]) or None))
