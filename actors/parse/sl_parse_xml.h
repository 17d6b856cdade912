/*  sl_parse_xml: a hardened streaming XML reader over one zip entry, for
    the Office and OpenDocument back-ends. Internal to parse.

    libxml2's SAX2 push parser is fed the entry a block (64 KiB) at a time
    as sl_parse_zip decompresses it; its callbacks queue the block's
    events and sl_parse_xml_next pops them, so memory holds one block's
    events however large the part, and no node tree is built (as
    xmlTextReader did). Every part is hostile, so the parser is
    configured and watched:

      - XML_PARSE_NONET (no network), no XML_PARSE_NOENT (entities are not
        substituted), no XML_PARSE_DTDLOAD (no external DTD), no
        XML_PARSE_HUGE (libxml2 keeps its own limits); nothing is ever
        resolved or loaded (the SAX entity resolver refuses);
      - a document type declaration is refused outright, at the SAX
        internal/external subset event, before its declarations are read:
        OOXML and OpenDocument parts never carry one, and a DTD is where
        entity expansion attacks (billion laughs) live; an entity
        declaration or reference (other than &amp; and the like) is
        refused too;
      - element nesting deeper than SL_XML_MAX_DEPTH is refused with a
        reason (10,000 nested lists); one text node longer than libxml2's
        XML_MAX_TEXT_LENGTH is refused;
      - the zip's ceilings and the deadline apply to every byte read, and
        the deadline is checked again every few hundred nodes (as they
        are parsed and as they are handed out);
      - libxml2 errors become reasons naming the part and the line; a
        failure is reported as soon as it is found (nodes already queued
        from that block are dropped), and is sticky.

    Callers see three kinds of node: an element start, an element end (an
    empty element <a/> gives both) and text. Adjacent character data,
    CDATA and whitespace are one TEXT node, also across blocks and across
    comments and processing instructions (which are skipped). Names are
    local names: prefixes vary between writers, local names do not.
    Attribute values are un-escaped; namespace declarations (xmlns:*) are
    not attributes. Strings returned are valid until the next call of
    sl_parse_xml_next.
*/
#ifndef SL_PARSE_XML_H_INCLUDED
#define SL_PARSE_XML_H_INCLUDED

#include "sl_parse_zip.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_XML_MAX_DEPTH 200

typedef struct _sl_parse_xml_t sl_parse_xml_t;

typedef enum { SL_XML_START, SL_XML_END, SL_XML_TEXT } sl_xml_node_t;

//  Start reading entry name of zip. Returns NULL with a reason in err if
//  the entry cannot be opened.
sl_parse_xml_t *sl_parse_xml_new (sl_parse_zip_t *zip, const char *name, char *err, size_t errlen);

//  Close the reader (and the zip entry) and null the pointer.
void sl_parse_xml_destroy (sl_parse_xml_t **self_p);

//  Move to the next node. Returns 1 on a node, 0 at the end of the part,
//  -1 on failure (reason in sl_parse_xml_error).
int sl_parse_xml_next (sl_parse_xml_t *self);

sl_xml_node_t sl_parse_xml_type (sl_parse_xml_t *self);

//  Local name of the element (START / END); "" for text.
const char *sl_parse_xml_name (sl_parse_xml_t *self);

//  Text of a TEXT node ("" otherwise).
const char *sl_parse_xml_text (sl_parse_xml_t *self);

//  Copy the value of the current START element's attribute whose local
//  name is local into out (capacity cap, cut to fit, NUL-terminated).
//  Returns false (out = "") if the element has no such attribute.
bool sl_parse_xml_attr (sl_parse_xml_t *self, const char *local, char *out, size_t cap);

//  The same for an attribute whose namespace URI contains ns ("" for an
//  attribute without namespace): sl_parse_xml_attr takes the first match
//  by local name, and <p:sldId id="256" r:id="rId2"/> has two "id"s.
bool sl_parse_xml_attr_ns (sl_parse_xml_t *self, const char *local, const char *ns,
                           char *out, size_t cap);

//  The attribute as an integer, or dflt if absent or not a number.
long sl_parse_xml_attr_int (sl_parse_xml_t *self, const char *local, long dflt);

//  The reason for the last failure.
const char *sl_parse_xml_error (sl_parse_xml_t *self);

#endif
