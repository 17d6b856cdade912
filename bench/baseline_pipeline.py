#!/usr/bin/python3
"""baseline_pipeline: the Python pipeline a team would write instead of
Sluice, timed on the same PDFs: the issue's yardstick for the end to end row
of bench/pipeline.sh.

    /usr/bin/python3 bench/baseline_pipeline.py DB FILE...

Two worker processes (multiprocessing) each take whole files: PyMuPDF
(Debian's python3-fitz, the same MuPDF) extracts each page's text; a
LangChain-style recursive splitter cuts it (separators "\\n\\n", "\\n", " ",
then characters; 700 characters with 200 of overlap, about Sluice's 128
tokens with 37 of overlap); a numpy hashing embedder makes the vectors (the
words' crc32 into 4,096 buckets, term counts, one dense matmul by a seeded
4,096 x 384 projection, L2-normalised: what `hash` computes). The parent
writes each document in one SQLite transaction (WAL, synchronous NORMAL):
the document row, its chunks, their vectors and an FTS5 word index, as
Sluice's store does. Prints one line: files, pages, chunks, seconds,
pages_per_sec, chunks_per_sec.
"""
import multiprocessing as mp
import os
import re
import sqlite3
import sys
import time
import zlib

import fitz
import numpy as np

SIZE, OVERLAP, BUCKETS, DIM = 700, 200, 4096, 384
SEPARATORS = ["\n\n", "\n", " ", ""]
_PROJ = None


def split(text, seps=SEPARATORS):
    """Recursive character splitting with overlap (LangChain's algorithm)."""
    sep = next((s for s in seps if s == "" or s in text), "")
    rest = seps[seps.index(sep) + 1:] if sep else []
    pieces = list(text) if sep == "" else text.split(sep)
    out, cur, cur_len = [], [], 0
    for p in pieces:
        if len(p) > SIZE and rest:
            if cur:
                out.append(sep.join(cur))
                cur, cur_len = [], 0
            out.extend(split(p, rest))
            continue
        if cur_len + len(p) + (len(sep) if cur else 0) > SIZE and cur:
            out.append(sep.join(cur))
            while cur and cur_len > OVERLAP:
                cur_len -= len(cur[0]) + len(sep)
                cur.pop(0)
        cur.append(p)
        cur_len += len(p) + (len(sep) if len(cur) > 1 else 0)
    if cur:
        out.append(sep.join(cur))
    return [c.strip() for c in out if c.strip()]


def embed(texts):
    global _PROJ
    if _PROJ is None:
        _PROJ = np.random.default_rng(42).standard_normal((BUCKETS, DIM)).astype(np.float32)
    feats = np.zeros((len(texts), BUCKETS), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in re.findall(r"\w+", t.lower()):
            feats[i, zlib.crc32(w.encode()) % BUCKETS] += 1.0
    v = feats @ _PROJ
    v /= np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return v


def work(path):
    doc = fitz.open(path)
    chunks = []
    for no, page in enumerate(doc, 1):
        for c in split(page.get_text()):
            chunks.append((no, c))
    pages = doc.page_count
    doc.close()
    vectors = embed([c for _, c in chunks]) if chunks else np.zeros((0, DIM), np.float32)
    return path, pages, chunks, vectors.tobytes()


def main():
    db_path, files = sys.argv[1], sys.argv[2:]
    db = sqlite3.connect(db_path, isolation_level=None)
    db.executescript("""
        PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
        CREATE TABLE documents (id INTEGER PRIMARY KEY, source TEXT UNIQUE, pages INTEGER);
        CREATE TABLE chunks (id INTEGER PRIMARY KEY, document_id INTEGER, ordinal INTEGER,
                             page INTEGER, text TEXT, vec BLOB);
        CREATE VIRTUAL TABLE chunks_fts USING fts5 (text, content = 'chunks', content_rowid = 'id',
                                                    tokenize = 'porter unicode61');""")
    t0 = time.time()
    pages = nchunks = 0
    with mp.Pool(2) as pool:
        for path, p, chunks, vec in pool.imap_unordered(work, files):
            db.execute("BEGIN")
            doc_id = db.execute("INSERT INTO documents (source, pages) VALUES (?, ?)", (path, p)).lastrowid
            step = DIM * 4
            for i, (page, text) in enumerate(chunks):
                rid = db.execute("INSERT INTO chunks (document_id, ordinal, page, text, vec) VALUES (?, ?, ?, ?, ?)",
                                 (doc_id, i, page, text, vec[i * step:(i + 1) * step])).lastrowid
                db.execute("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", (rid, text))
            db.execute("COMMIT")
            pages += p
            nchunks += len(chunks)
    secs = time.time() - t0
    print("files=%d pages=%d chunks=%d seconds=%.2f pages_per_sec=%.0f chunks_per_sec=%.0f"
          % (len(files), pages, nchunks, secs, pages / secs, nchunks / secs))


if __name__ == "__main__":
    main()
