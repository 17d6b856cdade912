#!/usr/bin/python3
"""test_answers: answers a person can open, over real HTTP on loopback.

Every hit carries `highlights`, the code-point spans of its text holding the
words the lexical ranking matched (stemmed as the index stems: Porter in
SQLite's FTS5, Snowball English in PostgreSQL's), and `document_url`, the
stored document at the hit's page. The edge serves that document's bytes
(GET /v1/documents/{id}/content) with its type, within the workspace's
access rules. Each test starts its own real `sluiced` (and, for the
PostgreSQL case, a throwaway PostgreSQL via tests/pg_server.sh) and uploads
real documents: text files, an HTML page, PDFs written by tests/corpus.py.

Usage: /usr/bin/python3 tests/test_answers.py [test_name ...]
Env:   SLUICED (path of the binary)
"""
import hashlib, http.client, json, os, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_edge  # noqa: E402
import pg  # noqa: E402
from corpus import filler, make_pdf  # noqa: E402
from test_edge import (SLUICED, Skip, Sluiced, call, check, expect_error,  # noqa: E402
                       free_ports, multipart, wait_job)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HASH = "embed.provider=hash"
PG = []             # throwaway PostgreSQL folders to stop


def raw(srv, method, path, headers=None, key=None):
    """One request; (status, lower-cased headers, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.http_port, timeout=30)
    h = dict(headers or {})
    if key:
        h["Authorization"] = "Bearer " + key
    conn.request(method, path, headers=h)
    resp = conn.getresponse()
    body = resp.read()
    hdrs = {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return resp.status, hdrs, body


def upload(srv, name, ctype, data, key=None):
    """Upload one file and wait for its document; returns the document id."""
    body, mp = multipart([("file", name, ctype, data)])
    st, _, reply = call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": mp}, key=key)
    check(st == 202 and len(reply["jobs"]) == 1, "upload %s accepted" % name, st, reply)
    job = wait_job(srv, reply["jobs"][0]["id"], key=key)
    check(job["state"] == "completed", "%s ingested" % name, job)
    return job["document_id"]


def search(srv, query, mode="hybrid", k=10, key=None):
    st, _, res = call(srv, "POST", "/v1/search", {"query": query, "mode": mode, "k": k}, key=key)
    check(st == 200, "search %r (%s)" % (query, mode), st, res)
    return res["hits"]


def marked(hit):
    """The words a hit's highlights mark, as Python slices them (code points)."""
    spans = hit["highlights"]
    check(all(isinstance(s, list) and len(s) == 2 and 0 <= s[0] < s[1] <= len(hit["text"])
              for s in spans), "spans are [start, end] within the text", spans, len(hit["text"]))
    check(all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1)),
          "spans sorted, not overlapping", spans)
    return [hit["text"][a:b] for a, b in spans]


def postgres(tmp):
    """A throwaway PostgreSQL; its URL, or Skip when PostgreSQL is not installed."""
    try:
        url, folder = pg.start(tmp, free_ports(1))
    except pg.NotInstalled as e:
        raise Skip(str(e))
    PG.append(folder)
    return url


# --------------------------------------------------------------------------
# Highlights

# One document per word; the query "configuring" is stemmed by the index,
# and so is each of these: which of them it finds is the index's decision
VARIANTS = ["configured", "configuration", "configures", "configurable", "config", "figured",
            "reconfigure"]


def highlights_follow_ranking(srv):
    docs = {}
    for i, word in enumerate(VARIANTS):
        text = "Note %d. The %s step happened on the quiet harbour of Ostend.\n" % (i, word)
        docs[upload(srv, "note-%d.txt" % i, "text/plain", text.encode())] = word
    lexical = search(srv, "configuring", mode="lexical", k=20)
    found = {h["document_id"] for h in lexical}
    for h in lexical:
        check(marked(h) and all(w.lower() == docs[h["document_id"]] for w in marked(h)),
              "a lexical hit marks its variant of the word", h["text"], h["highlights"])
    # the index stems these alike, or its ranking would be broken
    must = {d for d, w in docs.items() if w in ("configured", "configuration", "configures")}
    never = {d for d, w in docs.items() if w in ("config", "figured", "reconfigure")}
    check(must <= found and not (never & found), "lexical finds the stem's words only",
          sorted(docs[d] for d in found))
    # vector mode returns every document: highlights exactly where the
    # ranking found the word, none elsewhere
    every = search(srv, "configuring", mode="vector", k=20)
    check({h["document_id"] for h in every} == set(docs), "vector mode returns all", every)
    shown = {h["document_id"] for h in every if h["highlights"]}
    check(shown == found, "highlighted = found by the lexical ranking",
          sorted(docs[d] for d in shown), sorted(docs[d] for d in found))


def test_highlights_are_the_ranked_words_sqlite(tmp):
    highlights_follow_ranking(Sluiced(tmp, sets=[HASH]))


def test_highlights_are_the_ranked_words_postgres(tmp):
    url = postgres(tmp)
    highlights_follow_ranking(Sluiced(tmp, sets=[HASH, "store.url=" + url]))


def test_highlights_code_points_in_every_mode(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    text = ("Caf\u00e9 \u2615 cr\u00e8me \U0001F600: the na\u00efve QUOKKAS were counted, "
            "one quokka at a time, by the naive keeper.\n")
    doc = upload(srv, "cafe.txt", "text/plain", text.encode())
    for mode in ("hybrid", "vector", "lexical"):
        hits = [h for h in search(srv, "naive quokka", mode=mode) if h["document_id"] == doc]
        check(len(hits) == 1, "the document is a hit in %s mode" % mode, hits)
        words = marked(hits[0])
        # Python slices code points: the emoji before them counts one
        # FTS5 strips the accent of "na\u00efve" as it indexes it: the
        # query's "naive" matches it there
        check(words == ["na\u00efve", "QUOKKAS", "quokka", "naive"], "%s: the matched words" % mode, words)
    # a hybrid query of function words alone ranks no words: it marks none
    hits = search(srv, "the of at", mode="hybrid")
    check(hits and all(h["highlights"] == [] for h in hits), "function words mark nothing", hits)


# --------------------------------------------------------------------------
# The stored document

def test_content_is_the_uploaded_bytes(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    pdf = os.path.join(tmp, "guide.pdf")
    make_pdf(pdf, [" ".join(filler(1, 120)), " ".join(filler(2, 120))], title="Guide")
    data = open(pdf, "rb").read()
    doc = upload(srv, "manuals/Quarterly guide.pdf", "application/pdf", data)
    st, h, body = raw(srv, "GET", "/v1/documents/%s/content" % doc)
    check(st == 200 and body == data, "the exact bytes", st, len(body), len(data))
    check(h["content-type"] == "application/pdf", "its type", h)
    check(h["content-disposition"] == 'inline; filename="Quarterly guide.pdf"', "inline, its name", h)
    check(h["x-content-type-options"] == "nosniff", "nosniff", h)
    sha = hashlib.sha256(data).hexdigest()
    check(h["etag"] == '"%s"' % sha, "ETag is the sha256", h)
    check(h.get("accept-ranges") == "bytes", "ranges offered", h)
    st, h, body = raw(srv, "GET", "/v1/documents/%s/content" % doc, {"If-None-Match": '"%s"' % sha})
    check(st == 304 and body == b"", "unchanged: 304", st)
    st, h, body = raw(srv, "HEAD", "/v1/documents/%s/content" % doc)
    check(st == 200 and body == b"" and int(h["content-length"]) == len(data), "HEAD", st, h)


def test_content_range(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    data = ("".join("line %04d of a plain text file about lighthouses\n" % i for i in range(200))).encode()
    doc = upload(srv, "lines.txt", "text/plain", data)
    path = "/v1/documents/%s/content" % doc
    st, h, body = raw(srv, "GET", path, {"Range": "bytes=100-199"})
    check(st == 206 and body == data[100:200], "206 with bytes 100-199", st, len(body))
    check(h["content-range"] == "bytes 100-199/%d" % len(data), "Content-Range", h)
    st, h, body = raw(srv, "GET", path, {"Range": "bytes=-25"})
    check(st == 206 and body == data[-25:], "the last 25 bytes", st, body)
    st, h, body = raw(srv, "GET", path, {"Range": "bytes=%d-" % (len(data) - 3)})
    check(st == 206 and body == data[-3:], "an open range", st, body)
    st, h, body = raw(srv, "GET", path, {"Range": "bytes=%d-" % len(data)})
    check(st == 416 and h["content-range"] == "bytes */%d" % len(data), "past the end: 416", st, h)
    check(b"past the end" in body, "says why", body)
    st, h, body = raw(srv, "GET", path, {"Range": "bytes=0-1,5-9"})
    check(st == 200 and body == data, "several ranges: the whole file", st)
    st, h, body = raw(srv, "GET", path, {"Range": "bytes=9-1"})
    check(st == 200 and body == data, "a malformed range: the whole file", st)


def test_content_html_is_sandboxed(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    page = (b"<html><head><title>Trap</title></head><body><h1>Harbour</h1><p>The harbour master "
            b"counts boats.</p><script>fetch('/v1/documents').then(r => r.text())</script>"
            b"<svg onload=\"alert(1)\"></svg></body></html>")
    doc = upload(srv, "trap.html", "text/html", page)
    st, h, body = raw(srv, "GET", "/v1/documents/%s/content" % doc)
    check(st == 200 and body == page, "the page's bytes", st)
    check(h["content-type"] == "text/html", "its type", h)
    check(h["content-security-policy"] == "sandbox", "CSP sandbox: no script, no origin", h)
    check(h["x-content-type-options"] == "nosniff", "nosniff", h)
    # the hit's link has no #page for a type without pages
    hits = search(srv, "harbour master", mode="lexical")
    check(hits and hits[0]["document_url"] == "/v1/documents/%s/content" % doc, "no fragment", hits)


def test_content_within_workspace(tmp):
    ka, kb = "key-alpha-123456", "key-bravo-654321"
    srv = Sluiced(tmp, sets=[HASH, "auth.keys=%s:alpha,%s:bravo" % (ka, kb)])
    doc = upload(srv, "secret.txt", "text/plain", b"The alpha team's secret harbour plan.\n", key=ka)
    path = "/v1/documents/%s/content" % doc
    st, _, body = raw(srv, "GET", path, key=ka)
    check(st == 200 and body == b"The alpha team's secret harbour plan.\n", "its own workspace reads it", st)
    expect_error(call(srv, "GET", path), 401, "no key")
    expect_error(call(srv, "GET", path, key="key-alpha-123457"), 401, "a wrong key")
    r = expect_error(call(srv, "GET", path, key=kb), 404, "another workspace's document")
    check("secret" not in json.dumps(r), "says nothing of it", r)
    expect_error(call(srv, "GET", path + "?access_token=" + ka), 401, "no key in the URL")


def test_content_hostile_ids(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    upload(srv, "a.txt", "text/plain", b"A harbour.\n")
    for path in ("/v1/documents/0123456789abcdef0123456789abcdef/content",
                 "/v1/documents/..%2f..%2fetc%2fpasswd/content",
                 "/v1/documents/" + "a" * 300 + "/content",
                 "/v1/documents/%2e%2e/content",
                 "/v1/documents/a%20b/content",
                 "/v1/documents//content"):
        st, h, body = raw(srv, "GET", path)
        check(st in (400, 404), "refused: " + path[:60], st, body)
        check(h.get("content-type", "").startswith("application/json"), "a JSON reason", path[:60], h)
        check(b"root:" not in body, "nothing read from outside", path[:60])


def test_content_gone_is_410(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    data = b"A document whose stored bytes will vanish, about harbours.\n"
    doc = upload(srv, "gone.txt", "text/plain", data)
    sha = hashlib.sha256(data).hexdigest()
    os.remove(os.path.join(srv.data, "blobs", sha[:2], sha))
    r = expect_error(call(srv, "GET", "/v1/documents/%s/content" % doc), 410, "blob gone")
    check("ingest the document again" in r["error"]["message"], "says what to do", r)


def test_hit_link_opens_its_page(tmp):
    srv = Sluiced(tmp, sets=[HASH])
    pages = [" ".join(filler(10 + i, 220)) for i in range(5)]
    pages[2] = (" ".join(filler(20, 100)) + " The zephyr calibration torque of the winch is "
                "forty two newton metres. " + " ".join(filler(21, 100)))
    pdf = os.path.join(tmp, "winch.pdf")
    make_pdf(pdf, pages, title="Winch manual")
    data = open(pdf, "rb").read()
    doc = upload(srv, "winch.pdf", "application/pdf", data)
    hits = search(srv, "zephyr calibration torque", mode="lexical", k=3)
    check(hits and hits[0]["document_id"] == doc, "the PDF answers", hits)
    top = hits[0]
    check(top["page_start"] == 3, "the answer is on page 3", top["page_start"], top["page_end"])
    check(top["mime"] == "application/pdf", "the hit says its type", top)
    check(top["document_url"] == "/v1/documents/%s/content#page=3" % doc, "the link opens page 3", top)
    check(set(w.lower() for w in marked(top)) == {"zephyr", "calibration", "torque"},
          "the answer's words are marked", marked(top))
    st, h, body = raw(srv, "GET", top["document_url"].split("#")[0])
    check(st == 200 and body == data and h["content-type"] == "application/pdf", "the link's bytes", st)
    # every mode's hits carry the link
    for mode in ("hybrid", "vector"):
        for h in search(srv, "zephyr calibration torque", mode=mode, k=3):
            check(h["document_url"] == "/v1/documents/%s/content#page=%d" % (doc, h["page_start"]),
                  "%s hits link their page" % mode, h)


def test_python_client_highlights_and_content(tmp):
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    import sluice
    srv = Sluiced(tmp, sets=[HASH])
    pages = [" ".join(filler(30 + i, 220)) for i in range(4)]
    pages[1] = " ".join(filler(40, 80)) + " Unscrew the brass impeller housing first. " + " ".join(filler(41, 80))
    pdf = os.path.join(tmp, "pump.pdf")
    make_pdf(pdf, pages)
    data = open(pdf, "rb").read()
    doc = upload(srv, "pump.pdf", "application/pdf", data)
    with sluice.Client("tcp://127.0.0.1:%d" % srv.broker_port, timeout=30) as client:
        hits = client.search("unscrewing impeller housings", mode="lexical", k=3)
        top = hits[0]
        check(top.document_id == doc and top.page_start == 2, "the answer's page", top)
        check([top.text[a:b] for a, b in top.highlights] == ["Unscrew", "impeller", "housing"],
              "highlights slice the matched words", top.highlights)
        check(top.mime == "application/pdf" and top.document_url == "/v1/documents/%s/content#page=2" % doc,
              "the document's link", top.document_url)
        check(client.content(doc) == data, "content: the uploaded bytes")
        big = os.path.join(tmp, "big.bin")
        with open(big, "wb") as out:
            check(client.content(doc, out) == len(data), "content to a file: its size")
        check(open(big, "rb").read() == data, "the file holds the bytes")
        try:
            client.content(doc, max_bytes=100)
            check(False, "max_bytes refused")
        except sluice.Refused as e:
            check("max_bytes" in str(e), "says why", e)
        try:
            client.content("0123456789abcdef0123456789abcdef")
            check(False, "an unknown document is not found")
        except sluice.NotFound:
            pass
    with sluice.Client("tcp://127.0.0.1:%d" % srv.broker_port, workspace="elsewhere", timeout=30) as other:
        try:
            other.content(doc)
            check(False, "another workspace's document is not found")
        except sluice.NotFound:
            pass


def test_cli_search_shows_link_and_bold_words(tmp):
    cli = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(SLUICED))), "bindings", "cli", "sluice")
    if not os.access(cli, os.X_OK):
        raise Skip("no sluice CLI at " + cli)
    srv = Sluiced(tmp, sets=[HASH])
    pages = [" ".join(filler(50 + i, 220)) for i in range(4)]
    pages[2] = " ".join(filler(60, 80)) + " Grease the sprocket bearings monthly. " + " ".join(filler(61, 80))
    pdf = os.path.join(tmp, "bike.pdf")
    make_pdf(pdf, pages)
    doc = upload(srv, "bike.pdf", "application/pdf", open(pdf, "rb").read())
    server = "http://127.0.0.1:%d" % srv.http_port
    args = [cli, "--server", server, "search", "--mode", "lexical", "-k", "1", "sprocket bearing"]
    plain = subprocess.run(args, capture_output=True, text=True, timeout=60)
    check(plain.returncode == 0, "search ran", plain.stdout, plain.stderr)
    link = "%s/v1/documents/%s/content#page=3" % (server, doc)
    check(link in plain.stdout.splitlines()[-1], "the link, at page 3", plain.stdout)
    check("\x1b[" not in plain.stdout, "no escapes when not a terminal", plain.stdout)
    # on a terminal the matched words are bold
    import pty
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    proc.wait(timeout=60)
    os.close(master)
    text = out.decode("utf-8", "replace")
    check("\x1b[1msprocket\x1b[0m" in text and "\x1b[1mbearings\x1b[0m" in text,
          "matched words bold on a terminal", text)


TESTS = [
    test_highlights_are_the_ranked_words_sqlite,
    test_highlights_are_the_ranked_words_postgres,
    test_highlights_code_points_in_every_mode,
    test_content_is_the_uploaded_bytes,
    test_content_range,
    test_content_html_is_sandboxed,
    test_content_within_workspace,
    test_content_hostile_ids,
    test_content_gone_is_410,
    test_hit_link_opens_its_page,
    test_python_client_highlights_and_content,
    test_cli_search_shows_link_and_bold_words,
]


def _stop_pg():
    while PG:
        pg.stop(PG.pop())


if __name__ == "__main__":
    test_edge.TESTS = TESTS
    test_edge.CLEANUPS.append(_stop_pg)
    sys.exit(test_edge.main())
