"""search_driver: search latency and exact-word retrieval by search mode.

Usage: /usr/bin/python3 bench/search_driver.py PORT ROUNDS SEED

Talks to a running sluiced (broker on PORT) whose default workspace holds an
ingested corpus. Builds two query sets from the stored chunks themselves,
with a fixed seed so a run is reproducible:
  - words: 5 consecutive words of a chunk (what a person pastes from a
    document they remember), the chunk is the answer;
  - rare: one word of a chunk that holds a digit or an underscore, or is
    long (an identifier, a code, a name), any chunk holding it is an answer;
plus natural-language questions (no ground truth: latency only).
Then, in ROUNDS interleaved rounds, every query in every mode (vector,
hybrid, lexical) through the broker's query service, as the edge asks it.
Prints one line per mode:
  mode=M p50_ms=.. p95_ms=.. words_at1=.. words_at5=.. rare_at5=.. queries=N
"""
import os, random, re, statistics, sys, time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from harness import Client, wait_ready  # noqa: E402

QUESTIONS = [
    "how do I draw a circle", "what is the currency symbol for the euro",
    "how are MIME types detected from file contents", "decode a certificate",
    "how to change the colour of a line", "what does the package do when a font is missing",
    "how do I label a point in a figure", "which options control arrow heads",
]
WORD = re.compile(r"[A-Za-z0-9_]+")


def chunks_of(c):
    docs = c.request("query", "doc_list", {"limit": 1000})["documents"]
    out = []
    for d in docs:
        offset = 0
        while True:
            page = c.request("query", "doc_chunks", {"id": d["id"], "limit": 1000, "offset": offset})
            out += [ch["text"] for ch in page["chunks"]]
            offset += len(page["chunks"])
            if not page["chunks"] or offset >= page["total"]:
                break
    return out


def query_sets(texts, rng, n=40):
    words, rare = [], []
    for _ in range(n * 20):
        if len(words) >= n and len(rare) >= n:
            break
        t = rng.choice(texts)
        toks = WORD.findall(t)
        if len(toks) >= 12 and len(words) < n:
            i = rng.randrange(0, len(toks) - 5)
            words.append((" ".join(toks[i:i + 5]), t))
        cands = [w for w in toks if (any(ch.isdigit() for ch in w) or "_" in w or len(w) >= 11) and len(w) >= 4]
        pick = rng.choice(cands) if cands else None
        if pick and len(rare) < n and pick not in [w for w, _ in rare]:
            rare.append((pick, None))
    return words, rare


def main():
    port, rounds, seed = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    c = Client(port)
    wait_ready(c)
    texts = sorted(chunks_of(c))        # documents list in ingest order, which varies: sort
    rng = random.Random(seed)
    words, rare = query_sets(texts, rng)
    modes = ("vector", "hybrid", "lexical")
    lat = {m: [] for m in modes}
    at1 = {m: 0 for m in modes}
    at5 = {m: 0 for m in modes}
    rare5 = {m: 0 for m in modes}
    queries = [(q, "question", None) for q in QUESTIONS] + [(w, "words", src) for w, src in words] \
        + [(w, "rare", None) for w, _ in rare]
    for r in range(rounds):
        for q, kind, src in queries:
            for m in modes:
                t0 = time.perf_counter()
                reply = c.search(q, k=5, mode=m)
                lat[m].append((time.perf_counter() - t0) * 1000)
                assert "hits" in reply, reply
                if r:
                    continue        # quality is counted once: every round answers the same
                hits = [h["text"] for h in reply["hits"]]
                if kind == "words":
                    at1[m] += bool(hits) and hits[0] == src
                    at5[m] += src in hits
                elif kind == "rare":
                    whole = re.compile(r"(?<![A-Za-z0-9_])%s(?![A-Za-z0-9_])" % re.escape(q))
                    rare5[m] += any(whole.search(h) for h in hits)
    for m in modes:
        v = sorted(lat[m])
        print("mode=%s p50_ms=%.2f p95_ms=%.2f words_at1=%d/%d words_at5=%d/%d rare_at5=%d/%d queries=%d chunks=%d"
              % (m, statistics.median(v), v[int(len(v) * 0.95) - 1], at1[m], len(words), at5[m], len(words),
                 rare5[m], len(rare), len(v), len(texts)))


if __name__ == "__main__":
    main()
