#!/usr/bin/python3
"""Page-range fan-out (issue 17, item 2): a PDF longer than parse.range_pages
is parsed in ranges by every parse process, joined in page order, and
committed once with the same chunks as a whole parse. Likewise a document of
more than embed.part_chunks chunks is embedded in parts by every embed
process, joined in order, with the same vectors as a whole embed.

Real sluiced processes over loopback, real PDFs written here (tests/corpus.py
make_pdf), the real SQLite store. One behaviour per test:
    /usr/bin/python3 tests/test_fanout.py [test_name ...]
"""
import os, re, signal, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Client, Runner, db, start, wait_for, wait_ready  # noqa: E402
from corpus import filler, make_pdf  # noqa: E402

FILE_ROOTS = "fetch.file_roots=/tmp"
BASE = [FILE_ROOTS, "embed.provider=hash", "log.level=info"]


def manual(tmp, pages, figure=0, name="manual.pdf", words=150):
    """A PDF of `pages` pages; headings (bookmarks) every 7 pages, so some
    start right at a range's first page and sections run across range edges."""
    text = []
    for p in range(1, pages + 1):
        text.append("\n\n".join(["# Fan Manual - page %d" % p] + filler("fan:%d" % p, words)))
    outline = [(1, "Part %d" % (p // 7 + 1), p) for p in range(1, pages + 1, 7)]
    path = os.path.join(tmp, name)
    make_pdf(path, text, title="Fan Manual", figure=figure, outline=outline)
    return path


def node(tmp, name, sets=(), role="all", broker=None, data=None):
    """A process; a second one on the same node passes the first's data
    (the blob area and job folders are shared, as on one host or volume)."""
    data = data or os.path.join(tmp, "data-" + name)
    os.makedirs(data, exist_ok=True)
    log = os.path.join(tmp, "%s.log" % name)
    s = start(data, role=role, sets=BASE + list(sets), broker=broker, log=log)
    return s, data


def parse_workers(c):
    return c.stats()["services"].get("parse", {}).get("workers", 0)


def ingest(c, path, timeout=300):
    job = c.ingest(url="file://" + path)
    assert "id" in job, job
    done = c.wait(job["id"], timeout)
    assert done["state"] == "completed", done
    return done


def chunks_of(data, doc):
    return db(data).execute("SELECT ordinal, page_start, page_end, char_start, char_end, text FROM chunks "
                            "WHERE document_id=? ORDER BY ordinal", (doc,)).fetchall()


def log_lines(path, pattern):
    with open(path, errors="replace") as f:
        return [m.groups() for m in (re.search(pattern, line) for line in f) if m]


def stage_progress(c, job_id):
    events = c.events(job_id)["events"]
    out = []
    for e in events:
        d = e.get("data", e)
        if d.get("type") == "stage_progress" and d.get("stage") == "parse":
            m = re.match(r"page (\d+)/(\d+)", d.get("message", ""))
            if m:
                out.append((int(m.group(1)), int(m.group(2))))
    return out


# ---------------------------------------------------------------------------

def test_fanout_same_chunks_as_whole_parse(tmp):
    """Ranges of 9 pages (cuts inside sections, headings on a cut) give the
    same document and chunks (texts, pages, offsets, ordinals) as no fan-out."""
    path = manual(tmp, 95)
    results = {}
    for name, step in (("whole", "0"), ("ranges", "9")):
        s, data = node(tmp, name, ["parse.range_pages=" + step])
        c = Client(s.port)
        wait_ready(c)
        job = ingest(c, path)
        doc = db(data).execute("SELECT title, pages, chunks FROM documents WHERE id=?",
                               (job["document_id"],)).fetchone()
        results[name] = (doc, chunks_of(data, job["document_id"]))
        fanned = log_lines(s.log_path, r"fanned out in (\d+) ranges")
        assert fanned == ([] if step == "0" else [("11",)]), fanned
        c.close()
        assert s.stop() == 0, "sluiced did not exit cleanly (under ASan: a leak)"
    whole, ranges = results["whole"], results["ranges"]
    assert whole[0] == ranges[0], (whole[0], ranges[0])
    assert len(whole[1]) > 20 and whole[1] == ranges[1], "chunks differ"


def test_fanout_two_parse_processes_share_ranges(tmp):
    """With a second parse process, both take ranges of one document."""
    path = manual(tmp, 120, figure=300)
    s, data = node(tmp, "all", ["parse.range_pages=10", "parse.concurrency=1"])
    c = Client(s.port)
    wait_ready(c)
    p2, _ = node(tmp, "parse2", ["parse.concurrency=1"], role="parse", broker=s.endpoint(),
                 data=data)
    wait_for(lambda: parse_workers(c) == 2, 60, "two parse workers")
    job = ingest(c, path)
    mine = log_lines(s.log_path, r"parsed pages (\d+)-(\d+) of 120")
    theirs = log_lines(p2.log_path, r"parsed pages (\d+)-(\d+) of 120")
    assert mine and theirs, (mine, theirs)
    assert sorted(mine + theirs, key=lambda r: int(r[0])) == [(str(a), str(a + 9)) for a in range(1, 121, 10)]
    n = db(data).execute("SELECT pages FROM documents WHERE id=?", (job["document_id"],)).fetchone()[0]
    assert n == 120


def test_fanout_killed_parse_range_redelivered(tmp):
    """A parse process killed in the middle of a range: that range is parsed
    again by the other process, the document completes once, no chunk twice."""
    path = manual(tmp, 160, figure=4000, words=380)
    s, data = node(tmp, "all", ["parse.range_pages=20", "parse.concurrency=1"])
    c = Client(s.port)
    wait_ready(c)
    p2, _ = node(tmp, "parse2", ["parse.concurrency=1"], role="parse", broker=s.endpoint(),
                 data=data)
    wait_for(lambda: parse_workers(c) == 2, 60, "two parse workers")
    job = c.ingest(url="file://" + path)
    # a tight look at the log: the kill lands a few ms into the range,
    # which takes far longer (20 pages of 2.6 KB of text and a figure)
    deadline = time.time() + 120
    while not log_lines(p2.log_path, r"parsing pages (\d+)-") and time.time() < deadline:
        time.sleep(0.005)
    p2.kill(signal.SIGKILL)
    started = log_lines(p2.log_path, r"parsing pages (\d+)-")
    finished = log_lines(p2.log_path, r"parsed pages (\d+)-")
    cut = [r for r in started if r not in finished]
    assert cut, "the second process finished its range before the kill: nothing was cut (%s)" % started
    done = c.wait(job["id"], 300)
    assert done["state"] == "completed", done
    again = log_lines(s.log_path, r"parsed pages (\d+)-")
    assert cut[0] in again, (cut, again)
    con = db(data)
    assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
    total, distinct, last = con.execute("SELECT count(*), count(DISTINCT ordinal), max(ordinal) FROM chunks "
                                        "WHERE document_id=?", (done["document_id"],)).fetchone()
    assert total == distinct == last + 1 and total > 100, (total, distinct, last)
    pages = {r[0] for r in con.execute("SELECT page_start FROM chunks WHERE document_id=?", (done["document_id"],))}
    assert min(pages) == 1 and max(pages) >= 159, sorted(pages)


def test_fanout_progress_counts_pages_across_ranges(tmp):
    """Progress counts pages over all ranges and reaches the total once."""
    path = manual(tmp, 90, figure=300)
    s, data = node(tmp, "all", ["parse.range_pages=15", "parse.concurrency=2"])
    c = Client(s.port)
    wait_ready(c)
    job = ingest(c, path)
    seen = stage_progress(c, job["id"])
    assert seen and all(total == 90 for _, total in seen), seen
    assert [n for n, _ in seen].count(90) == 1, seen
    # ranges after the first two start when others are done: their counts
    # include those ranges' pages, which a per-range count never reaches
    assert any(15 < n < 90 for n, _ in seen), seen


def test_fanout_small_pdf_not_split(tmp):
    """A PDF at or under parse.range_pages is parsed whole, as before."""
    path = manual(tmp, 12)
    s, data = node(tmp, "all", ["parse.range_pages=12"])
    c = Client(s.port)
    wait_ready(c)
    job = ingest(c, path)
    assert not log_lines(s.log_path, r"(fanned out)"), "a 12-page PDF was split"
    assert db(data).execute("SELECT pages FROM documents WHERE id=?", (job["document_id"],)).fetchone()[0] == 12


def test_fanout_scanned_pages_read_by_ocr(tmp):
    """The document of ocr_mixed_pdf_sends_only_image_pages (20 pages, scans
    at 4, 11, 17) cut in ranges of 5: each scan in its own range, the ocr
    stage reads exactly those 3 pages of the joined document and search
    finds each at its page (that test's own checks, on a fanned-out parse)."""
    import test_ocr
    test_ocr.BASE = test_ocr.BASE + ["parse.range_pages=5", "log.level=info"]
    test_ocr.test_mixed_pdf_sends_only_image_pages(tmp)
    data = os.path.join(tmp, "data")
    logs = "".join(open(os.path.join(data, f), errors="replace").read()
                   for f in os.listdir(data) if f.endswith(".log"))
    assert "20 pages: fanned out in 4 ranges" in logs and "joined 4 ranges" in logs


def vectors_of(data, doc):
    return db(data).execute("SELECT c.ordinal, v.model_id, v.vec FROM chunks c JOIN vectors v "
                            "ON v.chunk_rid = c.rid WHERE c.document_id=? ORDER BY c.ordinal",
                            (doc,)).fetchall()


def embed_progress(c, job_id):
    out = []
    for e in c.events(job_id)["events"]:
        d = e.get("data", e)
        if d.get("type") == "stage_progress" and d.get("stage") == "embed":
            m = re.match(r"chunk (\d+)/(\d+)", d.get("message", ""))
            if m:
                out.append((int(m.group(1)), int(m.group(2))))
    return out


def test_embed_parts_same_vectors_as_whole(tmp):
    """A document cut in embed parts of 64 chunks, taken by two processes'
    embed workers, is stored with the same chunks and the same vectors, row
    for row, as one embedded whole; both processes embedded parts."""
    path = manual(tmp, 100)
    results = {}
    for name, part in (("whole", "0"), ("parts", "64")):
        s, data = node(tmp, name, ["embed.part_chunks=" + part, "embed.concurrency=1"])
        c = Client(s.port)
        wait_ready(c)
        other = None
        if part != "0":
            other, _ = node(tmp, name + "-embed2", ["embed.concurrency=1"], role="embed",
                            broker=s.endpoint(), data=data)
            wait_for(lambda: c.stats()["services"].get("embed", {}).get("workers", 0) == 2, 60,
                     "two embed workers")
        job = ingest(c, path)
        results[name] = (chunks_of(data, job["document_id"]), vectors_of(data, job["document_id"]))
        if other:
            total = len(results[name][0])
            mine = log_lines(s.log_path, r"embedded chunks (\d+)-(\d+) of (\d+)")
            theirs = log_lines(other.log_path, r"embedded chunks (\d+)-(\d+) of (\d+)")
            assert mine and theirs, (mine, theirs)
            spans = sorted((int(a), int(b)) for a, b, _ in mine + theirs)
            assert spans == [(a, min(a + 64, total) - 1) for a in range(0, total, 64)], spans
            assert log_lines(s.log_path + "", r"(joined \d+ parts)") or \
                log_lines(other.log_path, r"(joined \d+ parts)"), "no join logged"
            other.kill()
        c.close()
        assert s.stop() == 0, "sluiced did not exit cleanly (under ASan: a leak)"
    whole, parts = results["whole"], results["parts"]
    assert len(whole[0]) > 150, len(whole[0])
    assert whole[0] == parts[0], "chunks differ"
    assert len(whole[1]) == len(whole[0]) and whole[1] == parts[1], "vectors differ"


def test_embed_parts_progress_counts_chunks_across_parts(tmp):
    """Progress of a document embedded in parts counts chunks over every
    part, against the document's total, and reaches it."""
    path = manual(tmp, 100)
    s, data = node(tmp, "all", ["embed.part_chunks=30", "embed.concurrency=2"])   # 64 once rounded
    c = Client(s.port)
    wait_ready(c)
    job = ingest(c, path)
    total = db(data).execute("SELECT chunks FROM documents WHERE id=?", (job["document_id"],)).fetchone()[0]
    seen = embed_progress(c, job["id"])
    assert seen and all(t == total for _, t in seen), (total, seen)
    assert max(n for n, _ in seen) == total, (total, seen)
    assert any(64 < n < total for n, _ in seen), seen
    parts = log_lines(s.log_path, r"(\d+) chunks: embedding in (\d+) parts of 64")
    assert parts == [(str(total), str((total + 63) // 64))], parts


def test_embed_part_killed_redelivered(tmp):
    """An embed process killed in the middle of a part (the default `use`
    encoder: a part of 64 chunks takes about a second): that part is
    embedded again by the other process, the job completes once, every
    chunk has exactly one vector."""
    path = manual(tmp, 80)
    sets = ["embed.provider=use", "embed.part_chunks=64", "embed.concurrency=1"]
    s, data = node(tmp, "all", sets)
    c = Client(s.port)
    wait_ready(c)
    p2, _ = node(tmp, "embed2", sets, role="embed", broker=s.endpoint(), data=data)
    wait_for(lambda: c.stats()["services"].get("embed", {}).get("workers", 0) == 2, 60, "two embed workers")
    job = c.ingest(url="file://" + path)
    deadline = time.time() + 120
    while not log_lines(p2.log_path, r"embedding chunks (\d+)-") and time.time() < deadline:
        time.sleep(0.005)
    p2.kill(signal.SIGKILL)
    started = log_lines(p2.log_path, r"embedding chunks (\d+)-")
    finished = log_lines(p2.log_path, r"embedded chunks (\d+)-")
    cut = [r for r in started if r not in finished]
    assert cut, "the second process finished its part before the kill: nothing was cut (%s)" % started
    done = c.wait(job["id"], 300)
    assert done["state"] == "completed", done
    again = log_lines(s.log_path, r"embedded chunks (\d+)-")
    assert cut[0] in again, (cut, again)
    con = db(data)
    total, vectors, distinct = con.execute(
        "SELECT (SELECT count(*) FROM chunks WHERE document_id = ?1), count(*), count(DISTINCT v.chunk_rid) "
        "FROM vectors v JOIN chunks c ON c.rid = v.chunk_rid WHERE c.document_id = ?1",
        (done["document_id"],)).fetchone()
    assert total > 64 * 3 and vectors == distinct == total, (total, vectors, distinct)
    assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == 1


if __name__ == "__main__":
    tests = [test_fanout_same_chunks_as_whole_parse, test_fanout_two_parse_processes_share_ranges,
             test_fanout_killed_parse_range_redelivered, test_fanout_progress_counts_pages_across_ranges,
             test_fanout_small_pdf_not_split, test_fanout_scanned_pages_read_by_ocr,
             test_embed_parts_same_vectors_as_whole, test_embed_parts_progress_counts_chunks_across_parts,
             test_embed_part_killed_redelivered]
    sys.exit(Runner().run(tests, only=set(sys.argv[1:]) or None))
