#!/usr/bin/python3
"""test_deletion: deletion as a service of its own, over real HTTP on loopback.

DELETE /v1/documents/{id} answers 202 once the deletion is accepted (the
document marked deleting in the store, the delete service's message on the
broker); from that moment no search returns its chunks; the `delete`
service then purges it in bounded transactions, survives kill -9, collects
its blob when nothing else holds it, and dead-letters a deletion the store
keeps refusing (replayable).

Every test starts real `sluiced` processes (temp --data, free ports); the
documents are text the test writes. Helpers come from test_edge.py.

Usage: test_deletion.py [test_name ...]   (no names: run everything)
Env:   SLUICED (path of the binary)
"""
import json, os, signal, sqlite3, sys, threading, time, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_edge  # noqa: E402
from test_edge import Sluiced, blobs_of, call, check, expect_error, free_ports, wait_job  # noqa: E402

# Every role a document needs, and the edge, but no delete service: a
# deletion is accepted and waits in its queue until one joins
NO_DELETE = "broker,edge,intake,journal,query,fetch,parse,chunk,embed,store"


def main_node(tmp, sets=(), name="main", data=None):
    port = free_ports(2)
    return Sluiced(tmp, name=name, role=NO_DELETE, broker_port=port, data=data,
                   sets=["broker.bind=tcp://127.0.0.1:%d" % port,
                         "broker.events_bind=tcp://127.0.0.1:%d" % (port + 1),
                         "broker.metrics_port=0", "worker.health_port=0"] + list(sets))


def delete_node(tmp, main, name="delete", sets=()):
    """The delete service in a process of its own, on main's broker and data."""
    return Sluiced(tmp, name=name, role="delete", broker_port=main.broker_port, data=main.data,
                   wait=False, sets=["worker.health_port=0"] + list(sets))


def ingest_text(srv, name, text, key=None, wait=True, meta=None):
    query = {"name": name}
    if meta:
        query["meta"] = json.dumps(meta)
    st, _, body = call(srv, "POST", "/v1/ingest?" + urllib.parse.urlencode(query),
                       text.encode(), headers={"Content-Type": "text/plain"}, key=key)
    check(st == 202, "ingest " + name, st, body)
    job = body["jobs"][0]["id"]
    if not wait:
        return job
    done = wait_job(srv, job, key=key)
    check(done["state"] == "completed", "ingested " + name, done)
    return done["document_id"]


def hits(srv, query, key=None, **extra):
    body = dict(query=query, k=50, **extra)
    st, _, reply = call(srv, "POST", "/v1/search", body, key=key)
    check(st == 200, "search %r" % query, st, reply)
    return [h["document_id"] for h in reply["hits"]]


def doc_state(srv, doc, key=None):
    """The document's state, or None once it is gone (404)."""
    st, _, body = call(srv, "GET", "/v1/documents/" + doc, key=key)
    if st == 404:
        return None
    check(st == 200, "GET document", st, body)
    return body["document"]["state"]


def wait_gone(srv, doc, key=None, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if doc_state(srv, doc, key) is None:
            return
        time.sleep(0.1)
    raise TimeoutError("document %s never went" % doc)


def rows(data, sql, *args):
    con = sqlite3.connect(os.path.join(data, "sluice.db"), timeout=30)
    try:
        return con.execute(sql, args).fetchone()[0]
    finally:
        con.close()


def leftovers(data, doc):
    """Rows the document left: chunks, vectors of no chunk, pages, the row."""
    return (rows(data, "SELECT COUNT(*) FROM chunks WHERE document_id = ?", doc),
            rows(data, "SELECT COUNT(*) FROM vectors v LEFT JOIN chunks c ON c.rid = v.chunk_rid "
                       "WHERE c.rid IS NULL"),
            rows(data, "SELECT COUNT(*) FROM pages WHERE document_id = ?", doc),
            rows(data, "SELECT COUNT(*) FROM documents WHERE id = ?", doc))


def long_text(word, paragraphs):
    """Text of many chunks, each paragraph holding the marker word."""
    return "\n\n".join("Paragraph %d about the %s lighthouse: the keeper counted %d gulls, wrote the "
                       "tide tables by hand and mended nets from dusk until the lamps were lit again."
                       % (i, word, i * 7) for i in range(paragraphs))


def delete(srv, doc, key=None):
    st, _, body = call(srv, "DELETE", "/v1/documents/" + doc, key=key)
    check(st == 202 and body.get("state") == "deleting" and body.get("id") == doc, "delete accepted (202)",
          st, body)
    return body


# --------------------------------------------------------------------------

def test_delete_202_hidden_at_once(tmp):
    """From the 202 on, no search (any mode, within the document, filtered)
    returns the document; GET and the list say deleting; a second DELETE is
    the same 202; the delete service joining later finishes it (then 404)."""
    main = main_node(tmp)
    doomed = ingest_text(main, "doomed.txt", long_text("zqdoomedq", 40), meta={"team": "harbour"})
    kept = ingest_text(main, "kept.txt", long_text("zqkeptq", 5))
    for mode in ("hybrid", "lexical", "vector"):
        check(doomed in hits(main, "zqdoomedq lighthouse", mode=mode), "found before (%s)" % mode)
        check(hits(main, "zqdoomedq lighthouse", mode=mode, filter={"team": "harbour"}) != [],
              "found through its attribute before (%s)" % mode)
    first = delete(main, doomed)
    for mode in ("hybrid", "lexical", "vector"):
        found = hits(main, "zqdoomedq lighthouse", mode=mode)
        check(doomed not in found, "never found after the 202 (%s)" % mode, found)
        found = hits(main, "zqdoomedq lighthouse", mode=mode, documents=[doomed])
        check(found == [], "nor within itself (%s)" % mode, found)
        found = hits(main, "zqdoomedq lighthouse", mode=mode, filter={"team": "harbour"})
        check(found == [], "nor through a filter on its attributes (%s)" % mode, found)
    check(kept in hits(main, "zqkeptq lighthouse"), "the other document is found")
    check(doc_state(main, doomed) == "deleting", "GET says deleting")
    st, _, body = call(main, "GET", "/v1/documents?limit=10")
    listed = [d["id"] for d in body["documents"]]
    check(listed == [kept] and body["total"] == 1, "the list no longer shows it", body)
    second = delete(main, doomed)
    check(second == first, "deleting twice: the same answer", first, second)
    check(leftovers(main.data, doomed)[0] > 0, "nothing purged without a delete service")
    delete_node(tmp, main)
    wait_gone(main, doomed)
    check(leftovers(main.data, doomed) == (0, 0, 0, 0), "chunks, vectors, pages and row gone",
          leftovers(main.data, doomed))
    expect_error(call(main, "DELETE", "/v1/documents/" + doomed), 404, "deleting what is gone")
    check(kept in hits(main, "zqkeptq lighthouse"), "the other document still found")


def test_same_bytes_while_deleting_wait(tmp):
    """The same bytes ingested while their document is being deleted (same
    id: the content's) are not committed as a duplicate of it: the job
    fails with a sentence saying to ingest again once the deletion is done;
    ingested again after it, it is stored anew, searchable."""
    main = main_node(tmp, sets=["jobs.message_attempts=2"])
    text = long_text("zqagainq", 4)
    doc = ingest_text(main, "first.txt", text)
    delete(main, doc)
    job = ingest_text(main, "second.txt", text, wait=False)
    done = wait_job(main, job)
    check(done["state"] == "failed" and "still being deleted" in (done["error"] or "")
          and "ingest it again" in done["error"], "refused with what to do", done)
    check(doc_state(main, doc) == "deleting" and doc not in hits(main, "zqagainq"), "still going")
    delete_node(tmp, main)
    wait_gone(main, doc)
    # as the sentence says: ingested again once the deletion is done
    again = ingest_text(main, "second.txt", text)
    check(again == doc, "stored anew under the content's id", again, doc)
    check(doc in hits(main, "zqagainq") and doc_state(main, doc) == "ready", "and found")


def test_cross_workspace_delete_refused(tmp):
    srv = Sluiced(tmp, sets=["auth.keys=key-one-aaaaaaaa:one,key-two-bbbbbbbb:two"])
    doc = ingest_text(srv, "mine.txt", long_text("zqmineq", 3), key="key-one-aaaaaaaa")
    expect_error(call(srv, "DELETE", "/v1/documents/" + doc, key="key-two-bbbbbbbb"), 404,
                 "another workspace's document")
    check(doc_state(srv, doc, "key-one-aaaaaaaa") == "ready", "untouched")
    check(doc in hits(srv, "zqmineq", key="key-one-aaaaaaaa"), "still found by its workspace")


def test_shared_blob_survives_one_deletion(tmp):
    """The same bytes in two workspaces: one blob; deleting one document
    keeps it, deleting the other collects it."""
    srv = Sluiced(tmp, sets=["auth.keys=key-one-aaaaaaaa:one,key-two-bbbbbbbb:two"])
    text = long_text("zqsharedq", 4)
    a = ingest_text(srv, "shared.txt", text, key="key-one-aaaaaaaa")
    b = ingest_text(srv, "shared.txt", text, key="key-two-bbbbbbbb")
    st, _, body = call(srv, "GET", "/v1/documents/" + a, key="key-one-aaaaaaaa")
    sha = body["document"]["sha256"]
    check(sha in blobs_of(srv), "the blob is stored", sha)
    delete(srv, a, key="key-one-aaaaaaaa")
    wait_gone(srv, a, key="key-one-aaaaaaaa")
    check(sha in blobs_of(srv), "kept while the other workspace's document holds it")
    check(b in hits(srv, "zqsharedq", key="key-two-bbbbbbbb"), "the other document is whole")
    delete(srv, b, key="key-two-bbbbbbbb")
    wait_gone(srv, b, key="key-two-bbbbbbbb")
    check(sha not in blobs_of(srv), "collected with the last document", sha)


def test_many_deletions_while_searching(tmp):
    """300 documents deleted at once, in small transactions (delete.batch=2),
    while a searcher keeps asking: every search answers, none returns a
    document whose deletion was accepted before it started."""
    srv = Sluiced(tmp, sets=["delete.batch=2"])
    jobs = [ingest_text(srv, "d%03d.txt" % i, "Note %d on the zqmanyq harbour.\n\n%s" % (i, long_text("zqmanyq", 3)),
                        wait=False) for i in range(300)]
    docs = []
    for job in jobs:
        done = wait_job(srv, job, timeout=300)
        check(done["state"] == "completed", "ingested", done)
        docs.append(done["document_id"])
    docs = sorted(set(docs))
    check(len(docs) == 300, "300 documents", len(docs))
    accepted, answered, bad, stop = set(), [], [], threading.Event()
    lock = threading.Lock()

    def searcher():
        while not stop.is_set():
            with lock:
                before = set(accepted)
            st, _, reply = call(srv, "POST", "/v1/search", {"query": "zqmanyq harbour", "k": 50})
            answered.append(st)
            if st == 200:
                bad.extend(h["document_id"] for h in reply["hits"] if h["document_id"] in before)
    t = threading.Thread(target=searcher)
    t.start()
    try:
        for doc in docs:
            delete(srv, doc)
            with lock:
                accepted.add(doc)
        st, _, body = call(srv, "GET", "/v1/documents?limit=1")
        check(body["total"] == 0, "the list is empty once every deletion is accepted", body)
        deadline = time.time() + 300
        while time.time() < deadline and rows(srv.data, "SELECT COUNT(*) FROM documents"):
            time.sleep(0.2)
        check(rows(srv.data, "SELECT COUNT(*) FROM documents") == 0, "every document went")
    finally:
        stop.set()
        t.join()
    check(answered and all(st == 200 for st in answered), "every search answered meanwhile",
          len(answered), sorted(set(answered)))
    check(not bad, "no search returned a document whose deletion was accepted", bad[:5])
    check(rows(srv.data, "SELECT COUNT(*) FROM chunks") == 0, "no chunk left")
    check(rows(srv.data, "SELECT COUNT(*) FROM pages") == 0, "no page left")


def test_folder_source_removed_through_delete_service(tmp):
    """A folder source of 300 files: removing it accepts 300 deletions at
    once (hidden at once), the delete service removes them while searches
    keep answering; so does a file that vanishes from a re-sync."""
    root = os.path.join(tmp, "docs")
    os.makedirs(root)
    for i in range(300):
        with open(os.path.join(root, "f%03d.txt" % i), "w") as f:
            f.write("File %d of the zqfolderq archive about lighthouse keepers.\n" % i)
    with open(os.path.join(root, "keep.txt"), "w") as f:
        f.write("The zqstayq file and the zqgoneq file share a folder.\n")
    srv = Sluiced(tmp, sets=["fetch.file_roots=" + root, "sources.poll_ms=200", "delete.batch=2"])
    st, _, src = call(srv, "POST", "/v1/sources", {"kind": "folder", "path": root})
    check(st == 201, "source added", st, src)
    sid = src["source"]["id"]
    deadline, run = time.time() + 300, None
    while time.time() < deadline and not run:
        st, _, body = call(srv, "GET", "/v1/sources/%s/runs?limit=5" % sid)
        run = next((r for r in body["runs"] if r["state"] in ("completed", "failed")), None)
        time.sleep(0.2)
    check(run and run["state"] == "completed" and run["new"] == 301, "first sync", run)
    check(len(hits(srv, "zqfolderq", mode="lexical")) == 50, "the folder is searchable")
    answered, stop = [], threading.Event()

    def searcher():
        while not stop.is_set():
            answered.append(call(srv, "POST", "/v1/search", {"query": "zqstayq lighthouse", "k": 5})[0])
    t = threading.Thread(target=searcher)
    t.start()
    try:
        st, _, body = call(srv, "DELETE", "/v1/sources/" + sid)
        check(st == 200 and body["documents_deleted"] == 301, "source removed with its documents", st, body)
        check(hits(srv, "zqfolderq", mode="lexical") == [], "none found from that moment")
        check(hits(srv, "zqfolderq", mode="vector") == [], "nor by meaning: every document of the source is hidden")
        deadline = time.time() + 300
        while time.time() < deadline and rows(srv.data, "SELECT COUNT(*) FROM documents"):
            time.sleep(0.2)
    finally:
        stop.set()
        t.join()
    check(rows(srv.data, "SELECT COUNT(*) FROM documents") == 0, "the delete service removed them all")
    check(rows(srv.data, "SELECT COUNT(*) FROM chunks") == 0, "with their chunks")
    check(answered and all(st == 200 for st in answered), "searches answered meanwhile", len(answered))


def test_kill9_mid_deletion_completes(tmp):
    """The delete service is killed (-9) mid-way through a large document
    (one chunk a transaction): the broker hands its message to the next
    one, which finishes; then the whole node is killed right after a 202
    and, restarted, the re-driver finishes that one too."""
    main = main_node(tmp)
    doc = ingest_text(main, "big.txt", long_text("zqbigq", 600))
    st, _, body = call(main, "GET", "/v1/documents/" + doc)
    sha, total = body["document"]["sha256"], leftovers(main.data, doc)[0]
    check(total > 100, "a document of many chunks", total)
    slow = delete_node(tmp, main, name="delete-1", sets=["delete.batch=1"])
    delete(main, doc)
    deadline = time.time() + 120
    while time.time() < deadline and leftovers(main.data, doc)[0] == total:
        time.sleep(0.01)
    left = leftovers(main.data, doc)[0]
    slow.proc.send_signal(signal.SIGKILL)
    slow.proc.wait()
    check(0 < left < total, "killed mid-way", left, total)
    check(doc not in hits(main, "zqbigq lighthouse"), "still hidden after the kill")
    delete_node(tmp, main, name="delete-2")
    wait_gone(main, doc)
    check(leftovers(main.data, doc) == (0, 0, 0, 0), "nothing left", leftovers(main.data, doc))
    check(sha not in blobs_of(main), "its blob collected")

    # The whole node dies right after accepting: the broker's message is lost
    doc = ingest_text(main, "big2.txt", long_text("zqbigtwoq", 50))
    delete(main, doc)
    main.proc.send_signal(signal.SIGKILL)
    main.proc.wait()
    srv = Sluiced(tmp, name="restarted", data=main.data)
    wait_gone(srv, doc)
    check(leftovers(srv.data, doc) == (0, 0, 0, 0), "nothing left after the restart")


def test_failing_deletion_dead_letters_and_replays(tmp):
    """The store refuses the purge (a trigger in the database, as a broken
    disk or a constraint would): after delete.message_attempts the message
    is in the DLQ, the document stays hidden and deleting; once the store
    accepts again, a replay finishes it."""
    srv = Sluiced(tmp, sets=["delete.message_attempts=2"])
    doc = ingest_text(srv, "stuck.txt", long_text("zqstuckq", 5))
    con = sqlite3.connect(os.path.join(srv.data, "sluice.db"), timeout=30)
    con.execute("CREATE TRIGGER refuse_purge BEFORE DELETE ON chunks "
                "BEGIN SELECT RAISE (ABORT, 'injected: the disk refuses'); END")
    con.commit()
    delete(srv, doc)
    deadline, letters = time.time() + 60, []
    while time.time() < deadline and not letters:
        st, _, body = call(srv, "GET", "/v1/dlq")
        check(st == 200, "dlq list", st, body)
        letters = [l for l in body["letters"] if l.get("job") == doc]
        time.sleep(0.2)
    check(letters, "the deletion is dead-lettered", body)
    check(letters[0]["service"] == "delete" and letters[0]["kind"] == "delete", "in the delete service's DLQ", letters[0])
    check("injected" in letters[0]["reason"], "with the store's reason", letters[0])
    check(doc_state(srv, doc) == "deleting", "still deleting")
    check(doc not in hits(srv, "zqstuckq lighthouse"), "and still hidden")
    con.execute("DROP TRIGGER refuse_purge")
    con.commit()
    con.close()
    st, _, body = call(srv, "POST", "/v1/dlq/%s/replay" % letters[0]["id"])
    check(st == 202 and body["replayed"] is True, "replayed", st, body)
    wait_gone(srv, doc)
    check(leftovers(srv.data, doc) == (0, 0, 0, 0), "nothing left after the replay")


TESTS = [test_delete_202_hidden_at_once, test_same_bytes_while_deleting_wait,
         test_cross_workspace_delete_refused,
         test_shared_blob_survives_one_deletion, test_many_deletions_while_searching,
         test_folder_source_removed_through_delete_service,
         test_kill9_mid_deletion_completes, test_failing_deletion_dead_letters_and_replays]

if __name__ == "__main__":
    test_edge.TESTS = TESTS
    sys.exit(test_edge.main())
