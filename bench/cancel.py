#!/usr/bin/python3
"""bench/cancel.py: how long a cancel takes to stop a long parse.

Starts a real sluiced (hash embedder), uploads a generated 1,000-page PDF
(the one jobctl_cancel_running_parse uses: figure strokes on every page, so
MuPDF takes a few seconds over it), waits until parse has reported progress,
then cancels it over HTTP and measures, per round:
  - answer: the cancel request's round trip (the job row reads cancelled);
  - stopped: from sending the cancel until the parse handler returned (its
    sluice_stage_duration_seconds_count on /metrics goes up, polled every
    10 ms): how long the stage went on working for a cancelled job;
  - clean: until the job's artifact folder (data/jobs/<job>/) was gone
    with the handler returned (it may write there until it returns);
  - pages: how far the parse had got (its last progress event, percent).
Each round uses a fresh data folder. Prints one row per round and the median.

Usage: bench/cancel.py [rounds] [pages]      (defaults 5, 1000)
Env:   SLUICED (path of the binary; default build/actors/sluiced)
"""
import os, shutil, statistics, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
os.environ.setdefault("SLUICED", os.path.join(ROOT, "build", "actors", "sluiced"))
import test_edge  # noqa: E402
from test_edge import LOCAL, Sluiced, call, follow  # noqa: E402
from corpus import big_pdf  # noqa: E402


def parse_count(srv):
    st, _, text = call(srv, "GET", "/metrics")
    assert st == 200, st
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("sluice_stage_duration_seconds_count{") and 'stage="parse"' in line)


def one_round(tmp, pdf):
    srv = Sluiced(tmp, sets=[LOCAL, "embed.provider=hash"])
    try:
        st, _, body = call(srv, "POST", "/v1/ingest?name=manual.pdf", pdf,
                           headers={"Content-Type": "application/pdf"}, timeout=120)
        assert st == 202, body
        job = body["jobs"][0]["id"]
        # wait until the parse is well under way (a progress report past 5 %)
        deadline = time.time() + 120
        while time.time() < deadline:
            st, _, j = call(srv, "GET", "/v1/jobs/" + job)
            if j["job"]["state"] == "parsing" and j["job"]["percent"] > 21:
                break
            time.sleep(0.02)
        before = parse_count(srv)
        t0 = time.perf_counter()
        st, _, body = call(srv, "POST", "/v1/jobs/%s/cancel" % job)
        answer = time.perf_counter() - t0
        assert st == 200 and body["job"]["state"] == "cancelled", body
        stopped = clean = None
        folder = os.path.join(srv.data, "jobs", job)
        while time.perf_counter() - t0 < 60 and (stopped is None or clean is None):
            now = time.perf_counter() - t0
            if stopped is None and parse_count(srv) > before:
                stopped = now
            #  gone for good: the handler may write into it until it returns
            #  (the gate removes it once more then)
            if clean is None and stopped is not None and not os.path.exists(folder):
                clean = now
            time.sleep(0.01)
        events = follow(srv, job, timeout=30)
        pages = max([e["data"].get("percent", 0) for e in events if e["event"] == "stage_progress"] or [0])
        assert events[-1]["event"] == "job_cancelled", [e["event"] for e in events]
        return answer, stopped, clean, pages
    finally:
        srv.proc.terminate()
        srv.proc.wait()


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    pages = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    pdf = open(big_pdf(pages, distinct=50, figure=400), "rb").read()
    print("cancel of a %d-page PDF while it parses (%.1f MB), %d rounds" % (pages, len(pdf) / 1e6, rounds))
    print("| round | cancel answered | parse handler returned | artifacts gone | parse had reached |")
    print("|---|---:|---:|---:|---:|")
    rows = []
    for r in range(rounds):
        tmp = tempfile.mkdtemp(prefix="sluice-bench-cancel-")
        try:
            answer, stopped, clean, got = one_round(tmp, pdf)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rows.append((answer, stopped, clean))
        print("| %d | %.1f ms | %s | %s | %d %% |" % (
            r + 1, answer * 1000, "%.0f ms" % (stopped * 1000) if stopped is not None else "never",
            "%.0f ms" % (clean * 1000) if clean is not None else "never", got), flush=True)
    med = [statistics.median(x[i] for x in rows if x[i] is not None) * 1000 for i in range(3)]
    print("| median | %.1f ms | %.0f ms | %.0f ms | |" % tuple(med))


if __name__ == "__main__":
    main()
