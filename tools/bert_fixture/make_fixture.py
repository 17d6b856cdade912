#!/usr/bin/python3
"""make_fixture.py: random-weight BERT models and their torch reference vectors.

Sluice's `bert` embedding provider (actors/embed/sl_embed_bert.c) must give
the vectors that Hugging Face's BertTokenizer + BertModel + mean pooling +
L2 normalisation give (what sentence-transformers computes). No real weights
can be downloaded where Sluice is built, so this script makes models with
random weights, laid out exactly as BertModel saves them, and computes the
reference vectors in PyTorch:

  tiny DIR     the committed test fixture (tests/fixtures/bert-tiny): 2
               layers, hidden 32, 4 heads, intermediate 64, 64 positions, a
               vocabulary of ~150 tokens; writes config.json,
               model.safetensors, vocab.txt and reference.json (token ids and
               vectors for ~25 texts, both for hidden_act "gelu" and
               "gelu_new"). The self-test needs none of torch: it reads these.
  minilm DIR   a MiniLM-L6-shaped model for bench/bench_bert.sh (6 layers,
               hidden 384, 12 heads, intermediate 1536, 512 positions, a
               30522-token vocabulary): ~90 MB, never committed.

Run with Debian's python3-torch (scripts/setup-deps.sh installs it):
    /usr/bin/python3 tools/bert_fixture/make_fixture.py tiny tests/fixtures/bert-tiny

The reference tokenizer below is a transcription of BertTokenizer's
BasicTokenizer and WordpieceTokenizer (transformers/models/bert/
tokenization_bert.py), which Debian does not package; it uses Python's own
str.lower() and unicodedata, so it checks the C tokenizer's Unicode handling
against CPython's. One deliberate difference, shared with the C side:
special-token strings inside the text ("[SEP]") are ordinary text.

The reference forward pass is BertModel's, written out with torch.nn.functional
on a padded batch with the attention mask (finfo.min on padded keys), so it
also shows that the C side's packing (no padding) computes the same thing.
"""
import json
import math
import os
import struct
import sys
import unicodedata

import torch
import torch.nn.functional as F


# ---------------------------------------------------------------------------
# Tokenizer: HF BertTokenizer (slow), transcribed

def _is_whitespace(ch):
    if ch in (" ", "\t", "\n", "\r"):
        return True
    return unicodedata.category(ch) == "Zs"


def _is_control(ch):
    if ch in ("\t", "\n", "\r"):
        return False
    return unicodedata.category(ch).startswith("C")


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_chinese_char(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class Tokenizer:
    def __init__(self, vocab_tokens, do_lower_case=True, strip_accents=None,
                 tokenize_chinese_chars=True):
        self.vocab = {}
        for i, tok in enumerate(vocab_tokens):
            self.vocab[tok] = i          # a repeated token keeps its last id, as HF's dict does
        self.do_lower_case = do_lower_case
        self.strip_accents = strip_accents
        self.tokenize_chinese_chars = tokenize_chinese_chars

    def _clean(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or _is_control(ch):
                continue
            out.append(" " if _is_whitespace(ch) else ch)
        return "".join(out)

    def _strip(self, text):
        return "".join(c for c in unicodedata.normalize("NFD", text)
                       if unicodedata.category(c) != "Mn")

    def _split_punc(self, text):
        out, new_word = [], True
        for ch in text:
            if _is_punctuation(ch):
                out.append([ch])
                new_word = True
            else:
                if new_word:
                    out.append([])
                new_word = False
                out[-1].append(ch)
        return ["".join(x) for x in out]

    def basic(self, text):
        text = self._clean(text)
        if self.tokenize_chinese_chars:
            text = "".join(f" {c} " if _is_chinese_char(ord(c)) else c for c in text)
        split = []
        for token in text.strip().split():
            if self.do_lower_case:
                token = token.lower()
                if self.strip_accents is not False:
                    token = self._strip(token)
            elif self.strip_accents:
                token = self._strip(token)
            split.extend(self._split_punc(token))
        return " ".join(split).strip().split()

    def wordpiece(self, word):
        chars = list(word)
        if len(chars) > 100:
            return ["[UNK]"]
        start, pieces = 0, []
        while start < len(chars):
            end, cur = len(chars), None
            while start < end:
                sub = "".join(chars[start:end])
                if start > 0:
                    sub = "##" + sub
                if sub in self.vocab:
                    cur = sub
                    break
                end -= 1
            if cur is None:
                return ["[UNK]"]
            pieces.append(cur)
            start = end
        return pieces

    def encode(self, text, max_tokens):
        """[CLS] pieces [SEP], truncated to max_tokens (HF truncation=True)."""
        pieces = [p for w in self.basic(text) for p in self.wordpiece(w)]
        ids = [self.vocab[p] for p in pieces][: max_tokens - 2]
        return [self.vocab["[CLS]"]] + ids + [self.vocab["[SEP]"]]


# ---------------------------------------------------------------------------
# safetensors, written and read without the safetensors package

def write_safetensors(path, tensors, dtype="F32"):
    torch_dtype = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtype]
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(torch_dtype).contiguous()
        # bfloat16 has no numpy dtype: write its bits through an int16 view
        data = t.view(torch.int16 if dtype != "F32" else torch.float32).numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - (8 + len(text)) % 8) % 8)      # align the data area to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[info["dtype"]]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=dt) if e > b else torch.zeros(0, dtype=dt)
        out[name] = t.reshape(info["shape"]).float()
    return out


# ---------------------------------------------------------------------------
# The model

def random_weights(cfg, seed):
    """BertModel's tensors with random values, scaled so that attention and
    the feed-forward do real work (HF's 0.02 init would make every text's
    vector nearly the same)."""
    g = torch.Generator().manual_seed(seed)
    H, I = cfg["hidden_size"], cfg["intermediate_size"]

    def rnd(*shape, std=1.0):
        return torch.randn(*shape, generator=g) * std

    W = {
        "embeddings.word_embeddings.weight": rnd(cfg["vocab_size"], H),
        "embeddings.position_embeddings.weight": rnd(cfg["max_position_embeddings"], H, std=0.5),
        "embeddings.token_type_embeddings.weight": rnd(cfg["type_vocab_size"], H, std=0.5),
        "embeddings.LayerNorm.weight": 1 + rnd(H, std=0.1),
        "embeddings.LayerNorm.bias": rnd(H, std=0.1),
        "pooler.dense.weight": rnd(H, H, std=H ** -0.5),      # present in real checkpoints, unused
        "pooler.dense.bias": rnd(H, std=0.1),
    }
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."
        for part in ("query", "key", "value"):
            W[p + f"attention.self.{part}.weight"] = rnd(H, H, std=1.5 * H ** -0.5)
            W[p + f"attention.self.{part}.bias"] = rnd(H, std=0.1)
        W[p + "attention.output.dense.weight"] = rnd(H, H, std=H ** -0.5)
        W[p + "attention.output.dense.bias"] = rnd(H, std=0.1)
        W[p + "attention.output.LayerNorm.weight"] = 1 + rnd(H, std=0.1)
        W[p + "attention.output.LayerNorm.bias"] = rnd(H, std=0.1)
        W[p + "intermediate.dense.weight"] = rnd(I, H, std=H ** -0.5)
        W[p + "intermediate.dense.bias"] = rnd(I, std=0.1)
        W[p + "output.dense.weight"] = rnd(H, I, std=I ** -0.5)
        W[p + "output.dense.bias"] = rnd(H, std=0.1)
        W[p + "output.LayerNorm.weight"] = 1 + rnd(H, std=0.1)
        W[p + "output.LayerNorm.bias"] = rnd(H, std=0.1)
    return W


def pad(batch_ids):
    """A list of id lists as padded ids and attention mask tensors."""
    B, L = len(batch_ids), max(len(x) for x in batch_ids)
    ids = torch.zeros(B, L, dtype=torch.long)
    mask = torch.zeros(B, L)
    for i, x in enumerate(batch_ids):
        ids[i, : len(x)] = torch.tensor(x)
        mask[i, : len(x)] = 1
    return ids, mask


def forward(W, cfg, batch_ids):
    """BertModel + mean pooling + normalisation on a padded batch (list of
    id lists). Returns [len(batch_ids), hidden] float32."""
    return forward_padded(W, cfg, *pad(batch_ids))


def forward_padded(W, cfg, ids, mask):
    H, nh = cfg["hidden_size"], cfg["num_attention_heads"]
    d, eps = H // nh, cfg.get("layer_norm_eps", 1e-12)
    act = cfg.get("hidden_act", "gelu")
    B, L = ids.shape
    pos = torch.arange(L).unsqueeze(0)
    x = (W["embeddings.word_embeddings.weight"][ids]
         + W["embeddings.position_embeddings.weight"][pos]
         + W["embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)])
    x = F.layer_norm(x, (H,), W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    ext = (1.0 - mask[:, None, None, :]) * torch.finfo(torch.float32).min
    for l in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{l}."

        def heads(name):
            y = F.linear(x, W[p + f"attention.self.{name}.weight"], W[p + f"attention.self.{name}.bias"])
            return y.view(B, L, nh, d).transpose(1, 2)

        q, k, v = heads("query"), heads("key"), heads("value")
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(d) + ext
        ctx = torch.matmul(scores.softmax(-1), v).transpose(1, 2).reshape(B, L, H)
        a = F.linear(ctx, W[p + "attention.output.dense.weight"], W[p + "attention.output.dense.bias"])
        x = F.layer_norm(a + x, (H,), W[p + "attention.output.LayerNorm.weight"],
                         W[p + "attention.output.LayerNorm.bias"], eps)
        i = F.linear(x, W[p + "intermediate.dense.weight"], W[p + "intermediate.dense.bias"])
        if act == "gelu":
            i = F.gelu(i)
        elif act in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
            i = F.gelu(i, approximate="tanh")
        elif act == "relu":
            i = F.relu(i)
        else:
            raise ValueError(act)
        o = F.linear(i, W[p + "output.dense.weight"], W[p + "output.dense.bias"])
        x = F.layer_norm(o + x, (H,), W[p + "output.LayerNorm.weight"],
                         W[p + "output.LayerNorm.bias"], eps)
    m = mask.unsqueeze(-1)
    pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return F.normalize(pooled, p=2, dim=1)


# ---------------------------------------------------------------------------
# The tiny fixture

TINY_CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert", "hidden_size": 32,
    "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
    "max_position_embeddings": 64, "type_vocab_size": 2, "vocab_size": 192,
    "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute",
}

TINY_VOCAB = (
    ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    + ". , ! ? ( ) [ ] { } - ' : ; \" / © ® € $ %".split()
    + [str(i) for i in range(10)] + ["##" + str(i) for i in range(10)]
    + """the quick brown fox jump over lazy dog hello world un ##aff ##able cafe naive resume
         test text new line tab windows control char here zero width don can won t a of and
         to in is it that for on with as at by this from or an be are not but all one two
         emoji symbol literal token cl sep x y ##x ##y ##s ##ed ##ing ##er ##ly ##es ##en
         ##ara ##ted ##ted separated i ##stan ##bul l ##ine ##o ##ok ##ers book long word
         very sentence about nothing repeat ##ing ##stan title ##emal ##e ##a ##c ##r ##n
         ##t ##h ##d ##l ##u ##m ##p ##i ##k ##b ##g ##f ##w ##v ##z ##q ##j nul byte
         mixed case numbers""".split()
    + ["中", "文", "日", "本", "οδο", "##ς", "##σ", "##α", "ᄀ", "##ᅡ", "ᄂ", "ᄃ", "dž"]
)

TINY_TEXTS = [
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "Café naïve résumé",
    "UNAFFABLE unaffable Unaffable",
    "hello,world!!! (test) [x] {y} \"quoted\" 50%",
    "zyzzyva qwertyuiop xylophone",
    "",
    "   \t\n  ",
    " ".join(["this is a very long sentence about nothing"] * 12),
    "中文 text 日本語",
    "ΟΔΟΣ ΟΔΟΣ. ΟΔΟΣΑ οδοσ",
    "İstanbul",
    "가나다 한국어",
    "emoji 😀 and symbols ©®™ €100",
    "tab\tseparated\nnew line\r\nwindows line",
    "control\x01char\x7f here\u200b zero\u00a0width",
    "don't can't won't",
    "a",
    "[CLS] literal [SEP] tokens",
    "2024-11-27 3.14159 1,000,000",
    "x" * 101 + " word",
    "ǅemal Title Case MIXED case",
    "nul\x00byte",
    "booker looked at the books",
    "!!!",
]


def make_tiny(out):
    os.makedirs(out, exist_ok=True)
    cfg = dict(TINY_CONFIG)
    vocab = TINY_VOCAB + [f"[unused{i}]" for i in range(cfg["vocab_size"] - len(TINY_VOCAB))]
    assert len(vocab) == cfg["vocab_size"], len(vocab)
    W = random_weights(cfg, seed=20261127)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    write_safetensors(os.path.join(out, "model.safetensors"), W)
    W = read_safetensors(os.path.join(out, "model.safetensors"))     # what C will read

    tok = Tokenizer(vocab)
    max_tokens = min(512, cfg["max_position_embeddings"])
    ids = [tok.encode(t, max_tokens) for t in TINY_TEXTS]
    with torch.no_grad():
        vec = forward(W, cfg, ids)
        vec_new = forward(W, dict(cfg, hidden_act="gelu_new"), ids)
        # the padded batch equals each text alone: masking is exact
        for i, x in enumerate(ids):
            alone = forward(W, cfg, [x])[0]
            assert torch.nn.functional.cosine_similarity(alone, vec[i], dim=0) > 0.99999
    # a discriminating fixture: different texts get clearly different vectors
    sims = vec @ vec.T
    off = sims[~torch.eye(len(ids), dtype=torch.bool)]
    print(f"make_fixture: {len(ids)} texts, pairwise cosine min {off.min():.3f} "
          f"median {off.median():.3f} max {off.max():.3f}; "
          f"{sum(len(x) for x in ids)} tokens", file=sys.stderr)
    ref = {
        "note": "made by tools/bert_fixture/make_fixture.py with torch " + torch.__version__
                + ": HF BertTokenizer (transcribed) + BertModel forward + mean pooling + "
                "L2 norm; vector_gelu_new is the same weights with hidden_act gelu_new",
        "max_tokens": max_tokens,
        "texts": [
            {"text": t, "ids": x, "vector": [round(float(v), 7) for v in vec[i]],
             "vector_gelu_new": [round(float(v), 7) for v in vec_new[i]]}
            for i, (t, x) in enumerate(zip(TINY_TEXTS, ids))
        ],
    }
    with open(os.path.join(out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, indent=1, ensure_ascii=True)
        f.write("\n")


# ---------------------------------------------------------------------------
# The MiniLM-shaped benchmark model

MINILM_CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert", "hidden_size": 384,
    "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536,
    "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 30522,
    "layer_norm_eps": 1e-12, "hidden_act": "gelu", "position_embedding_type": "absolute",
}


def minilm_vocab(size):
    """Specials, characters and ## characters (so nothing is [UNK]), then
    pseudo-words made of syllables, as many as fit."""
    import itertools
    vocab = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = [chr(c) for c in range(33, 127) if not chr(c).isupper()]
    vocab += chars + ["##" + c for c in chars if c.isalnum()]
    syl = [a + b for a in "bcdfghklmnprstvwz" for b in "aeiou"] + ["th", "st", "ng", "er"]
    for n in (1, 2, 3):
        for combo in itertools.product(syl, repeat=n):
            w = "".join(combo)
            vocab.append(w)
            if n < 3:
                vocab.append("##" + w)
            if len(vocab) >= size:
                return vocab[:size]
    return vocab


def make_minilm(out, seed=7):
    os.makedirs(out, exist_ok=True)
    cfg = dict(MINILM_CONFIG)
    vocab = minilm_vocab(cfg["vocab_size"])
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    with open(os.path.join(out, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("".join(t + "\n" for t in vocab))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": 512}, f)
    write_safetensors(os.path.join(out, "model.safetensors"), random_weights(cfg, seed))


def main(argv):
    if len(argv) != 3 or argv[1] not in ("tiny", "minilm"):
        print(__doc__, file=sys.stderr)
        return 2
    (make_tiny if argv[1] == "tiny" else make_minilm)(argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
