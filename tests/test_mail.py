"""test_mail: EML and MBOX over the real pipeline, attachments as documents.

Real sluiced processes over ZeroMQ; every message, mailbox and attachment is
written by the test (the PDF by corpus.make_pdf). A message is a document
whose text (subject, From/To block, body) is searchable; each attachment is
submitted through intake as a document of its own, named
"<message source>/<attachment name>"; a mailbox is one page per message.
Uploads name their type (message/rfc822, application/mbox) and end in
.eml/.mbox: content sniffing of mail comes with the office part.
Usage: /usr/bin/python3 tests/test_mail.py [test_name ...]
"""
import base64, email.utils, os, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Client, Runner, db, start, wait_for, wait_ready  # noqa: E402
from corpus import make_pdf  # noqa: E402

HASH = ["embed.provider=hash"]          # fast, and no model files needed


def node(tmp, sets=()):
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    s = start(data, sets=HASH + list(sets))
    c = Client(s.port)
    wait_ready(c, ("intake", "query", "journal", "fetch", "parse", "chunk", "embed", "store", "upload"))
    return s, c, data


def b64(data):
    raw = base64.b64encode(data).decode()
    return "\r\n".join(raw[i:i + 76] for i in range(0, len(raw), 76))


def message(subject, body, attachments=(), sender="Alice Example <alice@example.org>"):
    """An RFC 5322 message (bytes): a plain body, then each attachment
    (name, mime, bytes) base64-encoded, or a whole message (bytes) for
    mime message/rfc822."""
    head = ("From: %s\r\nTo: Bob <bob@example.org>\r\nDate: %s\r\nSubject: %s\r\nMIME-Version: 1.0\r\n"
            % (sender, email.utils.formatdate(0), subject))
    if not attachments:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n").encode()
    parts = ["Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"]
    for name, mime, data in attachments:
        if mime == "message/rfc822":
            parts.append("Content-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"%s\"\r\n\r\n"
                         % name + data.decode())
        else:
            parts.append("Content-Type: %s; name=\"%s\"\r\nContent-Disposition: attachment; filename=\"%s\"\r\n"
                         "Content-Transfer-Encoding: base64\r\n\r\n%s\r\n" % (mime, name, name, b64(data)))
    out = head + "Content-Type: multipart/mixed; boundary=\"SLUICE-B\"\r\n\r\n"
    for p in parts:
        out += "--SLUICE-B\r\n" + p
    return (out + "--SLUICE-B--\r\n").encode()


def words(tag, n=30):
    return " ".join("The %s sentence %d describes %s in plain words." % (tag, i, tag) for i in range(n))


def ingest(c, data, filename, mime):
    r = c.request("upload", "put", {"data": data, "mime": mime})
    assert "blob" in r, r
    job = c.ingest(blob=r["blob"], size=len(data), mime=mime, filename=filename)
    assert "id" in job, job
    return job


def events(c, job_id, kind):
    return [e for e in c.events(job_id)["events"] if e["type"] == kind]


def documents(c):
    r = c.request("query", "doc_list", {"limit": 100, "offset": 0})
    return {d["source"]: d for d in r["documents"]}


def top_source(c, query):
    hits = c.search(query, k=3, mode="lexical")["hits"]
    return hits[0]["source"] if hits else None, hits


def attachment_jobs(c, parent, n):
    """The jobs the parent's parse submitted (its "attachment" events),
    each waited for."""
    wait_for(lambda: len(events(c, parent, "attachment")) >= n, 60, "%d attachment events" % n)
    jobs = {e["name"]: c.wait(e["attachment_job"]) for e in events(c, parent, "attachment")}
    assert len(jobs) == n, jobs
    return jobs


def pdf_bytes(tmp, pages):
    path = os.path.join(tmp, "figures.pdf")
    make_pdf(path, pages)
    with open(path, "rb") as f:
        return f.read()


def report_eml(tmp):
    return message("Harbour inspection report", words("lighthouse"), [
        ("notes.txt", "text/plain", words("seagull").encode()),
        ("figures.pdf", "application/pdf", pdf_bytes(tmp, [words("anchorage", 8), words("breakwater", 8)])),
    ])


def test_message_body_searchable(tmp):
    """The message is a document: its body, subject and sender are found."""
    s, c, _ = node(tmp)
    job = c.wait(ingest(c, report_eml(tmp), "inbox/report.eml", "message/rfc822")["id"])
    assert job["state"] == "completed", job
    src, hits = top_source(c, "lighthouse sentence describes")
    assert src == "upload:inbox/report.eml", hits
    assert "Harbour inspection report" in hits[0]["title"], hits
    src, hits = top_source(c, "alice example")
    assert src == "upload:inbox/report.eml", hits


def test_attachments_are_documents(tmp):
    """Each attachment is a job and a document of its own, its source under
    the message's; the message's job records what it submitted."""
    s, c, _ = node(tmp)
    parent = c.wait(ingest(c, report_eml(tmp), "inbox/report.eml", "message/rfc822")["id"])
    assert parent["state"] == "completed", parent
    jobs = attachment_jobs(c, parent["id"], 2)
    assert sorted(jobs) == ["figures.pdf", "notes.txt"], jobs
    for name, job in jobs.items():
        assert job["state"] == "completed", job
        assert job["source"] == "upload:inbox/report.eml/" + name, job
    docs = documents(c)
    assert sorted(docs) == ["upload:inbox/report.eml", "upload:inbox/report.eml/figures.pdf",
                            "upload:inbox/report.eml/notes.txt"], sorted(docs)
    assert docs["upload:inbox/report.eml/figures.pdf"]["pages"] == 2, docs


def test_attachment_text_searchable(tmp):
    """Search finds each attachment's text in the attachment's document
    (a text file, and both pages of a PDF)."""
    s, c, _ = node(tmp)
    parent = c.wait(ingest(c, report_eml(tmp), "inbox/report.eml", "message/rfc822")["id"])
    attachment_jobs(c, parent["id"], 2)
    for query, source in (("seagull sentence describes", "upload:inbox/report.eml/notes.txt"),
                          ("anchorage sentence describes", "upload:inbox/report.eml/figures.pdf"),
                          ("breakwater sentence describes", "upload:inbox/report.eml/figures.pdf")):
        src, hits = top_source(c, query)
        assert src == source, (query, hits)
    # the message's own text does not carry the attachments' words
    hits = c.search("seagull", k=10, mode="lexical")["hits"]
    assert all(h["source"] != "upload:inbox/report.eml" for h in hits), hits


def test_reingest_creates_no_duplicates(tmp):
    """The same EML again: the same documents, no second copy of the
    message or of any attachment."""
    s, c, _ = node(tmp)
    eml = report_eml(tmp)
    first = c.wait(ingest(c, eml, "inbox/report.eml", "message/rfc822")["id"])
    attachment_jobs(c, first["id"], 2)
    before = {src: d["id"] for src, d in documents(c).items()}
    second = c.wait(ingest(c, eml, "inbox/report.eml", "message/rfc822")["id"])
    assert second["state"] == "completed", second
    # the second message is a duplicate of the first; whatever it submits
    # names the same content under the same sources
    for e in events(c, second["id"], "attachment"):
        assert c.wait(e["attachment_job"])["state"] == "completed"
    after = {src: d["id"] for src, d in documents(c).items()}
    assert after == before, (before, after)
    hits = c.search("seagull", k=10, mode="lexical")["hits"]
    assert len({h["document_id"] for h in hits}) == 1, hits


def test_resent_message_keeps_attachment_documents(tmp):
    """The message sent again with an edited body (new bytes, same name):
    the message's document is replaced, its attachments, same bytes under
    the same sources, stay the documents they were."""
    s, c, _ = node(tmp)
    att = [("notes.txt", "text/plain", words("seagull").encode())]
    first = c.wait(ingest(c, message("Report", words("lighthouse"), att), "report.eml", "message/rfc822")["id"])
    attachment_jobs(c, first["id"], 1)
    before = documents(c)
    second = c.wait(ingest(c, message("Report", words("foghorn"), att), "report.eml", "message/rfc822")["id"])
    assert second["state"] == "completed" and second["replaced"] == before["upload:report.eml"]["id"], second
    again = attachment_jobs(c, second["id"], 1)["notes.txt"]
    assert again["state"] == "completed" and again["source"] == "upload:report.eml/notes.txt", again
    after = documents(c)
    assert sorted(after) == sorted(before), (before, after)
    assert after["upload:report.eml/notes.txt"]["id"] == before["upload:report.eml/notes.txt"]["id"]
    assert top_source(c, "foghorn sentence describes")[0] == "upload:report.eml"
    assert top_source(c, "lighthouse")[0] is None


def test_redelivered_parse_submits_once(tmp):
    """kill -9 of the parse process while it submits a mailbox's
    attachments: the redelivered parse asks intake for the same job ids,
    so every attachment is one job and one document."""
    data = os.path.join(tmp, "data")
    os.makedirs(data)
    core = start(data, role="broker,intake,journal,query,fetch,chunk,embed,store,upload",
                 sets=HASH + ["broker.heartbeat_ms=300"])
    parse = start(data, role="parse", port=core.port, sets=HASH + ["broker.heartbeat_ms=300"])
    c = Client(core.port)
    wait_ready(c, ("intake", "query", "journal", "fetch", "parse", "chunk", "embed", "store", "upload"))
    n = 300
    box = b""
    for i in range(n):
        box += b"From sender@example.org Mon Dec  7 10:00:00 2026\n"
        box += message("Note %d" % i, "Message number %d." % i,
                       [("n%d.txt" % i, "text/plain", ("attachment %d says kittiwake %d" % (i, i)).encode())]
                       ).replace(b"\r\n", b"\n") + b"\n"
    jid = ingest(c, box, "box.mbox", "application/mbox")["id"]
    wait_for(lambda: len(events(c, jid, "attachment")) >= 1, 60, "a first attachment")
    parse.kill()
    assert len(events(c, jid, "attachment")) < n, "parse finished before it was killed: make the mailbox larger"
    parse2 = start(data, role="parse", port=core.port, sets=HASH + ["broker.heartbeat_ms=300"])
    job = c.wait(jid, 240)
    assert job["state"] == "completed", job
    assert c.stats()["services"]["parse"]["redelivered"] >= 1
    # the events of the second parse may still be on their way
    wait_for(lambda: len({e["attachment_job"] for e in events(c, jid, "attachment")}) >= n, 120, "%d events" % n)
    ids = {e["attachment_job"] for e in events(c, jid, "attachment")}
    assert len(ids) == n, len(ids)
    for i in ids:
        c.wait(i, 240)
    con = db(data)
    jobs = con.execute("SELECT count(*), count(DISTINCT source) FROM jobs WHERE source LIKE 'upload:box.mbox/%'").fetchone()
    assert jobs == (n, n), jobs
    docs = [src for src in documents_all(c) if src.startswith("upload:box.mbox/")]
    assert len(docs) == n, len(docs)
    parse2.stop()


def documents_all(c):
    out, offset = [], 0
    while True:
        r = c.request("query", "doc_list", {"limit": 100, "offset": offset})
        out += [d["source"] for d in r["documents"]]
        if len(r["documents"]) < 100:
            return out
        offset += 100


def test_attachment_refused_with_reason(tmp):
    """An attachment intake will not take (its name would make a source
    longer than intake allows) is an event with intake's reason on the
    message's job; the message and its other attachments go on."""
    s, c, _ = node(tmp)
    long_name = "d" * 200 + ".txt"
    parent_name = "/".join(["folder%03d" % i for i in range(90)]) + "/m.eml"     # 900 bytes
    eml = message("Long names", words("albatross"), [(long_name, "text/plain", b"too long to name"),
                                                    ("ok.txt", "text/plain", words("cormorant").encode())])
    parent = c.wait(ingest(c, eml, parent_name, "message/rfc822")["id"])
    assert parent["state"] == "completed", parent
    wait_for(lambda: events(c, parent["id"], "attachment_refused"), 60, "the refusal")
    refused = events(c, parent["id"], "attachment_refused")
    assert len(refused) == 1 and refused[0]["name"] == "d" * 196 + ".txt", refused
    assert "filename is too long" in refused[0]["reason"], refused
    ok = attachment_jobs(c, parent["id"], 1)["ok.txt"]
    assert ok["state"] == "completed", ok
    assert top_source(c, "cormorant sentence describes")[0] == "upload:" + parent_name + "/ok.txt"


def test_mbox_pages_searchable(tmp):
    """A mailbox of three messages: one page per message, each message's
    words found on its own page."""
    s, c, _ = node(tmp)
    box = b""
    for i, tag in enumerate(("walrus", "narwhal", "puffin")):
        box += b"From sender%d@example.org Mon Dec  7 10:00:00 2026\n" % i
        box += message("Sighting of a %s" % tag, words(tag, 12)).replace(b"\r\n", b"\n") + b"\n"
    job = c.wait(ingest(c, box, "archive/sightings.mbox", "application/mbox")["id"])
    assert job["state"] == "completed", job
    doc = documents(c)["upload:archive/sightings.mbox"]
    assert doc["pages"] == 3, doc
    for page, tag in enumerate(("walrus", "narwhal", "puffin"), start=1):
        hits = c.search("%s sentence describes" % tag, k=1, mode="lexical")["hits"]
        assert hits and hits[0]["page_start"] == page == hits[0]["page_end"], (tag, hits)
        assert "Sighting of a %s" % tag in hits[0]["text"] or tag in hits[0]["text"], hits


def test_nested_message_bounded(tmp):
    """An attached message is a document of its own and its attachment one
    more; with parse.attachment_depth=1 the inner attachment is refused with
    a reason on the attached message's job."""
    s, c, _ = node(tmp, sets=["parse.attachment_depth=1"])
    inner = message("Forwarded minutes", words("quorum"), [("budget.txt", "text/plain", words("ledger").encode())])
    outer = message("Fwd: minutes", words("cover"), [("minutes.eml", "message/rfc822", inner)])
    parent = c.wait(ingest(c, outer, "fwd.eml", "message/rfc822")["id"])
    assert parent["state"] == "completed", parent
    jobs = attachment_jobs(c, parent["id"], 1)
    child = jobs["minutes.eml"]
    assert child["state"] == "completed" and child["source"] == "upload:fwd.eml/minutes.eml", child
    src, hits = top_source(c, "quorum sentence describes")
    assert src == "upload:fwd.eml/minutes.eml", hits
    wait_for(lambda: events(c, child["id"], "attachment_refused"), 60, "the refusal")
    refused = events(c, child["id"], "attachment_refused")
    assert refused and refused[0]["name"] == "budget.txt" and "parse.attachment_depth" in refused[0]["reason"], refused
    assert "upload:fwd.eml/minutes.eml/budget.txt" not in documents(c)


def test_bad_message_fails_clearly(tmp):
    """A mailbox without a single message fails with a reason."""
    s, c, _ = node(tmp)
    job = c.wait(ingest(c, b"no separator here, only words\n" * 10, "empty.mbox", "application/mbox")["id"])
    assert job["state"] == "failed" and "not a mailbox" in (job.get("error") or ""), job


def test_attachments_inherit_attributes(tmp):
    """A message ingested with attributes: each attachment's document
    carries the same ones, and a filter on them finds the attachment; a
    message without attributes gives its attachments none."""
    s, c, _ = node(tmp)
    meta = {"team": "legal", "year": 2024, "tags": ["contract"]}
    tagged = message("Contract", words("lighthouse"), [("notes.txt", "text/plain", words("seagull").encode())])
    r = c.request("upload", "put", {"data": tagged, "mime": "message/rfc822"})
    parent = c.wait(c.ingest(blob=r["blob"], size=len(tagged), mime="message/rfc822",
                             filename="inbox/contract.eml", meta=meta)["id"])
    assert parent["state"] == "completed", parent
    assert attachment_jobs(c, parent["id"], 1)["notes.txt"]["state"] == "completed"
    plain = message("Minutes", words("foghorn"), [("notes.txt", "text/plain", words("seagull", 31).encode())])
    other = c.wait(ingest(c, plain, "inbox/minutes.eml", "message/rfc822")["id"])
    assert attachment_jobs(c, other["id"], 1)["notes.txt"]["state"] == "completed"
    docs = documents(c)
    assert docs["upload:inbox/contract.eml"]["meta"] == meta, docs
    assert docs["upload:inbox/contract.eml/notes.txt"]["meta"] == meta, docs
    assert docs["upload:inbox/minutes.eml/notes.txt"]["meta"] == {}, docs
    # both attachments hold the word; the filter keeps the tagged one
    everywhere = c.search("seagull", k=10, mode="lexical")["hits"]
    assert {h["source"] for h in everywhere} == {"upload:inbox/contract.eml/notes.txt",
                                                 "upload:inbox/minutes.eml/notes.txt"}, everywhere
    found = c.request("query", "search", {"query": "seagull", "k": 10, "mode": "lexical",
                                           "filter": {"team": "legal", "tags": {"any": ["contract"]}}})
    assert {h["source"] for h in found["hits"]} == {"upload:inbox/contract.eml/notes.txt"}, found
    found = c.request("query", "search", {"query": "seagull", "k": 10, "mode": "lexical",
                                           "filter": {"team": "ops"}})
    assert found["hits"] == [], found


TESTS = [test_message_body_searchable, test_attachments_are_documents, test_attachment_text_searchable,
         test_reingest_creates_no_duplicates, test_resent_message_keeps_attachment_documents,
         test_redelivered_parse_submits_once, test_attachment_refused_with_reason, test_mbox_pages_searchable,
         test_nested_message_bounded, test_bad_message_fails_clearly,
         test_attachments_inherit_attributes]

if __name__ == "__main__":
    sys.exit(Runner().run(TESTS, set(sys.argv[1:]) or None))
