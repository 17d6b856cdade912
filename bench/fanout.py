#!/usr/bin/python3
"""Page-range fan-out: one long generated PDF end to end (ingest request to
job completed, hash embedder) through one parse process, then through two.

    /usr/bin/python3 bench/fanout.py [pages] [rounds] [figure]
    PIN=1 ROLE2=parse,chunk,embed /usr/bin/python3 bench/fanout.py ...

Each round runs both set-ups, interleaved (the machine is shared: a
round's two runs see about the same load), each on a fresh data folder:
  one: sluiced --role all, parse.concurrency=1
  two: the same, plus sluiced --role parse (parse.concurrency=1) on the
       same data folder and broker
Both with fan-out at parse.range_pages (default 200). Also "whole": one
process with fan-out off (parse.range_pages=0), the pre-fan-out path.
Prints each run's seconds and each round's ratio one/two, end to end
and for the parse stage alone (first parse stage_started to the join's
stage_completed, from the journal's event timestamps).

PIN=1 runs each process on one core of its own (taskset: the first
process on CPU 0, the second on CPU 1), as pods with one CPU each on a
cluster: "one" is then one such pod's capacity, not the whole machine's
(unpinned, the single process's other stages and the broker use the second
core too, which on a two-core machine leaves the second process little to
add). ROLE2 gives the second process's roles (default parse; the
issue's "two parse processes"); with parse,chunk,embed it also takes a
share of the long document's embed parts.
"""
import os, shutil, stat, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import harness  # noqa: E402
from harness import Client, Sluiced, big_pdf, wait_for, wait_ready  # noqa: E402

PIN = os.environ.get("PIN") == "1"
ROLE2 = os.environ.get("ROLE2", "parse")
BINARY = harness.SLUICED


def pinned(cpu, tmp):
    """A wrapper running the sluiced binary on one CPU (PIN=1), else the binary."""
    if not PIN:
        return BINARY
    path = os.path.join(tmp, "sluiced-cpu%d" % cpu)
    with open(path, "w") as f:
        f.write('#!/bin/sh\nexec taskset -c %d %s "$@"\n' % (cpu, BINARY))
    os.chmod(path, stat.S_IRWXU)
    return path

BASE = ["embed.provider=hash", "parse.concurrency=1"]


def stage_span(c, job, stage):
    """Seconds from the first stage_started of stage to its last
    stage_completed (the journal's event timestamps)."""
    ts = [e.get("data", e).get("ts") for e in c.events(job)["events"]
          if e.get("data", e).get("stage") == stage
          and e.get("data", e).get("type") in ("stage_started", "stage_completed")]
    return (max(ts) - min(ts)) / 1000.0


def run(path, setup, sets, role2=None, stage="parse", timeout=1800):
    """One ingest of path on a fresh data folder: "one" process (--role
    all), or "two" (plus one of role2 on the same folder and broker).
    Returns (seconds end to end, stage's span)."""
    role2 = role2 or ROLE2
    service = role2.split(",")[0]
    tmp = tempfile.mkdtemp(prefix="sluice-bench-fanout-")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    procs = []
    try:
        sets = list(sets) + ["fetch.file_roots=%s" % os.path.dirname(os.path.dirname(path))]
        harness.SLUICED = pinned(0, tmp)
        s = Sluiced(data, sets=sets)
        procs.append(s)
        c = Client(s.port)
        wait_ready(c)
        if setup == "two":
            harness.SLUICED = pinned(1, tmp)
            procs.append(Sluiced(data, role=role2, broker=s.endpoint(), sets=sets))
            wait_for(lambda: c.stats()["services"][service]["workers"] == 2, 60, "two %s workers" % service)
        t0 = time.time()
        job = c.ingest(url="file://" + path)
        done = c.wait(job["id"], timeout)
        took = time.time() - t0
        assert done["state"] == "completed", done
        span = stage_span(c, job["id"], stage)
        c.close()
        return took, span
    finally:
        for p in procs:
            p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    pages = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    figure = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    path = big_pdf(pages, figure=figure)
    print("pdf: %s (%d pages, figure %d, %.1f MB); %s; second process: --role %s; load %s"
          % (path, pages, figure, os.path.getsize(path) / 1e6, "one core per process" if PIN else "unpinned",
             ROLE2, open("/proc/loadavg").read().split()[:3]))
    for r in range(rounds):
        whole = run(path, "one", BASE + ["parse.range_pages=0"])
        one = run(path, "one", BASE + ["parse.range_pages=200"])
        two = run(path, "two", BASE + ["parse.range_pages=200"])
        print("round %d: end to end: whole %.2f s, one %.2f s, two %.2f s, one/two %.2fx, whole/two %.2fx;"
              " parse stage: whole %.2f s, one %.2f s, two %.2f s, one/two %.2fx"
              % (r + 1, whole[0], one[0], two[0], one[0] / two[0], whole[0] / two[0],
                 whole[1], one[1], two[1], one[1] / two[1]), flush=True)


if __name__ == "__main__":
    main()
