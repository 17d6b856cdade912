#!/usr/bin/python3
"""Where one document's time goes, stage by stage, for one or more sluiced
binaries side by side (a before and an after of a change, same run).

    /usr/bin/python3 bench/stage_times.py [--pages N] [--figure F] [--rounds R]
                                          [--set k=v ...] BINARY [BINARY ...]

Each round runs every binary once, interleaved (the machine is shared: a
round's runs see about the same load), each on a fresh data folder, `--role
all`, hash embedder, fan-out off (one parse of the whole document), and
ingests the generated manual big_pdf(N) (tests/corpus.py; 2,000 pages by
default). Reported per run: end to end (request to job completed), and each
stage's own time from the job row (parse, chunk, embed started/finished;
"store" is the rest of the end to end time: fetch, the commit, the
hand-offs between stages), with the medians over rounds last.
"""
import argparse, os, shutil, sqlite3, statistics, sys, tempfile, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import harness  # noqa: E402
from harness import Client, Sluiced, big_pdf, wait_ready  # noqa: E402

STAGES = ("parse", "chunk", "embed", "store")


def run(binary, path, sets):
    harness.SLUICED = binary
    tmp = tempfile.mkdtemp(prefix="sluice-bench-stages-")
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    s = None
    try:
        s = Sluiced(data, sets=["embed.provider=hash", "parse.range_pages=0",
                                "fetch.file_roots=%s" % os.path.dirname(os.path.dirname(path))] + sets)
        c = Client(s.port)
        wait_ready(c)
        t0 = time.time()
        job = c.ingest(url="file://" + path)
        done = c.wait(job["id"], 1800)
        took = time.time() - t0
        assert done["state"] == "completed", done
        c.close()
        con = sqlite3.connect(os.path.join(data, "sluice.db"))
        cols = ", ".join("%s_started_ms, %s_finished_ms" % (st, st) for st in STAGES)
        row = con.execute("SELECT %s FROM jobs WHERE id = ?" % cols, (job["id"],)).fetchone()
        chunks = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        con.close()
        times = {st: (row[2 * i + 1] - row[2 * i]) / 1000.0 for i, st in enumerate(STAGES)}
        #  store's times are stamped by the job's completing commit itself,
        #  embed's by the journal as its events arrive: neither bounds the
        #  commit, so store is what remains (fetch, the commit, hand-offs)
        times["store and rest"] = took - sum(times[st] for st in STAGES[:-1])
        times["end to end"] = took
        return times, chunks
    finally:
        if s:
            s.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=2000)
    ap.add_argument("--figure", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--set", action="append", default=[])
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    path = big_pdf(a.pages, figure=a.figure)
    print("pdf: %s (%d pages, figure %d, %.1f MB); load %s" % (path, a.pages, a.figure,
          os.path.getsize(path) / 1e6, open("/proc/loadavg").read().split()[:3]))
    cols = ("end to end",) + STAGES[:-1] + ("store and rest",)
    results = {b: [] for b in a.binaries}
    for r in range(a.rounds):
        for b in a.binaries:
            times, chunks = run(b, path, a.set)
            results[b].append(times)
            print("round %d %s: %s; %d chunks" % (r + 1, b, ", ".join("%s %.2f s" % (k, times[k]) for k in cols),
                                                  chunks), flush=True)
    print("\n| binary | " + " | ".join(cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for b in a.binaries:
        print("| %s | %s |" % (b, " | ".join("%.2f s" % statistics.median(t[k] for t in results[b]) for k in cols)))


if __name__ == "__main__":
    main()
