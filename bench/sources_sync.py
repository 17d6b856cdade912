#!/usr/bin/python3
"""sources_sync: what a source sync costs when little or nothing changed.

Starts a real sluiced (embed.provider=hash, so the numbers are the sync's,
not the encoder's), registers a folder of N small text files and a list of
U URLs served by a local http.server thread with ETags, and times, from the
runs' own started/finished: the first sync (everything new, ingested), a
re-sync with nothing changed, and a re-sync with one file and one page
changed. Prints one line per measurement.

Usage: bench/sources_sync.py [N files, default 2000] [U urls, default 200]
Env:   SLUICED (default build-rel/actors/sluiced, else build/actors/sluiced)
"""
import os, shutil, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
if "SLUICED" not in os.environ:
    rel = os.path.join(ROOT, "build-rel", "actors", "sluiced")
    os.environ["SLUICED"] = rel if os.path.exists(rel) else os.path.join(ROOT, "build", "actors", "sluiced")
import test_edge  # noqa: E402
from test_sources import Site, add_source, counts, stage_counts, sync, wait_run, write  # noqa: E402


def timed(srv, sid, n):
    run = wait_run(srv, sid, n, timeout=3600)
    return run, (run["finished"] - run["started"]) / 1000.0


def main():
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    urls = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    tmp = tempfile.mkdtemp(prefix="sluice-bench-sources-")
    try:
        root = os.path.join(tmp, "docs")
        for i in range(files):
            write(os.path.join(root, "d%02d" % (i % 50), "f%05d.txt" % i),
                  "File %d of the bench: the kestrel %d hovers over the weir.\n" % (i, i))
        site = Site({"/p%04d" % i: "page %d of the bench, zqpage%dq" % (i, i) for i in range(urls)})
        srv = test_edge.Sluiced(tmp, sets=["sources.poll_ms=100", "fetch.file_roots=" + root,
                                           "fetch.allow_cidrs=127.0.0.1/32", "embed.provider=hash",
                                           "jobs.max_pending=100000"])
        print("sluiced: %s" % os.environ["SLUICED"])
        folder = add_source(srv, {"kind": "folder", "path": root})
        run, s = timed(srv, folder["id"], 1)
        print("folder, %d files, first sync (all new, ingested): %.2f s  %s" % (files, s, counts(run)))
        before = stage_counts(srv)
        sync(srv, folder["id"])
        run, s = timed(srv, folder["id"], 2)
        after = stage_counts(srv)
        print("folder, %d files, re-sync, nothing changed: %.3f s  %s  fetched %d parsed %d" % (
            files, s, counts(run), after.get("fetch", 0) - before.get("fetch", 0),
            after.get("parse", 0) - before.get("parse", 0)))
        write(os.path.join(root, "d00", "f00000.txt"), "changed: the kestrel left.\n")
        sync(srv, folder["id"])
        run, s = timed(srv, folder["id"], 3)
        print("folder, %d files, re-sync, one changed: %.3f s  %s" % (files, s, counts(run)))

        src = add_source(srv, {"kind": "urls", "urls": [site.url(p) for p in sorted(site.pages)]})
        run, s = timed(srv, src["id"], 1)
        print("urls, %d pages, first sync (all new, ingested): %.2f s  %s" % (urls, s, counts(run)))
        site.log.clear()
        sync(srv, src["id"])
        run, s = timed(srv, src["id"], 2)
        print("urls, %d pages, re-sync, nothing changed: %.3f s  %s  requests: %d HEAD 304, %d GET" % (
            urls, s, counts(run), len(site.responses("HEAD", 304)), len(site.responses("GET"))))
        site.log.clear()
        site.pages["/p0000"] = "page 0 changed"
        sync(srv, src["id"])
        run, s = timed(srv, src["id"], 3)
        print("urls, %d pages, re-sync, one changed: %.3f s  %s  requests: %d HEAD 304, %d GET with a body" % (
            urls, s, counts(run), len(site.responses("HEAD", 304)), len(site.responses("GET", 200))))
    finally:
        while test_edge.PROCS:
            test_edge.PROCS.pop().stop()
        for cleanup in test_edge.CLEANUPS:
            cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
