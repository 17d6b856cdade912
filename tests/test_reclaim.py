"""test_reclaim: nothing lost, nothing kept that nobody needs.

Storage is given back (the collector, sl_janitor), bounded (quotas, the
embedding cache, a text ceiling per document) and survives running out
(a full disk fails the job, not the engine), and a stop never frees what a
handler still uses. Each test starts its own real sluiced on loopback with
short collection intervals, makes its own documents (random bytes, text,
a PDF text bomb written byte by byte here) and checks the data folder, the
SQLite file and the answers.
Usage: /usr/bin/python3 tests/test_reclaim.py [test_name ...]
"""
import json, os, random, re, signal, subprocess, sys, time, urllib.error, urllib.request, zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Client, Runner, db, start, wait_for, wait_ready  # noqa: E402

# Collect every second what is two seconds old
GC_FAST = ["storage.gc_interval_s=1", "storage.gc_grace_s=2", "embed.provider=hash"]
WORDS = ("river stone lantern orchard copper meadow harbor violet thunder canyon marble "
         "pepper falcon willow ember glacier saddle quartz tundra maple beacon cobalt").split()


def node(tmp, sets=(), role="all", data=None, log=None):
    data = data or os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    s = start(data, role=role, sets=list(sets), log=log)
    c = Client(s.port)
    wait_ready(c)
    return s, c, data


def upload(c, data, name, ws=None):
    """One-shot upload over ZeroMQ (the bindings' way): the blob's sha256."""
    r = c.request("upload", "put", {"data": data, "filename": name}, ws=ws)
    assert "blob" in r, r
    return r["blob"]


def text_of(size, seed):
    """size bytes of text made of words no other call makes (distinct chunks)."""
    rnd = random.Random(seed)
    out, n = [], 0
    while n < size:
        w = "%s%d" % (rnd.choice(WORDS), rnd.randrange(10 ** 6))
        out.append(w)
        n += len(w) + 1
        if rnd.random() < 0.08:
            out.append(".\n")
            n += 2
    return " ".join(out).encode()[:size]


def files_under(data, *parts):
    n = 0
    for part in parts:
        for _, _, names in os.walk(os.path.join(data, part)):
            n += len(names)
    return n


def folders_under(data, part):
    path = os.path.join(data, part)
    return len(os.listdir(path)) if os.path.isdir(path) else 0


def blob_path(data, sha):
    return os.path.join(data, "blobs", sha[:2], sha)


def http(s, method, path, body=None, headers=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (s.http_port, path), data=body,
                                 method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def metric(s, name, labels=""):
    st, text = http(s, "GET", "/metrics")
    assert st == 200, st
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else 0.0


def wait_jobs(c, ids, timeout=120, ws=None):
    return [c.wait(j, timeout, ws=ws) for j in ids]


# ---------------------------------------------------------------------------

def test_refused_uploads_leave_nothing(tmp):
    """200 uploads that come to nothing (a type we do not read, a PDF that
    does not parse, an upload never ingested) leave no blob, no job folder
    and no temp file once the collector has been round."""
    s, c, data = node(tmp, sets=GC_FAST)
    rnd = random.Random(11)
    jobs, total = [], 0
    for i in range(200):
        size = rnd.choice([1024, 4096, 30000, 120000]) if i % 50 else 1000000
        total += size
        if i % 10 == 0:
            # over HTTP, a raw body
            st, body = http(s, "POST", "/v1/ingest", os.urandom(size),
                            {"Content-Type": "application/octet-stream",
                             "Content-Disposition": 'attachment; filename="noise-%d.bin"' % i})
            assert st == 202, (st, body)
            jobs.append(json.loads(body)["jobs"][0]["id"])
            continue
        if i % 10 == 1:
            # a "PDF" MuPDF cannot read: fails in parse, after its job folder exists
            blob = upload(c, b"%PDF-1.4\n" + os.urandom(size), "broken-%d.pdf" % i)
        elif i % 10 == 2:
            upload(c, os.urandom(size), "abandoned-%d.bin" % i)      # never ingested
            continue
        else:
            blob = upload(c, os.urandom(size), "noise-%d.bin" % i)
        j = c.ingest(blob=blob, filename="f-%d" % i)
        assert "id" in j, j
        jobs.append(j["id"])
    done = wait_jobs(c, jobs)
    assert all(j["state"] == "failed" for j in done), [j for j in done if j["state"] != "failed"][:2]
    assert any(j["error_stage"] == "parse" for j in done)
    assert any("unsupported document type" in (j["error"] or "") for j in done)
    # the blobs were there: still on disk, or already taken by the collector
    # (its grace is 2 s, and a slow build takes longer than that to fail 200 jobs)
    assert files_under(data, "blobs") + metric(s, "sluice_reclaimed_files_total", '{what="blobs"}') >= 150
    wait_for(lambda: files_under(data, "blobs", "tmp") == 0 and folders_under(data, "jobs") == 0,
             40, "blobs, temp files and job folders collected")
    assert metric(s, "sluice_reclaimed_files_total", '{what="blobs"}') >= 200
    assert metric(s, "sluice_reclaimed_bytes_total", '{what="blobs"}') >= total * 0.99
    assert metric(s, "sluice_reclaimed_files_total", '{what="artifacts"}') >= 10
    # the engine still ingests
    blob = upload(c, text_of(3000, 1), "after.txt")
    assert c.wait(c.ingest(blob=blob, filename="after.txt")["id"])["state"] == "completed"


def test_document_blob_never_collected(tmp):
    """A blob a document or an unfinished job names stays, however old, while
    the collector runs every second; a stray one of the same age goes."""
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    # No parse stage at first: jobs wait, unfinished, between fetch and parse
    front = start(data, role="broker,intake,journal,query,fetch,upload", sets=GC_FAST)
    c = Client(front.port)
    wait_ready(c, ("intake", "query", "journal", "fetch", "upload"))
    kept = text_of(20000, 2)
    blob = upload(c, kept, "kept.txt")
    stray = upload(c, text_of(5000, 3), "stray.txt")
    week_ago = time.time() - 7 * 86400
    for sha in (blob, stray):
        os.utime(blob_path(data, sha), (week_ago, week_ago))
    job = c.ingest(blob=blob, filename="kept.txt")["id"]
    wait_for(lambda: (c.job(job)["job"]["stages"].get("fetch") or {}).get("finished"), 20, "fetched")
    wait_for(lambda: not os.path.exists(blob_path(data, stray)), 20, "the stray blob collected")
    time.sleep(3)
    assert os.path.exists(blob_path(data, blob)), "the blob of an unfinished job was collected"
    assert not c.job(job)["job"]["terminal"]
    # The rest of the pipeline joins: the job completes on its blob
    start(data, role="parse,chunk,embed,store,delete", port=front.port, sets=GC_FAST)
    done = c.wait(job, 60)
    assert done["state"] == "completed", done
    # Now a document names it: old as it is, it stays through passes
    os.utime(blob_path(data, blob), (week_ago, week_ago))
    time.sleep(4)
    assert os.path.exists(blob_path(data, blob)), "a document's blob was collected"
    # The same bytes again: deduplicated onto the same blob, a duplicate job
    assert upload(c, kept, "again.txt") == blob
    again = c.wait(c.ingest(blob=blob, filename="again.txt")["id"], 60)
    assert again["state"] == "completed" and again["document_id"] == done["document_id"], again
    # The document deleted: its blob goes with it (no collector needed)
    r = c.request("query", "doc_delete", {"id": done["document_id"]})
    assert r.get("deleted") and r.get("state") == "deleting", r
    wait_for(lambda: not os.path.exists(blob_path(data, blob)), 60, "blob collected by the delete service")


def test_embed_cache_bounded(tmp):
    """With embed.cache_max_mb=1 the embedding cache stays under 1 MiB
    (vectors and keys) however much is ingested; search is unaffected."""
    s, c, data = node(tmp, sets=GC_FAST + ["embed.cache=on", "embed.cache_max_mb=1", "chunk.target_tokens=30",
                                           "chunk.overlap_tokens=5"])
    jobs = [c.ingest(blob=upload(c, text_of(110000, 40 + i), "t%d.txt" % i), filename="t%d.txt" % i)["id"]
            for i in range(4)]
    done = wait_jobs(c, jobs)
    assert all(j["state"] == "completed" for j in done), done
    con = db(data)
    chunks = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    size = "SELECT COUNT(*), COALESCE (SUM (dim * 4 + length (model_id) + length (hash)), 0) FROM embed_cache"
    entry = con.execute("SELECT dim * 4 + length (model_id) + length (hash) FROM embed_cache LIMIT 1").fetchone()
    assert entry and chunks * entry[0] > 2 << 20, (chunks, entry)    # twice the bound was embedded
    wait_for(lambda: con.execute(size).fetchone()[1] <= 1 << 20, 20, "cache trimmed")
    n, used = con.execute(size).fetchone()
    assert 0 < n < chunks and used <= 1 << 20, (n, used, chunks)
    # the counter follows the trim it counts: wait for it rather than race it
    wait_for(lambda: metric(s, "sluice_reclaimed_files_total", '{what="cache"}') >= chunks - n, 20,
             "evictions counted")
    assert 0 < metric(s, "sluice_embed_cache_bytes") <= 1 << 20
    # Search still finds a word of the first document, whose vectors were evicted
    word = next(w for w in text_of(110000, 40).split()[5:] if w.isalnum()).decode()   # not "."
    hits = c.search(word, k=3)["hits"]
    assert hits and hits[0]["document_id"] == done[0]["document_id"], (word, hits[:1])


def test_quota_refused_with_reason(tmp):
    """A workspace over storage.quota_mb is refused new work with 413 and a
    reason (over ZeroMQ and over HTTP); a per-workspace override lifts it;
    a data folder below storage.min_free_mb answers 507."""
    s, c, data = node(tmp, sets=GC_FAST + ["storage.quota_mb=1", "storage.quota.roomy=0"])
    first = c.ingest(blob=upload(c, text_of(700000, 5), "big.txt"), filename="big.txt")
    assert c.wait(first["id"], 60)["state"] == "completed"
    second = upload(c, text_of(400000, 6), "more.txt")
    r = c.ingest(blob=second, filename="more.txt")
    assert r.get("error", {}).get("code") == 413, r
    msg = r["error"]["message"]
    assert "workspace default is over its storage quota" in msg and "quota 1.0 MiB" in msg, msg
    assert "0.7 MiB stored + 0.4 MiB in this upload" in msg, msg
    # over HTTP: the edge answers with intake's status and reason
    st, body = http(s, "POST", "/v1/ingest", text_of(400000, 7),
                    {"Content-Type": "text/plain", "Content-Disposition": 'attachment; filename="m.txt"'})
    assert st == 413 and "over its storage quota" in body, (st, body)
    # another workspace has its own account, and "roomy" no quota at all
    jobs = [(c.ingest(blob=second, filename="more.txt", ws="other")["id"], "other")]
    big = upload(c, text_of(900000, 8), "huge.txt", ws="roomy")
    jobs.append((c.ingest(blob=big, filename="huge.txt", ws="roomy")["id"], "roomy"))
    jobs.append((c.ingest(blob=second, filename="more.txt", ws="roomy")["id"], "roomy"))
    assert all(c.wait(j, 60, ws=ws)["state"] == "completed" for j, ws in jobs)
    s.stop()
    # "roomy" given a quota below what it holds: even a URL (size unknown
    # until downloaded) is refused
    s, c, data = node(tmp, data=data, sets=GC_FAST + ["storage.quota.roomy=1"])
    r = c.ingest(url="http://127.0.0.1:9/x.txt", ws="roomy")
    assert r.get("error", {}).get("code") == 413 and "1.2 MiB stored, quota 1.0 MiB" in r["error"]["message"], r
    s.stop()
    # Free space below the floor: 507, for uploads and URLs alike
    s, c, data = node(tmp, data=data, sets=GC_FAST + ["storage.min_free_mb=1000000000"])
    r = c.ingest(blob=upload(c, b"tiny text", "tiny.txt"), filename="tiny.txt", ws="roomy")
    assert r.get("error", {}).get("code") == 507 and "disk full" in r["error"]["message"], r
    st, body = http(s, "POST", "/v1/ingest", json.dumps({"url": "http://127.0.0.1:9/x"}).encode(),
                    {"Content-Type": "application/json"})
    assert st == 507 and "storage.min_free_mb" in body, (st, body)


def _mount_tmpfs(path, size):
    os.makedirs(path, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path],
                       capture_output=True, text=True)
    return r.returncode == 0


def _umount(path):
    if subprocess.run(["umount", path], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", path], capture_output=True)


def _fill(path, leave):
    """Fill the file system of path until leave bytes are free."""
    filler = os.path.join(path, "filler")
    if os.path.exists(filler):
        os.unlink(filler)
    st = os.statvfs(path)
    room = st.f_bavail * st.f_frsize - leave
    with open(filler, "wb") as f:
        while room > 0:
            n = min(room, 1 << 20)
            f.write(b"\0" * n)
            room -= n
    return filler


def test_disk_full_fails_job(tmp):
    """The data folder on a small tmpfs: a download that does not fit fails
    its job with "disk full writing the blob area", an artifact that does
    not fit fails with "disk full writing pages.mp", the engine answers
    meanwhile and ingests again once there is room."""
    if os.geteuid() != 0:
        print("skip: mounting a tmpfs needs root")
        return "skip"
    data = os.path.join(tmp, "data")
    if not _mount_tmpfs(data, "8m"):
        print("skip: cannot mount a tmpfs here")
        return "skip"
    s = None
    try:
        src = os.path.join(tmp, "src")
        os.makedirs(src)
        for name, size, seed in (("big.txt", 1500000, 20), ("mid.txt", 400000, 21), ("small.txt", 3000, 22)):
            with open(os.path.join(src, name), "wb") as f:
                f.write(text_of(size, seed))
        sets = GC_FAST + ["store.url=sqlite:%s/db/sluice.db" % tmp, "fetch.file_roots=%s" % src,
                          "broker.snapshot=%s/broker.snapshot" % tmp]
        s, c, _ = node(tmp, sets=sets, data=data, log=os.path.join(tmp, "node.log"))
        # A download with room for none of it
        filler = _fill(data, 256 << 10)
        job = c.wait(c.ingest(url="file://%s/big.txt" % src)["id"], 60)
        assert job["state"] == "failed" and job["error_stage"] == "fetch", job
        assert "disk full writing the blob area" in job["error"], job["error"]
        assert c.request("query", "status", {}).get("documents") == 0
        # An HTTP upload that does not fit: 507 with the reason, not a 500
        req = urllib.request.Request("http://127.0.0.1:%d/v1/ingest?name=big.txt" % s.http_port,
                                     data=text_of(1500000, 23), method="POST",
                                     headers={"Content-Type": "text/plain"})
        try:
            urllib.request.urlopen(req, timeout=30)
            raise AssertionError("an upload into a full disk was accepted")
        except urllib.error.HTTPError as e:
            body = e.read().decode()
            assert e.code == 507 and "full" in body, (e.code, body)
        # Room for the blob (400 KB) but not for its pages as well
        _fill(data, 600 << 10)
        job = c.wait(c.ingest(url="file://%s/mid.txt" % src)["id"], 60)
        # (which artifact meets the full disk first depends on what else the
        # filesystem holds by then: pages.mp, or chunks.mp just after it)
        assert job["state"] == "failed" and job["error_stage"] in ("parse", "chunk"), job
        assert re.search(r"disk full writing (pages|chunks)\.mp", job["error"]), job["error"]
        # Space again: the engine was serving all along and ingests
        os.unlink(filler)
        job = c.wait(c.ingest(url="file://%s/small.txt" % src)["id"], 60)
        assert job["state"] == "completed", job
        job = c.wait(c.ingest(url="file://%s/mid.txt" % src)["id"], 60)
        assert job["state"] == "completed", job
        assert s.alive()
    finally:
        if s:
            s.kill()
        _umount(data)


def text_bomb_pdf(pages, line_chars=1000, lines=256):
    """A PDF whose pages all draw one content stream of lines x line_chars
    characters: a few hundred KB that would extract pages x 256 KB."""
    rnd = random.Random(9)
    body = []
    for _ in range(lines):
        words, n = [], 0
        while n < line_chars:
            w = "%s%d" % (rnd.choice(WORDS), rnd.randrange(1000))
            words.append(w)
            n += len(w) + 1
        # one text object per line, moved down by the CTM: MuPDF grows a
        # text object's glyphs linearly (quadratic copying under ASan)
        body.append("1 0 0 1 0 -1.2 cm BT /F1 1 Tf 5 990 Td (%s) Tj ET" % " ".join(words)[:line_chars])
    content = zlib.compress("\n".join(body).encode(), 9)
    objs = ["<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, " ".join("%d 0 R" % (5 + i) for i in range(pages))),
            None,   # the content stream
            "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    objs += ["<< /Type /Page /Parent 2 0 R /MediaBox [0 0 1000 1000] /Contents 3 0 R "
             "/Resources << /Font << /F1 4 0 R >> >> >>"] * pages
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, obj in enumerate(objs):
        offsets.append(len(out))
        if obj is None:
            out += b"%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % (i + 1, len(content))
            out += content + b"\nendstream\nendobj\n"
        else:
            out += b"%d 0 obj\n%s\nendobj\n" % (i + 1, obj.encode())
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def test_pdf_text_bomb_fails(tmp):
    """A small PDF whose 3000 pages draw one 256 KB content stream (750 MB of
    text) fails in parse with "text limit of 4 MiB exceeded at page N",
    within the memory limit, while other work is served."""
    s, c, data = node(tmp, sets=GC_FAST + ["parse.max_text_mb=4"])
    pdf = text_bomb_pdf(3000)
    assert len(pdf) < 1 << 20, len(pdf)
    bomb = c.ingest(blob=upload(c, pdf, "bomb.pdf"), filename="bomb.pdf")["id"]
    # Meanwhile: another document goes through, and questions are answered
    small = c.ingest(blob=upload(c, text_of(5000, 30), "small.txt"), filename="small.txt")["id"]
    t0 = time.time()
    assert "documents" in c.request("query", "status", {})
    assert time.time() - t0 < 5
    assert c.wait(small, 120)["state"] == "completed"
    job = c.wait(bomb, 120)
    assert job["state"] == "failed" and job["error_stage"] == "parse", job
    m = re.match(r"text limit of 4 MiB exceeded at page (\d+)$", job["error"] or "")
    assert m and 10 <= int(m.group(1)) <= 20, job["error"]
    # what was written for it is gone after the grace period
    wait_for(lambda: folders_under(data, "jobs") == 0, 20, "the bomb's artifacts collected")
    # the process stayed far below the parse memory limit
    with open("/proc/%d/status" % s.proc.pid) as f:
        peak_kb = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
    assert peak_kb < 900 * 1024, peak_kb


def test_worker_stuck_at_exit(tmp):
    """A handler still running when the drain times out is left running,
    and the process exits 0 without freeing the state it uses: no use
    after free (the stall role aborts if its state is freed under it;
    under ASan any freed node or config would be reported)."""
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    s = start(data, role="broker,stall", sets=["worker.drain_timeout_ms=300"])
    c = Client(s.port)
    wait_for(lambda: c.stats()["services"].get("stall", {}).get("workers") == 1, 20, "stall worker")
    h = c.submit(c.envelope("stall", ["stall"], {"ms": 8000}))
    assert h.get("c") != 10, h
    wait_for(lambda: "stall: holding" in open(s.log_path, errors="replace").read(), 20, "handler started")
    t0 = time.time()
    s.proc.send_signal(signal.SIGTERM)
    rc = s.proc.wait(timeout=30)
    took = time.time() - t0
    log = open(s.log_path, errors="replace").read()
    assert rc == 0, (rc, log[-2000:])
    assert took < 7, took                  # did not wait for the handler
    assert "still running a handler" in log, log[-2000:]
    for bad in ("AddressSanitizer", "runtime error", "state freed", "LeakSanitizer"):
        assert bad not in log, log[-3000:]


if __name__ == "__main__":
    tests = [test_refused_uploads_leave_nothing, test_document_blob_never_collected,
             test_embed_cache_bounded, test_quota_refused_with_reason, test_disk_full_fails_job,
             test_pdf_text_bomb_fails, test_worker_stuck_at_exit]
    sys.exit(Runner().run(tests, set(sys.argv[1:]) or None))
