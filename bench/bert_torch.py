#!/usr/bin/python3
"""bert_torch.py: the PyTorch side of bench/bench_bert.sh.

  bert_torch.py texts MODEL_DIR N MIN MAX SEED OUT
      write N texts whose WordPiece length (with [CLS]/[SEP]) is uniform in
      [MIN, MAX] tokens, one per line, sorted longest first (the order
      sentence-transformers' encode() processes them in, to cut padding);
      both sides read this file.
  bert_torch.py run MODEL_DIR TEXTS THREADS BATCH RUNS OUT_VECTORS
      embed the texts in batches of BATCH, RUNS times, under torch.no_grad()
      with THREADS intra-op threads; print one JSON line with the seconds of
      each run; write the last run's vectors (float32, row-major) to
      OUT_VECTORS.
  bert_torch.py compare A B DIM
      smallest cosine between rows of two vector files.

The forward pass is BertModel's (tools/bert_fixture/make_fixture.py,
forward_padded: nn.functional linear, matmul, softmax, layer_norm, gelu, as
HF's eager BertModel calls them) on each padded batch, then mean pooling and
normalisation. Tokenisation and padding are done before the clock starts:
only the model is timed on this side, while the C side's figure includes
its tokenizer.
"""
import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools", "bert_fixture"))

import torch  # noqa: E402

import make_fixture as mf  # noqa: E402


def load(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")[:-1]
    W = mf.read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return cfg, vocab, W


def make_texts(model_dir, n, lo, hi, seed, out):
    with open(os.path.join(model_dir, "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")[:-1]
    words = [w for w in vocab if w.isalpha() and w.islower() and len(w) >= 4]
    tok = mf.Tokenizer(vocab)
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        target = rng.randint(lo, hi) - 2          # [CLS] and [SEP]
        parts, tokens = [], 0
        while tokens < target:
            word = rng.choice(words)              # a whole vocabulary word: one token
            tokens += 1
            if tokens % 12 == 0 and tokens < target:
                word += "."                       # a sentence end: one more
                tokens += 1
            parts.append(word)
        text = " ".join(parts)
        assert len(tok.encode(text, 10 ** 6)) == target + 2, text
        texts.append(text)
    texts.sort(key=lambda t: -len(tok.encode(t, 10 ** 6)))
    with open(out, "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in texts))


def run(model_dir, texts_path, threads, batch, runs, out):
    torch.set_num_threads(threads)
    cfg, vocab, W = load(model_dir)
    tok = mf.Tokenizer(vocab)
    with open(texts_path, encoding="utf-8") as f:
        texts = f.read().split("\n")[:-1]
    max_tokens = min(512, cfg["max_position_embeddings"])
    ids = [tok.encode(t, max_tokens) for t in texts]
    batches = [mf.pad(ids[i:i + batch]) for i in range(0, len(ids), batch)]
    seconds = []
    with torch.no_grad():
        mf.forward_padded(W, cfg, *batches[0])    # warm-up
        for _ in range(runs):
            t0 = time.perf_counter()
            vecs = [mf.forward_padded(W, cfg, i, m) for i, m in batches]
            seconds.append(time.perf_counter() - t0)
    torch.cat(vecs).numpy().astype("float32").tofile(out)
    padded = sum(i.numel() for i, _ in batches)
    print(json.dumps({"seconds": seconds, "texts": len(texts),
                      "tokens": sum(len(x) for x in ids), "padded_tokens": padded,
                      "threads": torch.get_num_threads()}))


def compare(a, b, dim):
    x = torch.from_numpy(__import__("numpy").fromfile(a, dtype="float32")).view(-1, dim)
    y = torch.from_numpy(__import__("numpy").fromfile(b, dtype="float32")).view(-1, dim)
    assert x.shape == y.shape, (x.shape, y.shape)
    cos = torch.nn.functional.cosine_similarity(x, y, dim=1)
    print(f"{cos.min().item():.7f}")


def main(argv):
    if len(argv) >= 2 and argv[1] == "texts" and len(argv) == 8:
        make_texts(argv[2], int(argv[3]), int(argv[4]), int(argv[5]), int(argv[6]), argv[7])
    elif len(argv) >= 2 and argv[1] == "run" and len(argv) == 8:
        run(argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]), argv[7])
    elif len(argv) >= 2 and argv[1] == "compare" and len(argv) == 5:
        compare(argv[2], argv[3], int(argv[4]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
