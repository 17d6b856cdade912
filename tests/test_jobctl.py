#!/usr/bin/python3
"""test_jobctl: job control over real HTTP on loopback: cancel, retry,
pause and resume a workspace's intake.

Every test starts real `sluiced` processes (temp --data, free ports) and
speaks HTTP to them (helpers from test_edge.py); documents come from a
local HTTP server the test runs or from the generated corpus (a big PDF
whose parse takes long enough to be cancelled midway).

Usage: test_jobctl.py [test_name ...]   (no names: run everything)
Env:   SLUICED (path of the binary)
"""
import os, signal, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_edge  # noqa: E402
from test_edge import (LOCAL, SSE, DocServer, Sluiced, call, check, expect_error, follow,  # noqa: E402
                       ingest_url, free_ports)
from corpus import big_pdf  # noqa: E402

TERMINAL = ("completed", "failed", "cancelled")


def job_of(srv, job, key=None):
    st, _, body = call(srv, "GET", "/v1/jobs/" + job, key=key)
    check(st == 200, "GET job", st, body)
    return body["job"]


def wait_state(srv, job, states, key=None, timeout=120):
    """Poll the job until its state is one of states; returns the job."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = job_of(srv, job, key)
        if j["state"] in states:
            return j
        check(j["state"] not in TERMINAL, "job ended as %s before reaching %s" % (j["state"], states), j)
        time.sleep(0.05)
    raise TimeoutError("job %s never reached %s" % (job, states))


def wait_final(srv, job, key=None, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = job_of(srv, job, key)
        if j["state"] in TERMINAL:
            return j
        time.sleep(0.1)
    raise TimeoutError("job %s not finished" % job)


def upload(srv, path, name, key=None):
    with open(path, "rb") as f:
        data = f.read()
    st, _, body = call(srv, "POST", "/v1/ingest?name=" + name, data,
                       headers={"Content-Type": "application/pdf"}, key=key)
    check(st == 202, "upload " + name, st, body)
    return body["jobs"][0]


def metric(srv, name, labels):
    """The value of one series on /metrics (0 if absent)."""
    st, _, text = call(srv, "GET", "/metrics")
    check(st == 200, "metrics", st)
    for line in text.splitlines():
        if line.startswith(name + "{") and all(l in line for l in labels):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def artifacts(srv, job):
    return os.path.exists(os.path.join(srv.data, "jobs", job))


def documents(srv, key=None):
    st, _, body = call(srv, "GET", "/v1/documents", key=key)
    check(st == 200, "documents", st, body)
    return body["documents"]


def slow_pdf():
    # figure strokes on every page make MuPDF's text pass slower: a parse
    # that is still running when the test cancels it
    return big_pdf(1000, distinct=50, figure=400)


def assert_cancelled_midway(srv, job):
    """The job reads cancelled, its log ends with job_cancelled (over SSE),
    no later stage ran, nothing was committed, and its artifacts are gone
    once the stage that was running let go of the message."""
    j = job_of(srv, job)
    check(j["state"] == "cancelled" and j["terminal"], "state cancelled", j)
    events = follow(srv, job, timeout=60)
    types = [e["event"] for e in events]
    check(types[0] == "job_started" and types[-1] == "job_cancelled", "log ends with job_cancelled", types)
    check(not any(e["data"].get("stage") in ("chunk", "embed", "store") for e in events
                  if e["event"] == "stage_started"), "no stage after the cancelled one ran", types)
    pages = [e["data"].get("percent", 0) for e in events if e["event"] == "stage_progress"]
    check(max(pages or [0]) < 100, "the parse did not reach its last page", pages)
    # the parse handler returns (done: it stopped) and removes what it wrote
    deadline = time.time() + 60
    while metric(srv, "sluice_stage_duration_seconds_count", ['stage="parse"']) < 1 and time.time() < deadline:
        time.sleep(0.1)
    check(metric(srv, "sluice_stage_duration_seconds_count", ['stage="parse"', 'outcome="done"']) >= 1,
          "the parse stopped")
    check(not artifacts(srv, job), "artifacts removed", os.listdir(os.path.join(srv.data, "jobs"))
          if os.path.isdir(os.path.join(srv.data, "jobs")) else [])
    check(documents(srv) == [], "nothing committed", documents(srv))
    check(job_of(srv, job)["state"] == "cancelled", "still cancelled after the stage let go")


# --------------------------------------------------------------------------
# Tests

def test_cancel_running_parse(tmp):
    """A 1,000-page parse is cancelled midway: it stops between pages."""
    srv = Sluiced(tmp)
    job = upload(srv, slow_pdf(), "big.pdf")["id"]
    wait_state(srv, job, ("parsing",))
    st, _, body = call(srv, "POST", "/v1/jobs/%s/cancel" % job)
    check(st == 200 and body["job"]["state"] == "cancelled", "cancel answered", st, body)
    assert_cancelled_midway(srv, job)


def test_cancel_with_stages_as_processes(tmp):
    """Parse runs in its own process on tcp: the cancel reaches it through
    the store both share."""
    ports = free_ports(2)
    main = Sluiced(tmp, name="main", role="broker,edge,intake,journal,query,fetch,chunk,embed,store",
                   sets=["broker.bind=tcp://127.0.0.1:%d" % ports, "broker.events_bind=tcp://127.0.0.1:%d"
                         % (ports + 1), "broker.metrics_port=0", "worker.health_port=0"], broker_port=ports)
    # the only parse worker: its own process, on tcp, sharing the data folder
    Sluiced(tmp, name="parse", role="parse", broker_port=ports, data=main.data, wait=False,
            sets=["worker.health_port=0"])
    job = upload(main, slow_pdf(), "big.pdf")["id"]
    wait_state(main, job, ("parsing",))
    st, _, body = call(main, "POST", "/v1/jobs/%s/cancel" % job)
    check(st == 200 and body["job"]["state"] == "cancelled", "cancel answered", st, body)
    j = job_of(main, job)
    check(j["state"] == "cancelled", "state cancelled", j)
    events = follow(main, job, timeout=60)
    types = [e["event"] for e in events]
    check(types[-1] == "job_cancelled", "log ends with job_cancelled", types)
    # the parse process let go: its folder is gone and nothing was stored
    deadline = time.time() + 60
    while artifacts(main, job) and time.time() < deadline:
        time.sleep(0.1)
    check(not artifacts(main, job), "artifacts removed by the parse process")
    check(documents(main) == [], "nothing committed", documents(main))
    check(not any(e["data"].get("stage") in ("chunk", "embed", "store") for e in events
                  if e["event"] == "stage_started"), "no stage after parse ran", types)
    pages = [e["data"].get("percent", 0) for e in events if e["event"] == "stage_progress"]
    check(max(pages or [0]) < 100, "the parse process stopped before the last page", pages)


def test_cancel_waiting_fetch_drops_at_boundary(tmp):
    """A job cancelled while fetch holds it (a slow server) goes no further
    than fetch: parse drops its message, nothing is committed."""
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])
        job, _, _ = ingest_url(srv, docs.url("slow", "tortoise"))
        wait_state(srv, job, ("fetching",))
        st, _, body = call(srv, "POST", "/v1/jobs/%s/cancel" % job)
        check(st == 200 and body["job"]["state"] == "cancelled", "cancel answered", st, body)
        docs.gate.set()                 # fetch finishes and forwards to parse
        deadline = time.time() + 60
        while metric(srv, "sluice_stage_duration_seconds_count", ['stage="parse"']) < 1 \
                and time.time() < deadline:
            time.sleep(0.1)
        check(metric(srv, "sluice_stage_duration_seconds_count", ['stage="parse"']) >= 1, "parse got it")
        check(job_of(srv, job)["state"] == "cancelled", "still cancelled")
        check(documents(srv) == [], "nothing committed", documents(srv))
        check(not artifacts(srv, job), "no artifacts")
        types = [e["event"] for e in follow(srv, job, timeout=30)]
        check(types[-1] == "job_cancelled" and "stage_completed" not in types[types.index("job_cancelled"):],
              "no stage event after the cancel", types)
    finally:
        docs.close()


def test_cancel_across_workspaces_refused(tmp):
    docs = DocServer()
    try:
        ka, kb = "key-alpha-123456", "key-bravo-654321"
        srv = Sluiced(tmp, sets=[LOCAL, "auth.keys=%s:alpha,%s:bravo" % (ka, kb)])
        job, _, _ = ingest_url(srv, docs.url("slow", "otter"), key=ka)
        r = expect_error(call(srv, "POST", "/v1/jobs/%s/cancel" % job, key=kb), 404, "cancel by bravo")
        check("no job" in r["error"]["message"], "says no such job", r)
        expect_error(call(srv, "POST", "/v1/jobs/%s/retry" % job, key=kb), 404, "retry by bravo")
        expect_error(call(srv, "POST", "/v1/jobs/%s/cancel" % job), 401, "cancel without a key")
        docs.gate.set()
        j = wait_final(srv, job, key=ka)
        check(j["state"] == "completed", "alpha's job went on", j)
    finally:
        docs.close()


def test_cancel_finished_job_409(tmp):
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])
        job, _, _ = ingest_url(srv, docs.url("doc", "heron"))
        j = wait_final(srv, job)
        check(j["state"] == "completed", "completed", j)
        r = expect_error(call(srv, "POST", "/v1/jobs/%s/cancel" % job), 409, "cancel a completed job")
        check("already completed" in r["error"]["message"], "the reason names the state", r)
        r = expect_error(call(srv, "POST", "/v1/jobs/%s/retry" % job), 409, "retry a completed job")
        check("completed" in r["error"]["message"], "the reason names the state", r)
        expect_error(call(srv, "POST", "/v1/jobs/nosuchjob/cancel"), 404, "cancel an unknown job")
        expect_error(call(srv, "POST", "/v1/jobs/nosuchjob/retry"), 404, "retry an unknown job")
        expect_error(call(srv, "POST", "/v1/jobs/bad%20id/cancel"), 404, "a malformed id")
        expect_error(call(srv, "GET", "/v1/jobs/%s/cancel" % job), 405, "cancel is a POST")
        check(job_of(srv, job)["state"] == "completed", "still completed")
        check(len(documents(srv)) == 1, "its document stays")
    finally:
        docs.close()


class FlakyDocs(DocServer):
    """A DocServer whose /flaky/<name> answers 404 until fixed."""

    def __init__(self):
        super().__init__()
        self.fixed = False
        handler = self.httpd.RequestHandlerClass
        outer = self
        original = handler.do_GET

        def do_GET(h):
            if h.path.startswith("/flaky/") and not outer.fixed:
                h.send_response(404)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            if h.path.startswith("/flaky/"):
                h.path = "/doc/" + h.path.split("/", 2)[2]
            original(h)
        handler.do_GET = do_GET


def test_retry_failed_job_completes(tmp):
    docs = FlakyDocs()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])
        job, _, _ = ingest_url(srv, docs.url("flaky", "puffin"))
        j = wait_final(srv, job)
        check(j["state"] == "failed" and j["error"], "failed first", j)
        r = expect_error(call(srv, "POST", "/v1/jobs/%s/cancel" % job), 409, "cancel a failed job")
        check("retry" in r["error"]["message"], "a failed job points to retry", r)
        docs.fixed = True               # the cause is fixed
        st, _, body = call(srv, "POST", "/v1/jobs/%s/retry" % job)
        check(st == 200 and body["job"]["state"] == "queued" and not body["job"]["error"],
              "retry accepted, from the start", st, body)
        j = wait_final(srv, job)
        check(j["state"] == "completed" and j["document_id"], "completed on retry", j)
        events = follow(srv, job, timeout=30)
        types = [e["event"] for e in events]
        check(types.count("job_started") == 2 and types[-1] == "job_completed", "a second run", types)
        check(any(e["event"] == "job_started" and e["data"].get("retry") for e in events), "marked retry")
        st, _, body = call(srv, "POST", "/v1/search", {"query": "zqpuffinq"})
        check(st == 200 and body["hits"], "its text is found", body)
    finally:
        docs.close()


def test_retry_cancelled_job_completes(tmp):
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])
        job, _, _ = ingest_url(srv, docs.url("slow", "walrus"))
        wait_state(srv, job, ("fetching",))
        check(call(srv, "POST", "/v1/jobs/%s/cancel" % job)[0] == 200, "cancelled")
        st, _, body = call(srv, "POST", "/v1/jobs/%s/retry" % job)
        check(st == 200 and body["job"]["state"] == "queued", "retry of a cancelled job", st, body)
        r = expect_error(call(srv, "POST", "/v1/jobs/%s/retry" % job), 409, "retry a running job")
        check("only a failed or cancelled job" in r["error"]["message"], "the reason", r)
        docs.gate.set()
        j = wait_final(srv, job)
        check(j["state"] == "completed", "completed", j)
        check(len(documents(srv)) == 1, "one document", documents(srv))
    finally:
        docs.close()


def test_retry_supersedes_the_cancelled_run(tmp):
    """Retried while the cancelled run's fetch is still at work: when that
    fetch ends, its message is dropped at parse (an earlier run's), so only
    the new run goes on (chunk and embed run once, one document), and the
    new run's events carry its run number while the old run's late reports
    move nothing."""
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])
        job, _, _ = ingest_url(srv, docs.url("slow", "narwhal"))
        wait_state(srv, job, ("fetching",))
        st, _, body = call(srv, "POST", "/v1/jobs/%s/cancel" % job)
        check(st == 200 and body["job"]["run"] == 0, "cancelled in its first run", st, body)
        st, _, body = call(srv, "POST", "/v1/jobs/%s/retry" % job)
        check(st == 200 and body["job"]["run"] == 1, "the retry is run 1", st, body)
        # the new run's fetch asks too: both requests wait on the gate
        deadline = time.time() + 60
        while docs.hits < 2 and time.time() < deadline:
            time.sleep(0.05)
        check(docs.hits == 2, "both runs' fetches are at the server", docs.hits)
        docs.gate.set()
        j = wait_final(srv, job)
        check(j["state"] == "completed" and j["run"] == 1, "run 1 completed", j)
        check(len(documents(srv)) == 1, "one document", documents(srv))
        check(stage_runs(srv, "fetch") == 2, "fetched by both runs", stage_runs(srv, "fetch"))
        check(stage_runs(srv, "chunk") == 1 and stage_runs(srv, "embed") == 1,
              "the cancelled run's message went no further than parse's gate",
              stage_runs(srv, "chunk"), stage_runs(srv, "embed"))
        events = follow(srv, job, timeout=30)
        types = [e["event"] for e in events]
        restart = [i for i, e in enumerate(events)
                   if e["event"] == "job_started" and e["data"].get("retry")]
        check(len(restart) == 1 and events[restart[0]]["data"].get("run") == 1,
              "the retry's start says run 1", types)
        cancelled = [e for e in events if e["event"] == "job_cancelled"]
        check(len(cancelled) == 1 and cancelled[0]["data"].get("run", 0) == 0,
              "the cancel is run 0's", cancelled)
        late = [e for e in events[restart[0]:] if e["data"].get("run", 0) != 1
                and e["event"] != "job_cancelled"]
        check(late == [], "after the retry, only run 1 reports", late)
        check(types[-1] == "job_completed" and events[-1]["data"].get("run") == 1,
              "the log ends with run 1's completion", types)
    finally:
        docs.close()


def test_pause_holds_then_resume_completes(tmp):
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])
        st, _, body = call(srv, "POST", "/v1/workspace/pause")
        check(st == 200 and body["paused"] is True, "paused", st, body)
        st, _, ws = call(srv, "GET", "/v1/workspace")
        check(st == 200 and ws.get("paused") is True, "workspace says paused", ws)
        job, _, body = ingest_url(srv, docs.url("doc", "lemur"))
        check(body["jobs"][0]["held"] is True and body["jobs"][0]["state"] == "queued", "accepted, held", body)
        types = [e["event"] for e in _events_until(srv, job, "job_held")]
        check(types == ["job_held"], "job_held, and nothing started", types)
        check(docs.hits == 0, "nothing fetched while paused", docs.hits)
        st, _, ws = call(srv, "GET", "/v1/workspace")
        check(ws.get("held") == 1, "one held", ws)
        st, _, body = call(srv, "POST", "/v1/workspace/resume")
        check(st == 200 and body["paused"] is False and body["started"] == 1 and body["held"] == 0,
              "resumed, one started", st, body)
        j = wait_final(srv, job)
        check(j["state"] == "completed" and not j["held"], "completed after resume", j)
        # a running workspace is not held: the next ingest goes at once
        job2, _, body = ingest_url(srv, docs.url("doc", "okapi"))
        check(body["jobs"][0]["held"] is False, "not held", body)
        check(wait_final(srv, job2)["state"] == "completed", "completed")
    finally:
        docs.close()


def _events_until(srv, job, last):
    """The job's stored events up to the one of type last (stream left open)."""
    s = SSE(srv, job, timeout=30)
    got = []
    while True:
        ev = s.next()
        check(ev is not None, "stream ended before " + last, got)
        if ev.get("event") == "heartbeat":
            continue
        got.append(ev["event"])
        if ev["event"] == last:
            s.close()
            return [{"event": t} for t in got]


def test_pause_survives_restart(tmp):
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])
        check(call(srv, "POST", "/v1/workspace/pause")[0] == 200, "paused")
        job, _, _ = ingest_url(srv, docs.url("doc", "tapir"))
        srv.stop(signal.SIGKILL)
        srv = Sluiced(tmp, sets=[LOCAL, "jobs.redrive_orphans=true", "jobs.redrive_interval_s=1"])
        st, _, ws = call(srv, "GET", "/v1/workspace")
        check(ws.get("paused") is True and ws.get("held") == 1, "still paused, still held", ws)
        j = job_of(srv, job)
        check(j["state"] == "queued" and j["held"], "not re-driven while held", j)
        check(docs.hits == 0, "nothing fetched", docs.hits)
        st, _, body = call(srv, "POST", "/v1/workspace/resume")
        check(st == 200 and body["started"] == 1, "resumed", body)
        check(wait_final(srv, job)["state"] == "completed", "completed after the restart and resume")
    finally:
        docs.close()


def test_python_client_job_control(tmp):
    """The Python package: cancel, retry, pause, resume, with refusals."""
    sys.path.insert(0, os.path.join(test_edge.ROOT, "bindings", "python"))
    import sluice
    docs = DocServer()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])
        with sluice.Client("tcp://127.0.0.1:%d" % srv.broker_port, timeout=30) as client:
            state = client.pause()
            check(state["paused"] is True, "paused", state)
            job = client.ingest_url(docs.url("doc", "gecko"))
            check(job.held and job.state == "queued", "held", job)
            state = client.resume()
            check(state["started"] == 1 and state["held"] == 0, "resumed", state)
            done = client.wait(job.id, timeout=120)
            check(done.completed, "completed", done)
            try:
                client.cancel(job.id)
                check(False, "cancel of a completed job must be refused")
            except sluice.Refused as e:
                check(e.status == 409 and "already completed" in str(e), "409 with the state", e)
            try:
                client.cancel("nosuchjob")
                check(False, "cancel of an unknown job must be refused")
            except sluice.NotFound as e:
                check(e.status == 404, "404", e)
            again = client.reprocess(done.document_id)
            check(again.id != job.id, "a new job", again)
            recut = client.wait(again.id, timeout=120)
            check(recut.completed and recut.document_id == done.document_id, "reprocessed", recut)
            try:
                client.reprocess("nosuchdoc", "embed")
                check(False, "reprocess of an unknown document must be refused")
            except sluice.NotFound:
                pass
            slow = client.ingest_url(docs.url("slow", "marmot"))
            wait_state(srv, slow.id, ("fetching",))
            got = client.cancel(slow.id)
            check(got.state == "cancelled" and got.terminal, "cancelled", got)
            first_run = list(client.events(slow.id, timeout=60))
            types = [e.type for e in first_run]
            check(types[-1] == "job_cancelled", "events end with job_cancelled", types)
            again = client.retry(slow.id)
            check(again.state == "queued" and not again.terminal and again.run == got.run + 1,
                  "retried: its next run", again)
            docs.gate.set()
            final = client.wait(slow.id, timeout=120)   # past its job_cancelled, through the new run
            check(final.completed and final.run == again.run, "wait follows the retried run to its end", final)
            second_run = list(client.events(slow.id, after=first_run[-1].seq, timeout=60))
            check(second_run[-1].type == "job_completed"
                  and all(e.run == again.run for e in second_run),
                  "after the cancel, the log is the new run's", [(e.type, e.run) for e in second_run])
        with sluice.Client("tcp://127.0.0.1:%d" % srv.broker_port, workspace="elsewhere") as other:
            try:
                other.cancel(slow.id)
                check(False, "another workspace's job must not be found")
            except sluice.NotFound:
                pass
    finally:
        docs.close()


def test_cli_job_control(tmp):
    """sluice cancel / retry / pause / resume, with their exit codes."""
    import subprocess
    cli = os.environ.get("SLUICE_CLI", os.path.join(test_edge.ROOT, "build", "bindings", "cli", "sluice"))
    if not os.access(cli, os.X_OK):
        raise test_edge.Skip("no sluice CLI at " + cli)
    docs = FlakyDocs()
    try:
        srv = Sluiced(tmp, sets=[LOCAL])

        def run(*args):
            out = subprocess.run([cli, "--server", "http://127.0.0.1:%d" % srv.http_port] + list(args),
                                 capture_output=True, text=True, timeout=60)
            return out.returncode, out.stdout + out.stderr

        rc, out = run("pause")
        check(rc == 0 and "paused" in out, "sluice pause", rc, out)
        job, _, _ = ingest_url(srv, docs.url("flaky", "ibis"))
        rc, out = run("resume")
        check(rc == 0 and "1 held jobs started" in out, "sluice resume", rc, out)
        check(wait_final(srv, job)["state"] == "failed", "failed: the server said 404")
        rc, out = run("cancel", job)
        check(rc == 2 and "already failed" in out, "cancel of a failed job: exit 2 with the reason", rc, out)
        docs.fixed = True
        rc, out = run("retry", job)
        check(rc == 0 and job in out and "queued" in out, "sluice retry", rc, out)
        check(wait_final(srv, job)["state"] == "completed", "completed after the retry")
        rc, out = run("cancel", "nosuchjob")
        check(rc == 4, "cancel of an unknown job: exit 4", rc, out)
        rc, out = run("cancel", "../x")
        check(rc == 2 and "not a job id" in out, "a malformed id: exit 2", rc, out)
        rc, out = run("--json", "retry", job)
        check(rc == 2 and "completed" in out, "retry of a completed job: exit 2", rc, out)
        doc = job_of(srv, job)["document_id"]
        rc, out = run("reprocess", doc, "embed")
        check(rc == 0 and "from embed" in out, "sluice reprocess", rc, out)
        rc, out = run("reprocess", doc, "parse")
        check(rc == 2 and "'chunk' or 'embed'" in out, "reprocess from parse: exit 2", rc, out)
    finally:
        docs.close()


def stage_runs(srv, stage):
    """Messages a stage handled (any outcome), from /metrics."""
    st, _, text = call(srv, "GET", "/metrics")
    check(st == 200, "metrics", st)
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("sluice_stage_duration_seconds_count{") and 'stage="%s"' % stage in line)


def chunks_of(srv, doc, key=None):
    st, _, body = call(srv, "GET", "/v1/documents/%s/chunks?limit=1000" % doc, key=key)
    check(st == 200, "chunks listed", st, body)
    return body["chunks"]


def test_reprocess_from_chunk_recuts_without_parse(tmp):
    """New chunking settings, then reprocess: the chunks change, fetch and
    parse do not run again (their counters), the text is still found."""
    from corpus import make_pdf, filler
    pdf = os.path.join(tmp, "recut.pdf")
    make_pdf(pdf, [" ".join(filler("recut:%d" % p, 300)) + " Unique marker zqcapybaraq%d." % p
                   for p in range(1, 7)], title="Recut Manual")
    srv = Sluiced(tmp)
    job = upload(srv, pdf, "recut.pdf")["id"]
    done = wait_final(srv, job)
    check(done["state"] == "completed", "stored", done)
    doc = done["document_id"]
    before = chunks_of(srv, doc)
    fetches, parses, chunks = stage_runs(srv, "fetch"), stage_runs(srv, "parse"), stage_runs(srv, "chunk")
    st, _, ws = call(srv, "PUT", "/v1/workspace/chunking", {"target_tokens": 40, "overlap_tokens": 0})
    check(st == 200, "settings changed", st, ws)
    st, _, body = call(srv, "POST", "/v1/documents/%s/reprocess" % doc, {"from": "chunk"})
    check(st == 202 and body["job"]["state"] in ("queued", "chunking", "embedding", "storing", "completed"),
          "reprocess accepted", st, body)
    again = wait_final(srv, body["job"]["id"])
    check(again["state"] == "completed" and again["document_id"] == doc, "same document", again)
    after = chunks_of(srv, doc)
    check(len(after) > len(before), "smaller chunks: more of them", len(after), len(before))
    check(all(c["tokens"] <= 40 for c in after), "cut with the new settings", [c["tokens"] for c in after])
    st, _, d = call(srv, "GET", "/v1/documents/" + doc)
    check(d["document"]["chunking"]["target_tokens"] == 40 and d["document"]["chunks"] == len(after),
          "the document records how it was cut now", d)
    check(stage_runs(srv, "fetch") == fetches and stage_runs(srv, "parse") == parses,
          "neither fetch nor parse ran again", stage_runs(srv, "fetch"), stage_runs(srv, "parse"))
    check(stage_runs(srv, "chunk") == chunks + 1, "chunk ran once more", stage_runs(srv, "chunk"), chunks)
    st, _, found = call(srv, "POST", "/v1/search", {"query": "zqcapybaraq3", "mode": "lexical"})
    check(st == 200 and found["hits"] and found["hits"][0]["document_id"] == doc
          and len(found["hits"]) == 1, "found once, in its new chunks", found)
    check(len(documents(srv)) == 1, "still one document")
    check(not artifacts(srv, again["id"]), "the reprocess job's artifacts are gone")
    # refusals
    expect_error(call(srv, "POST", "/v1/documents/nosuchdoc/reprocess", {"from": "chunk"}), 404, "unknown")
    r = expect_error(call(srv, "POST", "/v1/documents/%s/reprocess" % doc, {"from": "parse"}), 400, "from parse")
    check("not possible" in r["error"]["message"], "says what is possible", r)
    expect_error(call(srv, "POST", "/v1/documents/%s/reprocess" % doc, b"{nope",
                      headers={"Content-Type": "application/json"}), 400, "malformed JSON")
    expect_error(call(srv, "POST", "/v1/documents/%s/reprocess" % doc, {"from": "chunk", "x": 1}),
                 400, "an unknown field")


def test_reprocess_redriven_goes_the_long_way(tmp):
    """A reprocess job's options are an ingest of the document's own bytes
    marked "reprocess": re-driven from them (what the re-driver does after
    a lost message), it is fetched and parsed again, not taken for a
    duplicate, and still recuts the document."""
    sys.path.insert(0, os.path.join(test_edge.ROOT, "bindings", "python"))
    import sluice
    from corpus import make_pdf, filler
    pdf = os.path.join(tmp, "longway.pdf")
    make_pdf(pdf, [" ".join(filler("longway:%d" % p, 300)) for p in range(1, 5)], title="Long Way")
    srv = Sluiced(tmp)
    done = wait_final(srv, upload(srv, pdf, "longway.pdf")["id"])
    doc, sha = done["document_id"], done["sha256"]
    before = chunks_of(srv, doc)
    st, _, _ = call(srv, "PUT", "/v1/workspace/chunking", {"target_tokens": 40, "overlap_tokens": 0})
    check(st == 200, "settings changed")
    parses = stage_runs(srv, "parse")
    with sluice.Client("tcp://127.0.0.1:%d" % srv.broker_port, timeout=30) as client:
        # the options of a reprocess job, as the re-driver submits them
        reply = client.call("intake", "ingest", {"blob": sha, "filename": "longway.pdf", "reprocess": "chunk"})
        job = reply["job"]["id"]
    again = wait_final(srv, job)
    check(again["state"] == "completed" and again["document_id"] == doc and not again["duplicate_of"],
          "recut, not a duplicate", again)
    after = chunks_of(srv, doc)
    check(len(after) > len(before) and all(c["tokens"] <= 40 for c in after), "cut again with the new settings",
          len(before), [c["tokens"] for c in after])
    check(stage_runs(srv, "parse") == parses + 1, "parsed again: the long way")
    check(len(documents(srv)) == 1, "still one document")


def test_reprocess_held_while_paused(tmp):
    """A reprocess asked for in a paused workspace is held like any new job;
    resume runs it (from its options) and it recuts the document."""
    srv = Sluiced(tmp)
    from corpus import make_pdf, filler
    pdf = os.path.join(tmp, "paused.pdf")
    make_pdf(pdf, [" ".join(filler("paused:%d" % p, 300)) for p in range(1, 4)], title="Paused")
    done = wait_final(srv, upload(srv, pdf, "paused.pdf")["id"])
    doc = done["document_id"]
    before = chunks_of(srv, doc)
    check(call(srv, "PUT", "/v1/workspace/chunking", {"target_tokens": 40, "overlap_tokens": 0})[0] == 200, "set")
    check(call(srv, "POST", "/v1/workspace/pause")[0] == 200, "paused")
    st, _, body = call(srv, "POST", "/v1/documents/%s/reprocess" % doc, {"from": "chunk"})
    check(st == 202 and body["job"]["held"] is True and body["job"]["state"] == "queued", "held", st, body)
    job = body["job"]["id"]
    check([e["event"] for e in _events_until(srv, job, "job_held")] == ["job_held"], "only job_held")
    check(chunks_of(srv, doc) == before, "nothing recut while paused")
    st, _, body = call(srv, "POST", "/v1/workspace/resume")
    check(st == 200 and body["started"] == 1, "resumed", body)
    j = wait_final(srv, job)
    check(j["state"] == "completed" and j["document_id"] == doc, "completed", j)
    after = chunks_of(srv, doc)
    check(len(after) > len(before) and all(c["tokens"] <= 40 for c in after), "recut", len(before), len(after))


def test_reprocess_from_embed_keeps_chunks(tmp):
    """From embed: the stored chunks go through embed and store again as
    they are; neither fetch, parse nor chunk runs."""
    from corpus import make_pdf, filler
    pdf = os.path.join(tmp, "embed.pdf")
    make_pdf(pdf, [" ".join(filler("embed:%d" % p, 300)) + " Marker zqnarwhalq%d." % p for p in range(1, 4)],
             title="Embed Again")
    srv = Sluiced(tmp)
    done = wait_final(srv, upload(srv, pdf, "embed.pdf")["id"])
    doc = done["document_id"]
    before = chunks_of(srv, doc)
    runs = {st: stage_runs(srv, st) for st in ("fetch", "parse", "chunk", "embed")}
    st, _, body = call(srv, "POST", "/v1/documents/%s/reprocess" % doc, {"from": "embed"})
    check(st == 202, "accepted", st, body)
    j = wait_final(srv, body["job"]["id"])
    check(j["state"] == "completed" and j["document_id"] == doc and not j["duplicate_of"], "recommitted", j)
    after = chunks_of(srv, doc)
    strip = lambda cs: [(c["ordinal"], c["text"], c["page_start"], c["tokens"]) for c in cs]
    check(strip(after) == strip(before), "the same chunks", len(before), len(after))
    check(all(stage_runs(srv, s) == runs[s] for s in ("fetch", "parse", "chunk")), "no fetch, parse or chunk",
          {s: stage_runs(srv, s) for s in runs}, runs)
    check(stage_runs(srv, "embed") == runs["embed"] + 1, "embed ran once more")
    st, _, found = call(srv, "POST", "/v1/search", {"query": "zqnarwhalq2", "mode": "lexical"})
    holding = {c["id"] for c in after if "zqnarwhalq2" in c["text"]}
    check(st == 200 and holding and {h["chunk_id"] for h in found["hits"]} == holding
          and len(found["hits"]) == len(holding), "found in exactly the chunks that hold it, once each",
          found["hits"], holding)


TESTS = [test_cancel_running_parse, test_cancel_with_stages_as_processes,
         test_cancel_waiting_fetch_drops_at_boundary, test_cancel_across_workspaces_refused,
         test_cancel_finished_job_409, test_retry_failed_job_completes,
         test_retry_cancelled_job_completes, test_retry_supersedes_the_cancelled_run, test_pause_holds_then_resume_completes,
         test_pause_survives_restart, test_python_client_job_control, test_cli_job_control,
         test_reprocess_from_chunk_recuts_without_parse, test_reprocess_redriven_goes_the_long_way,
         test_reprocess_held_while_paused, test_reprocess_from_embed_keeps_chunks]

if __name__ == "__main__":
    test_edge.TESTS = TESTS
    sys.exit(test_edge.main())
