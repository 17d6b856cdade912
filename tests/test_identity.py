"""test_identity: which document an ingest names, and what it replaces.

Real sluiced processes over ZeroMQ, documents made by each test (nothing
from ../shared). An upload is named by the caller's `filename`, here the
path relative to the folder sent, as `sluice ingest FOLDER` sends it: the
same file name in two folders is two documents, a re-sync replaces exactly
the files that changed and says so (`replaced`), an unnamed upload is a
document of its own. See docs/architecture.md, "Identity".
Usage: /usr/bin/python3 tests/test_identity.py [test_name ...]
"""
import os, signal, subprocess, sys, time

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SLUICED, Client, Runner, db, start, wait_for, wait_ready  # noqa: E402

HASH = ["embed.provider=hash"]                  # fast, and no model files needed
HASH_B = ["embed.provider=hash", "embed.options=dim=256,seed=7"]   # another model
FRONT = "broker,journal,query,intake,fetch,parse,chunk,upload"


def node(tmp, sets=()):
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    s = start(data, sets=HASH + list(sets))
    c = Client(s.port)
    wait_ready(c, ("intake", "query", "journal", "fetch", "parse", "chunk", "embed", "store", "upload"))
    return s, c, data


def write(folder, rel, text):
    path = os.path.join(folder, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def text(word, n=40):
    return " ".join("%s sentence %d says something about %s." % (word.capitalize(), i, word) for i in range(n))


def ingest_bytes(c, data, filename=None):
    """Upload bytes (upload/put) and ingest the blob; returns intake's reply."""
    r = c.request("upload", "put", {"data": data, "mime": "text/plain"})
    assert "blob" in r, r
    body = {"blob": r["blob"], "size": len(data), "mime": "text/plain"}
    if filename is not None:
        body["filename"] = filename
    return c.ingest(**body)


def sync(c, folder):
    """What the CLI does with a folder: every file, named by its path
    relative to the folder. Returns the finished jobs by that path."""
    ids = {}
    for root, _, names in sorted(os.walk(folder)):
        for name in sorted(names):
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            with open(path, "rb") as f:
                job = ingest_bytes(c, f.read(), rel)
            assert "id" in job and job["source"] == "upload:" + rel, job
            ids[rel] = job["id"]
    return {rel: c.wait(i, 60) for rel, i in ids.items()}


def completed_event(c, job_id):
    """The job's job_completed event, once the journal has it."""
    found = []
    wait_for(lambda: found.append(next(e for e in c.events(job_id)["events"] if e["type"] == "job_completed"))
             or True, 20, "job_completed of " + job_id)
    return found[-1]


def documents(c):
    r = c.request("query", "doc_list", {"limit": 100, "offset": 0})
    return {d["source"]: d for d in r["documents"]}


# ---------------------------------------------------------------------------

def test_same_name_in_two_folders(tmp):
    """d/a/n.txt and d/b/n.txt are two documents, each named by its path."""
    s, c, data = node(tmp)
    folder = os.path.join(tmp, "folder")
    write(folder, "d/a/n.txt", text("alpha"))
    write(folder, "d/b/n.txt", text("beta"))
    jobs = sync(c, folder)
    a, b = jobs["d/a/n.txt"], jobs["d/b/n.txt"]
    assert a["state"] == b["state"] == "completed", jobs
    assert a["document_id"] != b["document_id"], jobs
    assert a["replaced"] is None and b["replaced"] is None and a["duplicate_of"] is None, jobs
    docs = documents(c)
    assert set(docs) == {"upload:d/a/n.txt", "upload:d/b/n.txt"}, docs
    assert docs["upload:d/a/n.txt"]["id"] == a["document_id"]
    hits = c.search("beta sentence", k=3)["hits"]
    assert hits and hits[0]["document_id"] == b["document_id"], hits


def test_resync_replaces_only_the_changed_file(tmp):
    """Re-ingesting the folder with d/a/n.txt changed replaces that one
    document (the job and its event say which) and leaves d/b/n.txt."""
    s, c, data = node(tmp)
    folder = os.path.join(tmp, "folder")
    write(folder, "d/a/n.txt", text("alpha"))
    write(folder, "d/b/n.txt", text("beta"))
    first = sync(c, folder)
    old_a, old_b = first["d/a/n.txt"]["document_id"], first["d/b/n.txt"]["document_id"]
    write(folder, "d/a/n.txt", text("alpha", 41))
    second = sync(c, folder)
    a, b = second["d/a/n.txt"], second["d/b/n.txt"]
    assert a["state"] == "completed" and a["document_id"] != old_a, a
    assert a["replaced"] == old_a and a["duplicate_of"] is None, a
    ev = completed_event(c, a["id"])
    assert ev["replaced"] == old_a and ev["document_id"] == a["document_id"] and ev["duplicate"] is False, ev
    # the unchanged file: the same document, nothing replaced, and said so
    assert b["state"] == "completed" and b["document_id"] == old_b, b
    assert b["replaced"] is None and b["duplicate_of"] == old_b, b
    ev = completed_event(c, b["id"])
    assert "replaced" not in ev and ev["duplicate_of"] == old_b, ev
    docs = documents(c)
    assert {k: d["id"] for k, d in docs.items()} == {"upload:d/a/n.txt": a["document_id"],
                                                     "upload:d/b/n.txt": old_b}, docs
    assert c.request("query", "doc_get", {"id": old_a})["error"]["code"] == 404
    con = db(data)
    assert con.execute("SELECT count(*) FROM chunks WHERE document_id = ?", (old_a,)).fetchone()[0] == 0


def test_unnamed_uploads_are_separate(tmp):
    """Two uploads without a name are two documents, neither replacing
    the other; the same bytes unnamed again is the same document."""
    s, c, data = node(tmp)
    one = ingest_bytes(c, text("gamma").encode())
    two = ingest_bytes(c, text("delta").encode())
    assert one["source"] == "upload:/" + one["id"] and two["source"] == "upload:/" + two["id"], (one, two)
    one, two = c.wait(one["id"]), c.wait(two["id"])
    assert one["state"] == two["state"] == "completed", (one, two)
    assert one["document_id"] != two["document_id"] and two["replaced"] is None, (one, two)
    assert len(documents(c)) == 2
    again = c.wait(ingest_bytes(c, text("gamma").encode())["id"])
    assert again["document_id"] == one["document_id"] and again["duplicate_of"] == one["document_id"], again
    assert again["replaced"] is None and len(documents(c)) == 2, again
    # both sources name it: deleting neither upload's file loses the other
    con = db(data)
    assert con.execute("SELECT count(*) FROM document_sources WHERE document_id = ?",
                       (one["document_id"],)).fetchone()[0] == 2


def test_bad_filenames_refused(tmp):
    """A filename that is not a clean relative path is a 400 with the
    reason, and no job; ./ and // are normalised."""
    s, c, data = node(tmp)
    for bad, why in (("../etc/passwd", ".."), ("d/../../x", ".."), ("a\x01b", "control"),
                     ("x" * 1025, "too long"), ("./", "names no file")):
        r = ingest_bytes(c, b"some text", bad)
        assert r.get("error", {}).get("code") == 400 and why in r["error"]["message"], (bad, r)
    r = c.request("upload", "put", {"data": b"bytes", "mime": "text/plain"})
    raw = c.request("intake", "ingest", {"blob": r["blob"], "size": 5, "filename": b"\xff\xfe"})
    assert raw["error"]["code"] == 400, raw
    assert c.request("query", "jobs_list", {"limit": 10, "offset": 0})["jobs"] == []
    ok = ingest_bytes(c, text("epsilon").encode(), "./d//e/n.txt")
    assert ok["source"] == "upload:d/e/n.txt", ok


def test_late_commit_after_failure(tmp):
    """A job whose store worker stopped answering is dead-lettered and
    failed (job_failed); when the letter is replayed to a live store, the
    original message commits: the job ends completed with its document,
    job_completed last (a commit moves failed -> completed)."""
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    front = start(data, role=FRONT + ",embed", sets=HASH + ["jobs.message_attempts=1"])
    c = Client(front.port)
    wait_ready(c, ("intake", "query", "journal", "fetch", "parse", "chunk", "embed", "upload"))
    frozen = start(data, role="store", port=front.port, sets=HASH)
    wait_ready(c, ("store",))
    # The store process takes the message, then stops answering: the broker
    # declares it dead after its heartbeats stop and, with one attempt
    # allowed, dead-letters the message; the journal fails the job.
    os.kill(frozen.proc.pid, signal.SIGSTOP)
    job = ingest_bytes(c, text("zeta").encode(), "late.txt")
    failed = c.wait(job["id"], 30)
    assert failed["state"] == "failed" and failed["error_stage"] == "store", failed
    frozen.kill(signal.SIGKILL)
    start(data, role="store", port=front.port, sets=HASH)
    wait_ready(c, ("store",))
    h, frames = c._call({"c": 16, "limit": 100})
    letters = [d for d in msgpack.unpackb(frames[0]) if d.get("job") == job["id"]]
    assert letters, msgpack.unpackb(frames[0])
    h, _ = c._call({"c": 17, "mid": letters[0]["mid"]})
    assert h["c"] != 10, h

    def done():
        return c.job(job["id"])["job"]["state"] == "completed"
    wait_for(done, 60, "the late commit")
    j = c.job(job["id"])["job"]
    assert j["document_id"] and j["error"] is None, j
    assert c.request("query", "doc_get", {"id": j["document_id"]})["document"]["source"] == "upload:late.txt"
    completed_event(c, job["id"])
    types = [e["type"] for e in c.events(job["id"])["events"]]
    assert types.index("job_failed") < types.index("job_completed") and types[-1] == "job_completed", types


def test_reembed_switch_requeues(tmp):
    """Vectors embedded with the model a `sluiced --reembed` just replaced
    reach the store: the job goes back through embed (new model) and
    completes, instead of failing for good."""
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    front = start(data, role=FRONT, sets=HASH)
    old_embed = start(data, role="embed", port=front.port, sets=HASH)
    store = start(data, role="store", port=front.port, sets=HASH)
    c = Client(front.port)
    wait_ready(c, ("intake", "query", "journal", "fetch", "parse", "chunk", "embed", "store", "upload"))
    first = c.wait(ingest_bytes(c, text("eta").encode(), "first.txt")["id"], 60)
    assert first["state"] == "completed", first
    store.stop()
    # the second job is embedded with the old model, then waits for a store
    job = ingest_bytes(c, text("theta").encode(), "second.txt")

    def embedded():
        stages = c.job(job["id"])["job"]["stages"]
        return stages.get("embed", {}).get("finished")
    wait_for(embedded, 60, "the old model's embedding")
    time.sleep(0.5)                     # its store message reaches the broker's queue
    old_embed.stop()
    args = [SLUICED, "--reembed", "default", "--data", data]
    for kv in HASH_B:
        args += ["--set", kv]
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    new_model = r.stdout.strip().splitlines()[-1].split(" -> ")[-1]
    start(data, role="embed,store", port=front.port, sets=HASH_B)
    done = c.wait(job["id"], 60)
    assert done["state"] == "completed", done
    events = c.events(job["id"])["events"]
    assert any(e["type"] == "stage_retry" and "embedding again" in e.get("reason", "") for e in events), events
    con = db(data)
    models = {row[0] for row in con.execute("SELECT DISTINCT v.model_id FROM vectors v JOIN chunks ch "
                                            "ON ch.rid = v.chunk_rid WHERE ch.document_id = ?",
                                            (done["document_id"],))}
    assert models == {new_model}, (models, new_model)


if __name__ == "__main__":
    tests = [test_same_name_in_two_folders, test_resync_replaces_only_the_changed_file,
             test_unnamed_uploads_are_separate, test_bad_filenames_refused, test_late_commit_after_failure,
             test_reembed_switch_requeues]
    sys.exit(Runner().run(tests, only=set(sys.argv[1:]) or None))
