#!/usr/bin/python3
"""use_numpy.py: a batched numpy forward pass of Universal Sentence Encoder
lite, the BLAS-bound reference for bench/bench_use.sh.

It reads the same TensorFlow.js files as Sluice (models/use-lite: model.json
and the weight shards) and runs the same graph the way one would in numpy:
texts sorted by length, padded per batch, a -1e9 attention bias on padded
keys, every projection one matmul over the whole (batch x length) block, so
the time goes to OpenBLAS sgemm through numpy. It takes token ids, not text
(the ids come from Sluice's tokenizer, which the golden test holds equal to
the JavaScript one), so its figure is the forward pass alone: a lower bound
on what any numpy implementation would cost.

    /usr/bin/python3 bench/use_numpy.py --model models/use-lite --in chunks.json \
        --batch 32 [--seconds 5] [--vectors out.f32] [--golden tests/golden/use_golden.json]

--in is the JSON bench_use writes: {"texts": [...], "ids": [[...], ...]}.
Embeds the chunks B at a time, in order, wrapping around, until S seconds
have passed (at least one batch), after one warm-up batch, like bench_use;
prints one JSON line: {"impl": "numpy", "batch": B, "chunks": N, "seconds":
S, "chunks_per_s": R, "cpu_ms_per_chunk": C, "blas": ...}. --vectors writes
the vectors of the first pass over the chunks (float32, n x 512) and runs
at least that one pass.
--golden checks the forward pass against the golden vectors instead (cosine
per text) and exits non-zero below 0.9999.
Use Debian's /usr/bin/python3: its numpy calls the system libblas, which
Sluice's setup points at OpenBLAS (the same library sluiced links).
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np

P = "module_apply_default/Encoder_en/KonaTransformer/Encode/"
TS = P + "TransformerStack/"


def load(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        manifest = json.load(f)
    tensors = {}
    for group in manifest["weightsManifest"]:
        blob = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        offset = 0
        for w in group["weights"]:
            count = int(np.prod(w["shape"])) if w["shape"] else 1
            dtype = {"float32": np.float32, "int32": np.int32}[w["dtype"]]
            tensors[w["name"]] = np.frombuffer(blob, dtype, count, offset).reshape(w["shape"])
            offset += 4 * count
    return tensors


class Use:
    def __init__(self, model_dir):
        t = load(model_dir)
        self.emb = t["module/Embeddings_en"]
        inv = t[TS + "Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1"].reshape(-1)
        pos = np.arange(128, dtype=np.float32)[:, None] * inv[None, :]
        self.timing = np.concatenate([np.sin(pos), np.cos(pos)], axis=1).astype(np.float32)
        self.layers = []
        for i, d in ((0, 256), (1, 512)):
            L = P + "Layer_%d/TransformerLayer/" % i
            K = "module/Encoder_en/KonaTransformer/Encode/Layer_%d/TransformerLayer/" % i
            F = TS + "Layer_%d/TransformerLayer/FFN/" % i
            layer = {
                "d": d,
                "ln1": (t[L + "layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat"],
                        t[L + "layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat"]),
                "qkv": (t[K + "MultiheadAttention/qkv_transform_single/kernel/part_0"].reshape(d, 3 * d),
                        t[L + "MultiheadAttention/qkv_transform_single/bias/ConcatPartitions/concat"]),
                "scale": float(t[TS + "Layer_%d/TransformerLayer/MultiheadAttention/mul/y" % i]),
                "out": (t[K + "MultiheadAttention/output_transform_single/kernel/part_0"].reshape(d, 512),
                        t[L + "MultiheadAttention/output_transform_single/bias/ConcatPartitions/concat"]),
                "ln2": (t[L + "FFN/layer_prepostprocess/layer_norm/layer_norm_scale/ConcatPartitions/concat"],
                        t[L + "FFN/layer_prepostprocess/layer_norm/layer_norm_bias/ConcatPartitions/concat"]),
                "ffn1": (t[F + "conv1/Tensordot/Reshape_1"], t[L + "FFN/conv1/bias/ConcatPartitions/concat"]),
                "ffn2": (t[F + "conv2/Tensordot/Reshape_1"], t[L + "FFN/conv2/bias/ConcatPartitions/concat"]),
            }
            if i == 0:
                layer["resid"] = (t[L + "dense/kernel/ConcatPartitions/concat"],
                                  t[L + "dense/bias/ConcatPartitions/concat"])
            self.layers.append(layer)
        self.tanh = (t["module/Encoder_en/hidden_layers/tanh_layer_0/weights"],
                     t["module/Encoder_en/hidden_layers/tanh_layer_0/bias"])

    @staticmethod
    def _ln(x, p):
        mean = x.mean(-1, keepdims=True)
        c = x - mean
        var = (c * c).mean(-1, keepdims=True)
        return c * (p[0] / np.sqrt(var + 1e-6)) + p[1]

    def _layer(self, x, bias, L):
        b, n, _ = x.shape
        d = L["d"]
        h = L["d"] // 4
        qkv = self._ln(x, L["ln1"]) @ L["qkv"][0] + L["qkv"][1]
        q, k, v = (qkv[..., i * d:(i + 1) * d].reshape(b, n, 4, h).transpose(0, 2, 1, 3)
                   for i in range(3))
        s = (q * L["scale"]) @ k.transpose(0, 1, 3, 2) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
        y = a @ L["out"][0] + L["out"][1]
        y += (x @ L["resid"][0] + L["resid"][1]) if "resid" in L else x
        f = np.maximum(self._ln(y, L["ln2"]) @ L["ffn1"][0] + L["ffn1"][1], 0)
        return y + f @ L["ffn2"][0] + L["ffn2"][1]

    def embed_batch(self, ids):
        """ids: list of token-id lists (each non-empty). Returns len x 512."""
        ids = [i[:128] for i in ids]
        n = max(len(i) for i in ids)
        lens = np.array([len(i) for i in ids])
        tok = np.zeros((len(ids), n), np.int64)
        for r, i in enumerate(ids):
            tok[r, :len(i)] = i
        mask = np.arange(n)[None, :] < lens[:, None]
        x = (2 * self.emb[tok] + self.timing[None, :n]) * mask[..., None]
        bias = np.where(mask, 0, -1e9).astype(np.float32)[:, None, None, :]
        for L in self.layers:
            x = self._layer(x, bias, L)
        mean = (x * mask[..., None]).sum(1) / lens[:, None]
        z = np.tanh(mean @ self.tanh[0] + self.tanh[1])
        return z / np.sqrt(np.maximum((z * z).sum(-1, keepdims=True), 1e-12))

    def embed(self, ids, batch):
        """Sorted by length, one padded batch per `batch` texts."""
        out = np.zeros((len(ids), 512), np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        for s in range(0, len(order), batch):
            rows = [r for r in order[s:s + batch] if ids[r]]
            if rows:
                out[rows] = self.embed_batch([ids[r] for r in rows])
        return out


def blas_name():
    try:
        with open("/proc/self/maps") as f:
            libs = sorted({l.split()[-1] for l in f if "blas" in l.lower() and "/" in l})
        return [os.path.realpath(l) for l in libs]
    except OSError:
        return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(os.path.dirname(__file__), "../models/use-lite"))
    ap.add_argument("--in", dest="inp")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--vectors")
    ap.add_argument("--golden")
    a = ap.parse_args()
    np.seterr(under="ignore")
    model = Use(a.model)
    if a.golden:
        with open(a.golden) as f:
            golden = json.load(f)["texts"]
        worst = 1.0
        for batch in (1, 64):
            got = model.embed([g["ids"] for g in golden], batch)
            for g, v in zip(golden, got):
                if g["vector"] is not None:
                    worst = min(worst, float(v @ np.array(g["vector"], np.float32)))
        print(json.dumps({"impl": "numpy", "golden_texts": len(golden), "min_cosine": worst}))
        sys.exit(0 if worst >= 0.9999 else 1)
    with open(a.inp) as f:
        ids = json.load(f)["ids"]
    model.embed([ids[k % len(ids)] for k in range(a.batch)], a.batch)   # warm up
    n = len(ids)
    vectors = np.zeros((n, 512), np.float32) if a.vectors else None
    done, at, t0, c0 = 0, 0, time.perf_counter(), time.process_time()
    while done == 0 or time.perf_counter() - t0 < a.seconds or (vectors is not None and done < n):
        rows = [(at + k) % n for k in range(a.batch)]
        v = model.embed([ids[r] for r in rows], a.batch)
        if vectors is not None and done < n:
            for k, r in enumerate(rows[:n - done]):
                vectors[r] = v[k]
        at = (at + a.batch) % n
        done += a.batch
    secs = time.perf_counter() - t0
    cpu = time.process_time() - c0
    if vectors is not None:
        vectors.tofile(a.vectors)
    print(json.dumps({"impl": "numpy", "batch": a.batch, "chunks": done, "seconds": round(secs, 3),
                      "chunks_per_s": round(done / secs, 2),
                      "cpu_ms_per_chunk": round(1000 * cpu / done, 3), "numpy": np.__version__,
                      "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "blas": blas_name()}))


if __name__ == "__main__":
    main()
