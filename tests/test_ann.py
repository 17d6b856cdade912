#!/usr/bin/python3
"""test_ann: the approximate vector index (an HNSW graph) end to end.

Every test starts a real `sluiced` (temp data folder, free loopback ports,
the hash embedder) with search.ann_min_rows set low so a dozen generated
documents already go through the graph, ingests them over real HTTP and
searches in vector mode. The graph's file in <data>/vindex is checked
through what the store logs when it builds, writes or reuses it.

Usage: /usr/bin/python3 tests/test_ann.py [test_name ...]
"""
import glob, os, random, re, signal, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, start, wait_for  # noqa: E402
from test_edge import call, check  # noqa: E402

DOCS = 12
SETS = ["embed.provider=hash", "log.level=info"]


def words(seed, n):
    """n made-up words, the same for the same seed: each document has a
    vocabulary of its own, so the right top hit is never in doubt."""
    rng = random.Random(seed)
    syll = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "po", "da", "fu"]
    return [rng.choice(syll) + rng.choice(syll) + rng.choice(syll) + str(seed) for _ in range(n)]


def text(i):
    return " ".join(words(i, 60)) + "."


def query(i):
    return " ".join(words(i, 60)[5:13])


def node(tmp, min_rows, sets=()):
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    srv = start(data, sets=SETS + ["search.ann_min_rows=%d" % min_rows] + list(sets))
    wait_for(lambda: call(srv, "GET", "/readyz")[0] == 200, 60, "edge ready")
    return srv


def ingest_all(srv):
    ids = []
    for i in range(DOCS):
        st, _, body = call(srv, "POST", "/v1/ingest?name=doc%02d.txt" % i, text(i).encode(),
                           headers={"Content-Type": "text/plain"})
        check(st == 202, "ingest accepted", st, body)
        ids.append(body["jobs"][0]["id"])
    docs = []
    for job in ids:
        out = {}

        def done():
            st, _, body = call(srv, "GET", "/v1/jobs/" + job)
            out.update(body.get("job", {}))
            return out.get("state") in ("completed", "failed")
        wait_for(done, 120, "job " + job)
        check(out["state"] == "completed", "job completed", out)
        docs.append(out["document_id"])
    return docs


def top_hits(srv):
    """The vector-mode top hit (document, chunk) for each document's query."""
    tops = []
    for i in range(DOCS):
        st, _, body = call(srv, "POST", "/v1/search", {"query": query(i), "mode": "vector", "k": 5})
        check(st == 200, "search answered", st, body)
        hit = body["hits"][0] if body["hits"] else {}
        tops.append((hit.get("document_id"), hit.get("chunk_id")))
    return tops


def log_lines(srv, pattern):
    with open(srv.log_path, errors="replace") as fh:
        return [line for line in fh if re.search(pattern, line)]


def stop(srv):
    check(srv.stop() == 0, "sluiced stopped cleanly")


def test_graph_search_delete_restart(tmp):
    """Searches through the graph find what exact search finds; a deleted
    document never comes back; a restart reuses the graph file and applies
    only what changed since it was written."""
    srv = node(tmp, 10)
    docs = ingest_all(srv)
    tops = top_hits(srv)
    check([d for d, _ in tops] == docs, "each query's top hit is its own document", tops, docs)
    check(log_lines(srv, r"built the vector graph of workspace default \(%d vectors\)" % DOCS),
          "the search went through a graph built at the threshold", open(srv.log_path).read()[-2000:])
    files = glob.glob(os.path.join(tmp, "data", "vindex", "default.*.hnsw"))
    check(len(files) == 1 and os.path.exists(files[0] + ".meta"), "graph file written at build", files)
    # delete one document after the file was written, then crash: the file
    # is behind by that document's chunks
    st, _, body = call(srv, "DELETE", "/v1/documents/" + docs[0])
    check(st == 202 and body.get("deleted") is True, "delete accepted", st, body)
    after = top_hits(srv)
    check(after[0][0] != docs[0] and after[1:] == tops[1:], "deleted document gone, others unchanged",
          after, tops)
    srv.kill(signal.SIGKILL)
    srv = node(tmp, 10)
    again = top_hits(srv)
    check(again == after, "after a crash: the same hits", again, after)
    reused = log_lines(srv, r"reused the vector graph of workspace default .* \(generation \d+, "
                            r"(\d+) rows changed since applied\)")
    check(reused and int(re.search(r"(\d+) rows changed", reused[0]).group(1)) >= 1,
          "the file was reused and the deletion applied to it", open(srv.log_path).read()[-2000:])
    check(not log_lines(srv, "built the vector graph"), "no rebuild after a crash")
    stop(srv)
    check(log_lines(srv, "wrote the vector graph of workspace default"), "graph written at close")
    # exact search (no graph) over the same data: the same top hits
    srv = node(tmp, 0)
    exact = top_hits(srv)
    check(exact == again, "exact search gives the same top hits", exact, again)
    check(not log_lines(srv, "vector graph"), "exact mode neither reads nor writes a graph")
    stop(srv)
    srv = node(tmp, 10)
    check(top_hits(srv) == exact, "graph again: the same hits")
    reused = log_lines(srv, r"reused the vector graph .* 0 rows changed since applied")
    check(reused, "a graph written at close is reused as is", open(srv.log_path).read()[-2000:])


def test_corrupt_graph_rebuilt(tmp):
    """A truncated graph file is never read: the graph is rebuilt from the
    store and searches stay right."""
    srv = node(tmp, 10)
    ingest_all(srv)
    tops = top_hits(srv)
    stop(srv)
    files = glob.glob(os.path.join(tmp, "data", "vindex", "default.*.hnsw"))
    check(len(files) == 1, "one graph file", files)
    size = os.path.getsize(files[0])
    with open(files[0], "r+b") as fh:
        fh.truncate(size // 2)
    srv = node(tmp, 10)
    check(top_hits(srv) == tops, "the same hits after the rebuild")
    check(log_lines(srv, r"built the vector graph of workspace default"), "rebuilt, not reused",
          open(srv.log_path).read()[-2000:])
    check(not log_lines(srv, "reused the vector graph"), "the truncated file was not trusted")
    stop(srv)
    check(os.path.getsize(files[0]) >= size, "a whole graph written again (at the rebuild)")


def test_bad_settings_refused(tmp):
    """A negative search.ann_min_rows and an out-of-range search.ann_ef are
    refused with a sentence saying what to set; searches stay right."""
    srv = node(tmp, -5, ["search.ann_ef=0"])
    wait_for(lambda: log_lines(srv, r"search.ann_min_rows is -5: a count of vectors cannot be "
                                    r"negative; searches stay exact"), 30, "the threshold refused")
    check(log_lines(srv, r"search.ann_ef is 0: the graph's search width must be 1 to 10000; "
                         r"using 1024"), "the width refused")
    docs = ingest_all(srv)
    check([d for d, _ in top_hits(srv)] == docs, "exact search finds each document")
    check(not log_lines(srv, "vector graph"), "no graph")


if __name__ == "__main__":
    tests = [test_graph_search_delete_restart, test_corrupt_graph_rebuilt,
             test_bad_settings_refused]
    sys.exit(Runner().run(tests, set(sys.argv[1:]) or None))
