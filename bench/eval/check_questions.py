#!/usr/bin/python3
"""Check bench/eval/questions.jsonl against the pinned PDFs.

    bench/eval/check_questions.py [--pdf-dir build/eval-corpus/pdf] [--questions FILE]

Verifies, for every line: valid JSON with the expected fields and types; ids
unique; kind in {keyword, paraphrase}; split in {tune, test}; answer pages
exist in the document; and `evidence` is a verbatim substring (after
collapsing whitespace) of the mutool text of at least one answer page.
Over the whole set: at least 120 questions, at least 8 documents, at least
half paraphrases, and the split equals the deterministic assignment made by
assign_splits() (so tune/test is about 50/50 within each document and kind).
Exit status 0 when everything holds, 1 otherwise (each problem is printed).
Needs mutool (mupdf-tools); run bench/eval/corpus.sh first for the PDFs.
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict

KINDS = ("keyword", "paraphrase")
SPLITS = ("tune", "test")
FIELDS = {"id": str, "doc": str, "question": str, "kind": str,
          "answer_pages": list, "evidence": str, "split": str}
HERE = os.path.dirname(os.path.abspath(__file__))


def _h(s):
    return hashlib.sha256(s.encode()).hexdigest()


def assign_splits(questions):
    """Deterministic tune/test split, balanced within each (doc, kind).

    Inside a group the questions are ordered by sha256(id) (so the split does
    not follow page order) and alternate tune/test; whether a group starts
    with tune or test also comes from a hash, so odd-sized groups do not all
    favour the same side.  Depends only on the ids, docs and kinds."""
    groups = defaultdict(list)
    for q in questions:
        groups[(q["doc"], q["kind"])].append(q)
    for (doc, kind), qs in groups.items():
        first = int(_h(doc + "/" + kind)[:8], 16) % 2
        for i, q in enumerate(sorted(qs, key=lambda q: _h(q["id"]))):
            q["split"] = SPLITS[(i + first) % 2]
    return questions


def norm(s):
    return " ".join(s.split())


def page_texts(pdf):
    """1-based PDF page number -> whitespace-collapsed text (mutool)."""
    info = subprocess.run(["mutool", "info", pdf], capture_output=True, text=True).stdout
    n = next(int(l.split()[1]) for l in info.splitlines() if l.startswith("Pages:"))
    return {p: norm(subprocess.run(["mutool", "draw", "-F", "txt", "-o", "-", pdf, str(p)],
                                   capture_output=True, text=True).stdout)
            for p in range(1, n + 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pdf-dir", default="build/eval-corpus/pdf")
    ap.add_argument("--questions", default=os.path.join(HERE, "questions.jsonl"))
    a = ap.parse_args()

    errors = []
    qs = []
    with open(a.questions, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            if not line.strip():
                errors.append(f"line {ln}: empty line")
                continue
            try:
                q = json.loads(line)
            except ValueError as e:
                errors.append(f"line {ln}: bad JSON: {e}")
                continue
            bad = [k for k, t in FIELDS.items() if not isinstance(q.get(k), t)]
            extra = set(q) - set(FIELDS)
            if bad or extra:
                errors.append(f"line {ln}: missing/wrong-typed fields {bad}, unknown fields {sorted(extra)}")
                continue
            q["_line"] = ln
            qs.append(q)

    ids = Counter(q["id"] for q in qs)
    errors += [f"duplicate id {i} ({n} times)" for i, n in ids.items() if n > 1]
    for q in qs:
        where = f"line {q['_line']} ({q['id']})"
        if q["kind"] not in KINDS:
            errors.append(f"{where}: kind {q['kind']!r} not in {KINDS}")
        if q["split"] not in SPLITS:
            errors.append(f"{where}: split {q['split']!r} not in {SPLITS}")
        if not q["answer_pages"] or not all(isinstance(p, int) and p >= 1 for p in q["answer_pages"]):
            errors.append(f"{where}: answer_pages must be a non-empty list of 1-based ints")
        if len(set(q["answer_pages"])) != len(q["answer_pages"]):
            errors.append(f"{where}: answer_pages has duplicates")
        if not q["question"].strip() or not q["evidence"].strip():
            errors.append(f"{where}: empty question or evidence")

    texts = {}
    for doc in sorted({q["doc"] for q in qs}):
        path = os.path.join(a.pdf_dir, doc)
        if not os.path.exists(path):
            errors.append(f"{doc}: not found in {a.pdf_dir} (run bench/eval/corpus.sh)")
            continue
        texts[doc] = page_texts(path)
    for q in qs:
        pages = texts.get(q["doc"])
        if pages is None:
            continue
        where = f"line {q['_line']} ({q['id']})"
        missing = [p for p in q["answer_pages"] if p not in pages]
        if missing:
            errors.append(f"{where}: pages {missing} beyond the {len(pages)} pages of {q['doc']}")
        ev = norm(q["evidence"])
        if not any(ev in pages.get(p, "") for p in q["answer_pages"]):
            found = [p for p, t in pages.items() if ev in t]
            errors.append(f"{where}: evidence not on answer pages {q['answer_pages']}"
                          + (f" (it is on {found})" if found else " (nowhere in the document)"))

    # set-level rules
    n = len(qs)
    docs = Counter(q["doc"] for q in qs)
    para = sum(q["kind"] == "paraphrase" for q in qs)
    if n < 120:
        errors.append(f"only {n} questions (need >= 120)")
    if len(docs) < 8:
        errors.append(f"only {len(docs)} documents (need >= 8)")
    if 2 * para < n:
        errors.append(f"only {para} of {n} questions are paraphrases (need >= half)")
    want = assign_splits([dict(id=q["id"], doc=q["doc"], kind=q["kind"]) for q in qs])
    for q, w in zip(qs, want):
        if q["split"] != w["split"]:
            errors.append(f"line {q['_line']} ({q['id']}): split {q['split']} but the deterministic assignment says {w['split']}")
    groups = defaultdict(Counter)
    for q in qs:
        groups[(q["doc"], q["kind"])][q["split"]] += 1
    for g, c in sorted(groups.items()):
        if abs(c["tune"] - c["test"]) > 1:
            errors.append(f"{g}: split unbalanced {dict(c)}")

    # summary
    print(f"{n} questions, {len(docs)} documents, {para} paraphrase / {n - para} keyword")
    print(f"{'document':28} {'kw tune':>7} {'kw test':>7} {'pa tune':>7} {'pa test':>7}")
    for d in sorted(docs):
        c = [groups[(d, k)][s] for k in KINDS for s in SPLITS]
        print(f"{d:28} " + " ".join(f"{x:7d}" for x in c))
    tot = Counter(q["split"] for q in qs)
    print(f"tune {tot['tune']}, test {tot['test']}")
    for e in errors:
        print("ERROR:", e, file=sys.stderr)
    print("OK" if not errors else f"{len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
