#!/usr/bin/python3
"""bench/delete.py: search latency while a large document is deleted.

Starts a real sluiced (hash embedder, so ingest is quick), ingests one text
document of many chunks and a small one, then measures lexical searches for
the small one: idle, then while the delete service purges the large one
(delete.batch chunks a transaction). Prints latency percentiles for both,
how long the deletion took, and how many searches ran meanwhile.

Usage: bench/delete.py [paragraphs] [batch]     (defaults 6000, 500)
Env:   SLUICED (path of the binary; default build/actors/sluiced)
"""
import os, shutil, sqlite3, subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
import test_edge  # noqa: E402
from test_edge import Sluiced, call, wait_job  # noqa: E402


def ingest(srv, name, text):
    st, _, body = call(srv, "POST", "/v1/ingest?name=" + name, text.encode(),
                       headers={"Content-Type": "text/plain"}, timeout=600)
    assert st == 202, body
    done = wait_job(srv, body["jobs"][0]["id"], timeout=1800)
    assert done["state"] == "completed", done
    return done["document_id"]


def search_ms(srv):
    t0 = time.perf_counter()
    st, _, body = call(srv, "POST", "/v1/search", {"query": "zqsmallq heron", "k": 5, "mode": "lexical"})
    assert st == 200 and body["hits"], body
    return (time.perf_counter() - t0) * 1000


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100))]


def main():
    paragraphs = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    tmp = tempfile.mkdtemp(prefix="sluice-delbench-")
    try:
        srv = Sluiced(tmp, sets=["embed.provider=hash", "delete.batch=%d" % batch])
        big = ingest(srv, "big.txt", "\n\n".join(
            "Paragraph %d: the keeper of the zqbigq lighthouse counted %d gulls, mended the nets and "
            "wrote the tide tables by hand before the lamps were lit." % (i, i * 7) for i in range(paragraphs)))
        ingest(srv, "small.txt", "The zqsmallq heron stands in the shallows.\n")
        db = sqlite3.connect(os.path.join(srv.data, "sluice.db"))
        chunks = db.execute("SELECT COUNT(*) FROM chunks WHERE document_id = ?", (big,)).fetchone()[0]
        # the first search loads the workspace's vectors (and may build its graph): not measured
        call(srv, "POST", "/v1/search", {"query": "zqsmallq heron", "k": 5}, timeout=900)
        idle = [search_ms(srv) for _ in range(200)]
        during, stop = [], threading.Event()

        def searcher():
            while not stop.is_set():
                during.append(search_ms(srv))
        t = threading.Thread(target=searcher)
        t.start()
        t0 = time.perf_counter()
        st, _, body = call(srv, "DELETE", "/v1/documents/" + big)
        accepted_ms = (time.perf_counter() - t0) * 1000
        assert st == 202, body
        while db.execute("SELECT COUNT(*) FROM documents WHERE id = ?", (big,)).fetchone()[0]:
            time.sleep(0.01)
        took = time.perf_counter() - t0
        stop.set()
        t.join()
        print("document: %d chunks; delete.batch=%d; 202 after %.1f ms; deleted in %.2f s"
              % (chunks, batch, accepted_ms, took))
        for name, xs in (("idle", idle), ("during the deletion", during)):
            print("search %-20s n=%4d  p50 %6.1f ms  p95 %6.1f ms  p99 %6.1f ms  max %6.1f ms"
                  % (name, len(xs), pct(xs, 50), pct(xs, 95), pct(xs, 99), max(xs)))
        srv.stop()
    finally:
        for p in test_edge.PROCS:
            if p.proc.poll() is None:
                p.proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
