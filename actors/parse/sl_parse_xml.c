/*  sl_parse_xml: hardened streaming XML over a zip entry. See
    sl_parse_xml.h for the configuration and why.
*/
#include "sl_parse_xml.h"
#include "sl_util.h"

#include <assert.h>
#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

//  Nodes between two looks at the clock
#define S_CLOCK_EVERY 256

struct _sl_parse_xml_t {
    sl_parse_zip_t *zip;
    xmlTextReaderPtr reader;
    char name [256];            //  the entry, for messages
    sl_xml_node_t type;
    bool pending_end;           //  an empty element's END comes next
    char element [128];         //  local name of the pending END
    unsigned nodes;
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

static int
s_read (void *arg, char *buf, int len)
{
    sl_parse_xml_t *self = arg;
    return sl_parse_zip_read (self->zip, buf, len);
}

static int
s_close (void *arg)
{
    (void) arg;
    return 0;
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
    //  No NOENT, DTDLOAD, DTDATTR or HUGE: see the header
    int options = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA
                | XML_PARSE_COMPACT;
    self->reader = xmlReaderForIO (s_read, s_close, self, name, NULL, options);
    if (!self->reader) {
        snprintf (err, errlen, "cannot read %s: out of memory", name);
        sl_parse_zip_close (zip);
        free (self);
        return NULL;
    }
    xmlTextReaderSetStructuredErrorHandler (self->reader, s_on_error, self);
    return self;
}

void
sl_parse_xml_destroy (sl_parse_xml_t **self_p)
{
    assert (self_p);
    sl_parse_xml_t *self = *self_p;
    if (!self)
        return;
    xmlFreeTextReader (self->reader);
    sl_parse_zip_close (self->zip);
    free (self);
    *self_p = NULL;
}

//  Copy src into out (capacity cap > 0), cut to fit. Not snprintf: this
//  runs for every node and attribute, and printf costs a tenth of a parse.
static void
s_copy (char *out, size_t cap, const char *src)
{
    size_t n = src ? strlen (src) : 0;
    if (n >= cap)
        n = cap - 1;
    memcpy (out, src ? src : "", n);
    out [n] = 0;
}

static void
s_copy_name (sl_parse_xml_t *self)
{
    s_copy (self->element, sizeof self->element,
            (const char *) xmlTextReaderConstLocalName (self->reader));
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

int
sl_parse_xml_next (sl_parse_xml_t *self)
{
    if (self->pending_end) {
        self->pending_end = false;
        self->type = SL_XML_END;
        return 1;
    }
    while (true) {
        if (self->error [0])
            return s_failed (self);
        int rc = xmlTextReaderRead (self->reader);
        if (rc < 0 || self->error [0] || sl_parse_zip_refused (self->zip))
            return s_failed (self);
        if (rc == 0)
            return 0;
        if (++self->nodes % S_CLOCK_EVERY == 0 && sl_parse_zip_tick (self->zip))
            return s_failed (self);
        int type = xmlTextReaderNodeType (self->reader);
        switch (type) {
            case XML_READER_TYPE_DOCUMENT_TYPE:
                s_fail (self, "%s has a document type declaration, which Office and OpenDocument "
                        "parts never do: refused (entity expansion attack)", self->name);
                return s_failed (self);
            case XML_READER_TYPE_ENTITY_REFERENCE:
            case XML_READER_TYPE_ENTITY:
                s_fail (self, "%s uses an XML entity: refused (entity expansion attack)", self->name);
                return s_failed (self);
            case XML_READER_TYPE_ELEMENT:
                if (xmlTextReaderDepth (self->reader) >= SL_XML_MAX_DEPTH) {
                    s_fail (self, "%s nests elements deeper than %d levels: refused", self->name,
                            SL_XML_MAX_DEPTH);
                    return s_failed (self);
                }
                s_copy_name (self);
                self->type = SL_XML_START;
                self->pending_end = xmlTextReaderIsEmptyElement (self->reader) == 1;
                return 1;
            case XML_READER_TYPE_END_ELEMENT:
                s_copy_name (self);
                self->type = SL_XML_END;
                return 1;
            case XML_READER_TYPE_TEXT:
            case XML_READER_TYPE_CDATA:
            case XML_READER_TYPE_WHITESPACE:
            case XML_READER_TYPE_SIGNIFICANT_WHITESPACE:
                self->type = SL_XML_TEXT;
                return 1;
            default:
                break;          //  comments, processing instructions
        }
    }
}

sl_xml_node_t
sl_parse_xml_type (sl_parse_xml_t *self)
{
    return self->type;
}

const char *
sl_parse_xml_name (sl_parse_xml_t *self)
{
    return self->type == SL_XML_TEXT ? "" : self->element;
}

const char *
sl_parse_xml_text (sl_parse_xml_t *self)
{
    if (self->type != SL_XML_TEXT)
        return "";
    const xmlChar *value = xmlTextReaderConstValue (self->reader);
    return value ? (const char *) value : "";
}

static bool
s_attr (sl_parse_xml_t *self, const char *local, const char *ns, char *out, size_t cap)
{
    if (cap)
        out [0] = 0;
    if (self->type != SL_XML_START)
        return false;
    bool found = false;
    if (xmlTextReaderMoveToFirstAttribute (self->reader) == 1) {
        do {
            const xmlChar *name = xmlTextReaderConstLocalName (self->reader);
            const xmlChar *uri = ns ? xmlTextReaderConstNamespaceUri (self->reader) : NULL;
            bool ns_ok = !ns || (*ns ? uri && strstr ((const char *) uri, ns) : !uri);
            if (name && ns_ok && strcmp ((const char *) name, local) == 0) {
                const xmlChar *value = xmlTextReaderConstValue (self->reader);
                if (cap)
                    s_copy (out, cap, (const char *) value);
                found = true;
                break;
            }
        } while (xmlTextReaderMoveToNextAttribute (self->reader) == 1);
        xmlTextReaderMoveToElement (self->reader);
    }
    return found;
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
