/*  sl_sitemap: sitemap.xml and sitemap indexes. See sl_sitemap.h. */
#include "sl_sitemap.h"

#include <assert.h>
#include <libxml/xmlreader.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_DEPTH 16
#define S_LOC_MAX 2048

typedef struct {
    char *loc;
    char lastmod [64];
} s_entry_t;

struct _sl_sitemap_t {
    bool index;
    s_entry_t *entries;
    int count;
    int alloc;
};

static void
s_add (sl_sitemap_t *self, const char *loc, const char *lastmod)
{
    if (self->count == self->alloc) {
        self->alloc = self->alloc ? self->alloc * 2 : 64;
        self->entries = realloc (self->entries, (size_t) self->alloc * sizeof *self->entries);
        assert (self->entries);
    }
    s_entry_t *entry = &self->entries [self->count++];
    entry->loc = strdup (loc);
    assert (entry->loc);
    snprintf (entry->lastmod, sizeof entry->lastmod, "%s", lastmod);
}

//  Copy text without surrounding white space (sitemaps often indent it).
static void
s_trim_copy (char *out, size_t size, const char *text)
{
    while (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r')
        text++;
    size_t len = strlen (text);
    while (len && (text [len - 1] == ' ' || text [len - 1] == '\t' || text [len - 1] == '\n'
                   || text [len - 1] == '\r'))
        len--;
    snprintf (out, size, "%.*s", (int) (len < size ? len : size - 1), text);
}

//  Walk the document: the root names the kind; each <url> or <sitemap>
//  gives one entry from its <loc> and <lastmod> children.
static int
s_walk (sl_sitemap_t *self, xmlTextReaderPtr reader, const char *url, int max_entries, char *err,
        size_t errlen)
{
    char loc [S_LOC_MAX + 1] = "", lastmod [64] = "", *field = NULL;
    size_t field_size = 0;
    bool rooted = false;
    int rc;
    while ((rc = xmlTextReaderRead (reader)) == 1) {
        int type = xmlTextReaderNodeType (reader);
        const char *name = (const char *) xmlTextReaderConstLocalName (reader);
        if (xmlTextReaderDepth (reader) > S_MAX_DEPTH) {
            snprintf (err, errlen, "sitemap %.200s nests elements deeper than %d levels: refused",
                      url, S_MAX_DEPTH);
            return -1;
        }
        if (type == XML_READER_TYPE_ELEMENT && !rooted) {
            rooted = true;
            self->index = strcmp (name, "sitemapindex") == 0;
            if (!self->index && strcmp (name, "urlset") != 0) {
                snprintf (err, errlen, "%.200s is XML but not a sitemap: its root element is <%.40s>, "
                          "not <urlset> or <sitemapindex>", url, name);
                return -1;
            }
        }
        else
        if (type == XML_READER_TYPE_ELEMENT && (strcmp (name, "url") == 0
                                                || strcmp (name, "sitemap") == 0)) {
            loc [0] = lastmod [0] = 0;
        }
        else
        if (type == XML_READER_TYPE_ELEMENT && strcmp (name, "loc") == 0) {
            field = loc;
            field_size = sizeof loc;
        }
        else
        if (type == XML_READER_TYPE_ELEMENT && strcmp (name, "lastmod") == 0) {
            field = lastmod;
            field_size = sizeof lastmod;
        }
        else
        if ((type == XML_READER_TYPE_TEXT || type == XML_READER_TYPE_CDATA) && field) {
            const char *value = (const char *) xmlTextReaderConstValue (reader);
            s_trim_copy (field, field_size, value ? value : "");
            field = NULL;
        }
        else
        if (type == XML_READER_TYPE_END_ELEMENT && (strcmp (name, "url") == 0
                                                    || strcmp (name, "sitemap") == 0)) {
            if (*loc) {
                if (self->count >= max_entries) {
                    snprintf (err, errlen, "sitemap %.200s lists more than %d locations "
                              "(sources.max_items)", url, max_entries);
                    return -1;
                }
                s_add (self, loc, lastmod);
            }
        }
        else
        if (type == XML_READER_TYPE_END_ELEMENT)
            field = NULL;
    }
    if (rc < 0 || !rooted) {
        const xmlError *error = xmlGetLastError ();
        char why [200];
        s_trim_copy (why, sizeof why, error && error->message ? error->message : "no root element");
        snprintf (err, errlen, "%.200s is not a sitemap: not well-formed XML (%s)", url, why);
        return -1;
    }
    return 0;
}

sl_sitemap_t *
sl_sitemap_read (const char *path, const char *url, int max_entries, char *err, size_t errlen)
{
    //  No network, no DTD loading, no entity substitution, no huge text
    xmlTextReaderPtr reader = xmlReaderForFile (path, NULL, XML_PARSE_NONET | XML_PARSE_NOERROR
                                                | XML_PARSE_NOWARNING);
    if (!reader) {
        snprintf (err, errlen, "cannot read the sitemap of %.200s", url);
        return NULL;
    }
    xmlResetLastError ();
    sl_sitemap_t *self = calloc (1, sizeof *self);
    assert (self);
    if (s_walk (self, reader, url, max_entries, err, errlen))
        sl_sitemap_destroy (&self);
    xmlFreeTextReader (reader);
    return self;
}

void
sl_sitemap_destroy (sl_sitemap_t **self_p)
{
    assert (self_p);
    sl_sitemap_t *self = *self_p;
    if (self) {
        for (int i = 0; i < self->count; i++)
            free (self->entries [i].loc);
        free (self->entries);
        free (self);
        *self_p = NULL;
    }
}

bool
sl_sitemap_is_index (const sl_sitemap_t *self)
{
    return self->index;
}

int
sl_sitemap_count (const sl_sitemap_t *self)
{
    return self->count;
}

const char *
sl_sitemap_loc (const sl_sitemap_t *self, int i)
{
    assert (i >= 0 && i < self->count);
    return self->entries [i].loc;
}

const char *
sl_sitemap_lastmod (const sl_sitemap_t *self, int i)
{
    assert (i >= 0 && i < self->count);
    return self->entries [i].lastmod;
}
