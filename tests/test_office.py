#!/usr/bin/python3
"""test_office: Office and OpenDocument files through the real pipeline.

Each test starts a real `sluiced` (all roles, hash embedder), uploads
documents it made itself (tests/office_docs.py: python3-docx,
python3-openpyxl, python3-odf, and hand-written PPTX/ODP zips) over the
real HTTP edge, waits for the job, and reads the answer back through
search and the store: each format's known words come back on the right
page (slide, sheet), its table cells in table rows, its type sniffed from
the bytes (a .docx renamed .bin still works). Hostile containers fail
their job with a reason under the ceilings, and the engine keeps serving.

Usage: /usr/bin/python3 tests/test_office.py [test_name ...]
"""
import http.client, json, os, sys, uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import office_docs  # noqa: E402
from harness import Runner, db, start, wait_for  # noqa: E402

HASH = ["embed.provider=hash"]
MIMES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "odp": "application/vnd.oasis.opendocument.presentation",
    "ods": "application/vnd.oasis.opendocument.spreadsheet",
}


# --------------------------------------------------------------------------
# HTTP

def call(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    raw = resp.read()
    conn.close()
    try:
        return resp.status, json.loads(raw)
    except ValueError:
        return resp.status, raw.decode("utf-8", "replace")


def multipart(files):
    boundary = uuid.uuid4().hex
    out = b""
    for name, ctype, data in files:
        out += ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                "Content-Type: %s\r\n\r\n" % (boundary, name, ctype)).encode() + data + b"\r\n"
    return out + ("--%s--\r\n" % boundary).encode(), "multipart/form-data; boundary=" + boundary


def node(tmp):
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    s = start(data, sets=HASH)
    port = s.http_port

    def ready():
        st, _ = call(port, "GET", "/readyz")
        return st == 200
    wait_for(ready, 60, "edge ready")
    return s, port, data


def upload(port, path, name=None, ctype="application/octet-stream"):
    """Raw upload of one file; returns the accepted job."""
    with open(path, "rb") as f:
        data = f.read()
    name = name or os.path.basename(path)
    st, reply = call(port, "POST", "/v1/ingest?filename=" + name, data, headers={"Content-Type": ctype})
    assert st == 202 and reply["jobs"], (st, reply)
    return reply["jobs"][0]


def wait_job(port, job_id, timeout=120):
    found = []

    def done():
        st, body = call(port, "GET", "/v1/jobs/" + job_id)
        if body["job"]["state"] in ("completed", "failed"):
            found.append(body["job"])
            return True
        return False
    wait_for(done, timeout, "job " + job_id)
    return found[-1]


def search(port, query, k=5):
    st, res = call(port, "POST", "/v1/search", {"query": query, "k": k, "mode": "lexical"})
    assert st == 200, (st, res)
    return res["hits"]


def chunk_text(data, doc_id):
    rows = db(data).execute("SELECT text FROM chunks WHERE document_id=? ORDER BY ordinal", (doc_id,))
    return "\n".join(r[0] for r in rows)


def chunk_sections(data, doc_id):
    """Every section path of the document's chunks: heading lines are not
    chunk text, they travel as the chunk's section (and are searchable)."""
    rows = db(data).execute("SELECT DISTINCT section FROM chunks WHERE document_id=?", (doc_id,))
    return {r[0] for r in rows}


# --------------------------------------------------------------------------
# One format end to end

def check_format(tmp, fmt, name=None, rows=()):
    """Make the sample of fmt, upload it (as name), and check: the job
    completes, the document's type was sniffed from its bytes, each known
    word is found on its page, and each table row is in the chunk text."""
    s, port, data = node(tmp)
    path = os.path.join(tmp, "sample." + fmt)
    getattr(office_docs, "make_" + fmt)(path)
    job = wait_job(port, upload(port, path, name)["id"])
    assert job["state"] == "completed", job
    st, doc = call(port, "GET", "/v1/documents/" + job["document_id"])
    assert st == 200 and doc["document"]["mime"] == MIMES[fmt], doc
    for word, page in office_docs.FACTS[fmt].items():
        hits = search(port, word)
        assert hits and hits[0]["document_id"] == job["document_id"], (word, hits[:1])
        top = hits[0]
        # a word of a heading is found by the chunks under it, on any page
        assert top["page_start"] <= page <= top["page_end"] or word in (top.get("section") or ""), \
            (word, page, top)
    text = chunk_text(data, job["document_id"])
    for row in rows:
        assert row in text, (row, text)
    assert s.alive()
    return job, doc, text, chunk_sections(data, job["document_id"])


def test_docx_headings_list_table_pages(tmp):
    job, doc, text, sections = check_format(tmp, "docx", rows=("| Port | Protocol | Use |", "| 8080 | HTTP | edge |",
                                                     "| 5555 | ZMTP | broker |"))
    assert doc["document"]["pages"] == 2, doc       # split at the explicit page break
    assert doc["document"]["title"] == "Quokka Handbook", doc
    assert "- first step of the list" in text, text
    assert any(sec.startswith("Installing the quokkatide") for sec in sections), sections


def test_xlsx_sheets_are_pages(tmp):
    job, doc, text, sections = check_format(tmp, "xlsx", rows=("| Item | Price | Note |", "| ferrowick | 7341.25 | in stock |",
                                                     "| gasket | 12 | sold out |", "| glimmerfen | Leeds |"))
    assert doc["document"]["pages"] == 2 and "Prices" in sections and "Suppliers" in sections, (doc, sections)


def test_pptx_slides_and_notes(tmp):
    job, doc, text, sections = check_format(tmp, "pptx", rows=("| Col | Val |", "| x | 42 |"))
    assert doc["document"]["pages"] == 2, doc
    assert "Notes:" in text and "saffrowind" in text, text


def test_odt_text_and_table(tmp):
    job, doc, text, sections = check_format(tmp, "odt", rows=("| Key | Value |", "| colour | wobblecrest |"))
    assert "- alpha item" in text, text


def test_ods_sheets_are_pages(tmp):
    # each sheet ends in a million repeated empty rows: they are not expanded
    job, doc, text, sections = check_format(tmp, "ods", rows=("| Part | Count |", "| cindermoor | 4417 |", "| hollowquill | lead |"))
    assert doc["document"]["pages"] == 2, doc


def test_odp_slides_and_notes(tmp):
    job, doc, text, sections = check_format(tmp, "odp")
    assert doc["document"]["pages"] == 2 and "Notes:" in text, (doc, text)


def test_renamed_docx_sniffed_by_content(tmp):
    check_format(tmp, "docx", name="attachment-0042.bin")


def test_multipart_upload_of_every_type(tmp):
    """One form with all six formats, each declared with its own type:
    all accepted, each job completes as its sniffed type."""
    s, port, data = node(tmp)
    paths = office_docs.make_all(os.path.join(tmp, "docs"))
    files = [(os.path.basename(p), MIMES[fmt], open(p, "rb").read()) for fmt, p in sorted(paths.items())]
    body, ctype = multipart(files)
    st, reply = call(port, "POST", "/v1/ingest", body, headers={"Content-Type": ctype})
    assert st == 202 and len(reply["jobs"]) == 6 and not reply.get("rejected"), (st, reply)
    for j in reply["jobs"]:
        job = wait_job(port, j["id"])
        assert job["state"] == "completed", job
        fmt = j["source"].rsplit(".", 1)[1]
        st, doc = call(port, "GET", "/v1/documents/" + job["document_id"])
        assert doc["document"]["mime"] == MIMES[fmt], (fmt, doc)


def test_hostile_containers_fail_with_reasons(tmp):
    s, port, data = node(tmp)
    d = os.path.join(tmp, "hostile")
    os.makedirs(d)
    cases = {
        "bomb.docx": (office_docs.make_zip_bomb, "parse", "possible zip bomb"),
        "laughs.odt": (office_docs.make_billion_laughs, "parse", "entit"),
        "deep.odt": (office_docs.make_deep_lists, "parse", "nests elements deeper than"),
        "many.docx": (office_docs.make_many_entries, "parse", "more than the limit of 10000"),
        "truncated.docx": (office_docs.make_truncated, "parse", "damaged or truncated zip"),
        "secret.docx": (office_docs.make_encrypted_ooxml, "fetch", "password-protected"),
    }
    jobs = {}
    for name, (make, _, _) in cases.items():
        path = os.path.join(d, name)
        make(path)
        jobs[name] = upload(port, path)["id"]
    for name, jid in jobs.items():
        job = wait_job(port, jid)
        _, stage, reason = cases[name]
        assert job["state"] == "failed", (name, job)
        assert job.get("error_stage") == stage and reason in job["error"], (name, job)
    # the engine keeps serving
    path = os.path.join(d, "good.docx")
    office_docs.make_docx(path)
    assert wait_job(port, upload(port, path)["id"])["state"] == "completed"
    assert s.alive()


def test_legacy_office_refused_at_edge(tmp):
    s, port, data = node(tmp)
    st, reply = call(port, "POST", "/v1/ingest?filename=report.doc", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" + b"\0" * 504,
                     headers={"Content-Type": "application/msword"})
    assert st == 415 and "legacy binary Office" in json.dumps(reply) and "DOCX" in json.dumps(reply), (st, reply)


TESTS = [test_docx_headings_list_table_pages, test_xlsx_sheets_are_pages, test_pptx_slides_and_notes,
         test_odt_text_and_table, test_ods_sheets_are_pages, test_odp_slides_and_notes,
         test_renamed_docx_sniffed_by_content, test_multipart_upload_of_every_type,
         test_hostile_containers_fail_with_reasons, test_legacy_office_refused_at_edge]

if __name__ == "__main__":
    sys.exit(Runner().run(TESTS, set(sys.argv[1:]) or None))
