"""test_chaos: the scaled topology under fire.

A few hundred real documents (pages of the public corpus, split into small
PDFs) are ingested through both HTTP edges of a cluster of separate
processes (tests/cluster.py: PostgreSQL, broker, 2 edges, 2 control, 2 of
each stage) while a random actor process is kill -9'd every few seconds and
restarted, as Kubernetes would, and the broker itself is killed once and
restarted. At the end: every accepted job completed, chunk, vector and
document counts equal a single-process run on the same documents, no chunk
is duplicated (SQL), no job is stuck. It prints the counts.

Usage: /usr/bin/python3 tests/test_chaos.py [DOCS]
"""
import http.client, http.server, json, os, random, signal, subprocess, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CORPUS, Client, Runner, db, start, wait_for, wait_ready  # noqa: E402
from cluster import Cluster, SkipCluster  # noqa: E402

DOCS = int(os.environ.get("CHAOS_DOCS", "200"))
SETS = ["embed.provider=hash", "jobs.stale_s=10", "jobs.redrive_interval_s=2",
        "broker.heartbeat_ms=500", "jobs.message_attempts=8", "jobs.max_attempts=6"]


def make_docs(tmp, count):
    """Small distinct PDFs: consecutive 2-page slices of the corpus PDFs."""
    out = os.path.join(tmp, "docs")
    os.makedirs(out)
    docs = []
    pdfs = sorted(os.listdir(os.path.join(CORPUS, "pdf")))
    for name in pdfs:
        src = os.path.join(CORPUS, "pdf", name)
        info = subprocess.run(["mutool", "info", src], capture_output=True, text=True).stdout
        pages = int([l for l in info.splitlines() if l.startswith("Pages:")][0].split()[1])
        for first in range(1, pages, 2):
            if len(docs) >= count:
                return docs
            path = os.path.join(out, "%s-p%03d.pdf" % (name[:-4], first))
            subprocess.run(["mutool", "merge", "-o", path, src, "%d-%d" % (first, min(first + 1, pages))],
                           check=True, capture_output=True)
            docs.append(path)
    return docs


def counts_sql(query):
    return [int(x) for x in query("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks), "
                                  "(SELECT count(*) FROM vectors), (SELECT count(*) - count(DISTINCT document_id || ':' || ordinal) FROM chunks)").replace("|", " ").split()]


def reference(tmp, docs):
    data = os.path.join(tmp, "ref")
    os.makedirs(data)
    s = start(data, sets=SETS + ["fetch.file_roots=" + os.path.dirname(docs[0])])
    c = Client(s.port)
    wait_ready(c)
    jobs = [c.ingest(url="file://" + d)["id"] for d in docs]
    for j in jobs:
        assert c.wait(j, 300)["state"] == "completed"
    con = db(data)
    res = counts_sql(lambda q: "|".join(str(x) for x in con.execute(q).fetchone()))
    s.stop()
    return res


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


def serve(root):
    """The documents on a local web server: the edge takes http(s) URLs only."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a, **k: _Quiet(*a, directory=root, **k))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def post(port, url):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/v1/ingest", json.dumps({"url": url}),
                     {"Content-Type": "application/json"})
        r = conn.getresponse()
        body = r.read()
        return r.status, json.loads(body) if body else None
    finally:
        conn.close()


def test_chaos(tmp):
    if not os.path.isdir(os.path.join(CORPUS, "pdf")):
        return "skip"
    docs = make_docs(tmp, DOCS)
    ref = reference(tmp, docs)
    print("reference (one process, SQLite): documents=%d chunks=%d vectors=%d duplicates=%d" % tuple(ref), flush=True)
    srv = serve(os.path.dirname(docs[0]))
    base = "http://127.0.0.1:%d/" % srv.server_port
    try:
        cl = Cluster(os.path.join(tmp, "cluster"), sets=SETS + ["fetch.allow_cidrs=127.0.0.1/32"])
    except SkipCluster as e:
        print("skip: %s" % e)
        return "skip"
    accepted, refused, kills = [], [0], []
    done = threading.Event()

    def submitter():
        for i, doc in enumerate(docs):
            while True:
                # both edges take traffic; after a failure the other one is tried
                name = "edge-%d" % ((i + refused[0]) % 2)
                port = cl.procs[name].http_port
                try:
                    status, body = post(port, base + os.path.basename(doc))
                except (OSError, http.client.HTTPException):
                    status, body = 0, None
                if status == 202:
                    accepted.append(body["jobs"][0]["id"])
                    break
                refused[0] += 1         # 429/503/connection refused: not accepted, try again
                time.sleep(0.2)
            time.sleep(0.02)
        done.set()

    def chaos():
        broker_killed = False
        while not done.is_set() or len(kills) < 6:
            time.sleep(random.uniform(1.5, 3.0))
            if not broker_killed and len(accepted) > len(docs) // 3:
                broker_killed = True
                cl.procs["broker"].kill()
                kills.append("broker")
                time.sleep(1.0)
                cl.spawn("broker", "broker")
                continue
            victim = random.choice(cl.actors())
            cl.restart(victim)
            kills.append(victim)

    try:
        t1 = threading.Thread(target=submitter)
        t2 = threading.Thread(target=chaos)
        t1.start(); t2.start()
        t1.join(); t2.join()
        print("submitted: accepted=%d refused-and-retried=%d kills=%d (%s)"
              % (len(accepted), refused[0], len(kills), ", ".join(kills)), flush=True)
        c = Client(cl.port)
        wait_ready(c)
        pending = set(accepted)

        def all_done():
            for j in list(pending):
                r = c.job(j)
                if "job" in r and r["job"]["terminal"]:
                    assert r["job"]["state"] == "completed", r["job"]
                    pending.discard(j)
            return not pending
        wait_for(all_done, 300, "every accepted job to complete (%d left)" % len(pending))
        got = counts_sql(cl.psql)
        stuck = int(cl.psql("SELECT count(*) FROM jobs WHERE state NOT IN ('completed','failed')"))
        failed = int(cl.psql("SELECT count(*) FROM jobs WHERE state = 'failed'"))
        print("cluster (PostgreSQL, %d processes): documents=%d chunks=%d vectors=%d duplicates=%d stuck=%d failed=%d"
              % ((len(cl.procs),) + tuple(got) + (stuck, failed)), flush=True)
        assert got == ref, (got, ref)
        assert stuck == 0 and failed == 0
    finally:
        cl.stop()
        srv.shutdown()


if __name__ == "__main__":
    sys.exit(Runner().run([test_chaos]))
