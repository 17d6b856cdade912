"""test_pipeline: real documents through the real pipeline.

Each test starts its own sluiced (real processes, real tcp on loopback, a real
SQLite file in a temp folder), feeds it the project's generated documents
(tests/corpus.py: manuals whose page N says a known sentence, prose on
distinct topics, HTML, text) or documents the test makes, and checks what
the store holds with SQL.
Usage: /usr/bin/python3 tests/test_pipeline.py [test_name ...]
"""
import http.server, os, random, re, shutil, signal, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CORPUS, SLUICED, Client, Runner, big_pdf, db, fact, start, wait_for, wait_ready  # noqa: E402
from corpus import MANUALS, PROSE  # noqa: E402

PDF = os.path.join(CORPUS, "pdf")
# the corpus and the big PDFs share one cache folder
FILE_ROOTS = "fetch.file_roots=%s:/tmp" % os.path.dirname(CORPUS)


def node(tmp, sets=(), role="all"):
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    s = start(data, role=role, sets=[FILE_ROOTS] + list(sets))
    c = Client(s.port)
    wait_ready(c)
    return s, c, data


def pages_of(path):
    out = subprocess.run(["mutool", "info", path], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Pages:"):
            return int(line.split()[1])
    raise RuntimeError("mutool info failed")


def use_node(tmp):
    """A node on the default pretrained encoder and a client to it, or None
    (the test skips) without the installed model."""
    s, c, data = node(tmp)
    status = c.request("query", "status", {})
    if status.get("provider") != "use":
        print("skip: the use model is not installed (%s)" % status.get("embedder_error"))
        return None
    return c


def ingest_file(c, path, ws=None, timeout=120):
    job = c.ingest(url="file://" + path, ws=ws)
    assert "id" in job, job
    return c.wait(job["id"], timeout, ws=ws)


# ---------------------------------------------------------------------------

def test_pdf_pages_and_phrase_search(tmp):
    """A phrase known to be on page N is the top hit, with page N (lexical
    embedder: exact words are what this asserts)."""
    s, c, data = node(tmp, sets=["embed.provider=hash"])
    docs = {}
    for name in ("drafting.pdf", "plotter.pdf"):
        path = os.path.join(PDF, name)
        job = ingest_file(c, path)
        assert job["state"] == "completed", job
        docs[name] = job["document_id"]
        doc = c.request("query", "doc_get", {"id": job["document_id"]})["document"]
        assert doc["pages"] == pages_of(path) == MANUALS[name]["pages"], (doc["pages"], pages_of(path))
        assert doc["chunks"] > 100, doc
    # hand-written sentences, then the generated one of pages spread over each manual
    cases = [("drafting.pdf", "Figure 28: Example of envelope", 37, "figure 28"),
             ("plotter.pdf", "nccircle draws a circle", 50, "nccircle")]
    for name in ("drafting.pdf", "plotter.pdf"):
        for page in (1, 7, 64, MANUALS[name]["pages"]):
            words = fact(name, page).split(": the ")[1].rstrip(".")      # "<command> command <action>"
            cases.append((name, words, page, words.split()[0]))
    for name, phrase, page, needle in cases:
        hits = c.search(phrase, k=3)["hits"]
        top = hits[0]
        assert top["document_id"] == docs[name], (phrase, top)
        # the sentence is mid-page, so the chunk holding it is of that page alone
        assert top["page_start"] == top["page_end"] == page, (phrase, page, [(h["page_start"], h["page_end"], round(h["score"], 3)) for h in hits])
        assert needle in top["text"].lower(), (needle, top["text"][:300])
    # every stage reported, in order, with durations
    ev = c.events(job["id"])
    types = [(e["type"], e.get("stage")) for e in ev["events"]]
    for stage in ("fetch", "parse", "chunk", "embed", "store"):
        assert ("stage_started", stage) in types and ("stage_completed", stage) in types, types
    assert types[0][0] == "job_started" and types[-1][0] == "job_completed", types
    assert ev["terminal"] is True
    seqs = [e["seq"] for e in ev["events"]]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert any(e["type"] == "stage_progress" and "page" in e.get("message", "") for e in ev["events"])


def test_paraphrase_search(tmp):
    """The default pretrained encoder finds passages by meaning, not words."""
    c = use_node(tmp)
    if not c:
        return "skip"
    docs = {}
    for n in sorted(PROSE):
        docs[ingest_file(c, os.path.join(PDF, n))["document_id"]] = n
    # one page per topic; no query shares a word (but stop words) with the
    # page it must find, which the test checks before asking
    for query, want, page in PARAPHRASES:
        shared = _words(query) & _words(PROSE[want][1][page - 1])
        assert not shared, (query, shared)
        hits = c.search(query, k=3)["hits"]
        where = [(docs[h["document_id"]], h["page_start"], round(h["score"], 3)) for h in hits]
        top = hits[0]
        assert docs[top["document_id"]] == want and top["page_start"] <= page <= top["page_end"], (query, want, page, where)
    # unrelated text scores low everywhere
    assert c.search("The kitten slept on the rug", k=1)["hits"][0]["score"] < 0.4
    model = c.search("anything", k=1)["model"]
    assert model.startswith("use:use-lite:"), model


STOP = set("""a about after an and are as at be but by can do does for from how i if in into is it its my
no not now of on or out over rather should so such than that the their them then there these they this
to up was what when where which who why will with you your""".split())

# (query, document, page): a question asked in other words than the page's
PARAPHRASES = (
    ("what makes a homemade sandwich roll turn dense rather than fluffy", "kitchen.pdf", 1),
    ("why do booming noises follow bright flashes in a summer tempest", "weather.pdf", 1),
    ("why does a thick mist cover the lowlands on still mornings", "weather.pdf", 2),
    ("people in their twenties should put cash away now for when they stop working", "money.pdf", 1),
    ("deciding between a steady and a floating charge when borrowing to buy a flat", "money.pdf", 2),
    ("how can rotting food scraps and lawn trimmings become fertiliser", "garden.pdf", 2),
)


def _words(text):
    return set(w for w in re.findall(r"[a-z]+", text.lower()) if w not in STOP)


def test_exact_words_with_default_encoder(tmp):
    """Hybrid search: with the pretrained encoder (which finds meaning, not
    spelling) a phrase, a code or a rare name still finds its page, because
    the lexical ranking is fused in; the vector-only ranking is reported."""
    c = use_node(tmp)
    if not c:
        return "skip"
    docs = {}
    for name in ("drafting.pdf", "plotter.pdf", "codec.pdf"):
        job = ingest_file(c, os.path.join(PDF, name))
        assert job["state"] == "completed", job
        docs[job["document_id"]] = name
    cases = (("Figure 28: Example of envelope", "drafting.pdf", 37, "figure 28"),
             ("nccircle draws a circle", "plotter.pdf", 50, "nccircle"),
             ("tlv_der_decoding_element", "codec.pdf", 12, "tlv_der_decoding_element"))
    vector_right = 0
    for phrase, want, page, needle in cases:
        reply = c.search(phrase, k=5)
        assert reply["mode"] == "hybrid", reply.get("mode")
        top = reply["hits"][0]
        where = [(docs[h["document_id"]], h["page_start"], h["match"], round(h["score"], 3)) for h in reply["hits"]]
        assert docs[top["document_id"]] == want, (phrase, where)
        assert needle in top["text"].lower(), (phrase, top["text"][:300])
        assert top["page_start"] == top["page_end"] == page, (phrase, page, where)
        assert top["match"] in ("lexical", "both"), (phrase, where)
        assert -1.0 <= top["score"] <= 1.0
        v = c.search(phrase, k=5, mode="vector")
        assert v["mode"] == "vector" and all(h["match"] == "vector" for h in v["hits"]), v["hits"][:1]
        if v["hits"] and v["hits"][0]["chunk_id"] == top["chunk_id"]:
            vector_right += 1
        lex = c.search(phrase, k=5, mode="lexical")
        assert lex["hits"] and all(h["match"] == "lexical" for h in lex["hits"]), lex["hits"][:1]
    print("vector-only ranking put the same chunk first for %d of %d exact-word queries" % (vector_right, len(cases)))
    # a word in no document: nothing lexical, vectors still answer
    hits = c.search("zyzzogeton quasiquux", k=3)["hits"]
    assert hits and all(h["match"] == "vector" for h in hits), hits[:1]
    # a bad mode is refused with a reason
    bad = c.search("anything", mode="fuzzy")
    assert bad.get("error", {}).get("code") == 400 and "mode" in bad["error"]["message"], bad


def test_chunks_within_bounds(tmp):
    """Every chunk ≤ target tokens, consecutive chunks overlap, offsets grow."""
    s, c, data = node(tmp, sets=["chunk.target_tokens=80", "chunk.overlap_tokens=12"])
    job = ingest_file(c, os.path.join(PDF, "codec.pdf"))
    con = db(data)
    rows = con.execute("SELECT ordinal, tokens, char_start, char_end, page_start, page_end, text "
                       "FROM chunks WHERE document_id=? ORDER BY ordinal", (job["document_id"],)).fetchall()
    assert len(rows) > 20
    assert [r[0] for r in rows] == list(range(len(rows)))
    overlaps = 0
    for prev, cur in zip(rows, rows[1:]):
        assert 0 < cur[1] <= 80, cur[:2]
        assert cur[3] > prev[3] and cur[2] >= prev[2], (prev[:4], cur[:4])
        assert cur[4] >= prev[4] and cur[4] <= cur[5]
        if cur[2] < prev[3]:
            overlaps += 1
            # offsets are bytes of the normalised text: compare bytes
            shared = prev[6].encode()[-(prev[3] - cur[2]):].decode(errors="ignore")
            assert cur[6].startswith(shared.strip()[:20]), (prev[6][-60:], cur[6][:60])
    assert overlaps > len(rows) // 2, overlaps


def test_reingest_creates_nothing(tmp):
    s, c, data = node(tmp)
    path = os.path.join(PDF, "codec.pdf")
    first = ingest_file(c, path)
    con = db(data)
    counts = lambda: con.execute("SELECT (SELECT count(*) FROM documents),(SELECT count(*) FROM chunks),"
                                 "(SELECT count(*) FROM vectors)").fetchone()
    before = counts()
    again = ingest_file(c, path)
    assert again["state"] == "completed" and again["document_id"] == first["document_id"]
    assert counts() == before, (counts(), before)
    # same content under another name: still the same document, nothing new
    copy = os.path.join(tmp, "copy-of-codec.pdf")
    shutil.copy(path, copy)
    third = c.wait(c.ingest(url="file://" + copy)["id"])
    assert third["document_id"] == first["document_id"] and counts() == before
    # the events say why
    ev = c.events(again["id"])["events"]
    assert ev[-1]["type"] == "job_completed" and ev[-1].get("duplicate") is True


def test_delete_leaves_nothing(tmp):
    s, c, data = node(tmp)
    job = ingest_file(c, os.path.join(PDF, "currency.pdf"))
    doc = job["document_id"]
    con = db(data)
    sha = con.execute("SELECT sha256 FROM documents WHERE id=?", (doc,)).fetchone()[0]
    blob = os.path.join(data, "blobs", sha[:2], sha)
    assert os.path.exists(blob)
    r = c.request("query", "doc_delete", {"id": doc})
    assert r.get("deleted") is True and r.get("state") == "deleting", r
    # accepted: the delete service purges it, then collects its blob
    wait_for(lambda: not os.path.exists(blob), 60, "document and blob deleted")
    assert con.execute("SELECT count(*) FROM documents WHERE id=?", (doc,)).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM chunks WHERE document_id=?", (doc,)).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM vectors").fetchone()[0] == 0
    assert not os.path.exists(blob)
    assert c.request("query", "doc_get", {"id": doc})["error"]["code"] == 404
    assert c.search("euro symbol", k=3)["hits"] == []
    assert c.request("query", "doc_delete", {"id": doc})["error"]["code"] == 404
    # no artifacts left behind in the job area
    assert os.listdir(os.path.join(data, "jobs")) == []


def test_hostile_files_fail_clearly(tmp):
    s, c, data = node(tmp)
    src = os.path.join(PDF, "drafting.pdf")
    files = {}
    files["encrypted.pdf"] = os.path.join(tmp, "encrypted.pdf")
    subprocess.run(["mutool", "clean", "-E", "aes-256", "-U", "user", "-O", "owner", src, files["encrypted.pdf"]],
                   check=True, capture_output=True)
    raw = open(src, "rb").read()
    files["truncated.pdf"] = os.path.join(tmp, "truncated.pdf")
    open(files["truncated.pdf"], "wb").write(raw[: len(raw) * 3 // 10])
    files["empty.pdf"] = os.path.join(tmp, "empty.pdf")
    open(files["empty.pdf"], "wb").close()
    files["random.pdf"] = os.path.join(tmp, "random.pdf")
    rng = random.Random(7)
    open(files["random.pdf"], "wb").write(bytes(rng.getrandbits(8) for _ in range(50000)))
    expect = {"encrypted.pdf": ("parse", "password-protected"),
              "truncated.pdf": ("parse", "cannot parse PDF"),
              "empty.pdf": ("fetch", "unsupported document type"),
              "random.pdf": ("fetch", "unsupported document type")}
    jobs = {n: c.ingest(url="file://" + p)["id"] for n, p in files.items()}
    for name, jid in jobs.items():
        job = c.wait(jid, 30)
        stage, reason = expect[name]
        assert job["state"] == "failed", (name, job)
        assert job["error_stage"] == stage and reason in job["error"], (name, job["error_stage"], job["error"])
        ev = c.events(jid)["events"][-1]
        assert ev["type"] == "job_failed" and reason in ev["reason"], ev
    # the engine keeps serving
    good = ingest_file(c, os.path.join(PDF, "currency.pdf"))
    assert good["state"] == "completed"
    assert s.alive()
    # permanent failures went to the dead-letter queue once, not into a retry loop
    st = c.stats()
    assert st["dlq"] == 4, st["dlq"]
    assert st["services"]["parse"]["redelivered"] == 0


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def _http_server(root):
    handler = lambda *a, **k: _Quiet(*a, directory=root, **k)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_ssrf_guard(tmp):
    srv = _http_server(PDF)
    url = "http://127.0.0.1:%d/currency.pdf" % srv.server_port
    try:
        s, c, data = node(tmp)
        for target in (url, "http://10.0.0.7/x.pdf", "http://169.254.169.254/latest/meta-data/",
                       "http://[::ffff:10.1.2.3]/a.pdf", "http://localhost:%d/currency.pdf" % srv.server_port):
            job = c.wait(c.ingest(url=target)["id"], 20)
            assert job["state"] == "failed" and job["error_stage"] == "fetch", (target, job)
            assert "refused" in job["error"] and "allow_cidrs" in job["error"], job["error"]
        s.stop()
        # allow-listed: the same loopback URL now works
        s2, c2, _ = node(os.path.join(tmp, "b"), sets=["fetch.allow_cidrs=127.0.0.1/32"])
        job = c2.wait(c2.ingest(url=url)["id"], 30)
        assert job["state"] == "completed", job
        job = c2.wait(c2.ingest(url="http://10.0.0.7/x.pdf")["id"], 20)
        assert job["state"] == "failed" and "refused" in job["error"]
    finally:
        srv.shutdown()


def _big_pdf(tmp, pages=1000):
    """A generated manual of `pages` pages (cached by tests/corpus.py): 100
    distinct pages bound over and over, as copies of one manual merged, so
    the pretrained encoder's cache keeps the reference runs short; a figure
    of 2000 strokes on every page keeps parse busy for seconds, so a kill
    lands mid-parse."""
    path = big_pdf(pages, distinct=100, figure=2000)
    assert pages_of(path) == pages
    return path


def _reference_chunks(tmp, path):
    s, c, data = node(os.path.join(tmp, "ref"))
    job = ingest_file(c, path, timeout=180)
    n = db(data).execute("SELECT chunks FROM documents WHERE id=?", (job["document_id"],)).fetchone()[0]
    s.stop()
    return n


def _no_duplicates(data):
    con = db(data)
    total, distinct = con.execute("SELECT count(*), count(DISTINCT document_id || ':' || ordinal) FROM chunks").fetchone()
    vectors = con.execute("SELECT count(*) FROM vectors").fetchone()[0]
    assert total == distinct == vectors, (total, distinct, vectors)
    return total


def test_worker_killed_mid_parse(tmp):
    """kill -9 of the parse process mid-document: redelivered, finished once."""
    path = _big_pdf(tmp)
    want = _reference_chunks(tmp, path)
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    core = start(data, role="broker,intake,journal,query,fetch,chunk,embed,store",
                 sets=[FILE_ROOTS, "broker.heartbeat_ms=300"])
    parse = start(data, role="parse", port=core.port, sets=["broker.heartbeat_ms=300"])
    c = Client(core.port)
    wait_ready(c)
    jid = c.ingest(url="file://" + path)["id"]
    wait_for(lambda: any(e["type"] == "stage_progress" and e.get("stage") == "parse"
                         for e in c.events(jid)["events"]), 60, "parse progress")
    parse.kill()
    parse2 = start(data, role="parse", port=core.port, sets=["broker.heartbeat_ms=300"])
    job = c.wait(jid, 120)
    assert job["state"] == "completed", job
    assert _no_duplicates(data) == want
    assert c.stats()["services"]["parse"]["redelivered"] >= 1
    assert any(e["type"] == "stage_started" and e.get("stage") == "parse" and e.get("attempt") == 1
               for e in c.events(jid)["events"])
    parse2.stop()


def test_restart_mid_job_finishes(tmp):
    """kill -9 of the whole embedded sluiced mid-job; the restart finishes the job."""
    path = _big_pdf(tmp, pages=700)
    want = _reference_chunks(tmp, path)
    s, c, data = node(tmp)
    jid = c.ingest(url="file://" + path)["id"]
    wait_for(lambda: c.job(jid)["job"]["state"] in ("parsing", "chunking", "embedding"), 60, "job running")
    s.kill()
    c.close()
    s2 = start(data, sets=[FILE_ROOTS], port=s.port)
    c2 = Client(s2.port)
    job = c2.wait(jid, 120)
    assert job["state"] == "completed" and job["attempts"] >= 1, job
    assert _no_duplicates(data) == want


def test_sigterm_drains_and_resumes(tmp):
    """SIGTERM mid-job: exits 0, loses nothing; the restart carries on without re-driving."""
    path = _big_pdf(tmp, pages=700)
    want = _reference_chunks(tmp, path)
    s, c, data = node(tmp)
    jid = c.ingest(url="file://" + path)["id"]
    wait_for(lambda: c.job(jid)["job"]["state"] in ("parsing", "chunking", "embedding"), 60, "job running")
    assert s.stop() == 0
    assert os.path.exists(os.path.join(data, "broker.snapshot"))
    c.close()
    s2 = start(data, sets=[FILE_ROOTS], port=s.port)
    c2 = Client(s2.port)
    job = c2.wait(jid, 120)
    assert job["state"] == "completed" and job["attempts"] == 0, job
    assert _no_duplicates(data) == want


def test_workspaces_are_separate(tmp):
    s, c, data = node(tmp)
    a = ingest_file(c, os.path.join(PDF, "currency.pdf"), ws="alpha")
    assert c.job(a["id"], ws="beta")["error"]["code"] == 404
    assert c.request("query", "doc_get", {"id": a["document_id"]}, ws="beta")["error"]["code"] == 404
    assert c.search("euro", ws="beta")["hits"] == []
    assert len(c.search("euro", ws="alpha")["hits"]) > 0
    assert c.request("query", "doc_delete", {"id": a["document_id"]}, ws="beta")["error"]["code"] == 404


def test_html_and_text(tmp):
    s, c, data = node(tmp)
    html = ingest_file(c, os.path.join(CORPUS, "html", "deflate.html"))
    txt = ingest_file(c, os.path.join(CORPUS, "text", "abacus-README.txt"))
    md = ingest_file(c, os.path.join(CORPUS, "text", "heron-notes.md"))
    assert html["state"] == "completed" and txt["state"] == "completed" and md["state"] == "completed"
    doc = c.request("query", "doc_get", {"id": html["document_id"]})["document"]
    assert doc["mime"] == "text/html" and doc["pages"] == 1
    assert c.request("query", "doc_get", {"id": txt["document_id"]})["document"]["mime"] == "text/plain"
    hits = c.search("deflate inflate zlib stream", k=3)["hits"]
    assert hits and hits[0]["document_id"] == html["document_id"]
    # the page's text, not its markup, script or style
    text = " ".join(r[0] for r in db(data).execute("SELECT text FROM chunks WHERE document_id=?", (html["document_id"],)))
    assert "Z_STREAM_END" in text and "<code>" not in text and "ignored" not in text and "font-family" not in text, text
    hits = c.search("arbitrary precision arithmetic", k=3)["hits"]
    assert hits and hits[0]["document_id"] == txt["document_id"], hits[:1]
    hits = c.search("grey heron colony", k=3)["hits"]
    assert hits and hits[0]["document_id"] == md["document_id"], hits[:1]


def test_intake_backpressure(tmp):
    """More unfinished jobs than jobs.max_pending: intake answers 429."""
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    # no parse workers: jobs pile up at parse and stay unfinished
    core = start(data, role="broker,intake,journal,query,fetch,chunk,embed,store",
                 sets=[FILE_ROOTS, "jobs.max_pending=3"])
    c = Client(core.port)
    wait_ready(c, ("intake", "query", "journal", "fetch"))
    ok = [c.ingest(url="file://" + os.path.join(PDF, n)) for n in ("currency.pdf", "codec.pdf", "intro.pdf")]
    assert all("id" in j for j in ok), ok
    refused = c.ingest(url="file://" + os.path.join(PDF, "plotter.pdf"))
    assert refused["error"]["code"] == 429, refused
    # once a parse worker drains them, intake accepts again
    start(data, role="parse", port=core.port)
    for j in ok:
        assert c.wait(j["id"], 60)["state"] == "completed"
    assert "id" in c.ingest(url="file://" + os.path.join(PDF, "plotter.pdf"))


def test_reembed_workspace(tmp):
    """sluiced --reembed switches a workspace to another model from its
    stored chunks: no parse, same chunks, every vector replaced; nodes on
    the old model are refused (409), nodes on the new one search."""
    new_sets = ["embed.provider=hash", "embed.options=dim=256,seed=7"]
    s, c, data = node(tmp, sets=["embed.provider=hash"])
    docs = {}
    for name in ("currency.pdf", "codec.pdf"):
        job = ingest_file(c, os.path.join(PDF, name))
        assert job["state"] == "completed", job
        docs[name] = job["document_id"]
    query = "ASN.1 DER decoding of a structure with tlvkit"
    old = c.search(query, k=3)
    assert old["hits"][0]["document_id"] == docs["codec.pdf"], old
    old_model = old["model"]
    s.stop()
    con = db(data)
    chunk_ids = lambda: sorted(r[0] for r in con.execute("SELECT id FROM chunks"))
    jobs = lambda: con.execute("SELECT count(*), max(created_ms) FROM jobs").fetchone()
    chunks_before, jobs_before = chunk_ids(), jobs()
    assert len(chunks_before) > 10

    args = [SLUICED, "--reembed", "default", "--data", data]
    for kv in new_sets:
        args += ["--set", kv]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    last = r.stdout.strip().splitlines()[-1]
    prefix = "re-embedded %d chunks of workspace default: %s -> " % (len(chunks_before), old_model)
    assert last.startswith(prefix), (last, prefix)
    new_model = last[len(prefix):]
    assert new_model and new_model != old_model and "d256" in new_model, new_model
    total, embedded, cached = map(int, re.findall(r"(\d+) chunks: (\d+) embedded, (\d+) already in the cache",
                                                  r.stdout)[-1])
    assert total == len(chunks_before) and embedded > 0 and embedded + cached == total, r.stdout
    # vectors went through the embedding cache: a second run embeds nothing
    again = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, (again.returncode, again.stdout, again.stderr)
    assert "%d chunks: 0 embedded, %d already in the cache" % (len(chunks_before), len(chunks_before)) \
        in again.stdout, again.stdout

    s, c, _ = node(tmp, sets=new_sets)
    res = c.search(query, k=3)
    assert res["model"] == new_model, res
    assert res["hits"] and res["hits"][0]["document_id"] == docs["codec.pdf"], res
    assert con.execute("SELECT count(*) FROM vectors").fetchone()[0] == len(chunks_before)
    assert con.execute("SELECT count(*) FROM vectors WHERE model_id = ? AND dim = 256",
                       (new_model,)).fetchone()[0] == len(chunks_before)
    assert con.execute("SELECT count(*) FROM vectors v LEFT JOIN chunks c ON c.rid = v.chunk_rid "
                       "WHERE c.rid IS NULL").fetchone()[0] == 0
    assert con.execute("SELECT model_id, dim FROM workspaces WHERE name = 'default'").fetchone() == (new_model, 256)
    assert chunk_ids() == chunks_before
    assert jobs() == jobs_before          # nothing was fetched or parsed again
    s.stop()

    # a node still configured with the old model is refused, not misled
    s, c, _ = node(tmp, sets=["embed.provider=hash"])
    assert c.search(query, k=3)["error"]["code"] == 409
    # and re-embedding a workspace that does not exist fails with the reason
    r = subprocess.run([SLUICED, "--reembed", "nosuch", "--data", data] + sum([["--set", kv] for kv in new_sets], []),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "nosuch" in r.stderr, (r.returncode, r.stderr)


if __name__ == "__main__":
    tests = [test_pdf_pages_and_phrase_search, test_paraphrase_search, test_exact_words_with_default_encoder,
             test_chunks_within_bounds, test_reingest_creates_nothing,
             test_delete_leaves_nothing, test_hostile_files_fail_clearly, test_ssrf_guard,
             test_workspaces_are_separate, test_html_and_text, test_intake_backpressure,
             test_worker_killed_mid_parse, test_restart_mid_job_finishes, test_sigterm_drains_and_resumes,
             test_reembed_workspace]
    sys.exit(Runner().run(tests, only=set(sys.argv[1:]) or None))
