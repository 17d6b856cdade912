#!/usr/bin/python3
"""corpus: the project's own test documents, generated, deterministic.

The tests need real documents with known content: PDFs of many pages where
the test knows what page 37 says, HTML, plain text, prose on distinct topics
for the semantic search, hundreds of small distinct PDFs for the chaos test,
a PDF of a thousand pages for the crash and restart tests. Nothing here is
downloaded: every document is written by this module (PDFs directly, with the
base-14 Helvetica fonts and Flate-compressed content streams, no library
needed), from fixed text and a seeded generator, so the same source always
gives the same bytes.

    corpus_dir()            folder with pdf/, html/, text/ (built once, cached)
    make_pdf(path, pages)   write a PDF whose page N shows pages[N-1]
    big_pdf(pages, distinct=None)  a cached manual of `pages` pages (crash tests)
    small_pdfs(out, count)  `count` distinct 2-page PDFs (chaos test)
    fact(name, page)        the sentence that only page `page` of a manual has
    page_text(name, page)   all the text of that page, as written

What corpus_dir() holds:
    pdf/drafting.pdf (120 pages), plotter.pdf (140), codec.pdf (36),
        currency.pdf (15), intro.pdf (13): MANUALS, manual-like text with one
        sentence per page that no other page has (fact()), in the middle of
        the page; a few are written by hand ("nccircle draws a circle" is on
        page 50 of plotter.pdf)
    pdf/kitchen.pdf, weather.pdf, money.pdf, garden.pdf: PROSE, two pages
        each, one plain-English topic a page (for paraphrase search)
    html/deflate.html, accounts.html; text/abacus-README.txt,
        currency-notes.txt, heron-notes.md: HTML and TEXT below

The cache lives in <repo>/build/test-corpus/<hash of this file>/ (or in
$SLUICE_TEST_CORPUS); it is written to a temporary folder and renamed into
place, so tests starting in parallel never see half a corpus. Building it
takes a fifth of a second, a 1000-page big_pdf() about half a second;
`corpus.py --check` (ctest corpus_generated) checks both claims above:
same bytes every time, and each sentence where it is said to be.

Command line: `/usr/bin/python3 tests/corpus.py` builds the corpus if needed
and prints its folder (the shell and browser tests use this).
"""
import hashlib, os, random, re, shutil, tempfile, textwrap, time, zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---------------------------------------------------------------------------
# PDF writer


def _pdf_string(text):
    raw = text.encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _layout(text, width=88):
    """Page text -> [(font, line)]: paragraphs are separated by blank lines,
    a paragraph starting with '# ' is a bold heading; lines wrap at `width`."""
    out = []
    for para in text.strip("\n").split("\n\n"):
        bold = para.startswith("# ")
        if bold:
            para = para[2:]
        if out:
            out.append(("F1", ""))
        for line in textwrap.wrap(" ".join(para.split()), width) or [""]:
            out.append(("F2" if bold else "F1", line))
    return out


def _hatch(strokes):
    """A figure of `strokes` thin crossing lines in the lower margin: work for
    the PDF interpreter, no text."""
    ops = [b"q 0.2 w 0.5 G"]
    for i in range(strokes):
        x = 72 + (i * 37) % 468
        ops.append(b"%d 20 m %d 60 l S" % (x, 72 + (i * 53 + 19) % 468))
    ops.append(b"Q")
    return b"\n".join(ops) + b"\n"


def make_pdf(path, pages, title=None, compress=True, figure=0, outline=None):
    """Write a PDF (US letter, Helvetica 10 pt) whose page N shows pages[N-1].
    `outline`: bookmarks, a list of (level, title, page) in document order
    (level 1 = top, page 1-based), written as the PDF's /Outlines tree.

    Content streams come first in the file and the page tree and catalog
    last, as in most real PDFs written in one pass: a truncated copy has
    lost its catalog. With `figure`, every page also draws that many line
    strokes below the text (parsing then takes longer, the text is the
    same). Raises ValueError if a page holds more than 60 lines."""
    n = len(pages)
    if n == 0:
        raise ValueError("a PDF needs at least one page")
    # object numbers: contents 1..n, pages n+1..2n, then fonts, tree, catalog, info
    f1, f2, tree, catalog, info = 2 * n + 1, 2 * n + 2, 2 * n + 3, 2 * n + 4, 2 * n + 5
    bodies = []
    for text in pages:
        lines = _layout(text)
        if len(lines) > 60:
            raise ValueError("page text too long for one page: %d lines" % len(lines))
        ops = [b"BT", b"13 TL", b"72 730 Td"]
        font = None
        for fnt, line in lines:
            if fnt != font:
                ops.append(("/%s 10 Tf" % fnt).encode())
                font = fnt
            ops.append(_pdf_string(line) + b" Tj T*")
        ops.append(b"ET")
        data = b"\n".join(ops) + b"\n" + (_hatch(figure) if figure else b"")
        if compress:
            data = zlib.compress(data, 6)
            bodies.append(b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream")
        else:
            bodies.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"endstream")
    for i in range(n):
        bodies.append(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] "
                      b"/Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>"
                      % (tree, f1, f2, i + 1))
    for base in (b"Helvetica", b"Helvetica-Bold"):
        bodies.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /" + base + b" /Encoding /WinAnsiEncoding >>")
    kids = b" ".join(b"%d 0 R" % (n + 1 + i) for i in range(n))
    bodies.append(b"<< /Type /Pages /Count %d /Kids [%s] >>" % (n, kids))
    root = info + 1 if outline else 0
    bodies.append(b"<< /Type /Catalog /Pages %d 0 R%s >>" % (tree, b" /Outlines %d 0 R" % root if root else b""))
    bodies.append(b"<< /Title " + _pdf_string(title or os.path.basename(path)) +
                  b" /Producer (Sluice test corpus) >>")
    if outline:
        bodies.extend(_outline_objects(outline, root, n))
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for num, body in enumerate(bodies, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(bodies) + 1, catalog, info, xref)
    with open(path, "wb") as f:
        f.write(out)
    return path


def _outline_objects(outline, root, n):
    """The /Outlines root (object `root`) and one object per entry after it:
    a tree built from the levels, siblings chained by /Prev and /Next."""
    nodes = [{"num": root, "kids": [], "parent": None}]
    stack = [(0, nodes[0])]
    for i, (level, title, page) in enumerate(outline):
        while stack[-1][0] >= level:
            stack.pop()
        node = {"num": root + 1 + i, "kids": [], "parent": stack[-1][1], "title": title, "page": page}
        stack[-1][1]["kids"].append(node)
        nodes.append(node)
        stack.append((level, node))

    def body(node):
        kids = node["kids"]
        fields = []
        if node["parent"] is None:
            fields.append(b"/Type /Outlines")
        else:
            sib = node["parent"]["kids"]
            k = sib.index(node)
            fields.append(b"/Title " + _pdf_string(node["title"]))
            fields.append(b"/Parent %d 0 R" % node["parent"]["num"])
            if k > 0:
                fields.append(b"/Prev %d 0 R" % sib[k - 1]["num"])
            if k + 1 < len(sib):
                fields.append(b"/Next %d 0 R" % sib[k + 1]["num"])
            # page objects follow the n content streams: page p is object n + p
            fields.append(b"/Dest [%d 0 R /XYZ 0 792 0]" % (n + node["page"]))
        if kids:
            fields.append(b"/First %d 0 R /Last %d 0 R /Count %d" % (kids[0]["num"], kids[-1]["num"], len(kids)))
        return b"<< " + b" ".join(fields) + b" >>"
    return [body(node) for node in nodes]


# ---------------------------------------------------------------------------
# Text: technical filler for manuals, one unique fact per page

NOUNS = """path pen margin label layer grid token macro variable vertex segment buffer register
stroke colour unit scale origin axis tick legend caption font glyph baseline column row frame
viewport mask shade pattern hatch arrow bracket node spline knot tension slope angle offset
transform matrix vector pair triple string boolean numeric picture output input file stream
header footer section chapter index entry reference counter loop condition branch parameter
argument option switch mode profile template style palette canvas sheet panel border corner
ribbon marker symbol anchor handle guide ruler stencil nib ink tablet cursor selection group
cluster bundle archive cache journal report summary warning message prompt shell script
library module package routine function procedure statement expression operand operator
constant literal queue record field schema cursor interval quantity dimension width height
depth weight density ratio fraction sequence series array list tuple cell block region zone
boundary contour outline silhouette surface texture grain""".split()
ADJECTIVES = """current previous next default optional explicit implicit global local nested hidden
visible dashed dotted solid thick thin narrow wide shallow deep rounded square curved straight
vertical horizontal diagonal relative absolute fixed empty partial complete scaled rotated
shifted mirrored clipped filled closed open signed unsigned symbolic primary secondary temporary
permanent internal external compact verbose strict lenient outer inner upper lower leading
trailing even odd exact approximate""".split()
PARTICIPLES = """filled scaled rotated shifted clipped stored printed written read parsed expanded
evaluated replaced appended removed merged sorted checked rounded measured aligned centred
labelled traced copied saved restored reset cleared locked shared cached flushed logged
reported ignored skipped counted encoded declared assigned compared converted truncated
extended""".split()
VERBS = """fill scale rotate shift clip store print write read expand evaluate replace append
remove merge sort check round measure align centre label trace copy save restore reset clear
lock declare assign compare convert truncate extend""".split()
TEMPLATES = (
    "The {a} {n} option sets the {n2} of every {n3} in the {a2} {n4}.",
    "When the {n} is {a}, the {n2} is {p} before the {n3} is {p2}.",
    "A {n} may hold any number of {n2} entries; each one is {p} in turn.",
    "Use the {n} keyword to {v} a {a} {n2} without touching the {n3}.",
    "By default the {n} is {p}, so a {a} {n2} needs an explicit {n3}.",
    "Register {num} keeps the last {n} that was {p} by the {n2} macro.",
    "The table of {n} values lists {num} {a} settings for the {n2}.",
    "If the {n} is missing, the interpreter reports error {num} and skips the {n2}.",
    "Each {n} is {p} relative to the {a} {n2}, not to the {n3}.",
    "To {v} the {n} of a {a} {n2}, first {v2} its {n3}.",
    "The {n} and the {n2} share one {a} {n3}, which is {p} once per {n4}.",
    "Setting the {n} to {num} makes every {a} {n2} {p} as well.",
    "Version {num} of the interpreter {p} the {n} whenever the {n2} was {p2}.",
    "A {a} {n} cannot be {p}; {v} the {n2} instead.",
    "The {n} command accepts a {a} {n2} and returns its {n3}.",
    "Note that the {a} {n} of a {n2} is {p} only after the {n3} is {p2}.",
)
ACTIONS = (
    "fills the region between two paths", "sets the width of the pen in points",
    "moves the origin to the lower left corner", "writes the current picture to a file",
    "turns every label by a quarter turn", "joins two open paths into one closed path",
    "draws a dashed line between two points", "shades a rectangle with a grey pattern",
    "prints the value of a numeric variable", "clears the picture and resets the pen",
    "places an arrowhead at the end of a path", "scales the picture to fit the page",
    "marks every knot of a path with a dot", "reverses the direction of a path",
    "measures the length of a path in points", "aligns a group of labels on a baseline",
    "saves the state of the pen and the colour", "restores the state saved before",
    "splits a path at its midpoint", "traces the outline of a glyph from the font",
)
SYLLABLES = ("ba", "ko", "ri", "tu", "me", "sa", "lo", "vi", "da", "ne")


def filler(seed, words):
    """About `words` words of manual-like sentences, in paragraphs of 4-6
    sentences; the same seed gives the same text."""
    rng = random.Random(seed)
    paras, para, count = [], [], 0
    while count < words:
        s = rng.choice(TEMPLATES).format(
            n=rng.choice(NOUNS), n2=rng.choice(NOUNS), n3=rng.choice(NOUNS), n4=rng.choice(NOUNS),
            a=rng.choice(ADJECTIVES), a2=rng.choice(ADJECTIVES), p=rng.choice(PARTICIPLES),
            p2=rng.choice(PARTICIPLES), v=rng.choice(VERBS), v2=rng.choice(VERBS), num=rng.randint(10, 9999))
        s = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", s)
        para.append(s)
        count += len(s.split())
        if len(para) >= rng.randint(4, 6):
            paras.append(" ".join(para))
            para = []
    if para:
        paras.append(" ".join(para))
    return paras


def command_name(prefix, page):
    """A word only page `page` of a manual has: prefix + three syllables."""
    return prefix + SYLLABLES[page // 100 % 10] + SYLLABLES[page // 10 % 10] + SYLLABLES[page % 10]


# The manuals: name -> title, pages, command prefix, words of filler per
# page, and pages whose fact is written by hand (the rest are generated).
MANUALS = {
    "drafting.pdf": dict(title="Drafting Language Manual", pages=120, prefix="dr", words=330, special={
        37: "Figure 28: Example of envelope. The envelope of a path is the region an elliptical pen "
            "sweeps while it travels along the path.",
        88: "Figure 61: Example of hatching. Parallel strokes at a fixed spacing fill the inside of "
            "a closed outline."}),
    "plotter.pdf": dict(title="Plotter Commands Reference", pages=140, prefix="nc", words=300, special={
        50: "nccircle draws a circle of the given radius around the current point, with the pen "
            "that was picked last."}),
    "codec.pdf": dict(title="tlvkit: ASN.1 and DER Codec Library Reference", pages=36, prefix="tlv",
                      words=280, special={
        12: "tlv_der_decoding_element decodes one element of a DER-encoded ASN.1 structure in "
            "place, given the name of the element inside the structure definition.",
        13: "tlv_der_coding encodes a whole ASN.1 structure with the Distinguished Encoding Rules "
            "and writes the octets into a caller's buffer.",
        14: "tlv_read_value reads the value of one element of an ASN.1 structure after decoding."}),
    "currency.pdf": dict(title="Typesetting Currency Symbols", pages=15, prefix="cu", words=300, special={
        3: "The official euro symbol is not provided by default in the text fonts; load the currency "
           "package to get it, in a sans serif, a serif and a monospaced shape.",
        4: "Every currency sign in the package has the width of a digit, so amounts line up in a table."}),
    "intro.pdf": dict(title="A Gentle Introduction to the Drafting Language", pages=13, prefix="in",
                      words=300, special={
        1: "This introduction shows how to draw your first picture: a square, a label and an arrow."}),
}


def fact(name, page):
    """The sentence only page `page` of manual `name` has."""
    m = MANUALS[name]
    if page in m["special"]:
        return m["special"][page]
    title = m["title"].split(":")[0]
    action = ACTIONS[(page * 7 + len(name)) % len(ACTIONS)]
    return "%s, page %d: the %s command %s." % (title, page, command_name(m["prefix"], page), action)


def page_text(name, page):
    """Everything page `page` of manual `name` shows, paragraphs separated by
    blank lines (before line wrapping)."""
    m = MANUALS[name]
    # the fact sits in the middle of the page, at least 130 words (so more
    # than a chunk's 100 tokens) from either end: every chunk that holds it
    # is of this page only
    before = filler("%s:%d" % (name, page), 130)
    after = filler("%s:%d:after" % (name, page), max(m["words"] - 130, 130))
    return "\n\n".join(["# %s - page %d" % (m["title"], page)] + before + [fact(name, page)] + after)


def _manual(folder, name):
    m = MANUALS[name]
    return make_pdf(os.path.join(folder, name), [page_text(name, p) for p in range(1, m["pages"] + 1)],
                    title=m["title"])


# ---------------------------------------------------------------------------
# Prose on distinct topics, for the semantic search (one topic per page)

PROSE = {
    "kitchen.pdf": ("Notes from a Home Kitchen", [
        """# Baking bread

Good bread asks for patience more than skill. Mix flour, water, salt and a spoonful of yeast, then
knead for ten minutes until it feels smooth and springy under your palm. Cover the bowl with a damp
towel and leave it somewhere warm. Yeast is a living thing: in a cold room it works slowly, and the
mixture may need three or four hours to double in size, while on a summer afternoon one hour is often
enough.

If the loaf comes out of the oven flat and heavy, the usual culprit is a rise that was cut short, or
yeast that was killed by water that was too hot. A baking stone or a cast iron pot helps the crust,
and a tray of boiling water on the lower shelf fills the oven with steam during the first minutes,
which lets the bread expand before the crust sets.""",
        """# Making stock

A pot of stock turns scraps into the base of a week of meals. Save onion skins, carrot peelings,
celery ends and parsley stalks in a bag in the freezer. When the bag is full, tip it into a large pot,
cover with cold water, add a few peppercorns and a bay leaf, and let it simmer gently for an hour.
Never let it bubble hard, or the liquid turns cloudy and bitter.

Strain it through a sieve lined with a clean cloth, let it cool, and keep it in jars in the
refrigerator for up to five days, or freeze it in small portions. A spoonful of miso or a splash of
soy sauce deepens the flavour of a vegetable stock that tastes thin.""",
    ]),
    "weather.pdf": ("A Field Guide to the Weather", [
        """# Thunderstorms

Thunderstorms grow when warm, moist air near the ground rises quickly into colder air above. As the
air climbs, its water vapour condenses into towering cumulonimbus clouds, and the heat released by
condensation pushes the updraft even higher. Inside the cloud, ice crystals and soft hail collide,
and the collisions separate electric charge: the top of the cloud becomes positive and the base
negative.

When the difference grows large enough, a lightning stroke jumps between the cloud and the ground,
heating a narrow channel of air to thirty thousand degrees. The air expands so violently that it
makes the crack and rumble of thunder. Counting the seconds between the flash and the sound and
dividing by three gives the distance of the storm in kilometres.""",
        """# Fog

Fog is simply a cloud that touches the ground. On clear, calm nights the earth loses its warmth to
the sky, the air just above it cools, and once it reaches its dew point the moisture condenses into
tiny droplets that hang in the air. This radiation fog often fills river basins at dawn and burns off
as the sun warms the land.

Along coasts, advection fog forms when mild, damp air drifts over cold sea water; it can linger for
days and roll inland in the evening. Drivers should use dipped headlights, never full beam, because
the droplets scatter the light back into their eyes.""",
    ]),
    "money.pdf": ("Personal Finance Basics", [
        """# Saving for retirement

Saving for retirement rewards those who start early. Money placed in an account that pays interest
earns interest on its interest as well, so the balance grows faster every year. A person who sets
aside two hundred euros a month from the age of twenty-five will usually end up with far more than
someone who saves twice as much from forty-five, simply because the first sum has had twenty more
years to compound.

Low-cost index funds spread the savings across hundreds of companies, which limits the damage any
single failure can do. Fees matter more than they seem: a charge of one or two percent a year
quietly eats a large share of the final pension.""",
        """# Choosing a mortgage

Before signing a mortgage, work out what the monthly repayment would be if the rate rose by two or
three points, and make sure the household could still afford it. A fixed rate costs a little more at
first but protects the budget for years; a variable rate is cheaper until the central bank raises
its rates. A larger deposit lowers the amount borrowed and usually earns a better offer from the
lender.

Remember the costs that come on top of the price of the house: the notary, the land registry,
insurance, surveys and the removal van. Paying back a little extra each month, when the contract
allows it without a penalty, shortens the loan and saves thousands in interest.""",
    ]),
    "garden.pdf": ("The Vegetable Garden Year", [
        """# Growing tomatoes

Tomatoes love heat and sunshine. Sow the seeds indoors in early spring on a bright windowsill, and
move the young plants outside only when the nights stay above ten degrees. Plant them deep: roots
grow from the buried stem and make the plant sturdier.

Tie the main stem to a tall cane as it grows and pinch out the side shoots that appear where the
leaves join the stem, so the plant puts its energy into fruit rather than foliage. Water deeply twice
a week rather than a little every day; uneven watering makes the fruit split and causes the dark
patches at the bottom known as blossom end rot.""",
        """# Compost

A compost heap turns kitchen and garden waste into dark, crumbly soil. Mix green material, such as
grass clippings, vegetable peelings and coffee grounds, with brown material such as dry leaves,
straw and torn cardboard, in roughly equal amounts. The microbes that do the work need air and
moisture: turn the heap with a fork every few weeks and keep it as damp as a wrung-out sponge.

A heap that smells of rotten eggs is too wet and too green; one that does nothing is too dry or too
brown. Leave out meat, fish and dairy, which attract rats. After six months to a year the bottom of
the heap is ready to spread on the beds.""",
    ]),
}

# ---------------------------------------------------------------------------
# HTML and text

HTML = {
    "deflate.html": """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>How to use zlib streams</title>
<style>body { font-family: serif; }</style><script>var ignored = "script text is not content";</script>
</head><body>
<nav><a href="#a">Deflating</a> | <a href="#b">Inflating</a></nav>
<h1>How to use zlib's deflate and inflate streams</h1>
<p>The zlib library compresses data with the <em>deflate</em> method and restores it with
<em>inflate</em>. Both work on a stream: the caller hands the library a buffer of input and a buffer
for output, calls <code>deflate()</code> or <code>inflate()</code>, and repeats until all the input is
consumed and all the output is written.</p>
<h2 id="a">Deflating a file</h2>
<p>Initialise a <code>z_stream</code> structure with <code>deflateInit()</code> and a compression
level from 0 to 9. Read the file in chunks of sixteen kilobytes; for each chunk, call
<code>deflate()</code> with <code>Z_NO_FLUSH</code> until the output buffer is no longer filled, and
write what was produced. On the last chunk pass <code>Z_FINISH</code>, then release the stream with
<code>deflateEnd()</code>.</p>
<h2 id="b">Inflating it again</h2>
<p>The reverse direction mirrors the first: <code>inflateInit()</code>, then <code>inflate()</code>
until it returns <code>Z_STREAM_END</code>. A return of <code>Z_DATA_ERROR</code> means the
compressed data is corrupt; <code>Z_MEM_ERROR</code> means memory ran out. Always check the return
code of every call.</p>
<table><tr><th>level</th><th>speed</th><th>size</th></tr>
<tr><td>1</td><td>fastest</td><td>largest</td></tr><tr><td>9</td><td>slowest</td><td>smallest</td></tr></table>
</body></html>
""",
    "accounts.html": """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Users and groups</title></head><body>
<h1>Users and groups on a shared machine</h1>
<p>Every account has a numeric user id and belongs to one primary group. System accounts, such as the
one the mail server runs as, have ids below one thousand and no login shell; people get ids from one
thousand up.</p>
<ul><li>Add a person to a supplementary group to let them read the group's files.</li>
<li>Lock an account instead of deleting it when someone leaves: their files keep an owner.</li></ul>
<p>The password database and the group database are plain text files, one entry a line, fields
separated by colons.</p>
</body></html>
""",
}

TEXT = {
    "abacus-README.txt": """Abacus: a library for arbitrary precision arithmetic
====================================================

Abacus computes with signed integers, rational numbers and floating point
numbers of any size: the only limit is the memory of the machine. It is
written in C, with hand-tuned assembly for the inner loops on common
processors, and is meant for cryptography, computer algebra and research
that needs more digits than a machine word holds.

Building: ./configure && make && make check. The check step runs the
self-tests; do not skip it, since a miscompiled inner loop gives wrong
answers silently.

Abacus is free software; see the file COPYING for the terms.
""",
    "currency-notes.txt": """Notes on the currency fonts

The package provides the euro sign and the signs of other currencies in
shapes that match the text fonts: upright, slanted and bold. Load it in
the preamble and use the commands \\euro, \\pound and \\yen in running text.
Amounts in tables line up, because every sign has the width of a digit.
""",
    "heron-notes.md": """# Field notes: the grey heron

The grey heron stands motionless at the water's edge for minutes at a
time, then strikes at a fish with its long neck. It nests in colonies high
in the trees, and the same colony may be used for a century.

* Wingspan: up to two metres
* Food: fish, frogs, small mammals
""",
}


# ---------------------------------------------------------------------------
# The corpus folder

def _source_hash():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


_HASH = _source_hash()          # once: a test's documents all come from one version


def _cache_root():
    return os.environ.get("SLUICE_TEST_CORPUS") or os.path.join(ROOT, "build", "test-corpus")


def _build(folder):
    for sub in ("pdf", "html", "text"):
        os.makedirs(os.path.join(folder, sub))
    for name in MANUALS:
        _manual(os.path.join(folder, "pdf"), name)
    for name, (title, pages) in PROSE.items():
        make_pdf(os.path.join(folder, "pdf", name), pages, title=title)
    for name, body in HTML.items():
        with open(os.path.join(folder, "html", name), "w") as f:
            f.write(body)
    for name, body in TEXT.items():
        with open(os.path.join(folder, "text", name), "w") as f:
            f.write(body)
    with open(os.path.join(folder, "README"), "w") as f:
        f.write("Generated by tests/corpus.py; delete freely, it is rebuilt on demand.\n")


def _prune(root, age_s=3600):
    """Remove the caches of other versions of this file, built over an hour ago."""
    try:
        names = os.listdir(root)
    except OSError:
        return
    for n in names:
        d = os.path.join(root, n)
        try:
            if n != _HASH and os.path.isdir(d) and os.path.getmtime(d) < time.time() - age_s:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass


def _cached(name, build):
    """<cache>/<hash>/<name>, built by build(tmp_path) once: written under a
    temporary name and renamed into place (a parallel builder's copy wins)."""
    base = os.path.join(_cache_root(), _HASH)
    path = os.path.join(base, name)
    if os.path.exists(path):
        return path
    if not os.path.isdir(base):
        _prune(_cache_root())
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=base)
    try:
        built = os.path.join(tmp, "x")
        build(built)
        try:
            os.rename(built, path)
        except OSError:
            if not os.path.exists(path):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def corpus_dir():
    """The folder of generated documents: pdf/ (the MANUALS and PROSE PDFs),
    html/ and text/. Built on first use, then cached."""
    return _cached("corpus", _build)


def big_pdf(pages=1000, distinct=None, figure=0):
    """A manual of `pages` pages (about 2.6 KB of text each), cached. With
    `distinct`, its first `distinct` pages are repeated to make up the rest
    (like copies of one manual merged: the embedding cache then makes the
    copies cheap to embed, which keeps crash tests on the pretrained
    encoder short); without it every page is different. `figure` strokes on
    every page make it slower to parse (see make_pdf)."""
    distinct = distinct or pages

    def build(path):
        os.makedirs(path)
        text = []
        for p in range(1, distinct + 1):
            body = filler("big:%d" % p, 380)
            text.append("\n\n".join(["# Big Manual - page %d" % p, body[0],
                                     "Big Manual, page %d: the %s command %s." % (
                                         p, command_name("bg", p), ACTIONS[p % len(ACTIONS)])] + body[1:]))
        text = [text[i % distinct] for i in range(pages)]
        make_pdf(os.path.join(path, "big.pdf"), text, title="Big Manual (%d pages)" % pages, figure=figure)
    return os.path.join(_cached("big-%d-%d-%d" % (pages, distinct, figure), build), "big.pdf")


def small_pdfs(out, count, pages=2):
    """`count` distinct PDFs of `pages` pages each in folder `out` (made
    here, not cached: a few milliseconds each); returns their paths."""
    os.makedirs(out, exist_ok=True)
    paths = []
    for i in range(count):
        text = []
        for p in range(1, pages + 1):
            body = filler("small:%d:%d" % (i, p), 300)
            text.append("\n\n".join(["# Leaflet %d - page %d" % (i + 1, p), body[0],
                                     "Leaflet %d, page %d: the %s command %s." % (
                                         i + 1, p, command_name("lf", i * pages + p), ACTIONS[(i + p) % len(ACTIONS)])]
                                    + body[1:]))
        paths.append(make_pdf(os.path.join(out, "leaflet-%03d.pdf" % (i + 1)), text, title="Leaflet %d" % (i + 1)))
    return paths


def check():
    """Self-check (ctest corpus_generated): the corpus is deterministic and
    MuPDF's own mutool reads back, on the right page, what this module says
    is there."""
    import subprocess
    folder = corpus_dir()
    tmp = tempfile.mkdtemp(prefix="sluice-corpus-check-")
    try:
        again = os.path.join(tmp, "again")
        _build(again)
        for sub in ("pdf", "html", "text"):
            for name in sorted(os.listdir(os.path.join(folder, sub))):
                with open(os.path.join(folder, sub, name), "rb") as a, open(os.path.join(again, sub, name), "rb") as b:
                    assert a.read() == b.read(), "%s/%s differs between two builds" % (sub, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    def mutool_text(path, page):
        out = subprocess.run(["mutool", "draw", "-F", "txt", "-o", "-", path, str(page)],
                             capture_output=True, check=True).stdout.decode("utf-8", "replace")
        return " ".join(out.split())

    checked = 0
    for name, m in MANUALS.items():
        path = os.path.join(folder, "pdf", name)
        info = subprocess.run(["mutool", "info", path], capture_output=True, text=True, check=True).stdout
        pages = int(re.search(r"Pages:\s*(\d+)", info).group(1))
        assert pages == m["pages"], (name, pages)
        for page in sorted({1, 2, pages // 2, pages} | set(m["special"])):
            text = mutool_text(path, page)
            assert " ".join(fact(name, page).split()) in text, (name, page, fact(name, page), text[:300])
            for other in (page - 1, page + 1):
                if 1 <= other <= pages:
                    assert " ".join(fact(name, page).split()) not in mutool_text(path, other), (name, page, other)
            checked += 1
    for name, (title, texts) in PROSE.items():
        path = os.path.join(folder, "pdf", name)
        for page, body in enumerate(texts, 1):
            sentence = " ".join(body.split("\n\n")[1].split()[:12])
            assert sentence in mutool_text(path, page), (name, page, sentence)
            checked += 1
    big = big_pdf(120, distinct=50)
    assert mutool_text(big, 51) == mutool_text(big, 1) and mutool_text(big, 52) != mutool_text(big, 1)
    assert mutool_text(big_pdf(120, distinct=50, figure=100), 7) == mutool_text(big, 7)   # a figure adds no text
    tmp = tempfile.mkdtemp(prefix="sluice-corpus-check-")
    try:
        small = small_pdfs(tmp, 5)
        assert len(set(open(p, "rb").read() for p in small)) == 5
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("corpus %s: deterministic; %d pages read back by mutool on the right page" % (folder, checked))


if __name__ == "__main__":
    import sys
    if sys.argv[1:] == ["--check"]:
        check()
    else:
        print(corpus_dir())
