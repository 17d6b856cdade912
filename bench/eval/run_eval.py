#!/usr/bin/python3
"""Answer quality of Sluice's search modes beside plain BM25, on the eval set.

    bench/eval/run_eval.py [--split tune|test|all] [--keep-data DIR] [--set key=value ...]
                           [--pdf-dir build/eval-corpus/pdf] [--encoder use] [--k 10]

Starts a real sluiced (tests/harness.py; the default `use` encoder unless
--encoder says otherwise), ingests the ten PDFs of bench/eval/corpus.sh as
file:// URLs, asks every question of the split in modes hybrid, vector and
lexical (k=10) and prints hit@1, hit@5 and MRR@10 per split x kind x mode,
with plain BM25 (bench/eval/bm25_baseline.py, run in the same invocation)
beside them.

A hit is correct when its document is the question's and its
[page_start, page_end] intersects the question's answer_pages; the rank of a
question is the rank of the first correct hit (a document's answer counted
once, whichever chunk of it comes first).

--keep-data DIR keeps the data directory (the ingested store) in DIR and
reuses it on the next run: ingest with `use` takes minutes, so tuning runs
(--set search.vector_weight=...) only start sluiced over the same store.
The code under test may change between runs: the store migrates on start.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))

import bm25_baseline  # noqa: E402
from harness import Client, start, wait_ready  # noqa: E402

MODES = ("hybrid", "vector", "lexical")
KINDS = ("all", "keyword", "paraphrase")


def rank_of(q, hits, names):
    """1-based rank of the first hit on an answer page of the question's document, or None."""
    for i, h in enumerate(hits):
        if names.get(h["document_id"]) != q["doc"]:
            continue
        lo, hi = h.get("page_start") or 0, h.get("page_end") or 0
        if any(lo <= p <= hi for p in q["answer_pages"]):
            return i + 1
    return None


def tally(acc, q, mode, rank):
    for kind in ("all", q["kind"]):
        s = acc[(q["split"], kind, mode)]
        s[0] += 1
        s[1] += rank == 1
        s[2] += rank is not None and rank <= 5
        s[3] += 1.0 / rank if rank and rank <= 10 else 0.0


def bm25(qs, pdf_dir):
    docs = sorted({q["doc"] for q in qs})
    db = bm25_baseline.build_index(pdf_dir, docs)
    acc = defaultdict(lambda: [0, 0, 0, 0.0])
    for q in qs:
        rows = db.execute("SELECT doc, page FROM pages WHERE pages MATCH ? ORDER BY bm25(pages) LIMIT 10",
                          (bm25_baseline.or_query(q["question"]),)).fetchall()
        rank = next((i + 1 for i, (d, p) in enumerate(rows)
                     if d == q["doc"] and int(p) in q["answer_pages"]), None)
        tally(acc, q, "bm25", rank)
    return acc


def ingest(c, pdf_dir, docs, data):
    """Ingest every PDF (or reuse the names of an earlier run); returns {document_id: file name}."""
    names_path = os.path.join(data, "eval-documents.json")
    if os.path.exists(names_path):
        names = json.load(open(names_path))
        if sorted(names.values()) == sorted(docs):
            return names
    names, t0 = {}, time.time()
    jobs = {}
    for d in docs:
        j = c.ingest(url="file://" + os.path.abspath(os.path.join(pdf_dir, d)))
        assert "id" in j, j
        jobs[j["id"]] = d
    for jid, d in jobs.items():
        job = c.wait(jid, timeout=3600)
        assert job["state"] == "completed", job
        names[job["document_id"]] = d
    print("ingested %d documents in %.0f s" % (len(docs), time.time() - t0), file=sys.stderr)
    json.dump(names, open(names_path, "w"))
    return names


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--split", default="all", choices=("tune", "test", "all"))
    ap.add_argument("--keep-data", metavar="DIR", help="data directory to keep and reuse")
    ap.add_argument("--pdf-dir", default=os.path.join(ROOT, "build", "eval-corpus", "pdf"))
    ap.add_argument("--questions", default=os.path.join(HERE, "questions.jsonl"))
    ap.add_argument("--encoder", default="use", help="embed.provider (default use)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="extra sluiced setting, e.g. search.vector_weight=0.3")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    a = ap.parse_args()

    qs = [json.loads(l) for l in open(a.questions, encoding="utf-8") if l.strip()]
    if a.split != "all":
        qs = [q for q in qs if q["split"] == a.split]
    docs = sorted({json.loads(l)["doc"] for l in open(a.questions, encoding="utf-8") if l.strip()})
    pdf_dir = os.path.abspath(a.pdf_dir)
    for d in docs:
        if not os.path.exists(os.path.join(pdf_dir, d)):
            sys.exit("run_eval.py: %s missing; run bench/eval/corpus.sh" % os.path.join(pdf_dir, d))

    tmp = None
    if a.keep_data:
        data = os.path.abspath(a.keep_data)
    else:
        tmp = tempfile.mkdtemp(prefix="sluice-eval-")
        data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    sets = ["fetch.file_roots=" + pdf_dir, "embed.provider=" + a.encoder] + a.set
    s = start(data, sets=sets)
    try:
        c = Client(s.port)
        wait_ready(c)
        names = ingest(c, pdf_dir, docs, data)
        acc = bm25(qs, pdf_dir)
        t0 = time.time()
        for q in qs:
            for mode in MODES:
                r = c.search(q["question"], k=a.k, mode=mode)
                assert "hits" in r, (q["id"], mode, r)
                tally(acc, q, mode, rank_of(q, r["hits"], names))
        model = c.search("anything", k=1).get("model")
        print("%d questions x %d modes in %.1f s" % (len(qs), len(MODES), time.time() - t0), file=sys.stderr)
    finally:
        s.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    print("Sluice (model %s; %s) vs plain BM25, %d questions, k=%d\n"
          % (model, ", ".join(a.set) or "default settings", len(qs), a.k))
    print("| split | kind | n | mode | hit@1 | hit@5 | MRR@10 |")
    print("|---|---|---:|---|---:|---:|---:|")
    out = {}
    for split in ("tune", "test"):
        for kind in KINDS:
            for mode in MODES + ("bm25",):
                n, h1, h5, rr = acc[(split, kind, mode)]
                if not n:
                    continue
                out["%s/%s/%s" % (split, kind, mode)] = {"n": n, "hit1": h1 / n, "hit5": h5 / n, "mrr10": rr / n}
                print("| %s | %s | %d | %s | %.3f | %.3f | %.3f |"
                      % (split, kind, n, mode, h1 / n, h5 / n, rr / n))
    if a.json:
        json.dump(out, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
