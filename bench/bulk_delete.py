#!/usr/bin/python3
"""bulk_delete: search latency while thousands of documents are deleted.

Starts a real sluiced (embed.provider=hash: the numbers are the store's and
the deletion's, not an encoder's), ingests N small text documents through a
folder source, then measures search through the HTTP edge (GET /v1/search,
lexical and hybrid, one query at a time from one thread):
  - idle: Q searches with nothing else running;
  - during: searches for as long as a bulk delete of every document runs
    (DELETE /v1/documents/{id} from 8 threads, all documents), until the
    documents are gone.
Prints p50/p95/p99 for both phases and the ratio, how long the deletion
took, and checks that no deleted document appears in a hit once its DELETE
was answered.

Usage: bench/bulk_delete.py [N documents, default 10000] [Q idle searches, default 400]
Env:   SLUICED (default build-rel/actors/sluiced, else build/actors/sluiced)
"""
import concurrent.futures, json, os, random, shutil, sys, tempfile, threading, time, urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
if "SLUICED" not in os.environ:
    rel = os.path.join(ROOT, "build-rel", "actors", "sluiced")
    os.environ["SLUICED"] = rel if os.path.exists(rel) else os.path.join(ROOT, "build", "actors", "sluiced")
import test_edge  # noqa: E402
from test_sources import add_source, wait_run, write  # noqa: E402

WORDS = ["kestrel", "weir", "heron", "sluice", "ledger", "gate", "marsh", "reed", "otter", "tide"]


def http(srv, method, path, body=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (srv.http_port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json"} if body is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def search_once(srv, rng):
    q = "%s %s" % (rng.choice(WORDS), rng.choice(WORDS))
    mode = rng.choice(("lexical", "hybrid"))
    t0 = time.perf_counter()
    st, body = http(srv, "GET", "/v1/search?q=%s&k=10&mode=%s" % (q.replace(" ", "+"), mode))
    ms = (time.perf_counter() - t0) * 1000
    if st != 200:
        raise RuntimeError("search answered %d: %s" % (st, body))
    return ms, [h["document_id"] for h in body.get("hits", [])]


def all_documents(srv):
    ids, offset = [], 0
    while True:
        st, body = http(srv, "GET", "/v1/documents?limit=1000&offset=%d" % offset)
        docs = body.get("documents", [])
        ids += [d["id"] for d in docs]
        if len(docs) < 1000:
            return ids
        offset += 1000


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    q = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    tmp = tempfile.mkdtemp(prefix="sluice-bench-delete-")
    rng = random.Random(7)
    try:
        root = os.path.join(tmp, "docs")
        for i in range(n):
            words = " ".join(rng.choice(WORDS) for _ in range(40))
            write(os.path.join(root, "d%02d" % (i % 100), "f%05d.txt" % i), "Document %d. %s.\n" % (i, words))
        srv = test_edge.Sluiced(tmp, sets=["sources.poll_ms=100", "fetch.file_roots=" + root, "embed.provider=hash",
                                           "jobs.max_pending=1000000", "log.level=warn"])
        print("sluiced: %s" % os.environ["SLUICED"])
        t0 = time.time()
        folder = add_source(srv, {"kind": "folder", "path": root})
        wait_run(srv, folder["id"], 1, timeout=7200)
        ids = all_documents(srv)
        print("ingested %d documents in %.1f s" % (len(ids), time.time() - t0))
        # idle
        for _ in range(20):
            search_once(srv, rng)
        idle = [search_once(srv, rng)[0] for _ in range(q)]
        # during a bulk delete
        deleted = set()
        lock = threading.Lock()
        done = threading.Event()

        def delete(doc):
            st, body = http(srv, "DELETE", "/v1/documents/" + doc)
            if st not in (200, 202, 204):
                raise RuntimeError("DELETE answered %d: %s" % (st, body))
            with lock:
                deleted.add(doc)

        def deleter():
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(delete, ids))
            done.set()

        t1 = time.time()
        threading.Thread(target=deleter, daemon=True).start()
        during, leaked = [], 0
        while not done.is_set() or len(during) < 50:
            with lock:
                gone = set(deleted)
            ms, hits = search_once(srv, rng)
            during.append(ms)
            leaked += sum(1 for d in hits if d in gone)
        accepted_s = time.time() - t1
        while all_documents(srv):
            time.sleep(0.5)
        finished_s = time.time() - t1
        ratio = pct(during, 99) / pct(idle, 99)
        print("idle:   %d searches  p50 %.2f ms  p95 %.2f ms  p99 %.2f ms" % (len(idle), pct(idle, 50), pct(idle, 95),
                                                                          pct(idle, 99)))
        print("delete: %d searches  p50 %.2f ms  p95 %.2f ms  p99 %.2f ms" % (len(during), pct(during, 50),
                                                                          pct(during, 95), pct(during, 99)))
        print("p99 during / idle: %.2fx; %d documents: every DELETE answered in %.1f s, all gone after %.1f s; "
              "hits of a document whose DELETE was answered: %d" % (ratio, len(ids), accepted_s, finished_s, leaked))
    finally:
        while test_edge.PROCS:
            test_edge.PROCS.pop().stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
