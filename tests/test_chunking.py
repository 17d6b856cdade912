"""test_chunking: a workspace chooses how its documents are cut into chunks.

Real sluiced processes with their HTTP edge on loopback; documents written
by each test. GET /v1/workspace shows the settings that apply (the
workspace's own, else the server's chunk.* configuration), PUT
/v1/workspace/chunking changes them for documents ingested afterwards,
DELETE goes back to the server's, and every stored document says how it
was cut (its "chunking") beside the model its vectors came from.
Usage: /usr/bin/python3 tests/test_chunking.py [test_name ...]
"""
import os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_edge  # noqa: E402
from test_edge import Sluiced, call, check, expect_error, multipart, wait_job  # noqa: E402

DEFAULTS = {"target_tokens": 128, "overlap_tokens": 37, "embed_context": True}
WORDS = ("river stone lantern harbour meadow copper violin orchard glacier thunder falcon "
         "pepper saddle marble canyon ribbon tulip anchor").split()


def long_text(seed, paragraphs=12):
    """Paragraphs of distinct sentences, enough for several chunks at any setting."""
    out = []
    for p in range(paragraphs):
        words = [WORDS[(seed * 7 + p * 3 + i) % len(WORDS)] for i in range(60)]
        out.append("Paragraph %d of text %d: %s." % (p, seed, " ".join(words)))
    return "\n\n".join(out)


def upload_text(srv, name, text, key=None):
    body, ctype = multipart([("file", name, "text/plain", text.encode())])
    st, _, reply = call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": ctype}, key=key)
    check(st == 202, "upload accepted", st, reply)
    job = wait_job(srv, reply["jobs"][0]["id"], key=key)
    check(job["state"] == "completed", "job completed", job)
    return job["document_id"]


def chunks_of(srv, doc, key=None):
    st, _, body = call(srv, "GET", "/v1/documents/%s/chunks?limit=1000" % doc, key=key)
    check(st == 200, "chunks listed", st, body)
    return body["chunks"]


def test_workspace_shows_server_chunking(tmp):
    """A new workspace cuts with the server's settings, and says so."""
    srv = Sluiced(tmp)
    st, _, ws = call(srv, "GET", "/v1/workspace")
    check(st == 200 and ws["chunking"] == DEFAULTS and ws["chunking_source"] == "server",
          "defaults shown", st, ws)
    srv2 = Sluiced(tmp, name="configured", sets=["chunk.target_tokens=90", "chunk.overlap_tokens=10"])
    st, _, ws = call(srv2, "GET", "/v1/workspace")
    check(ws["chunking"] == dict(DEFAULTS, target_tokens=90, overlap_tokens=10),
          "the server's configuration shown", ws)


def test_workspace_chunking_cuts_later_documents(tmp):
    """New settings cut documents ingested after them; earlier ones keep theirs."""
    srv = Sluiced(tmp)
    first = upload_text(srv, "first.txt", long_text(1))
    st, _, doc = call(srv, "GET", "/v1/documents/" + first)
    check(doc["document"]["chunking"] == DEFAULTS and doc["document"]["model"],
          "the first document records the server's settings with its model", doc)
    st, _, ws = call(srv, "PUT", "/v1/workspace/chunking", {"target_tokens": 40, "overlap_tokens": 8})
    want = {"target_tokens": 40, "overlap_tokens": 8, "embed_context": True}
    check(st == 200 and ws["chunking"] == want and ws["chunking_source"] == "workspace",
          "settings changed", st, ws)
    check(call(srv, "GET", "/v1/workspace")[2]["chunking"] == want, "and kept")
    second = upload_text(srv, "second.txt", long_text(2))
    st, _, doc = call(srv, "GET", "/v1/documents/" + second)
    check(doc["document"]["chunking"] == want, "the second document records the new settings", doc)
    small = chunks_of(srv, second)
    check(all(c["tokens"] <= 40 for c in small), "no chunk over 40 tokens",
          [c["tokens"] for c in small])
    big = chunks_of(srv, first)
    check(len(small) > len(big), "smaller chunks: more of them", len(small), len(big))
    check(max(c["tokens"] for c in big) > 40, "the first document's chunks are as they were cut",
          [c["tokens"] for c in big])
    st, _, doc = call(srv, "GET", "/v1/documents/" + first)
    check(doc["document"]["chunking"] == DEFAULTS, "the first document keeps its record", doc)
    # back to the server's settings
    st, _, ws = call(srv, "DELETE", "/v1/workspace/chunking")
    check(st == 200 and ws["chunking"] == DEFAULTS and ws["chunking_source"] == "server",
          "reset to the server's", st, ws)
    third = upload_text(srv, "third.txt", long_text(3))
    check(call(srv, "GET", "/v1/documents/" + third)[2]["document"]["chunking"] == DEFAULTS,
          "later documents cut with the server's settings again")


def test_workspace_chunking_refusals(tmp):
    """Each bad setting is refused with its reason, and nothing changes."""
    srv = Sluiced(tmp)
    for body, why in (({"target_tokens": 8}, "between 16 and 8192"),
                      ({"overlap_tokens": 100}, "half of target_tokens"),
                      ({"overlap_tokens": -1}, "between 0 and half"),
                      ({"target_tokens": "big"}, "whole number"),
                      ({"embed_context": "yes"}, "true or false"),
                      ({"chunk_size": 100}, "unknown setting 'chunk_size'"),
                      ([128], "send {")):
        r = expect_error(call(srv, "PUT", "/v1/workspace/chunking", body), 400, str(body))
        check(why in r["error"]["message"], "reason for %s" % (body,), r)
    r = expect_error(call(srv, "PUT", "/v1/workspace/chunking", b"{not json",
                          headers={"Content-Type": "application/json"}), 400, "malformed")
    check("malformed JSON" in r["error"]["message"], "malformed JSON named", r)
    # a target the model cannot take (the `use` encoder reads 128 tokens)
    st, _, status = call(srv, "GET", "/v1/status")
    if status.get("provider") == "use":
        r = expect_error(call(srv, "PUT", "/v1/workspace/chunking", {"target_tokens": 300}), 400,
                         "over the model's limit")
        check("more than model" in r["error"]["message"], "the model's limit named", r)
    st, _, ws = call(srv, "GET", "/v1/workspace")
    check(ws["chunking"] == DEFAULTS and ws["chunking_source"] == "server", "nothing changed", ws)


def test_workspace_chunking_is_per_workspace(tmp):
    """One workspace's settings never apply to another's documents."""
    ka, kb = "key-alpha-123456", "key-bravo-654321"
    srv = Sluiced(tmp, sets=["auth.keys=%s:alpha,%s:bravo" % (ka, kb)])
    expect_error(call(srv, "PUT", "/v1/workspace/chunking", {"target_tokens": 40}), 401, "no key")
    expect_error(call(srv, "GET", "/v1/workspace"), 401, "no key")
    st, _, ws = call(srv, "PUT", "/v1/workspace/chunking", {"target_tokens": 40, "overlap_tokens": 4},
                     key=ka)
    check(st == 200 and ws["workspace"] == "alpha", "alpha changed its own", st, ws)
    st, _, ws = call(srv, "GET", "/v1/workspace", key=kb)
    check(ws["workspace"] == "bravo" and ws["chunking"] == DEFAULTS, "bravo keeps the server's", ws)
    doc = upload_text(srv, "b.txt", long_text(4), key=kb)
    st, _, body = call(srv, "GET", "/v1/documents/" + doc, key=kb)
    check(body["document"]["chunking"] == DEFAULTS, "bravo's document cut with the server's", body)


TESTS = [test_workspace_shows_server_chunking, test_workspace_chunking_cuts_later_documents,
         test_workspace_chunking_refusals, test_workspace_chunking_is_per_workspace]

if __name__ == "__main__":
    test_edge.TESTS = TESTS
    sys.exit(test_edge.main())
