#!/usr/bin/python3
"""test_sources: registered sources kept in sync, on real processes.

Each test starts real `sluiced` processes (temp --data, free ports) and
talks to them over HTTP on loopback: a folder the test writes and changes,
a local web site (a Python http.server thread serving ETags, HEAD, and a
sitemap index) the test changes, a second and third node sharing the
store and broker, a node killed mid-sync. Nothing of Sluice is imitated.

Usage: test_sources.py [test_name ...]   Env: SLUICED
"""
import http.server, json, os, re, signal, sys, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_edge  # noqa: E402
from test_edge import Sluiced, call, check  # noqa: E402
import pg  # noqa: E402

LOCAL = "fetch.allow_cidrs=127.0.0.1/32"
FAST = ["sources.poll_ms=200"]


def add_source(srv, source, key=None, status=201):
    st, _, body = call(srv, "POST", "/v1/sources", source, key=key)
    check(st == status, "add source: %d" % status, st, body)
    return body.get("source", body)


def runs(srv, sid, key=None):
    st, _, body = call(srv, "GET", "/v1/sources/%s/runs?limit=100" % sid, key=key)
    check(st == 200, "runs", st, body)
    return body["runs"]


def wait_run(srv, sid, count, timeout=120, key=None):
    """Wait until the source has `count` finished runs; the newest."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = [r for r in runs(srv, sid, key) if r["state"] in ("completed", "failed")]
        if len(done) >= count:
            return done[0]
        time.sleep(0.2)
    raise TimeoutError("source %s: %d runs not finished: %s" % (sid, count, runs(srv, sid, key)))


def sync(srv, sid, key=None):
    st, _, body = call(srv, "POST", "/v1/sources/%s/sync" % sid, key=key)
    check(st == 202, "sync accepted", st, body)
    return body["run"]


def counts(run):
    return {k: run[k] for k in ("new", "changed", "deleted", "unchanged", "failed")}


def stage_counts(srv):
    """Messages each stage handled, from /metrics."""
    st, _, text = call(srv, "GET", "/metrics")
    check(st == 200, "metrics", st)
    out = {}
    for m in re.finditer(r'sluice_stage_duration_seconds_count\{stage="(\w+)",outcome="(\w+)"\} (\d+)', text):
        out[m.group(1)] = out.get(m.group(1), 0) + int(m.group(3))
    return out


def search(srv, q, key=None):
    st, _, body = call(srv, "GET", "/v1/search?mode=lexical&k=20&q=" + q, key=key)
    check(st == 200, "search", st, body)
    return body["hits"]


def documents(srv, key=None):
    st, _, body = call(srv, "GET", "/v1/documents?limit=500", key=key)
    check(st == 200, "documents", st, body)
    return body["documents"]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


# --------------------------------------------------------------------------
# A site: pages with strong ETags, HEAD, conditional requests, a sitemap
# index; every response logged as (method, path, status).

class Site:
    def __init__(self, pages, delay=0.0):
        self.pages = dict(pages)          # path -> body text
        self.lastmod = {}                 # path -> <lastmod> in the sitemaps
        self.log = []
        self.delay = delay
        self.extra = {}                   # path -> raw bytes served as is (sitemaps for refusals)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle(self):
                try:
                    super().handle()
                except OSError:
                    pass

            def answer(self, head):
                path = self.path
                if outer.delay and path.startswith("/p"):
                    time.sleep(outer.delay)
                if path in outer.extra:
                    body, ctype, etag = outer.extra[path], "application/xml", None
                elif path == "/sitemap.xml":
                    body = outer.index().encode()
                    ctype, etag = "application/xml", None
                elif path.startswith("/sitemap-"):
                    body = outer.sitemap(path).encode()
                    ctype, etag = "application/xml", None
                elif path in outer.pages:
                    body = ("<html><head><title>%s</title></head><body><p>%s</p></body></html>"
                            % (path, outer.pages[path])).encode()
                    ctype = "text/html; charset=utf-8"
                    etag = '"%x"' % (hash(body) & 0xffffffff)
                else:
                    outer.log.append((self.command, path, 404))
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if etag and self.headers.get("If-None-Match") == etag:
                    outer.log.append((self.command, path, 304))
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                outer.log.append((self.command, path, 200))
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def do_GET(self):
                self.answer(False)

            def do_HEAD(self):
                if self.path.startswith("/nohead"):
                    outer.log.append(("HEAD", self.path, 405))
                    self.send_response(405)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.answer(True)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        test_edge.CLEANUPS.append(self.close)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.httpd.server_port, path)

    def index(self):
        return ("<?xml version='1.0'?><sitemapindex xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>"
                "<sitemap><loc>%s</loc></sitemap><sitemap><loc>%s</loc></sitemap></sitemapindex>"
                % (self.url("/sitemap-1.xml"), self.url("/sitemap-2.xml")))

    def sitemap(self, path):
        paths = sorted(self.pages)
        half = paths[: len(paths) // 2] if path == "/sitemap-1.xml" else paths[len(paths) // 2:]
        entries = "".join("<url><loc>%s</loc>%s</url>" % (
            self.url(p), "<lastmod>%s</lastmod>" % self.lastmod[p] if p in self.lastmod else "")
            for p in half)
        return "<?xml version='1.0'?><urlset xmlns='http://www.sitemaps.org/schemas/sitemap/0.9'>%s</urlset>" % entries

    def responses(self, method=None, status=None, pages_only=True):
        return [e for e in self.log if (method is None or e[0] == method) and (status is None or e[2] == status)
                and (not pages_only or e[1].startswith("/p"))]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --------------------------------------------------------------------------
# Tests

def test_folder_sync_tracks_changes(tmp):
    """Added, changed, renamed, touched and removed files: counts exact,
    unchanged files neither fetched nor parsed, search follows."""
    root = os.path.join(tmp, "docs")
    write(os.path.join(root, "a.txt"), "The quokka zqalphaq sits alone.\n")
    write(os.path.join(root, "b.txt"), "The pelican zqbravoq version one.\n")
    write(os.path.join(root, "sub", "c.txt"), "The wombat zqcharlieq is steady.\n")
    write(os.path.join(root, "d.txt"), "The narwhal zqdeltaq moves house.\n")
    write(os.path.join(root, "f.txt"), "The axolotl zqfoxtrotq never changes.\n")
    srv = Sluiced(tmp, sets=FAST + ["fetch.file_roots=" + root])
    src = add_source(srv, {"kind": "folder", "path": root, "meta": {"team": "docs"}})
    first = wait_run(srv, src["id"], 1)
    check(first["state"] == "completed", "first run completed", first)
    check(counts(first) == {"new": 5, "changed": 0, "deleted": 0, "unchanged": 0, "failed": 0},
          "first run counts", first)
    check(len(search(srv, "zqalphaq")) == 1, "a.txt searchable")
    before = stage_counts(srv)

    write(os.path.join(root, "e.txt"), "The ibis zqechoq arrives new.\n")                 # new
    write(os.path.join(root, "b.txt"), "The pelican zqbravotwoq version two.\n")          # changed
    c = os.path.join(root, "sub", "c.txt")
    os.utime(c, (time.time() + 5, time.time() + 5))                                      # touched only
    os.makedirs(os.path.join(root, "moved"))
    os.rename(os.path.join(root, "d.txt"), os.path.join(root, "moved", "d.txt"))         # renamed
    os.remove(os.path.join(root, "a.txt"))                                               # removed
    sync(srv, src["id"])
    second = wait_run(srv, src["id"], 2)
    check(second["state"] == "completed", "second run completed", second)
    check(counts(second) == {"new": 2, "changed": 2, "deleted": 2, "unchanged": 1, "failed": 0},
          "second run counts: new e + moved/d, changed b + touched c, deleted a + d, f unchanged", second)
    after = stage_counts(srv)
    # fetch sees the 4 submitted (e, moved/d, b, c), never f; parse only
    # the 2 with new bytes (e, b): c and moved/d are known content
    check(after.get("fetch", 0) - before.get("fetch", 0) == 4, "4 fetched", before, after)
    check(after.get("parse", 0) - before.get("parse", 0) == 2, "2 parsed", before, after)
    check(len(search(srv, "zqechoq")) == 1, "new file found")
    check(len(search(srv, "zqbravotwoq")) == 1, "new version found")
    check(len(search(srv, "zqbravoq")) == 0, "old version gone")
    check(len(search(srv, "zqalphaq")) == 0, "removed file never found")
    hits = search(srv, "zqdeltaq")
    check(len(hits) == 1 and hits[0]["source"].endswith("/moved/d.txt"), "renamed file kept, under its new name", hits)
    docs = documents(srv)
    check(len(docs) == 5, "one document per file", [d["source"] for d in docs])
    check(all(d["meta"] == {"team": "docs"} for d in docs), "attributes on every document", docs)
    # the jobs carry their run
    st, _, body = call(srv, "GET", "/v1/jobs?limit=100")
    mine = [j for j in body["jobs"] if j.get("source_run") == second["id"]]
    check(len(mine) == 4 and all(j.get("source_id") == src["id"] for j in mine), "4 jobs of run 2", body)
    # a third sync with nothing changed fetches nothing
    sync(srv, src["id"])
    third = wait_run(srv, src["id"], 3)
    check(counts(third) == {"new": 0, "changed": 0, "deleted": 0, "unchanged": 5, "failed": 0}, "idle run", third)
    check(stage_counts(srv).get("fetch", 0) == after.get("fetch", 0), "nothing fetched by the idle run")


def test_site_resync_conditional(tmp):
    """A sitemap index over pages with ETags: re-synced with one page changed,
    that page is fetched with a body, the others answer 304; a page with a
    <lastmod> that did not move is not asked about at all."""
    site = Site({"/p1": "zqoneq first page", "/p2": "zqtwoq second page", "/p3": "zqthreeq third",
                 "/p4": "zqfourq fourth"})
    site.lastmod["/p4"] = "2024-01-01"
    srv = Sluiced(tmp, sets=FAST + [LOCAL])
    src = add_source(srv, {"kind": "sitemap", "url": site.url("/sitemap.xml")})
    first = wait_run(srv, src["id"], 1)
    check(counts(first) == {"new": 4, "changed": 0, "deleted": 0, "unchanged": 0, "failed": 0}, "first", first)
    site.log.clear()
    site.pages["/p2"] = "zqtwochangedq second page, rewritten"
    sync(srv, src["id"])
    second = wait_run(srv, src["id"], 2)
    check(counts(second) == {"new": 0, "changed": 1, "deleted": 0, "unchanged": 3, "failed": 0}, "second", second)
    bodies = site.responses("GET", 200)
    check(bodies == [("GET", "/p2", 200)], "one fetch with a body: the changed page", site.log)
    check(sorted(p for _, p, _ in site.responses("HEAD", 304)) == ["/p1", "/p3"], "the rest answered 304", site.log)
    check(not [e for e in site.log if e[1] == "/p4"], "a page whose lastmod did not move is not asked", site.log)
    check(len(search(srv, "zqtwochangedq")) == 1 and not search(srv, "zqtwoq"), "changed page replaced")
    # dropped from the sitemap: deleted
    del site.pages["/p3"]
    sync(srv, src["id"])
    third = wait_run(srv, src["id"], 3)
    check(third["deleted"] == 1 and not search(srv, "zqthreeq"), "vanished page deleted", third)


def test_urls_source_conditional(tmp):
    """A list of URLs: a re-sync asks each with If-None-Match; 304 = unchanged."""
    site = Site({"/pa": "zqpaq", "/pb": "zqpbq"})
    srv = Sluiced(tmp, sets=FAST + [LOCAL])
    src = add_source(srv, {"kind": "urls", "urls": [site.url("/pa"), site.url("/pb")]})
    check(counts(wait_run(srv, src["id"], 1))["new"] == 2, "first")
    site.log.clear()
    sync(srv, src["id"])
    second = wait_run(srv, src["id"], 2)
    check(counts(second) == {"new": 0, "changed": 0, "deleted": 0, "unchanged": 2, "failed": 0}, "second", second)
    check(sorted(site.log) == [("HEAD", "/pa", 304), ("HEAD", "/pb", 304)], "only conditional HEADs", site.log)
    # a server that refuses HEAD: the page goes to fetch each time, and
    # fetch's dedupe by content keeps it from being parsed again
    site.pages["/nohead1"] = "zqnoheadq"
    other = add_source(srv, {"kind": "urls", "urls": [site.url("/nohead1")]})
    check(counts(wait_run(srv, other["id"], 1))["new"] == 1, "405 to HEAD: ingested anyway")
    before = stage_counts(srv)
    sync(srv, other["id"])
    again = wait_run(srv, other["id"], 2)
    after = stage_counts(srv)
    check(again["changed"] == 1 and again["failed"] == 0, "no evidence: submitted again", again)
    check(after.get("fetch", 0) - before.get("fetch", 0) == 1 and after.get("parse", 0) == before.get("parse", 0),
          "fetched, not parsed", before, after)


def test_schedule_fires_by_itself(tmp):
    root = os.path.join(tmp, "docs")
    write(os.path.join(root, "one.txt"), "zqscheduleoneq\n")
    srv = Sluiced(tmp, sets=FAST + ["fetch.file_roots=" + root])
    src = add_source(srv, {"kind": "folder", "path": root, "schedule": "every 2s"})
    check(src["schedule"] == "every 2s", "schedule kept", src)
    wait_run(srv, src["id"], 1)
    write(os.path.join(root, "two.txt"), "zqscheduletwoq\n")
    # nobody asks for a sync: the schedule brings the new file
    second = wait_run(srv, src["id"], 2, timeout=60)
    check(second["new"] == 1 and search(srv, "zqscheduletwoq"), "the new file came by itself", second)
    done = [r for r in runs(srv, src["id"]) if r["state"] == "completed"]
    check(len(done) >= 2 and all(r["trigger"] == "schedule" for r in done), "runs by the schedule", done)
    check(any(r["new"] == 1 for r in done), "the new file came with a scheduled run", done)
    st, _, body = call(srv, "GET", "/v1/sources/" + src["id"])
    check(st == 200 and body["source"]["next_sync"], "next sync announced", body)
    # PATCH: no schedule, no more runs by themselves
    st, _, body = call(srv, "PATCH", "/v1/sources/" + src["id"], {"schedule": None})
    check(st == 200 and body["source"]["next_sync"] is None, "schedule removed", st, body)


def _slow_site(n, delay):
    return Site({"/p%02d" % i: "zqslow%02dq page" % i for i in range(n)}, delay=delay)


def test_two_nodes_never_overlap(tmp):
    """Two processes syncing the same sources from one store: never two runs
    of one source at once (a store lease per source)."""
    site = _slow_site(6, 0.15)
    srv = Sluiced(tmp, sets=FAST + [LOCAL, "sources.lease_s=5"])
    other = Sluiced(tmp, name="second", role="sources", broker_port=srv.broker_port, data=srv.data,
                    sets=FAST + [LOCAL, "sources.lease_s=5"], wait=False)
    src = add_source(srv, {"kind": "urls", "urls": [site.url(p) for p in sorted(site.pages)],
                           "schedule": "every 1s"})
    wait_run(srv, src["id"], 6, timeout=180)
    check(other.proc.poll() is None, "second node alive")
    done = sorted((r for r in runs(srv, src["id"]) if r["state"] == "completed"), key=lambda r: r["started"])
    for a, b in zip(done, done[1:]):
        check(a["finished"] <= b["started"], "runs never overlap", a, b)
    owners = {r["owner"] for r in done}
    check(len(owners) >= 1, "owners", owners)
    check(len(documents(srv)) == 6, "one document per page", len(documents(srv)))


def test_killed_node_run_taken_over(tmp, store=()):
    """A node killed mid-sync: after the lease the other node resumes the same
    run; counts exact, no duplicates."""
    site = _slow_site(8, 0.6)
    srv = Sluiced(tmp, sets=[LOCAL, "sources.scheduler=false", "jobs.stale_s=3", "jobs.redrive_interval_s=1"]
                  + list(store))
    sets = FAST + [LOCAL, "sources.lease_s=3"] + list(store)
    first = Sluiced(tmp, name="first", role="sources", broker_port=srv.broker_port, data=srv.data,
                    sets=sets, wait=False)
    src = add_source(srv, {"kind": "urls", "urls": [site.url(p) for p in sorted(site.pages)]})
    deadline = time.time() + 60
    while time.time() < deadline:
        now = runs(srv, src["id"])
        if now and now[0]["state"] == "running" and len(site.responses("HEAD")) >= 3:
            break
        time.sleep(0.1)
    check(now and now[0]["state"] == "running", "run began on the first node", now)
    run_id = now[0]["id"]
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    killed_at = time.time()
    second = Sluiced(tmp, name="second", role="sources", broker_port=srv.broker_port, data=srv.data,
                     sets=sets, wait=False)
    done = wait_run(srv, src["id"], 1, timeout=180)
    check(done["id"] == run_id, "the same run finished", done, run_id)
    check(done["state"] == "completed" and done.get("resumed") == 1, "resumed once", done)
    check(done["owner"].endswith(":%d" % second.proc.pid), "by the second node", done)
    check(done["finished"] / 1000.0 > killed_at, "after the kill")
    check(counts(done) == {"new": 8, "changed": 0, "deleted": 0, "unchanged": 0, "failed": 0}, "counts exact", done)
    docs = documents(srv)
    check(len(docs) == 8 and len({d["source"] for d in docs}) == 8, "no duplicates", [d["source"] for d in docs])


def test_killed_node_run_taken_over_postgres(tmp):
    """The same on PostgreSQL (tests/pg_server.sh): leases, runs and items
    in the shared database."""
    try:
        url, pgdir = pg.start(tmp, test_edge.free_ports(1))
    except pg.NotInstalled as e:
        raise test_edge.Skip(str(e))
    try:
        test_killed_node_run_taken_over(tmp, store=["store.url=" + url])
    finally:
        pg.stop(pgdir)


def test_refusals_say_why(tmp):
    root = os.path.join(tmp, "docs")
    outside = os.path.join(tmp, "elsewhere")
    write(os.path.join(root, "x.txt"), "zqxq\n")
    write(os.path.join(outside, "y.txt"), "zqyq\n")
    site = Site({"/p1": "zqponeq"})
    site.extra["/notxml.xml"] = b"this is not xml"
    site.extra["/html.xml"] = b"<html><body>hello</body></html>"
    site.extra["/big.xml"] = b"<urlset>" + b"<url><loc>http://127.0.0.1/x</loc></url>" * 200 + b"</urlset>"
    ka, kb = "key-alpha-123456", "key-bravo-654321"
    srv = Sluiced(tmp, sets=FAST + [LOCAL, "fetch.file_roots=" + root, "sources.max_sitemap_bytes=4096",
                                     "auth.keys=%s:alpha,%s:bravo" % (ka, kb)])

    def refused(source, status, says):
        st, _, body = call(srv, "POST", "/v1/sources", source, key=ka)
        check(st == status and says in body["error"]["message"], "refused %d: %s" % (status, says), st, body)

    refused({"kind": "folder", "path": outside}, 400, "outside fetch.file_roots")
    refused({"kind": "folder", "path": root + "/../elsewhere"}, 400, "outside fetch.file_roots")
    refused({"kind": "folder", "path": root, "schedule": "every 15 minutes"}, 400, "neither an interval")
    refused({"kind": "folder", "path": root, "schedule": "61 * * * *"}, 400, "cron minute field")
    refused({"kind": "urls", "urls": ["http://10.1.2.3/doc"]}, 400, "private")
    refused({"kind": "sitemap", "url": "http://169.254.169.254/sitemap.xml"}, 400, "refused")
    refused({"kind": "urls", "urls": []}, 400, "list of 1 to")
    refused({"kind": "ftp"}, 400, "kind must be")
    refused({"kind": "folder", "path": root, "meta": {"a": {"b": 1}}}, 400, "")
    st, _, body = call(srv, "POST", "/v1/sources", b"{not json", key=ka)
    check(st == 400 and "malformed JSON" in body["error"]["message"], "bad JSON", st, body)
    src = add_source(srv, {"kind": "folder", "path": root}, key=ka)
    refused({"kind": "folder", "path": root + "/"}, 409, "already has a source")
    # another workspace's source is not there
    for method, path in (("GET", ""), ("PATCH", ""), ("POST", "/sync"), ("GET", "/runs"), ("DELETE", "")):
        st, _, body = call(srv, method, "/v1/sources/%s%s" % (src["id"], path),
                           {"schedule": "every 1h"} if method == "PATCH" else None, key=kb)
        check(st == 404, "other workspace: %s %s is 404" % (method, path), st, body)
    st, _, body = call(srv, "GET", "/v1/sources", key=kb)
    check(st == 200 and body["sources"] == [], "other workspace lists none", body)
    st, _, body = call(srv, "PATCH", "/v1/sources/" + src["id"], {"path": "/"}, key=ka)
    check(st == 400 and "cannot change" in body["error"]["message"], "target is fixed", st, body)
    # sitemaps that are not: the run fails with the reason, nothing deleted
    for name, says in (("/notxml.xml", "not well-formed XML"), ("/html.xml", "root element is <html>"),
                       ("/big.xml", "limit")):
        s = add_source(srv, {"kind": "sitemap", "url": site.url(name)}, key=ka)
        run = wait_run(srv, s["id"], 1, key=ka)
        check(run["state"] == "failed" and says in run.get("error", ""), "sitemap %s fails: %s" % (name, says), run)
    wait_run(srv, src["id"], 1, key=ka)
    # the folder goes away: the run fails, its documents stay
    os.rename(root, root + ".gone")
    sync(srv, src["id"], key=ka)
    run = wait_run(srv, src["id"], 2, key=ka)
    check(run["state"] == "failed" and "nothing was deleted" in run["error"], "vanished folder", run)
    check(len(search(srv, "zqxq", key=ka)) == 1, "its documents stay")
    # deleting the source deletes its documents
    st, _, body = call(srv, "DELETE", "/v1/sources/" + src["id"], key=ka)
    check(st == 200 and body["documents_deleted"] == 1, "deleted with its documents", st, body)
    check(not search(srv, "zqxq", key=ka), "and they are not found")
    st, _, body = call(srv, "GET", "/v1/sources/" + src["id"], key=ka)
    check(st == 404, "gone", st, body)


CLI = os.environ.get("SLUICE_CLI", os.path.join(test_edge.ROOT, "build", "bindings", "cli", "sluice"))


def test_cli_sources_and_sync(tmp):
    """sluice sources add/ls/show/set/rm and sluice sync --wait, exit codes included."""
    import subprocess
    root = os.path.join(tmp, "docs")
    write(os.path.join(root, "a.txt"), "zqcliaq\n")
    srv = Sluiced(tmp, sets=FAST + ["fetch.file_roots=" + root])
    env = dict(os.environ, SLUICE_SERVER="http://127.0.0.1:%d" % srv.http_port)

    def cli(*args):
        p = subprocess.run([CLI] + list(args), env=env, capture_output=True, text=True, timeout=120)
        return p.returncode, p.stdout, p.stderr

    rc, out, err = cli("--json", "sources", "add", "folder", root, "--schedule", "every 1h", "--meta", "team=cli")
    check(rc == 0, "add", rc, out, err)
    sid = json.loads(out)["source"]["id"]
    wait_run(srv, sid, 1)
    write(os.path.join(root, "b.txt"), "zqclibq\n")
    rc, out, err = cli("sync", sid, "--wait")
    check(rc == 0 and "new 1" in out and "unchanged 1" in out, "sync --wait prints the run", rc, out, err)
    rc, out, err = cli("sources")
    check(rc == 0 and sid in out and "every 1h" in out, "ls", rc, out, err)
    rc, out, err = cli("sources", "set", sid, "--schedule", "none")
    check(rc == 0 and "schedule: none" in out, "set", rc, out, err)
    rc, out, err = cli("sources", "add", "folder", "/etc")
    check(rc == 2 and "outside fetch.file_roots" in err, "refusal is exit 2 with the reason", rc, err)
    rc, out, err = cli("sync", "0" * 32)
    check(rc == 4, "unknown source is exit 4", rc, err)
    rc, out, err = cli("sources", "rm", sid)
    check(rc == 0 and "2 documents" in out, "rm", rc, out, err)
    check(not search(srv, "zqcliaq"), "its documents went")


def test_python_client_sources(tmp):
    """The Python package: add, list, sync and wait, runs, refusal, delete."""
    sys.path.insert(0, os.path.join(test_edge.ROOT, "bindings", "python"))
    import sluice
    root = os.path.join(tmp, "docs")
    write(os.path.join(root, "a.txt"), "zqpyaq\n")
    srv = Sluiced(tmp, sets=FAST + ["fetch.file_roots=" + root])
    with sluice.Client("tcp://127.0.0.1:%d" % srv.broker_port, timeout=30) as client:
        src = client.add_source("folder", path=root, meta={"team": "py"})
        check(src["kind"] == "folder" and src["meta"] == {"team": "py"}, "added", src)
        check([s["id"] for s in client.sources()] == [src["id"]], "listed")
        wait_run(srv, src["id"], 1)
        write(os.path.join(root, "b.txt"), "zqpybq\n")
        run = client.wait_sync(src["id"], client.sync(src["id"])["id"], timeout=120)
        check(run["state"] == "completed" and run["new"] == 1 and run["unchanged"] == 1, "synced", run)
        check(len(client.source_runs(src["id"])) == 2, "two runs")
        check(client.update_source(src["id"], schedule="every 1h")["schedule"] == "every 1h", "updated")
        try:
            client.add_source("folder", path=root, schedule="whenever")
            check(False, "bad schedule refused")
        except sluice.Refused as e:
            check("neither an interval" in str(e), "with the reason", e)
        check(client.delete_source(src["id"]) == 2, "deleted with its 2 documents")
        try:
            client.source(src["id"])
            check(False, "gone")
        except sluice.NotFound:
            pass


def test_crawl_limits_and_robots(tmp):
    """A crawl stays on its site, stops at its depth and page limits, honours
    robots.txt; a re-crawl re-ingests only the page whose bytes changed."""
    site = Site({})
    link = lambda *paths: " ".join('<a href="%s">%s</a>' % (p, p) for p in paths)
    site.pages.update({
        "/c/": "zqcstartq " + link("a.html", "b.html", "/private/x.html", "deep1.html", "#top",
                                   "http://127.0.0.2:%d/c/a.html" % site.httpd.server_port, "mailto:x@y"),
        "/c/a.html": "zqcaq " + link("/c/"),
        "/c/b.html": "zqcbq",
        "/c/deep1.html": "zqcdeeponeq " + link("deep2.html"),
        "/c/deep2.html": "zqcdeeptwoq " + link("deep3.html"),
        "/c/deep3.html": "zqcdeepthreeq",
        "/private/x.html": "zqcprivateq",
    })
    site.extra["/robots.txt"] = b"User-agent: *\nDisallow: /private\n"
    srv = Sluiced(tmp, sets=FAST + [LOCAL])
    src = add_source(srv, {"kind": "crawl", "url": site.url("/c/"), "max_depth": 2})
    first = wait_run(srv, src["id"], 1)
    check(first["state"] == "completed" and counts(first)["new"] == 5, "start, a, b, deep1, deep2", first)
    check(first.get("robots_skipped") == 1, "robots.txt kept it out of /private", first)
    check(not [e for e in site.log if e[1].startswith("/private")], "never asked for /private", site.log)
    check(not search(srv, "zqcdeepthreeq") and search(srv, "zqcdeeptwoq"), "depth 2 and no deeper")
    check(len(documents(srv)) == 5, "five documents", [d["source"] for d in documents(srv)])
    small = add_source(srv, {"kind": "crawl", "url": site.url("/c/a.html"), "max_pages": 2})
    check(wait_run(srv, small["id"], 1)["new"] == 2, "max_pages 2: the start page and one more")
    # one page changed, one no longer linked
    site.pages["/c/b.html"] = "zqcbchangedq"
    site.pages["/c/"] = site.pages["/c/"].replace('<a href="deep1.html">deep1.html</a>', "")
    sync(srv, src["id"])
    second = wait_run(srv, src["id"], 2)
    check(counts(second) == {"new": 0, "changed": 2, "deleted": 2, "unchanged": 1, "failed": 0},
          "start and b changed, deep1 and deep2 gone, a unchanged", second)
    check(search(srv, "zqcbchangedq") and not search(srv, "zqcdeeponeq"), "search follows")
    st, _, body = call(srv, "POST", "/v1/sources", {"kind": "crawl", "url": site.url("/c/"), "max_depth": 11})
    check(st == 400 and "max_depth" in body["error"]["message"], "limits checked", st, body)


TESTS = [
    test_folder_sync_tracks_changes,
    test_site_resync_conditional,
    test_urls_source_conditional,
    test_schedule_fires_by_itself,
    test_two_nodes_never_overlap,
    test_killed_node_run_taken_over,
    test_killed_node_run_taken_over_postgres,
    test_refusals_say_why,
    test_cli_sources_and_sync,
    test_python_client_sources,
    test_crawl_limits_and_robots,
]

if __name__ == "__main__":
    test_edge.TESTS = TESTS
    sys.exit(test_edge.main())
