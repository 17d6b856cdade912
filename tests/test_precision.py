"""test_precision: embed.precision, the arithmetic the encoders run in.

Real sluiced processes on the installed `use` model (tests skip without
it, or without avx512_bf16 where they need bf16), documents written by
each test. What is checked: bad values and impossible asks refuse to
start with the reason; the model id records the precision, so a workspace
embedded in fp32 refuses bf16 queries (409, saying which model) until it
is re-embedded, which `sluiced --reembed` does; auto on a CPU without the
unit is plain fp32, with today's model id. SLUICE_CPU_NO_BF16=1 stands in
for such a CPU (actors/embed/sl_matmul.h).
Usage: /usr/bin/python3 tests/test_precision.py [test_name ...]
"""
import os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SLUICED, Client, Runner, free_port, start, wait_ready  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(os.environ.get("SLUICE_MODEL_DIR", os.path.join(ROOT, "models")), "use-lite")
USE = ["embed.provider=use"]
TEXTS = {
    "kettle": "Descale the electric kettle every month: fill it with white vinegar and water, boil, "
              "leave it an hour, then rinse twice before making tea again.",
    "tyres": "Check the bicycle tyre pressure weekly; road tyres want six to eight bar, and a soft "
             "tyre wears fast and punctures on sharp stones.",
    "bread": "Knead the bread dough for ten minutes, let it rise until doubled, shape the loaf and "
             "bake it at two hundred and twenty degrees for thirty five minutes.",
}
QUERY = "how do I clean limescale out of a kettle"


def has_model():
    return os.path.isfile(os.path.join(MODEL, "model.json"))


def has_bf16():
    with open("/proc/cpuinfo") as f:
        return "avx512_bf16" in f.read()


def refused_at_start(tmp, sets, env=None):
    """Run sluiced with these settings; it must exit 1. Returns its output."""
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    port = free_port()
    args = [SLUICED, "--data", data, "--set", "broker.bind=tcp://127.0.0.1:%d" % port,
            "--set", "http.port=%d" % free_port(), "--set", "broker.metrics_port=0",
            "--set", "worker.health_port=0"]
    for kv in sets:
        args += ["--set", kv]
    r = subprocess.run(args, capture_output=True, text=True, timeout=60, env=dict(os.environ, **(env or {})))
    assert r.returncode == 1, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    return r.stdout + r.stderr


def node(tmp, sets):
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    s = start(data, sets=list(sets))
    c = Client(s.port)
    wait_ready(c, ("intake", "query", "journal", "fetch", "parse", "chunk", "embed", "store", "upload"))
    return s, c, data


def ingest_texts(c):
    ids = {}
    for name, text in TEXTS.items():
        r = c.request("upload", "put", {"data": text.encode(), "mime": "text/plain"})
        assert "blob" in r, r
        job = c.ingest(blob=r["blob"], size=len(text), mime="text/plain", filename=name + ".txt")
        assert "id" in job, job
        ids[name] = job["id"]
    docs = {}
    for name, job_id in ids.items():
        job = c.wait(job_id, 120)
        assert job["state"] == "completed", job
        docs[name] = job["document_id"]
    return docs


# ---------------------------------------------------------------------------

def test_unknown_precision_refused(tmp):
    """embed.precision=fp16 stops the node at start, naming the choices."""
    if not has_model():
        return "skip"
    out = refused_at_start(tmp, USE + ["embed.precision=fp16"])
    assert "precision 'fp16' is not one of auto, fp32, bf16" in out, out[-2000:]


def test_bf16_refused_without_cpu_unit(tmp):
    """embed.precision=bf16 on a CPU without avx512_bf16 stops the node at
    start and says what to set instead."""
    if not has_model():
        return "skip"
    out = refused_at_start(tmp, USE + ["embed.precision=bf16"], env={"SLUICE_CPU_NO_BF16": "1"})
    assert "precision bf16 needs a CPU with avx512_bf16" in out, out[-2000:]
    assert "set embed.precision=fp32 or auto" in out, out[-2000:]


def test_bf16_refused_for_hash(tmp):
    """bf16 asked of a provider without a reduced-precision path is refused,
    not silently ignored."""
    out = refused_at_start(tmp, ["embed.provider=hash", "embed.precision=bf16"])
    assert "embed.precision=bf16 applies to the use and bert encoders only" in out, out[-2000:]


def test_auto_without_cpu_unit_is_fp32(tmp):
    """auto on a CPU without the unit embeds in fp32 with today's model id
    (no suffix), so existing workspaces stay valid."""
    if not has_model():
        return "skip"
    os.environ["SLUICE_CPU_NO_BF16"] = "1"
    try:
        s, c, _ = node(tmp, USE + ["embed.precision=auto"])
    finally:
        del os.environ["SLUICE_CPU_NO_BF16"]
    docs = ingest_texts(c)
    res = c.search(QUERY, k=3)
    assert res["model"].startswith("use:use-lite:") and not res["model"].endswith(":bf16"), res["model"]
    assert len(res["model"].split(":")) == 4, res["model"]
    assert res["hits"][0]["document_id"] == docs["kettle"], res


def test_default_is_fp32(tmp):
    """Without embed.precision a node embeds in fp32 with today's model id,
    even on a CPU with avx512_bf16: switching precision is a model change
    (409 until a re-embed), so it is never made behind the operator's back."""
    if not has_model():
        return "skip"
    s, c, _ = node(tmp, USE)
    ingest_texts(c)
    model = c.search(QUERY, k=1)["model"]
    assert model.startswith("use:use-lite:") and len(model.split(":")) == 4, model


def test_auto_picks_bf16_where_it_agrees(tmp):
    """auto on a CPU with avx512_bf16 checks bf16 against fp32 on probe
    texts at start, says so in the log, and embeds in bf16 (model id with
    :bf16)."""
    if not has_model() or not has_bf16():
        return "skip"
    s, c, _ = node(tmp, USE + ["embed.precision=auto", "log.level=info"])   # logged at info
    docs = ingest_texts(c)
    res = c.search(QUERY, k=3)
    assert res["model"].startswith("use:use-lite:") and res["model"].endswith(":bf16"), res["model"]
    assert res["hits"][0]["document_id"] == docs["kettle"], res
    with open(s.log_path, errors="replace") as f:
        log = f.read()
    assert "embed.precision auto: bf16 (lowest cosine with fp32 0.99" in log, log[-3000:]


def test_precision_switch_refused_then_reembedded(tmp):
    """A workspace embedded in fp32 refuses a bf16 node's search with 409
    naming the stored model; `sluiced --reembed` moves it to bf16 (id with
    :bf16), after which bf16 searches find the same top document and an
    fp32 node is refused in turn."""
    if not has_model() or not has_bf16():
        return "skip"
    s, c, data = node(tmp, USE + ["embed.precision=fp32"])
    docs = ingest_texts(c)
    fp32 = c.search(QUERY, k=3)
    assert fp32["hits"][0]["document_id"] == docs["kettle"], fp32
    fp32_model = fp32["model"]
    assert not fp32_model.endswith(":bf16"), fp32_model
    s.stop()

    s, c, _ = node(tmp, USE + ["embed.precision=bf16"])
    refused = c.search(QUERY, k=3)
    assert refused["error"]["code"] == 409, refused
    msg = refused["error"]["message"]
    assert "is embedded with model %s;" % fp32_model in msg, refused
    assert "the query was embedded with %s:bf16" % fp32_model in msg and "re-embed it" in msg, refused
    s.stop()

    r = subprocess.run([SLUICED, "--reembed", "default", "--data", data, "--set", "embed.provider=use",
                        "--set", "embed.precision=bf16"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    last = r.stdout.strip().splitlines()[-1]
    assert last.endswith("%s -> %s:bf16" % (fp32_model, fp32_model)), last

    s, c, _ = node(tmp, USE + ["embed.precision=bf16"])
    bf16 = c.search(QUERY, k=3)
    assert bf16["model"] == fp32_model + ":bf16", bf16
    assert bf16["hits"][0]["document_id"] == docs["kettle"], bf16
    assert [h["document_id"] for h in bf16["hits"]] == [h["document_id"] for h in fp32["hits"]], (bf16, fp32)
    s.stop()

    s, c, _ = node(tmp, USE + ["embed.precision=fp32"])
    back = c.search(QUERY, k=3)
    assert back["error"]["code"] == 409 and fp32_model + ":bf16" in back["error"]["message"], back


if __name__ == "__main__":
    tests = [test_unknown_precision_refused, test_bf16_refused_without_cpu_unit, test_bf16_refused_for_hash, test_default_is_fp32,
             test_auto_without_cpu_unit_is_fp32, test_auto_picks_bf16_where_it_agrees,
             test_precision_switch_refused_then_reembedded]
    sys.exit(Runner().run(tests, only=set(sys.argv[1:]) or None))
