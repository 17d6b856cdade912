/*  sl_parse_xml: hardened streaming XML over a zip entry. See
    sl_parse_xml.h for the configuration and why.

    libxml2's SAX2 push parser is fed one block of the entry at a time;
    its callbacks append events (a start with its local name and
    attributes, an end, text) to a queue whose strings live in one
    reusable arena, and sl_parse_xml_next pops them. When the queue is
    empty the arena is reset and the next block is fed, so memory holds
    one block's events. Text that ends a block is held back until the
    next event (or the end of the part) shows it is complete, so adjacent
    character data always arrives as one TEXT node.
*/
#include "sl_parse_xml.h"
#include "sl_util.h"

#include <assert.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Events between two looks at the clock
#define S_CLOCK_EVERY 256
//  Bytes of the entry fed to the parser at a time
#define S_BLOCK (64 * 1024)
//  One text node may not grow beyond libxml2's own limit without
//  XML_PARSE_HUGE (the reader refused the same)
#define S_MAX_TEXT XML_MAX_TEXT_LENGTH
#define S_NONE UINT32_MAX

typedef struct {
    uint32_t type;              //  sl_xml_node_t
    uint32_t name;              //  arena offset of the local name (START, END)
    uint32_t text;              //  arena offset of the text (TEXT)
    uint32_t len;               //  its length
    uint32_t attr;              //  index of the first attribute (START)
    uint32_t nattr;             //  attributes
} s_event_t;

typedef struct {
    uint32_t local;             //  arena offsets
    uint32_t uri;               //  S_NONE without a namespace
    uint32_t value;
} s_attr_t;

struct _sl_parse_xml_t {
    sl_parse_zip_t *zip;
    xmlParserCtxtPtr ctxt;      //  NULL until the first block
    char name [256];            //  the entry, for messages
    char *block;                //  S_BLOCK bytes read from the entry
    char *arena;                //  strings of the queued events
    size_t arena_size, arena_cap;
    s_event_t *events;          //  the queue
    size_t count, head, events_cap;
    s_attr_t *attrs;            //  attributes of the queued starts
    size_t attrs_count, attrs_cap;
    const s_event_t *current;   //  the node the caller is on
    int depth;                  //  open elements
    bool eof;                   //  the parser saw the end of the entry
    unsigned nodes;             //  events delivered
    unsigned made;              //  events queued
    char error [512];
};

static void s_copy (char *out, size_t cap, const char *src);

static pthread_once_t s_init_once = PTHREAD_ONCE_INIT;

static void
s_init (void)
{
    //  libxml2 must be initialised once before threads use it
    xmlInitParser ();
}

//  Record the first failure (later ones are consequences of it)
static void
s_fail (sl_parse_xml_t *self, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_fail (sl_parse_xml_t *self, const char *fmt, ...)
{
    if (self->error [0])
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, ap);
    va_end (ap);
}

//  Fail and stop the parser: no callback runs after this one
static void
s_stop (sl_parse_xml_t *self)
{
    if (self->ctxt)
        xmlStopParser (self->ctxt);
}

static int
s_line (sl_parse_xml_t *self)
{
    return self->ctxt && self->ctxt->input ? self->ctxt->input->line : 0;
}

static void
s_on_error (void *arg, xmlErrorPtr error)
{
    sl_parse_xml_t *self = arg;
    if (!error || error->level < XML_ERR_ERROR || error->domain == XML_FROM_NAMESPACE)
        return;                 //  warnings and undeclared prefixes do not stop the read
    //  libxml2 messages end in a newline
    char message [256];
    s_copy (message, sizeof message, error->message ? error->message : "error");
    size_t n = strlen (message);
    while (n && (message [n - 1] == '\n' || message [n - 1] == ' '))
        message [--n] = 0;
    if (strstr (message, "ntity"))
        s_fail (self, "%s: XML entity expansion refused: %s (line %d)", self->name, message, error->line);
    else
        s_fail (self, "malformed XML in %s: %s (line %d)", self->name, message, error->line);
}

//  Room for n more bytes in the arena
static bool
s_reserve (sl_parse_xml_t *self, size_t n)
{
    if (self->arena_size + n <= self->arena_cap)
        return true;
    size_t cap = self->arena_cap ? self->arena_cap : 64 * 1024;
    while (cap < self->arena_size + n)
        cap *= 2;
    if (cap >= S_NONE) {
        s_fail (self, "malformed XML in %s: too much data in one block (line %d)", self->name, s_line (self));
        s_stop (self);
        return false;
    }
    char *arena = realloc (self->arena, cap);
    assert (arena);
    self->arena = arena;
    self->arena_cap = cap;
    return true;
}

//  Copy a string of n bytes into the arena; returns its offset
static uint32_t
s_intern (sl_parse_xml_t *self, const char *s, size_t n)
{
    if (!s_reserve (self, n + 1))
        return S_NONE;
    uint32_t at = (uint32_t) self->arena_size;
    memcpy (self->arena + at, s, n);
    self->arena [at + n] = 0;
    self->arena_size += n + 1;
    return at;
}

//  An attribute value. Without entity substitution libxml2 hands SAX an
//  ampersand (from &amp; or &#38;) as "&#38;", for a tree builder to
//  decode; a literal "&#38;" would have come as "&#38;#38;", so turning
//  each "&#38;" back into "&" is exact.
static uint32_t
s_intern_value (sl_parse_xml_t *self, const char *s, size_t n)
{
    if (!memchr (s, '&', n))
        return s_intern (self, s, n);
    if (!s_reserve (self, n + 1))
        return S_NONE;
    uint32_t at = (uint32_t) self->arena_size;
    char *out = self->arena + at;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s [i] == '&' && n - i >= 5 && memcmp (s + i, "&#38;", 5) == 0) {
            out [k++] = '&';
            i += 4;
        }
        else
            out [k++] = s [i];
    }
    out [k] = 0;
    self->arena_size += k + 1;
    return at;
}

static s_event_t *
s_push (sl_parse_xml_t *self, sl_xml_node_t type)
{
    if (self->count == self->events_cap) {
        size_t cap = self->events_cap ? self->events_cap * 2 : 1024;
        s_event_t *events = realloc (self->events, cap * sizeof *events);
        assert (events);
        self->events = events;
        self->events_cap = cap;
    }
    s_event_t *event = &self->events [self->count++];
    memset (event, 0, sizeof *event);
    event->type = type;
    if (++self->made % S_CLOCK_EVERY == 0 && sl_parse_zip_tick (self->zip))
        s_stop (self);
    return event;
}

static void
s_on_start (void *arg, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
            int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
            const xmlChar **attributes)
{
    (void) prefix, (void) uri, (void) nb_namespaces, (void) namespaces, (void) nb_defaulted;
    sl_parse_xml_t *self = arg;
    if (self->error [0])
        return;
    if (self->depth >= SL_XML_MAX_DEPTH) {
        s_fail (self, "%s nests elements deeper than %d levels: refused", self->name, SL_XML_MAX_DEPTH);
        s_stop (self);
        return;
    }
    self->depth++;
    uint32_t name = s_intern (self, (const char *) localname, strlen ((const char *) localname));
    if (self->attrs_count + (size_t) nb_attributes > self->attrs_cap) {
        size_t cap = self->attrs_cap ? self->attrs_cap : 256;
        while (cap < self->attrs_count + (size_t) nb_attributes)
            cap *= 2;
        s_attr_t *attrs = realloc (self->attrs, cap * sizeof *attrs);
        assert (attrs);
        self->attrs = attrs;
        self->attrs_cap = cap;
    }
    uint32_t first = (uint32_t) self->attrs_count;
    //  Five pointers an attribute: local name, prefix, URI, value, value end
    for (int i = 0; i < nb_attributes; i++) {
        const xmlChar **a = attributes + 5 * i;
        s_attr_t *attr = &self->attrs [self->attrs_count++];
        attr->local = s_intern (self, (const char *) a [0], strlen ((const char *) a [0]));
        attr->uri = a [2] ? s_intern (self, (const char *) a [2], strlen ((const char *) a [2])) : S_NONE;
        attr->value = s_intern_value (self, (const char *) a [3], (size_t) (a [4] - a [3]));
    }
    if (self->error [0])
        return;
    s_event_t *event = s_push (self, SL_XML_START);
    event->name = name;
    event->attr = first;
    event->nattr = (uint32_t) nb_attributes;
}

static void
s_on_end (void *arg, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    (void) prefix, (void) uri;
    sl_parse_xml_t *self = arg;
    if (self->error [0])
        return;
    self->depth--;
    uint32_t name = s_intern (self, (const char *) localname, strlen ((const char *) localname));
    if (self->error [0])
        return;
    s_push (self, SL_XML_END)->name = name;
}

//  Character data, CDATA and whitespace: appended to the text that ends
//  the queue (always the last thing in the arena), else a new TEXT
static void
s_on_text (void *arg, const xmlChar *chars, int len)
{
    sl_parse_xml_t *self = arg;
    if (self->error [0] || len <= 0)
        return;
    s_event_t *last = self->count ? &self->events [self->count - 1] : NULL;
    if (last && last->type == SL_XML_TEXT) {
        if ((size_t) last->len + (size_t) len > S_MAX_TEXT) {
            s_fail (self, "malformed XML in %s: huge text node (line %d)", self->name, s_line (self));
            s_stop (self);
            return;
        }
        if (!s_reserve (self, (size_t) len))
            return;
        assert (last->text + last->len + 1 == self->arena_size);
        memcpy (self->arena + last->text + last->len, chars, (size_t) len);
        last->len += (uint32_t) len;
        self->arena [last->text + last->len] = 0;
        self->arena_size += (size_t) len;
        return;
    }
    uint32_t text = s_intern (self, (const char *) chars, (size_t) len);
    if (self->error [0])
        return;
    s_event_t *event = s_push (self, SL_XML_TEXT);
    event->text = text;
    event->len = (uint32_t) len;
}

static void
s_on_doctype (void *arg, const xmlChar *name, const xmlChar *external_id, const xmlChar *system_id)
{
    (void) name, (void) external_id, (void) system_id;
    sl_parse_xml_t *self = arg;
    s_fail (self, "%s has a document type declaration, which Office and OpenDocument "
            "parts never do: refused (entity expansion attack)", self->name);
    s_stop (self);
}

static void
s_on_entity_decl (void *arg, const xmlChar *name, int type, const xmlChar *public_id,
                  const xmlChar *system_id, xmlChar *content)
{
    (void) name, (void) type, (void) public_id, (void) system_id, (void) content;
    sl_parse_xml_t *self = arg;
    s_fail (self, "%s uses an XML entity: refused (entity expansion attack)", self->name);
    s_stop (self);
}

static void
s_on_reference (void *arg, const xmlChar *name)
{
    s_on_entity_decl (arg, name, 0, NULL, NULL, NULL);
}

//  Never load anything: no external DTD, entity or network
static xmlParserInputPtr
s_on_resolve (void *arg, const xmlChar *public_id, const xmlChar *system_id)
{
    (void) public_id, (void) system_id;
    sl_parse_xml_t *self = arg;
    s_fail (self, "%s uses an XML entity: refused (entity expansion attack)", self->name);
    s_stop (self);
    return NULL;
}

sl_parse_xml_t *
sl_parse_xml_new (sl_parse_zip_t *zip, const char *name, char *err, size_t errlen)
{
    pthread_once (&s_init_once, s_init);
    if (sl_parse_zip_open (zip, name)) {
        snprintf (err, errlen, "%s", sl_parse_zip_error (zip));
        return NULL;
    }
    sl_parse_xml_t *self = calloc (1, sizeof *self);
    assert (self);
    self->zip = zip;
    snprintf (self->name, sizeof self->name, "%s", name);
    self->block = malloc (S_BLOCK);
    assert (self->block);
    return self;
}

void
sl_parse_xml_destroy (sl_parse_xml_t **self_p)
{
    assert (self_p);
    sl_parse_xml_t *self = *self_p;
    if (!self)
        return;
    if (self->ctxt) {
        if (self->ctxt->myDoc)
            xmlFreeDoc (self->ctxt->myDoc);
        xmlFreeParserCtxt (self->ctxt);
    }
    sl_parse_zip_close (self->zip);
    free (self->block);
    free (self->arena);
    free (self->events);
    free (self->attrs);
    free (self);
    *self_p = NULL;
}

//  Copy src into out (capacity cap > 0), cut to fit. Not snprintf: this
//  runs for every attribute, and printf costs a tenth of a parse.
static void
s_copy (char *out, size_t cap, const char *src)
{
    size_t n = src ? strlen (src) : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy (out, src ? src : "", n);
    out [n] = 0;
}

//  A failure from the zip (a ceiling, the deadline) explains more than
//  libxml2's "read error" that follows it.
static int
s_failed (sl_parse_xml_t *self)
{
    if (sl_parse_zip_error (self->zip) [0] && sl_parse_zip_refused (self->zip))
        snprintf (self->error, sizeof self->error, "%s", sl_parse_zip_error (self->zip));
    else
    if (sl_parse_zip_error (self->zip) [0] && !self->error [0])
        snprintf (self->error, sizeof self->error, "%s", sl_parse_zip_error (self->zip));
    else
    if (!self->error [0])
        snprintf (self->error, sizeof self->error, "malformed XML in %s", self->name);
    return -1;
}

//  Create the parser on the first bytes, so it can tell the encoding
static int
s_create (sl_parse_xml_t *self, const char *chunk, int size)
{
    xmlSAXHandler sax;
    memset (&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = s_on_start;
    sax.endElementNs = s_on_end;
    sax.characters = s_on_text;
    sax.cdataBlock = s_on_text;
    sax.ignorableWhitespace = s_on_text;
    sax.internalSubset = s_on_doctype;
    sax.externalSubset = s_on_doctype;
    sax.entityDecl = s_on_entity_decl;
    sax.reference = s_on_reference;
    sax.resolveEntity = s_on_resolve;
    sax.serror = s_on_error;
    self->ctxt = xmlCreatePushParserCtxt (&sax, self, chunk, size, self->name);
    if (!self->ctxt) {
        s_fail (self, "cannot read %s: out of memory", self->name);
        return -1;
    }
    //  No NOENT, DTDLOAD, DTDATTR or HUGE: see the header
    xmlCtxtUseOptions (self->ctxt, XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    return 0;
}

//  Read the next block of the entry and feed it to the parser
static int
s_feed (sl_parse_xml_t *self)
{
    int n = sl_parse_zip_read (self->zip, self->block, S_BLOCK);
    if (n < 0)
        return -1;
    int skip = 0;
    if (!self->ctxt) {
        skip = n < 4 ? n : 4;
        if (s_create (self, self->block, skip))
            return -1;
    }
    if (n == 0) {
        self->eof = true;
        xmlParseChunk (self->ctxt, NULL, 0, 1);
    }
    else
        xmlParseChunk (self->ctxt, self->block + skip, n - skip, 0);
    if (self->error [0] || !self->ctxt->wellFormed || self->ctxt->disableSAX
    ||  sl_parse_zip_refused (self->zip))
        return -1;
    return 0;
}

int
sl_parse_xml_next (sl_parse_xml_t *self)
{
    while (true) {
        if (self->error [0])
            return s_failed (self);
        if (self->head < self->count) {
            s_event_t *event = &self->events [self->head];
            if (event->type == SL_XML_TEXT && self->head + 1 == self->count && !self->eof) {
                //  Text that ends the queue may go on in the next block:
                //  keep it alone at the start of the arena and read on
                s_event_t text = *event;
                if (text.text)
                    memmove (self->arena, self->arena + text.text, text.len + 1);
                text.text = 0;
                self->arena_size = text.len + 1;
                self->events [0] = text;
                self->count = 1;
                self->head = 0;
                self->attrs_count = 0;
                if (s_feed (self))
                    return s_failed (self);
                continue;
            }
            self->head++;
            if (++self->nodes % S_CLOCK_EVERY == 0 && sl_parse_zip_tick (self->zip))
                return s_failed (self);
            self->current = event;
            return 1;
        }
        if (self->eof)
            return 0;
        self->count = self->head = 0;
        self->arena_size = 0;
        self->attrs_count = 0;
        self->current = NULL;
        if (s_feed (self))
            return s_failed (self);
    }
}

sl_xml_node_t
sl_parse_xml_type (sl_parse_xml_t *self)
{
    return self->current ? (sl_xml_node_t) self->current->type : SL_XML_TEXT;
}

const char *
sl_parse_xml_name (sl_parse_xml_t *self)
{
    if (!self->current || self->current->type == SL_XML_TEXT)
        return "";
    return self->arena + self->current->name;
}

const char *
sl_parse_xml_text (sl_parse_xml_t *self)
{
    if (!self->current || self->current->type != SL_XML_TEXT)
        return "";
    return self->arena + self->current->text;
}

static bool
s_attr (sl_parse_xml_t *self, const char *local, const char *ns, char *out, size_t cap)
{
    if (cap)
        out [0] = 0;
    const s_event_t *event = self->current;
    if (!event || event->type != SL_XML_START)
        return false;
    for (uint32_t i = 0; i < event->nattr; i++) {
        const s_attr_t *attr = &self->attrs [event->attr + i];
        const char *uri = attr->uri == S_NONE ? NULL : self->arena + attr->uri;
        bool ns_ok = !ns || (*ns ? uri && strstr (uri, ns) : !uri);
        if (ns_ok && strcmp (self->arena + attr->local, local) == 0) {
            if (cap)
                s_copy (out, cap, self->arena + attr->value);
            return true;
        }
    }
    return false;
}

bool
sl_parse_xml_attr (sl_parse_xml_t *self, const char *local, char *out, size_t cap)
{
    return s_attr (self, local, NULL, out, cap);
}

bool
sl_parse_xml_attr_ns (sl_parse_xml_t *self, const char *local, const char *ns, char *out, size_t cap)
{
    return s_attr (self, local, ns, out, cap);
}

long
sl_parse_xml_attr_int (sl_parse_xml_t *self, const char *local, long dflt)
{
    char value [32];
    if (!sl_parse_xml_attr (self, local, value, sizeof value) || !*value)
        return dflt;
    char *end;
    long n = strtol (value, &end, 10);
    return *end ? dflt : n;
}

const char *
sl_parse_xml_error (sl_parse_xml_t *self)
{
    return self->error;
}
