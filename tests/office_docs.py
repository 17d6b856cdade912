"""office_docs: Office and OpenDocument files made by the tests themselves.

DOCX with Debian's python3-docx, XLSX with python3-openpyxl, ODT and ODS
with python3-odf; PPTX and ODP (no Debian writer) as zips of hand-written
XML, the minimum each format's reader needs. Every document carries known
words, headings and table cells (FACTS) so a test can search for them and
know which page they must come back from. Hostile containers (zip bomb,
billion laughs, deep nesting, encrypted OOXML, truncated zip) too.
Run with /usr/bin/python3.
"""
import io, os, zipfile

# word -> page it must be found on, per format
FACTS = {
    "docx": {"quokkatide": 1, "brindlemoss": 1, "vexillarium": 2},
    "xlsx": {"ferrowick": 1, "7341.25": 1, "glimmerfen": 2},
    "pptx": {"tanglethorn": 1, "marrowbell": 2, "saffrowind": 2},
    "odt": {"plinkerton": 1, "dusktallow": 1, "wobblecrest": 1},
    "ods": {"cindermoor": 1, "4417": 1, "hollowquill": 2},
    "odp": {"quibbleton": 1, "frostquay": 2, "lanternwold": 2},
}


def make_docx(path):
    import docx
    d = docx.Document()
    d.core_properties.title = "Quokka Handbook"
    d.add_heading("Installing the quokkatide", level=1)
    d.add_paragraph("Unpack the brindlemoss archive before you begin.")
    d.add_paragraph("first step of the list", style="List Bullet")
    d.add_paragraph("second step of the list", style="List Bullet")
    d.add_heading("Configuring the network", level=2)
    t = d.add_table(rows=3, cols=3)
    for r, row in enumerate([["Port", "Protocol", "Use"], ["8080", "HTTP", "edge"], ["5555", "ZMTP", "broker"]]):
        for c, v in enumerate(row):
            t.cell(r, c).text = v
    d.add_page_break()
    d.add_paragraph("The second page mentions vexillarium only.")
    d.save(path)


def make_xlsx(path):
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Prices"
    ws.append(["Item", "Price", "Note"])
    ws.append(["ferrowick", 7341.25, "in stock"])
    ws.append(["gasket", 12, "sold out"])
    ws2 = wb.create_sheet("Suppliers")
    ws2.append(["Name", "City"])
    ws2.append(["glimmerfen", "Leeds"])
    wb.properties.title = "Price List"
    wb.save(path)


def make_odt(path):
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P, List, ListItem
    from odf.table import Table, TableColumn, TableRow, TableCell
    doc = OpenDocumentText()
    doc.text.addElement(H(outlinelevel=1, text="About plinkerton"))
    doc.text.addElement(P(text="The dusktallow paragraph is body text."))
    lst = List()
    for s in ("alpha item", "beta item"):
        li = ListItem()
        li.addElement(P(text=s))
        lst.addElement(li)
    doc.text.addElement(lst)
    t = Table(name="T1")
    t.addElement(TableColumn(numbercolumnsrepeated=2))
    for row in (["Key", "Value"], ["colour", "wobblecrest"]):
        tr = TableRow()
        for v in row:
            tc = TableCell()
            tc.addElement(P(text=v))
            tr.addElement(tc)
        t.addElement(tr)
    doc.text.addElement(t)
    doc.save(path)


def make_ods(path):
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableRow, TableCell
    from odf.text import P
    doc = OpenDocumentSpreadsheet()
    for name, rows in (("Stock", [["Part", "Count"], ["cindermoor", "4417"]]),
                       ("People", [["Who", "Role"], ["hollowquill", "lead"]])):
        t = Table(name=name)
        for row in rows:
            tr = TableRow()
            for v in row:
                tc = TableCell()
                tc.addElement(P(text=v))
                tr.addElement(tc)
            t.addElement(tr)
        # what spreadsheets write after the data: a million empty rows
        tr = TableRow(numberrowsrepeated=1048000)
        tr.addElement(TableCell(numbercolumnsrepeated=1024))
        t.addElement(tr)
        doc.spreadsheet.addElement(t)
    doc.save(path)


# ---------------------------------------------------------------------------
# PPTX and ODP by hand

P_NS = ('xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" '
        'xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"')
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _sp(ph, paras):
    ph_xml = '<p:nvPr><p:ph type="%s"/></p:nvPr>' % ph if ph else "<p:nvPr/>"
    ps = "".join('<a:p><a:r><a:t>%s</a:t></a:r></a:p>' % t for t in paras)
    return ('<p:sp><p:nvSpPr><p:cNvPr id="2" name="s"/><p:cNvSpPr/>%s</p:nvSpPr><p:spPr/>'
            '<p:txBody><a:bodyPr/>%s</p:txBody></p:sp>' % (ph_xml, ps))


def _table(rows):
    trs = "".join("<a:tr>%s</a:tr>" % "".join(
        '<a:tc><a:txBody><a:bodyPr/><a:p><a:r><a:t>%s</a:t></a:r></a:p></a:txBody></a:tc>' % c for c in row)
        for row in rows)
    return ('<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="4" name="t"/><p:cNvGraphicFramePr/><p:nvPr/>'
            '</p:nvGraphicFramePr><p:xfrm/><a:graphic><a:graphicData><a:tbl>%s</a:tbl></a:graphicData>'
            '</a:graphic></p:graphicFrame>' % trs)


def make_pptx(path, slides=None):
    """slides: [(title, [body lines], table rows or None, notes or None)] in
    presentation order. Part names are deliberately out of order (slide 1 of
    the show is slide2.xml) so the reader must follow sldIdLst."""
    slides = slides or [
        ("Welcome to tanglethorn", ["An opening slide."], None, None),
        ("Second slide", ["The marrowbell rings twice."], [["Col", "Val"], ["x", "42"]],
         "Speaker says saffrowind here."),
    ]
    z = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)
    ct = ['<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">',
          '<Default Extension="xml" ContentType="application/xml"/>',
          '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>',
          '<Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml"/>']
    n = len(slides)
    names = ["slide%d.xml" % (n - i) for i in range(n)]     # reversed part names
    for name in names:
        ct.append('<Override PartName="/ppt/slides/%s" ContentType="application/vnd.openxmlformats-officedocument.presentationml.slide+xml"/>' % name)
    ct.append("</Types>")
    z.writestr("[Content_Types].xml", "".join(ct))
    z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
               '<Relationship Id="rId1" Type="%s/officeDocument" Target="ppt/presentation.xml"/></Relationships>' % REL)
    ids = "".join('<p:sldId id="%d" r:id="rId%d"/>' % (256 + i, 10 + i) for i in range(n))
    z.writestr("ppt/presentation.xml", '<?xml version="1.0"?><p:presentation %s><p:sldIdLst>%s</p:sldIdLst></p:presentation>' % (P_NS, ids))
    rels = "".join('<Relationship Id="rId%d" Type="%s/slide" Target="slides/%s"/>' % (10 + i, REL, names [i]) for i in range(n))
    z.writestr("ppt/_rels/presentation.xml.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">%s</Relationships>' % rels)
    for i, (title, body, table, notes) in enumerate(slides):
        tree = _sp("title", [title]) + _sp(None, body) + (_table(table) if table else "")
        z.writestr("ppt/slides/" + names [i], '<?xml version="1.0"?><p:sld %s><p:cSld><p:spTree>%s</p:spTree></p:cSld></p:sld>' % (P_NS, tree))
        if notes:
            z.writestr("ppt/slides/_rels/%s.rels" % names [i], '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                       '<Relationship Id="rId1" Type="%s/notesSlide" Target="../notesSlides/notesSlide%d.xml"/></Relationships>' % (REL, i + 1))
            z.writestr("ppt/notesSlides/notesSlide%d.xml" % (i + 1), '<?xml version="1.0"?><p:notes %s><p:cSld><p:spTree>%s%s</p:spTree></p:cSld></p:notes>'
                       % (P_NS, _sp("sldImg", []), _sp("body", [notes])))
    z.close()


ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
          'xmlns:dc="http://purl.org/dc/elements/1.1/" '
          'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" office:version="1.2"')


def _odf_zip(path, mime, body, meta_title=None):
    z = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)
    z.writestr(zipfile.ZipInfo("mimetype"), mime)           # stored, first, as the spec wants
    z.writestr("META-INF/manifest.xml", '<?xml version="1.0"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
               '<manifest:file-entry manifest:full-path="/" manifest:media-type="%s"/>'
               '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/></manifest:manifest>' % mime)
    if meta_title:
        z.writestr("meta.xml", '<?xml version="1.0"?><office:document-meta %s><office:meta><dc:title>%s</dc:title></office:meta></office:document-meta>' % (ODF_NS, meta_title))
    z.writestr("content.xml", '<?xml version="1.0" encoding="UTF-8"?><office:document-content %s><office:body>%s</office:body></office:document-content>' % (ODF_NS, body))
    z.close()


def make_odp(path):
    def frame(cls, text):
        return ('<draw:frame presentation:class="%s"><draw:text-box><text:p>%s</text:p></draw:text-box></draw:frame>' % (cls, text))
    pages = ('<draw:page draw:name="one">%s%s</draw:page>' % (frame("title", "Hello quibbleton"), frame("outline", "First slide body.")) +
             '<draw:page draw:name="two">%s%s<presentation:notes><draw:page-thumbnail/>%s</presentation:notes></draw:page>'
             % (frame("title", "Second"), frame("outline", "The frostquay harbour."), frame("notes", "Remember lanternwold.")))
    _odf_zip(path, "application/vnd.oasis.opendocument.presentation", "<office:presentation>%s</office:presentation>" % pages, "Quibble deck")


def make_all(folder):
    """Every format into folder; returns {format: path}."""
    os.makedirs(folder, exist_ok=True)
    out = {}
    for fmt, make in (("docx", make_docx), ("xlsx", make_xlsx), ("pptx", make_pptx), ("odt", make_odt),
                      ("ods", make_ods), ("odp", make_odp)):
        out [fmt] = os.path.join(folder, "sample." + fmt)
        make(out [fmt])
    return out


# ---------------------------------------------------------------------------
# Hostile containers

def make_zip_bomb(path, mib=300):
    """A DOCX whose document.xml is a few hundred KiB of deflate that expands
    to mib MiB (whitespace between elements, as bombs are: no text, so no
    other ceiling than the container's stops it)."""
    z = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9)
    z.writestr("[Content_Types].xml", "<Types/>")
    z.writestr("_rels/.rels", '<Relationships><Relationship Id="rId1" Type="%s/officeDocument" '
               'Target="word/document.xml"/></Relationships>' % REL)
    chunk = b" " * (1 << 20)
    with z.open("word/document.xml", "w") as f:
        f.write(b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>')
        for _ in range(mib):
            f.write(chunk)
        f.write(b"</w:body></w:document>")
    z.close()


def make_billion_laughs(path):
    """An ODT whose content.xml declares the classic nested entities."""
    ents = '<!ENTITY lol "lol">' + "".join('<!ENTITY lol%d "%s">' % (i, ("&lol%s;" % ("" if i == 1 else i - 1)) * 10) for i in range(1, 10))
    body = '<?xml version="1.0"?><!DOCTYPE lolz [%s]><office:document-content %s><office:body><office:text><text:p>&lol9;</text:p></office:text></office:body></office:document-content>' % (ents, ODF_NS)
    z = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)
    z.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.text")
    z.writestr("content.xml", body)
    z.close()


def make_deep_lists(path, depth=10000):
    """An ODT with depth nested lists."""
    inner = "<text:list><text:list-item>" * depth + "<text:p>deep</text:p>" + "</text:list-item></text:list>" * depth
    _odf_zip(path, "application/vnd.oasis.opendocument.text", "<office:text>%s</office:text>" % inner)


def make_encrypted_ooxml(path):
    """What Word writes for a password-protected DOCX: an OLE compound file
    (CFB header, then sectors), not a zip."""
    head = b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1" + b"\0" * 16 + b"\x3E\x00\x03\x00\xFE\xFF\x09\x00"
    with open(path, "wb") as f:
        f.write(head + b"\0" * (4096 - len(head)) + "EncryptionInfo".encode("utf-16-le") + b"\0" * 4096)


def make_truncated(path):
    """A real DOCX cut in half."""
    buf = io.BytesIO()
    make_docx(buf)
    data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(data [: len(data) // 2])


def make_many_entries(path, count=100000):
    z = zipfile.ZipFile(path, "w", zipfile.ZIP_STORED)
    z.writestr("[Content_Types].xml", "<Types/>")
    z.writestr("word/document.xml", "<w:document/>")
    for i in range(count):
        z.writestr("word/media/e%d" % i, "")
    z.close()


# ---------------------------------------------------------------------------
# Larger documents for bench/office.sh

def _words(rng, n):
    vocab = ("network broker actor parse chunk embed store queue page table heading section document "
             "install configure restart worker memory limit deadline archive sheet slide notes column row "
             "value header footer paragraph citation index vector search answer question manual guide").split()
    return " ".join(rng.choice(vocab) + (str(rng.randrange(1000)) if rng.random() < 0.1 else "") for _ in range(n))


def make_big_docx(path, sections=150, seed=1):
    """sections x (heading, 4 paragraphs, a list, a 6x4 table): about 100
    pages of text."""
    import docx, random
    rng = random.Random(seed)
    d = docx.Document()
    for s in range(sections):
        d.add_heading("Section %d %s" % (s, _words(rng, 3)), level=1 + s % 2)
        for _ in range(4):
            d.add_paragraph(_words(rng, 60))
        for _ in range(3):
            d.add_paragraph(_words(rng, 6), style="List Bullet")
        t = d.add_table(rows=6, cols=4)
        for r in range(6):
            for c in range(4):
                t.cell(r, c).text = _words(rng, 2)
    d.save(path)


def make_big_xlsx(path, rows=20000, cols=8, seed=1):
    """One sheet of rows x cols: words, integers and decimals."""
    import openpyxl, random
    rng = random.Random(seed)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("Data")
    ws.append(["col%d" % c for c in range(cols)])
    for r in range(rows):
        ws.append([_words(rng, 2) if c % 3 == 0 else rng.randrange(100000) if c % 3 == 1
                   else round(rng.random() * 1000, 2) for c in range(cols)])
    wb.save(path)
