#!/usr/bin/python3
"""Plain-BM25 baseline for the answer-quality set (the figure hybrid search must beat).

    bench/eval/bm25_baseline.py [--pdf-dir build/eval-corpus/pdf] [--questions FILE]

One SQLite FTS5 row per PDF page (text from `mutool draw -F txt`, tokenizer
`porter unicode61`), every page of every document in one index.  Each
question becomes the OR of its words (each word quoted, so FTS5 syntax in a
question cannot break the query) and pages are ranked by FTS5 `bm25()`.
A hit is a page of the question's document listed in its answer_pages.
Prints a Markdown table of hit@1, hit@5 and MRR@10 per split and per kind.
"""
import argparse
import os
import re
import sqlite3
import subprocess
import sys
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from check_questions import page_texts  # noqa: E402

import json  # noqa: E402


def build_index(pdf_dir, docs):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE pages USING fts5(doc UNINDEXED, page UNINDEXED, body,"
               " tokenize='porter unicode61')")
    for doc in docs:
        for p, text in page_texts(os.path.join(pdf_dir, doc)).items():
            db.execute("INSERT INTO pages(doc, page, body) VALUES (?,?,?)", (doc, p, text))
    return db


def or_query(question):
    words = re.findall(r"\w+", question.lower())
    seen = []
    for w in words:
        if w not in seen:
            seen.append(w)
    return " OR ".join('"%s"' % w for w in seen)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pdf-dir", default="build/eval-corpus/pdf")
    ap.add_argument("--questions", default=os.path.join(HERE, "questions.jsonl"))
    a = ap.parse_args()
    qs = [json.loads(l) for l in open(a.questions, encoding="utf-8") if l.strip()]
    docs = sorted({q["doc"] for q in qs})
    db = build_index(a.pdf_dir, docs)
    npages = db.execute("SELECT count(*) FROM pages").fetchone()[0]

    acc = defaultdict(lambda: [0, 0.0, 0.0, 0.0])  # n, hit@1, hit@5, rr@10
    for q in qs:
        rows = db.execute("SELECT doc, page FROM pages WHERE pages MATCH ? ORDER BY bm25(pages) LIMIT 10",
                          (or_query(q["question"]),)).fetchall()
        rank = next((i + 1 for i, (d, p) in enumerate(rows)
                     if d == q["doc"] and int(p) in q["answer_pages"]), None)
        for key in [("all", "all"), (q["split"], "all"), ("all", q["kind"]), (q["split"], q["kind"])]:
            s = acc[key]
            s[0] += 1
            s[1] += rank == 1
            s[2] += rank is not None and rank <= 5
            s[3] += 1.0 / rank if rank else 0.0

    print(f"Plain BM25 (SQLite {sqlite3.sqlite_version} FTS5 bm25(), porter, OR of the question's words), "
          f"{len(qs)} questions, {len(docs)} documents, {npages} pages\n")
    print("| split | kind | n | hit@1 | hit@5 | MRR@10 |")
    print("|---|---|---:|---:|---:|---:|")
    for split in ("test", "tune", "all"):
        for kind in ("all", "keyword", "paraphrase"):
            n, h1, h5, rr = acc[(split, kind)]
            if n:
                print(f"| {split} | {kind} | {n} | {h1 / n:.3f} | {h5 / n:.3f} | {rr / n:.3f} |")


if __name__ == "__main__":
    main()
