#!/usr/bin/python3
"""test_filters: document attributes and search filters, over real HTTP.

Every test starts its own real `sluiced` (temp data folder, free loopback
ports, the hash embedder so nothing waits for a model), ingests small text
and HTML documents with attributes the three ways the edge takes them
(?meta= on a raw upload, a form's "meta" field, a JSON body's "meta"),
then searches with filters and checks which documents come back. Each
refusal is checked for its status and its reason. One test runs the same
on PostgreSQL (tests/pg_server.sh; skipped where it is not installed).

Usage: /usr/bin/python3 tests/test_filters.py [test_name ...]
"""
import http.server, json, os, subprocess, sys, threading, urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ROOT, Runner, free_port, start, wait_for  # noqa: E402
from test_edge import call, check, expect_error, multipart  # noqa: E402
import pg  # noqa: E402

HASH = ["embed.provider=hash"]
CLI = os.environ.get("SLUICE_CLI", os.path.join(ROOT, "build", "bindings", "cli", "sluice"))

DOCS = {
    "A": ("reports/legal.txt", "text/plain",
          "The harbour contract covers mooring fees and berth rental for the season.",
          {"team": "legal", "year": 2024, "tags": ["contract", "nda"], "signed": "2024-03-01"}),
    "B": ("eng.txt", "text/plain",
          "The harbour crane specification lists load limits and wind speeds.",
          {"team": "eng", "year": 2019, "tags": ["spec"], "draft": True,
           "signed": "2023-12-31T23:00:00Z"}),
    "C": ("notes.txt", "text/plain",
          "Harbour notes: tides, buoys and the colour of the lighthouse.", None),
    "D": ("page.html", "text/html",
          "<html><head><title>Harbour rules</title></head><body><p>Harbour rules for visiting "
          "yachts: speed, anchoring and waste.</p></body></html>",
          {"team": "legal", "year": 2021, "tags": ["nda"]}),
}


def node(tmp, sets=()):
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    srv = start(data, sets=HASH + list(sets))
    wait_for(lambda: call(srv, "GET", "/readyz")[0] == 200, 60, "edge ready")
    return srv


def wait_job(srv, job, key=None):
    out = {}

    def done():
        st, _, body = call(srv, "GET", "/v1/jobs/" + job, key=key)
        out.update(body.get("job", {}))
        return st == 200 and out.get("state") in ("completed", "failed")
    wait_for(done, 90, "job " + job)
    check(out["state"] == "completed", "job completed", out)
    return out["document_id"]


def ingest(srv, name, key=None):
    """Ingest DOCS[name] the way its letter says: A raw with ?meta=, B and
    D as forms with a "meta" field, C raw without attributes."""
    filename, ctype, text, meta = DOCS[name]
    if name in ("B", "D"):
        fields = [("meta", json.dumps(meta))] if meta else []
        body, form = multipart([("file", filename, ctype, text.encode())], fields)
        res = call(srv, "POST", "/v1/ingest", body, headers={"Content-Type": form}, key=key)
    else:
        q = {"name": filename}
        if meta:
            q["meta"] = json.dumps(meta)
        res = call(srv, "POST", "/v1/ingest?" + urllib.parse.urlencode(q), text.encode(),
                   headers={"Content-Type": ctype}, key=key)
    st, _, reply = res
    check(st == 202, "ingest %s accepted" % name, st, reply)
    return wait_job(srv, reply["jobs"][0]["id"], key)


def corpus(srv, key=None):
    return {name: ingest(srv, name, key) for name in DOCS}


def found(srv, ids, mode, key=None, **fields):
    """Names of the documents a search for "harbour" returns."""
    body = dict({"query": "harbour", "k": 20, "mode": mode}, **fields)
    st, _, res = call(srv, "POST", "/v1/search", body, key=key)
    check(st == 200, "search answers", st, res, body)
    back = {v: k for k, v in ids.items()}
    names = set()
    for hit in res["hits"]:
        check(hit["document_id"] in back, "a hit from this workspace's documents", hit)
        names.add(back[hit["document_id"]])
    return names


def every_operator(srv, ids, mode):
    def f(**kw):
        return found(srv, ids, mode, **kw)
    check(f() == {"A", "B", "C", "D"}, "no filter: everything", f())
    check(f(filter={"team": "legal"}) == {"A", "D"}, "equality", f(filter={"team": "legal"}))
    check(f(filter={"tags": "nda"}) == {"A", "D"}, "a list holds the value")
    check(f(filter={"draft": True}) == {"B"}, "boolean equality")
    check(f(filter={"year": 2019}) == {"B"}, "number equality")
    check(f(filter={"tags": {"any": ["spec", "contract"]}}) == {"A", "B"}, "any of")
    check(f(filter={"year": {"gte": 2020, "lt": 2024}}) == {"D"}, "numeric range")
    check(f(filter={"signed": {"gte": "2024-01-01", "lte": "2024-06-30"}}) == {"A"}, "date range")
    check(f(filter={"signed": {"lte": "2024-01-01T00:00:00+01:00"}}) == {"B"}, "instants with offsets")
    check(f(source_prefix="upload:reports/") == {"A"}, "source prefix",
          f(source_prefix="upload:reports/"))
    check(f(mime="text/html") == {"D"}, "mime", f(mime="text/html"))
    check(f(mime=["text/html", "text/plain"]) == {"A", "B", "C", "D"}, "mime list")
    check(f(filter={"team": "legal"}, mime="text/plain") == {"A"}, "filter and mime ANDed")
    check(f(filter={"team": "legal"}, documents=[ids["A"], ids["B"]]) == {"A"}, "filter and documents")
    check(f(filter={"team": "nobody"}) == set(), "a filter matching nothing returns nothing")


def test_filtered_search_hybrid(tmp):
    srv = node(tmp)
    every_operator(srv, corpus(srv), "hybrid")


def test_filtered_search_vector(tmp):
    srv = node(tmp)
    every_operator(srv, corpus(srv), "vector")


def test_filtered_search_lexical(tmp):
    srv = node(tmp)
    every_operator(srv, corpus(srv), "lexical")


def test_get_search_takes_filter_args(tmp):
    srv = node(tmp)
    ids = corpus(srv)
    q = urllib.parse.urlencode({"q": "harbour", "k": 20, "filter": json.dumps({"team": "legal"}),
                                "mime": "text/plain,text/html", "source_prefix": "upload:"})
    st, _, res = call(srv, "GET", "/v1/search?" + q)
    check(st == 200, "GET search answers", st, res)
    check({h["document_id"] for h in res["hits"]} == {ids["A"], ids["D"]}, "GET filter applied", res)
    expect_error(call(srv, "GET", "/v1/search?q=harbour&filter=team%3Dlegal"), 400,
                 "a filter that is not JSON")


def test_documents_show_meta(tmp):
    srv = node(tmp)
    ids = corpus(srv)
    st, _, doc = call(srv, "GET", "/v1/documents/" + ids["A"])
    check(st == 200 and doc["document"]["meta"] == DOCS["A"][3], "GET document shows meta", doc)
    st, _, doc = call(srv, "GET", "/v1/documents/" + ids["C"])
    check(doc["document"]["meta"] == {}, "no attributes: an empty object", doc)
    st, _, docs = call(srv, "GET", "/v1/documents")
    metas = {d["id"]: d["meta"] for d in docs["documents"]}
    check(metas[ids["B"]] == DOCS["B"][3] and metas[ids["D"]] == DOCS["D"][3], "list shows meta", docs)


def test_json_url_ingest_with_meta(tmp):
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body><p>The harbour ferry timetable for winter.</p></body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass
    web = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Page)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        srv = node(tmp, ["fetch.allow_cidrs=127.0.0.1/32"])
        url = "http://127.0.0.1:%d/ferry.html" % web.server_address[1]
        st, _, reply = call(srv, "POST", "/v1/ingest", {"url": url, "meta": {"team": "ops"}})
        check(st == 202, "JSON ingest with meta accepted", st, reply)
        doc = wait_job(srv, reply["jobs"][0]["id"])
        check(found(srv, {"ferry": doc}, "hybrid", filter={"team": "ops"}) == {"ferry"},
              "the URL's document found by its attribute")
    finally:
        web.shutdown()


def test_retag_patch_changes_results(tmp):
    srv = node(tmp)
    ids = corpus(srv)
    st, _, doc = call(srv, "PATCH", "/v1/documents/%s/meta" % ids["B"], {"team": "legal"})
    check(st == 200 and doc["document"]["meta"]["team"] == "legal"
          and doc["document"]["meta"]["year"] == 2019, "PATCH merged", st, doc)
    check(found(srv, ids, "hybrid", filter={"team": "legal"}) == {"A", "B", "D"}, "follows at once")
    st, _, doc = call(srv, "PATCH", "/v1/documents/%s/meta" % ids["B"], {"team": None})
    check(st == 200 and "team" not in doc["document"]["meta"], "null removes a key", doc)
    check(found(srv, ids, "lexical", filter={"team": "legal"}) == {"A", "D"}, "removed at once")


def test_retag_put_replaces(tmp):
    srv = node(tmp)
    ids = corpus(srv)
    st, _, doc = call(srv, "PUT", "/v1/documents/%s/meta" % ids["C"], {"team": "legal", "year": 2030})
    check(st == 200 and doc["document"]["meta"] == {"team": "legal", "year": 2030}, "PUT set", doc)
    check(found(srv, ids, "vector", filter={"team": "legal"}) == {"A", "C", "D"}, "PUT followed")
    st, _, doc = call(srv, "PUT", "/v1/documents/%s/meta" % ids["A"], {})
    check(st == 200 and doc["document"]["meta"] == {}, "PUT {} clears", doc)
    check(found(srv, ids, "hybrid", filter={"team": "legal"}) == {"C", "D"}, "cleared at once")


def test_reingest_keeps_or_replaces_meta(tmp):
    srv = node(tmp)
    ids = corpus(srv)
    # the same source again without meta: the document keeps its attributes
    filename, ctype, text, _ = DOCS["A"]
    st, _, reply = call(srv, "POST", "/v1/ingest?name=" + filename, text.encode(),
                        headers={"Content-Type": ctype})
    check(wait_job(srv, reply["jobs"][0]["id"]) == ids["A"], "same document")
    check(found(srv, ids, "hybrid", filter={"team": "legal"}) == {"A", "D"}, "kept")
    # with meta: replaced
    q = urllib.parse.urlencode({"name": filename, "meta": json.dumps({"team": "ops"})})
    st, _, reply = call(srv, "POST", "/v1/ingest?" + q, text.encode(), headers={"Content-Type": ctype})
    wait_job(srv, reply["jobs"][0]["id"])
    check(found(srv, ids, "hybrid", filter={"team": "legal"}) == {"D"}, "replaced: legal gone")
    check(found(srv, ids, "hybrid", filter={"team": "ops"}) == {"A"}, "replaced: ops there")


def test_bad_meta_refused(tmp):
    srv = node(tmp)
    cases = [
        ({"a": {"b": 1}}, "is an object"),
        ({"a": None}, "is null"),
        ({"a": [[1]]}, "holds a list"),
        ({"bad key": 1}, "not 1-64 characters"),
        ({"k%d" % i: i for i in range(65)}, "more than 64"),
        ({"a": "x" * 1025}, "more than 1024"),
        ({"a": list(range(101))}, "more than 100"),
        ({"k%d" % i: "x" * 1000 for i in range(20)}, "more than 16384"),
        ([1, 2], "must be a JSON object"),
    ]
    for meta, words in cases:
        body = expect_error(call(srv, "POST", "/v1/ingest", {"url": "https://example.com/x", "meta": meta}),
                            400, "JSON meta %.40s" % json.dumps(meta))
        check(words in body["error"]["message"], "reason says " + words, body)
        form, ctype = multipart([("file", "x.txt", "text/plain", b"harbour")], [("meta", json.dumps(meta))])
        body = expect_error(call(srv, "POST", "/v1/ingest", form, headers={"Content-Type": ctype}),
                            400, "form meta")
        check(words in body["error"]["message"], "form reason says " + words, body)
    body = expect_error(call(srv, "POST", "/v1/ingest?name=x.txt&meta=%7Bnot", b"harbour",
                             headers={"Content-Type": "text/plain"}), 400, "?meta= not JSON")
    check("not valid JSON" in body["error"]["message"], "says not JSON", body)
    form, ctype = multipart([("file", "x.txt", "text/plain", b"harbour")], [("meta", "{}")])
    body = expect_error(call(srv, "POST", "/v1/ingest?meta=%7B%7D", form, headers={"Content-Type": ctype}),
                        400, "meta twice")
    check("twice" in body["error"]["message"], "says twice", body)
    form, ctype = multipart([("file", "x.txt", "text/plain", b"harbour")], [("meta", "{}"), ("meta", "{}")])
    expect_error(call(srv, "POST", "/v1/ingest", form, headers={"Content-Type": ctype}), 400, "two meta fields")
    st, _, jobs = call(srv, "GET", "/v1/jobs")
    check(st == 200 and jobs["jobs"] == [], "no job was created by a refusal", jobs)


def test_bad_filter_refused(tmp):
    srv = node(tmp)
    corpus(srv)
    cases = [
        ({"filter": {"year": {"between": [1, 2]}}}, "unknown operator \"between\""),
        ({"filter": {"year": {"gte": "abc"}}}, "takes a number or a date"),
        ({"filter": {"year": {"gte": 1, "lt": "2024-01-01"}}}, "mixes"),
        ({"filter": {"tags": {"any": []}}}, "list of 1 to 100"),
        ({"filter": {"tags": ["a"]}}, "any of several"),
        ({"filter": {"team": None}}, "compares with null"),
        ({"filter": {"k%d" % i: 1 for i in range(17)}}, "more than 16"),
        ({"filter": {"bad key": 1}}, "not an attribute name"),
        ({"filter": "team=legal"}, "must be a JSON object"),
        ({"mime": "pdf"}, "not a type"),
        ({"mime": []}, "mime must be"),
        ({"source_prefix": ""}, "source_prefix must be"),
        ({"source_prefix": 7}, "source_prefix must be"),
    ]
    for fields, words in cases:
        body = expect_error(call(srv, "POST", "/v1/search", dict({"query": "harbour"}, **fields)),
                            400, "filter %.60s" % json.dumps(fields))
        check(words in body["error"]["message"], "reason says " + words, body)


def test_retag_refused(tmp):
    srv = node(tmp, ["auth.keys=key-one-12345:one,key-two-12345:two"])
    ids = {"A": ingest(srv, "A", key="key-one-12345")}
    path = "/v1/documents/%s/meta" % ids["A"]
    # another workspace's document is not found
    expect_error(call(srv, "PATCH", path, {"team": "x"}, key="key-two-12345"), 404, "other workspace")
    expect_error(call(srv, "PUT", path, {"team": "x"}, key="key-two-12345"), 404, "other workspace PUT")
    expect_error(call(srv, "PUT", "/v1/documents/%s/meta" % ("0" * 32), {}, key="key-one-12345"), 404,
                 "no such document")
    for method, body, words in [("PUT", {"a": {"b": 1}}, "is an object"),
                                ("PATCH", {"a": [[1]]}, "holds a list"),
                                ("PATCH", [1], "must be a JSON object"),
                                ("PUT", b"{not json", "malformed JSON"),
                                ("PATCH", {"k%d" % i: 1 for i in range(70)}, "more than 64")]:
        res = expect_error(call(srv, method, path, body, key="key-one-12345",
                                headers={"Content-Type": "application/json"}), 400, method)
        check(words in res["error"]["message"], "reason says " + words, res)
    st, _, doc = call(srv, "GET", "/v1/documents/" + ids["A"], key="key-one-12345")
    check(doc["document"]["meta"] == DOCS["A"][3], "refusals changed nothing", doc)


def test_postgres_end_to_end(tmp):
    try:
        url, pgdir = pg.start(tmp, free_port())
    except pg.NotInstalled as e:
        print("skip: " + str(e))
        return "skip"
    try:
        srv = node(tmp, ["store.url=" + url])
        ids = corpus(srv)
        for mode in ("hybrid", "vector", "lexical"):
            every_operator(srv, ids, mode)
        st, _, doc = call(srv, "PATCH", "/v1/documents/%s/meta" % ids["C"], {"team": "legal"})
        check(st == 200, "PATCH on PostgreSQL", doc)
        check(found(srv, ids, "hybrid", filter={"team": "legal"}) == {"A", "C", "D"}, "re-tag followed")
        st, _, _ = call(srv, "DELETE", "/v1/documents/" + ids["A"])
        check(st == 202, "deleted")
        check(found(srv, ids, "hybrid", filter={"team": "legal"}) == {"C", "D"}, "delete followed")
    finally:
        pg.stop(pgdir)



def cli(srv, *args):
    out = subprocess.run([CLI, "--server", "http://127.0.0.1:%d" % srv.http_port] + list(args),
                         capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


def test_cli_meta_and_filter(tmp):
    if not os.path.exists(CLI):
        print("skip: no sluice CLI at " + CLI)
        return "skip"
    srv = node(tmp)
    paths = {}
    for name in ("A", "B"):
        filename, _, text, _ = DOCS[name]
        paths[name] = os.path.join(tmp, os.path.basename(filename))
        with open(paths[name], "w") as f:
            f.write(text)
    rc, out, err = cli(srv, "ingest", paths["A"], "--meta", "team=legal", "--meta", "year=2024",
                       "--meta", "tags=contract,nda", "--meta", "signed=2024-03-01", "--wait", "-q")
    check(rc == 0, "CLI ingest with --meta", rc, out, err)
    rc, out, err = cli(srv, "ingest", paths["B"], "--meta-json", json.dumps(DOCS["B"][3]), "--wait", "-q")
    check(rc == 0, "CLI ingest with --meta-json", rc, out, err)
    st, _, docs = call(srv, "GET", "/v1/documents")
    ids = {("A" if d["meta"].get("team") == "legal" else "B"): d["id"] for d in docs["documents"]}
    check(call(srv, "GET", "/v1/documents/" + ids["A"])[2]["document"]["meta"]
          == {"team": "legal", "year": 2024, "tags": ["contract", "nda"], "signed": "2024-03-01"},
          "--meta typed: number, list, string", docs)

    def search(*args):
        rc, out, err = cli(srv, "--json", "search", "harbour", *args)
        check(rc == 0, "CLI search " + " ".join(args), rc, err)
        back = {v: k for k, v in ids.items()}
        return {back[h["document_id"]] for h in json.loads(out)["hits"]}
    check(search("--filter", "team=legal") == {"A"}, "--filter key=v")
    check(search("--filter", "year>=2020") == {"A"}, "--filter key>=v")
    check(search("--filter", "year>2000", "--filter", "year<2020") == {"B"}, "two bounds, one range")
    check(search("--filter", "tags~spec,nda") == {"A", "B"}, "--filter key~a,b")
    check(search("--filter", "signed<=2024-01-01") == {"B"}, "date bound")
    check(search("--filter-json", '{"draft": true}') == {"B"}, "--filter-json")
    check(search("--mime", "text/plain", "--source-prefix", "upload:legal") == {"A"}, "--mime, --source-prefix")
    rc, out, err = cli(srv, "tag", ids["B"], "team=legal")
    check(rc == 0 and '"team":"legal"' in out, "tag merges", rc, out, err)
    check(search("--filter", "team=legal") == {"A", "B"}, "tag followed")
    rc, out, err = cli(srv, "tag", ids["B"], "team=")
    check(rc == 0 and "team" not in out, "key= removes", rc, out, err)
    rc, out, err = cli(srv, "tag", "--replace", ids["A"], "x=1")
    check(rc == 0 and out.strip().endswith('{"x":1}'), "--replace", rc, out, err)
    rc, out, err = cli(srv, "search", "harbour", "--filter", "team")
    check(rc == 2 and "--filter wants" in err, "unreadable --filter refused locally", rc, err)
    rc, out, err = cli(srv, "search", "harbour", "--filter-json", '{"year": {"gte": "abc"}}')
    check(rc != 0 and "takes a number or a date" in err, "the server's reason shown", rc, err)


def test_python_client(tmp):
    sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))
    import sluice
    srv = node(tmp)
    with sluice.Client(srv.endpoint(), timeout=30) as client:
        ids = {}
        for name in ("A", "B", "C"):
            filename, ctype, text, meta = DOCS[name]
            job = client.ingest_bytes(text.encode(), filename=filename, mime=ctype, meta=meta)
            job = client.wait(job.id, timeout=90)
            check(job.completed, "ingest with meta=", job)
            ids[name] = job.document_id
        check(client.document(ids["A"]).meta == DOCS["A"][3], "Document.meta")

        def names(**kw):
            back = {v: k for k, v in ids.items()}
            return {back[h.document_id] for h in client.search("harbour", k=20, **kw)}
        check(names(filter={"team": "legal"}) == {"A"}, "filter=")
        check(names(filter={"year": {"lt": 2020}}) == {"B"}, "range filter=")
        check(names(source_prefix="upload:reports/") == {"A"}, "source_prefix=")
        check(names(mime="text/plain") == {"A", "B", "C"}, "mime=")
        doc = client.set_meta(ids["C"], {"team": "legal"})
        check(doc.meta == {"team": "legal"}, "set_meta merges", doc)
        check(names(filter={"team": "legal"}) == {"A", "C"}, "re-tag followed")
        doc = client.set_meta(ids["A"], {"x": 1}, merge=False)
        check(doc.meta == {"x": 1}, "set_meta merge=False replaces", doc)
        for bad, words in [(lambda: client.search("harbour", filter={"year": {"gte": "abc"}}),
                            "takes a number or a date"),
                           (lambda: client.ingest_url("https://example.com/x", meta={"a": None}), "is null"),
                           (lambda: client.set_meta(ids["B"], {"a": {"b": 1}}), "is an object")]:
            try:
                bad()
                check(False, "refused: " + words)
            except sluice.Refused as e:
                check(words in str(e), "the server's reason", e)
        try:
            client.set_meta("0" * 32, {})
            check(False, "unknown document refused")
        except sluice.NotFound:
            pass


def test_c_client(tmp):
    """libsluice through ctypes: the real C library against a real sluiced."""
    import ctypes
    lib_path = os.environ.get("SLUICE_LIB", os.path.join(ROOT, "build", "bindings", "c", "libsluice.so"))
    if not os.path.exists(lib_path):
        print("skip: no libsluice at " + lib_path)
        return "skip"
    lib = ctypes.CDLL(lib_path)
    P, S, I = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    READ = ctypes.CFUNCTYPE(ctypes.c_ssize_t, P, P, ctypes.c_size_t)
    for name, res, args in [
            ("sluice_client_new", P, [S]), ("sluice_client_connect", I, [P, I]),
            ("sluice_client_ingest_stream_meta", I, [P, READ, P, ctypes.c_int64, S, S, S, S, I]),
            ("sluice_client_wait", I, [P, S, ctypes.POINTER(P), I]),
            ("sluice_job_document_id", S, [P]), ("sluice_job_destroy", None, [ctypes.POINTER(P)]),
            ("sluice_client_search_filter", I, [P, S, I, S, S, S, ctypes.POINTER(S), ctypes.c_size_t,
                                                ctypes.POINTER(P), I]),
            ("sluice_hits_size", ctypes.c_size_t, [P]), ("sluice_hits_document_id", S, [P, ctypes.c_size_t]),
            ("sluice_hits_destroy", None, [ctypes.POINTER(P)]),
            ("sluice_client_document_meta", I, [P, S, S, ctypes.c_bool, I]),
            ("sluice_client_message", S, [P]), ("sluice_client_destroy", None, [ctypes.POINTER(P)])]:
        getattr(lib, name).restype = res
        getattr(lib, name).argtypes = args
    srv = node(tmp)
    client = P(lib.sluice_client_new(srv.endpoint().encode()))
    check(lib.sluice_client_connect(client, 10000) == 0, "C client connects")
    ids = {}
    for name in ("A", "B"):
        filename, ctype, text, meta = DOCS[name]
        data = [text.encode()]

        def reader(arg, buf, size, data=data):
            chunk, data[0] = data[0][:size], data[0][size:]
            ctypes.memmove(buf, chunk, len(chunk))
            return len(chunk)
        read = READ(reader)
        job = ctypes.create_string_buffer(65)
        rc = lib.sluice_client_ingest_stream_meta(client, read, None, len(text.encode()), filename.encode(),
                                                  ctype.encode(), json.dumps(meta).encode(), job, 30000)
        check(rc == 0, "ingest_stream_meta", rc, lib.sluice_client_message(client))
        done = P()
        check(lib.sluice_client_wait(client, job.value, ctypes.byref(done), 90000) == 0, "waited")
        ids[name] = lib.sluice_job_document_id(done).decode()
        lib.sluice_job_destroy(ctypes.byref(done))
    back = {v: k for k, v in ids.items()}

    def search(filter_json=None, prefix=None, mimes=()):
        hits = P()
        arr = (S * max(1, len(mimes)))(*[m.encode() for m in mimes])
        rc = lib.sluice_client_search_filter(client, b"harbour", 20, b"hybrid",
                                             filter_json.encode() if filter_json else None,
                                             prefix.encode() if prefix else None, arr, len(mimes),
                                             ctypes.byref(hits), 30000)
        if rc != 0:
            return rc, lib.sluice_client_message(client).decode()
        found = {back[lib.sluice_hits_document_id(hits, i).decode()] for i in range(lib.sluice_hits_size(hits))}
        lib.sluice_hits_destroy(ctypes.byref(hits))
        return found
    check(search('{"team": "legal"}') == {"A"}, "C filter", search('{"team": "legal"}'))
    check(search('{"year": {"lt": 2020}}') == {"B"}, "C range filter")
    check(search(prefix="upload:reports/") == {"A"}, "C source prefix")
    check(search(mimes=["text/plain"]) == {"A", "B"}, "C mime")
    rc, why = search('{"year": {"gte": "abc"}}')
    check(rc != 0 and "takes a number or a date" in why, "C: the server's reason", rc, why)
    check(lib.sluice_client_document_meta(client, ids["B"].encode(), b'{"team": "legal"}', True, 10000) == 0,
          "C re-tag", lib.sluice_client_message(client))
    check(search('{"team": "legal"}') == {"A", "B"}, "C re-tag followed")
    rc = lib.sluice_client_document_meta(client, ids["B"].encode(), b'{"a": null}', False, 10000)
    check(rc != 0 and "is null" in lib.sluice_client_message(client).decode(), "C re-tag refused")
    lib.sluice_client_destroy(ctypes.byref(client))

TESTS = [test_filtered_search_hybrid, test_filtered_search_vector, test_filtered_search_lexical,
         test_get_search_takes_filter_args, test_documents_show_meta, test_json_url_ingest_with_meta,
         test_retag_patch_changes_results, test_retag_put_replaces, test_reingest_keeps_or_replaces_meta,
         test_bad_meta_refused, test_bad_filter_refused, test_retag_refused, test_postgres_end_to_end,
         test_cli_meta_and_filter, test_python_client, test_c_client]

if __name__ == "__main__":
    sys.exit(Runner().run(TESTS, set(sys.argv[1:]) or None))
