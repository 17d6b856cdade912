"""test_liveness: the re-driver tells a job that waits from a job that is lost.

A job that emits no event for jobs.stale_s is either waiting (its message sits
in a broker queue behind a backlog, or no worker serves its stage right now)
or lost (its holder died and the broker lost it, or the broker crashed without
its snapshot). Only the first may be left alone and only the second may be
re-driven: these tests make each happen on real sluiced processes over tcp on
loopback and count what the broker queued (services.fetch.submitted) and what
the re-driver did (sluice_redrive_total{outcome} on /metrics).

Documents are generated here (plain text of a given size), never taken from
../shared, and embedded with the `hash` embedder, so the tests need nothing
installed beyond sluiced.
Usage: /usr/bin/python3 tests/test_liveness.py [test_name ...]
"""
import os, random, re, sys, time, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Client, Runner, db, free_port, start, wait_for, wait_ready  # noqa: E402

STALE_S = 5
LIVENESS = ["embed.provider=hash", "jobs.stale_s=%d" % STALE_S, "jobs.redrive_interval_s=1"]
STAGES = ("fetch", "parse", "chunk", "embed", "store")


def make_docs(tmp, count, size):
    """count distinct plain-text documents of about size bytes each."""
    out = os.path.join(tmp, "docs")
    os.makedirs(out, exist_ok=True)
    vocab = random.Random(7)
    words = ["".join(vocab.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(vocab.randint(3, 9)))
             for _ in range(5000)]
    paths = []
    for i in range(count):
        r = random.Random(1000 + i)
        lines, written = ["Document %d of the liveness test.\n" % i], 0
        while written < size:
            line = " ".join(r.choice(words) for _ in range(12)) + ".\n"
            lines.append(line)
            written += len(line)
        path = os.path.join(out, "doc%03d.txt" % i)
        with open(path, "w") as f:
            f.write("".join(lines))
        paths.append(path)
    return out, paths


def redrives(port):
    """sluice_redrive_total by outcome, from a process's /metrics."""
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()
    got = dict(re.findall(r'^sluice_redrive_total\{outcome="(\w+)"\} (\d+)', text, re.M))
    assert got, "no sluice_redrive_total in /metrics:\n" + text
    return {k: int(v) for k, v in got.items()}


def longest_silence_ms(c, jid):
    """The longest time the job went without an event (what the re-driver
    calls stale), from its stored events."""
    ts = sorted(e["ts"] for e in c.events(jid)["events"])
    return max(b - a for a, b in zip(ts, ts[1:])) if len(ts) > 1 else 0


def wait_all(c, jobs, timeout):
    pending = set(jobs)

    def done():
        for j in list(pending):
            r = c.job(j)
            if "job" in r and r["job"]["terminal"]:
                assert r["job"]["state"] == "completed", r["job"]
                pending.discard(j)
        return not pending
    wait_for(done, timeout, "every job to complete")


# ---------------------------------------------------------------------------

def test_backlog_not_redriven(tmp):
    """60 documents at once on a node with one handler per heavy stage: most
    wait in a queue far longer than jobs.stale_s, with no event. None is
    re-driven, the broker queues exactly one first message per document, all
    complete. (Plain text parses in milliseconds; embedding 600 kB takes about
    half a second even with the hash embedder, so the queue builds up before
    embed: one handler there makes the backlog last, not the machine's load.)"""
    count = 60
    root, docs = make_docs(tmp, count, 600 * 1000)
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    # embed as it was built for this test: one batch at a time, each
    # slice's vectors written to the embedding cache (auto leaves the cache
    # out for hash, and two flushers halve the stage: the backlog drained
    # before any job sat silent for a stale period)
    s = start(data, sets=LIVENESS + ["parse.concurrency=1", "embed.concurrency=1", "embed.threads=1",
                                     "embed.cache=on", "fetch.file_roots=" + root])
    c = Client(s.port)
    wait_ready(c)
    t0 = time.time()
    jobs = [c.ingest(url="file://" + p)["id"] for p in docs]
    # measure the backlog while it drains: messages queued in the pipeline
    peak, backlog_until, pending = 0, t0, set(jobs)
    deadline = t0 + 240
    while pending and time.time() < deadline:
        services = c.stats()["services"]
        queued = sum(services.get(x, {}).get("queued", 0) for x in STAGES)
        peak = max(peak, queued)
        if queued:
            backlog_until = time.time()
        for j in list(pending):
            r = c.job(j)
            if "job" in r and r["job"]["terminal"]:
                assert r["job"]["state"] == "completed", r["job"]
                pending.discard(j)
        time.sleep(0.5)
    assert not pending, "%d jobs unfinished after 240 s" % len(pending)
    lasted = backlog_until - t0
    silences = sorted((longest_silence_ms(c, j) for j in jobs), reverse=True)
    waited = sum(1 for ms in silences if ms > (STALE_S + 2) * 1000)
    stats = c.stats()["services"]
    counts = redrives(s.http_port)
    print("backlog: peak %d queued, lasted %.1f s; %d of %d jobs went %d+ s without an event "
          "(longest %.1f s); re-driver %s; fetch submitted %d"
          % (peak, lasted, waited, count, STALE_S + 2, silences[0] / 1000, counts, stats["fetch"]["submitted"]),
          flush=True)
    # the backlog was real: it lasted several stale periods and many jobs
    # sat silent long enough for the re-driver to look at them more than once
    assert peak >= 20, peak
    assert lasted >= 3 * STALE_S, lasted
    assert waited >= 10, silences
    assert counts["held"] >= 1, counts
    # ... and nothing was re-driven or abandoned
    assert counts["redriven"] == 0 and counts["abandoned"] == 0, counts
    assert stats["fetch"]["submitted"] == count, stats["fetch"]
    assert all(c.job(j)["job"]["attempts"] == 0 for j in jobs)
    assert db(data).execute("SELECT count(*) FROM documents").fetchone()[0] == count


def test_killed_worker_redelivered(tmp):
    """kill -9 of the embed process mid-document (scaled mode): the broker
    takes the message back and, with no embed worker for longer than
    jobs.stale_s, holds it: the re-driver leaves it alone. A new embed
    process gets it redelivered and the job completes, once."""
    root, docs = make_docs(tmp, 3, 3 * 1000 * 1000)
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    hb = ["broker.heartbeat_ms=300"]
    metrics = free_port()
    core = start(data, role="broker,intake,journal,query,fetch,parse,chunk,store",
                 sets=LIVENESS + hb + ["fetch.file_roots=" + root, "worker.health_port=%d" % metrics])
    embed = start(data, role="embed", port=core.port, sets=LIVENESS + hb)
    c = Client(core.port)
    wait_ready(c)
    jobs = [c.ingest(url="file://" + p)["id"] for p in docs]
    wait_for(lambda: any(e["type"] == "stage_progress" and e.get("stage") == "embed"
                         for j in jobs for e in c.events(j)["events"]), 120, "embed at work")
    embed.kill()
    # the broker notices within 3 heartbeats and re-queues; then nobody
    # serves embed for two stale periods: the jobs wait, held by the broker
    wait_for(lambda: c.stats()["services"]["embed"]["redelivered"] >= 1, 20, "redelivery")
    time.sleep(2 * STALE_S + 2)
    assert c.stats()["services"]["embed"]["queued"] >= 1
    held = redrives(metrics)
    assert held["held"] >= 1 and held["redriven"] == 0, held
    start(data, role="embed", port=core.port, sets=LIVENESS + hb)
    wait_all(c, jobs, 180)
    counts = redrives(metrics)
    stats = c.stats()["services"]
    print("re-driver %s; embed redelivered %d; fetch submitted %d"
          % (counts, stats["embed"]["redelivered"], stats["fetch"]["submitted"]), flush=True)
    assert counts["redriven"] == 0 and counts["abandoned"] == 0, counts
    assert stats["fetch"]["submitted"] == len(docs), stats["fetch"]
    assert any(e["type"] == "stage_started" and e.get("stage") == "embed" and e.get("attempt") == 1
               for j in jobs for e in c.events(j)["events"])
    con = db(data)
    assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == len(docs)
    assert con.execute("SELECT count(*) - count(DISTINCT document_id || ':' || ordinal) FROM chunks").fetchone()[0] == 0


def test_broker_crash_redriven(tmp):
    """kill -9 of the broker (no snapshot) while jobs wait in its embed queue:
    its memory is gone, so after jobs.stale_s each job is re-driven, exactly
    once, and completes."""
    root, docs = make_docs(tmp, 4, 50 * 1000)
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    hb = ["broker.heartbeat_ms=300"]
    metrics = free_port()
    broker = start(data, role="broker", sets=hb)
    start(data, role="intake,journal,query,fetch,parse,chunk,store", port=broker.port,
          sets=LIVENESS + hb + ["fetch.file_roots=" + root, "worker.health_port=%d" % metrics])
    c = Client(broker.port)
    wait_ready(c, ("intake", "query", "journal", "fetch", "parse", "chunk", "store"))
    jobs = [c.ingest(url="file://" + p)["id"] for p in docs]
    # no embed worker yet: every job ends up waiting in the embed queue
    wait_for(lambda: c.stats()["services"]["embed"]["queued"] == len(docs), 60, "jobs queued at embed")
    broker.kill()
    assert not os.path.exists(os.path.join(data, "broker.snapshot"))
    broker = start(data, role="broker", port=broker.port, sets=hb)
    start(data, role="embed", port=broker.port, sets=LIVENESS + hb)
    wait_all(c, jobs, 180)
    counts = redrives(metrics)
    stats = c.stats()["services"]
    print("re-driver %s; fetch submitted since the restart %d" % (counts, stats["fetch"]["submitted"]), flush=True)
    assert counts["redriven"] == len(docs) and counts["abandoned"] == 0, counts
    assert stats["fetch"]["submitted"] == len(docs), stats["fetch"]
    assert all(c.job(j)["job"]["attempts"] == 1 for j in jobs)
    con = db(data)
    assert con.execute("SELECT count(*) FROM documents").fetchone()[0] == len(docs)


if __name__ == "__main__":
    tests = [test_backlog_not_redriven, test_killed_worker_redelivered, test_broker_crash_redriven]
    sys.exit(Runner().run(tests, only=set(sys.argv[1:]) or None))
