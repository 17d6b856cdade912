"""test_structure: sections and tables carried from documents into chunks and hits.

Real sluiced processes over ZeroMQ, documents written by each test (an HTML
manual with h1/h2 sections and a long table, a Markdown guide with a code
block). What comes back through the query service is checked: every hit and
chunk carries its section path ("Installation › Configuring the network"),
table chunks hold whole rows under their header row, and the section path
embedded with a chunk's text finds it by a question worded after its
heading, though its body never says those words.

A PDF's outline (bookmarks) gives its pages' sections the same way
(test_pdf_outline_sections_in_hits).
Usage: /usr/bin/python3 tests/test_structure.py [test_name ...]
"""
import html as htmlmod
import os, re, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Client, Runner, make_pdf, start, wait_ready  # noqa: E402

SEP = " \u203a "
HASH = ["embed.provider=hash"]

# Sections of the manual: (h1, h2, body). No body says a word of its own
# heading (checked by the tests that rely on it), and the bodies are
# deliberately alike: what tells them apart is the heading.
SECTIONS = [
    ("Installation", "Configuring the network",
     "Open the settings file named below and fill in the address of each card, the mask and the "
     "gateway. Restart the service afterwards and look at the log to see that the new values took "
     "effect. A wrong value here leaves the machine unreachable, so keep a console open while you "
     "change it."),
    ("Installation", "Choosing a storage engine",
     "Pick the small kind for a single machine and the large kind when many machines share the "
     "work. The large kind keeps more rows and answers more readers at once; the small kind needs "
     "no care at all. Rows are kept when the service is upgraded."),
    ("Installation", "Managing user accounts",
     "Add each person with the admin tool, give them a password and a group, and remove them when "
     "they leave. Restart nothing: changes take effect at once. The log records who was added and "
     "who removed them."),
    ("Operations", "Backing up your data",
     "Copy the storage folder every night to a second disk or another machine, and keep a week of "
     "copies. Test a restore now and then on a spare machine; a copy nobody has restored is a hope, "
     "not a plan."),
    ("Operations", "Monitoring performance",
     "Watch processor load, memory and the length of each queue on the dashboard. Alerts fire when a "
     "queue keeps growing for ten minutes; the log then shows which stage is slow."),
]

TABLE_ROWS = 150


def node(tmp, sets=()):
    data = os.path.join(tmp, "data")
    os.makedirs(data, exist_ok=True)
    s = start(data, sets=list(sets))
    c = Client(s.port)
    wait_ready(c, ("intake", "query", "journal", "fetch", "parse", "chunk", "embed", "store", "upload"))
    return s, c, data


def use_node(tmp, sets=()):
    """A node on the default pretrained encoder, or None (the test skips)."""
    s, c, data = node(tmp, sets)
    status = c.request("query", "status", {})
    if status.get("provider") != "use":
        print("skip: the use model is not installed (%s)" % status.get("embedder_error"))
        return None
    return c


def manual_html():
    """The HTML manual: h1/h2 sections, then a reference section with a long
    table (thead header, TABLE_ROWS rows)."""
    out = ["<!DOCTYPE html><html><head><title>Sluice Admin Guide</title></head><body>"]
    last_h1 = None
    for h1, h2, body in SECTIONS:
        if h1 != last_h1:
            out.append("<h1>%s</h1>" % h1)
            last_h1 = h1
        out.append("<h2>%s</h2><p>%s</p>" % (h2, htmlmod.escape(body)))
    out.append("<h1>Reference</h1><h2>Settings</h2><p>Every setting, its default and what it does.</p>")
    out.append("<table><thead><tr><th>Key</th><th>Default</th><th>Meaning</th></tr></thead><tbody>")
    for i in range(TABLE_ROWS):
        out.append("<tr><td>key_%d</td><td>%d</td><td>what setting number %d changes, in a few words</td></tr>"
                   % (i, i * 7, i))
    out.append("</tbody></table><p>Unknown keys are refused at start.</p></body></html>")
    return "\n".join(out).encode()


def ingest_bytes(c, data, filename, mime):
    r = c.request("upload", "put", {"data": data, "mime": mime})
    assert "blob" in r, r
    job = c.ingest(blob=r["blob"], size=len(data), mime=mime, filename=filename)
    assert "id" in job, job
    done = c.wait(job["id"], 120)
    assert done["state"] == "completed", done
    return done["document_id"]


def chunks_of(c, doc_id):
    r = c.request("query", "doc_chunks", {"id": doc_id, "limit": 1000, "offset": 0})
    assert "chunks" in r, r
    return r["chunks"]


def words(text):
    return set(re.findall(r"[a-z]+", text.lower()))


# ---------------------------------------------------------------------------

def test_html_sections_in_hits(tmp):
    """Every chunk of the manual and every hit carries its section path; a
    chunk never holds the text of two sections."""
    s, c, data = node(tmp, HASH)
    doc = ingest_bytes(c, manual_html(), "guide.html", "text/html")
    chunks = chunks_of(c, doc)
    for h1, h2, body in SECTIONS:
        mine = [ch for ch in chunks if body[:40] in ch["text"]]
        assert len(mine) == 1, (h2, [ch["section"] for ch in chunks])
        assert mine[0]["section"] == h1 + SEP + h2 and mine[0]["kind"] == "text", mine[0]
        # the heading is the section, not text, and no other body shares the chunk
        assert h2 not in mine[0]["text"], mine[0]
        assert not any(b[:40] in mine[0]["text"] for _, _, b in SECTIONS if b != body), mine[0]
        assert mine[0]["ocr"] is False and mine[0]["ocr_confidence"] is None, mine[0]
    hits = c.search("keep a week of copies on a second disk", k=3, mode="lexical")["hits"]
    assert hits and hits[0]["section"] == "Operations" + SEP + "Backing up your data", hits[:1]
    assert hits[0]["kind"] == "text" and hits[0]["ocr"] is False, hits[0]
    # the section's words find its chunk though its text never says them
    hits = c.search("monitoring performance", k=3, mode="lexical")["hits"]
    assert hits and all(h["section"] == "Operations" + SEP + "Monitoring performance" for h in hits), hits


def test_pdf_outline_sections_in_hits(tmp):
    """A PDF's bookmarks are its sections: a chunk on a bookmarked page
    carries the bookmark's path, nested bookmarks under their parents, and
    the section's words find it though the page never says them."""
    s, c, data = node(tmp, HASH)
    pages = ["This guide tells an operator how to run the frobnicator service.",
             "Unpack the archive into the service folder and run the unpacker once.",
             "Set the listen address and the mask in the settings file; the quuxwire daemon reads them.",
             "Copy the data folder every night; keep seven copies of the zorbletide store."]
    outline = [(1, "Introduction", 1), (1, "Installation", 2), (2, "Configuring the network", 3),
               (1, "Operations", 4), (2, "Backing up your data", 4)]
    path = os.path.join(tmp, "guide.pdf")
    make_pdf(path, pages, title="Frobnicator Guide", outline=outline)
    with open(path, "rb") as f:
        doc = ingest_bytes(c, f.read(), "guide.pdf", "application/pdf")
    want = {"quuxwire": ("Installation" + SEP + "Configuring the network", 3),
            "zorbletide": ("Operations" + SEP + "Backing up your data", 4)}
    for word, (section, page) in want.items():
        hits = c.search(word, k=3, mode="lexical")["hits"]
        assert hits and hits[0]["document_id"] == doc, (word, hits[:1])
        assert hits[0]["section"] == section and hits[0]["page_start"] <= page <= hits[0]["page_end"], hits[0]
    # the bookmark's words are in the word index with the chunk under it
    hits = c.search("configuring network", k=3, mode="lexical")["hits"]
    assert hits and hits[0]["section"] == want["quuxwire"][0], hits[:1]
    sections = {ch["section"] for ch in chunks_of(c, doc)}
    assert sections <= {"Introduction", "Installation", want["quuxwire"][0], "Operations", want["zorbletide"][0]}, sections


def test_table_chunks_hold_whole_rows(tmp):
    """The long table becomes table chunks: each starts with the header
    row, holds only whole rows, every row exactly once and in order; a row's
    hit says kind table."""
    s, c, data = node(tmp, HASH)
    doc = ingest_bytes(c, manual_html(), "guide.html", "text/html")
    chunks = chunks_of(c, doc)
    tables = [ch for ch in chunks if ch["kind"] == "table"]
    assert len(tables) > 3, [(ch["kind"], ch["tokens"]) for ch in chunks]
    header = "| Key | Default | Meaning |"
    seen = []
    for ch in tables:
        lines = ch["text"].split("\n")
        assert lines[0] == header, ch["text"][:200]
        assert ch["section"] == "Reference" + SEP + "Settings", ch["section"]
        for line in lines[1:]:
            m = re.fullmatch(r"\| key_(\d+) \| (\d+) \| what setting number (\d+) changes, in a few words \|", line)
            assert m and int(m.group(1)) == int(m.group(3)) and int(m.group(2)) == 7 * int(m.group(1)), line
            seen.append(int(m.group(1)))
    assert seen == list(range(TABLE_ROWS)), seen
    # text after the table is text again, in the same section
    after = [ch for ch in chunks if "Unknown keys are refused" in ch["text"]]
    assert len(after) == 1 and after[0]["kind"] == "text" and "|" not in after[0]["text"], after
    hits = c.search("key_123", k=3, mode="lexical")["hits"]
    assert hits and hits[0]["kind"] == "table" and "| key_123 | 861 |" in hits[0]["text"], hits[:1]
    assert hits[0]["text"].startswith(header + "\n"), hits[0]["text"][:100]


def _rank(c, query, section):
    """1-based rank of the first hit in section among the top 10, and its score."""
    hits = c.search(query, k=10, mode="vector")["hits"]
    for i, h in enumerate(hits):
        if h["section"] == section:
            return i + 1, h["score"]
    return None, None


QUESTIONS = [
    ("how do I configure the network", "Installation" + SEP + "Configuring the network"),
    ("which storage engine should I choose", "Installation" + SEP + "Choosing a storage engine"),
    ("how can I manage user accounts", "Installation" + SEP + "Managing user accounts"),
    ("how should I back up my data", "Operations" + SEP + "Backing up your data"),
    ("how do I monitor performance", "Operations" + SEP + "Monitoring performance"),
]


def test_section_context_finds_paraphrase(tmp):
    """With the default encoder, "how do I configure the network" finds the
    chunk under "Configuring the network" first, though its body never says
    configure or network: the title and section path are embedded with it.
    The same manual with chunk.embed_context=false scores that chunk lower
    for the question (all five questions' ranks are printed, for the notes)."""
    body = SECTIONS[0][2]
    assert not (words(body) & {"configure", "configuring", "network", "networks"}), body
    c = use_node(tmp)
    if not c:
        return "skip"
    ingest_bytes(c, manual_html(), "guide.html", "text/html")
    on = [_rank(c, q, sec) for q, sec in QUESTIONS]
    rank, score = on[0]
    assert rank == 1, (QUESTIONS[0], on)
    # the prefix is context, not the displayed text
    top = c.search(QUESTIONS[0][0], k=1, mode="vector")["hits"][0]
    assert top["text"].startswith("Open the settings file") and "Sluice Admin Guide" not in top["text"], top
    off_tmp = os.path.join(tmp, "off")
    os.makedirs(off_tmp)
    c2 = use_node(off_tmp, ["chunk.embed_context=false"])
    ingest_bytes(c2, manual_html(), "guide.html", "text/html")
    off = [_rank(c2, q, sec) for q, sec in QUESTIONS]
    print("section context on  (rank, score):", [(r, round(s, 3) if s else s) for r, s in on])
    print("section context off (rank, score):", [(r, round(s, 3) if s else s) for r, s in off])
    print("top-1 with context: %d/%d, without: %d/%d" % (
        sum(1 for r, _ in on if r == 1), len(on), sum(1 for r, _ in off if r == 1), len(off)))
    # the same chunk, the same question: the embedded section path is what
    # brings it closer (embeddings are deterministic: no flakiness here)
    assert off[0][1] is not None and score > off[0][1] + 0.05, (on[0], off[0])


def test_markdown_code_comment_not_heading(tmp):
    """A Markdown guide: '# foo' inside a fenced code block is code, not a
    heading; the chunk holding it keeps the section of the heading above."""
    s, c, data = node(tmp, HASH)
    md = ("# Guide\n\nA short guide to building sluice from its sources, step by step, for people who "
          "have never built a C program before.\n\n## Build\n\nRun the build in a fresh folder:\n\n"
          "```sh\n# foo comment in the shell script\ncmake -S . -B build\n## not a heading either\n```\n\n"
          "Then run the tests and install what was built into the prefix you chose.\n")
    doc = ingest_bytes(c, md.encode(), "guide.md", "text/markdown")
    chunks = chunks_of(c, doc)
    sections = {ch["section"] for ch in chunks}
    assert not any("foo" in sec or "not a heading" in sec for sec in sections), sections
    code = [ch for ch in chunks if "# foo comment in the shell script" in ch["text"]]
    assert len(code) == 1 and code[0]["section"] == "Guide" + SEP + "Build", chunks
    assert "## not a heading either" in code[0]["text"], code[0]
    hits = c.search("foo comment shell script", k=1, mode="lexical")["hits"]
    assert hits and hits[0]["section"] == "Guide" + SEP + "Build", hits


if __name__ == "__main__":
    tests = [test_html_sections_in_hits, test_table_chunks_hold_whole_rows,
             test_section_context_finds_paraphrase, test_markdown_code_comment_not_heading,
             test_pdf_outline_sections_in_hits]
    sys.exit(Runner().run(tests, only=set(sys.argv[1:]) or None))
