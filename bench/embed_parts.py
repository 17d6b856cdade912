#!/usr/bin/python3
"""Embed parts: one long document's embedding shared by the embed workers
of two processes, against one, with the default `use` encoder.

    /usr/bin/python3 bench/embed_parts.py [pages] [rounds] [part_chunks]

Each process computes on ONE core (OPENBLAS_NUM_THREADS=1, one embed
handler, embed.threads=1), as an embed pod with a CPU limit of 1 would: what is measured is
whether a second such process takes half of one document's work. Each
round runs, interleaved and on fresh data folders:
  whole: sluiced --role all, embed.part_chunks=0 (the document embedded by
         one handler, as before parts)
  one:   the same with embed.part_chunks (default 250)
  two:   "one" plus sluiced --role embed on the same data folder and broker
The document is tests/corpus.py's generated manual big_pdf(pages) (300
pages by default, about 1,800 chunks). Prints each run's end to end
seconds (ingest request to job completed) and the embed stage's span
(first embed stage_started to the last stage_completed, from the journal's
event timestamps), and each round's ratios one/two. First, the ceiling
on this machine: the encoder alone (build-rel/bench/bench_use, one thread)
in one process, then in two processes at once: how much two one-core
encoders get done together here (shared or hyper-threaded cores give less
than 2x, and nothing above the encoders can do better).
"""
import json, os, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import big_pdf  # noqa: E402
from fanout import run as fanout_run  # noqa: E402

os.environ["OPENBLAS_NUM_THREADS"] = "1"
BASE = ["embed.concurrency=1", "embed.threads=1", "parse.range_pages=0"]


def ceiling(path):
    """chunks/s of the encoder alone: one process, then two at once."""
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    tool = os.path.join(root, "build-rel", "bench", "bench_use")
    model = os.path.join(root, "models", "use-lite")
    if not os.path.exists(tool):
        return None
    tmp = tempfile.mkdtemp(prefix="sluice-bench-ceiling-")
    try:
        text, chunks = os.path.join(tmp, "doc.txt"), os.path.join(tmp, "chunks.json")
        subprocess.run(["mutool", "draw", "-q", "-F", "txt", "-o", text, path], check=True)
        subprocess.run([tool, "chunk", "--model", model, "--out", chunks, "--max", "400", text],
                       check=True, capture_output=True)
        cmd = [tool, "embed", "--model", model, "--in", chunks, "--batch", "64", "--seconds", "8"]
        rate = lambda out: json.loads(out.strip().splitlines()[-1])["chunks_per_s"]
        one = rate(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        pair = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        two = sum(rate(p.communicate()[0]) for p in pair)
        return one, two
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    pages = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    part = int(sys.argv[3]) if len(sys.argv) > 3 else 250
    path = big_pdf(pages)
    print("pdf: %s (%d pages, %.1f MB); parts of %d chunks; load %s"
          % (path, pages, os.path.getsize(path) / 1e6, part, open("/proc/loadavg").read().split()[:3]))
    c = ceiling(path)
    if c:
        print("ceiling: the encoder alone, one thread: one process %.1f chunks/s, two at once %.1f chunks/s "
              "together (%.2fx)" % (c[0], c[1], c[1] / c[0]), flush=True)
    run = lambda setup, chunks: fanout_run(path, setup, BASE + ["embed.part_chunks=%d" % chunks],
                                           role2="embed", stage="embed", timeout=3600)
    for r in range(rounds):
        whole = run("one", 0)
        one = run("one", part)
        two = run("two", part)
        print("round %d: end to end: whole %.1f s, one %.1f s, two %.1f s, one/two %.2fx, whole/two %.2fx;"
              " embed stage: whole %.1f s, one %.1f s, two %.1f s, one/two %.2fx"
              % (r + 1, whole[0], one[0], two[0], one[0] / two[0], whole[0] / two[0],
                 whole[1], one[1], two[1], one[1] / two[1]), flush=True)


if __name__ == "__main__":
    main()
