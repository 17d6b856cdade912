/*  sl_parse_zip: bounded zip container reader. See sl_parse_zip.h for the
    ceilings and why declared sizes are never trusted.
*/
#include "sl_parse_zip.h"
#include "sl_parse_internal.h"
#include "sl_util.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

//  The end-of-central-directory record sits in the last 22 bytes plus a
//  comment of at most 64 KiB
#define S_EOCD_SCAN     (65535 + 22)

struct _sl_parse_zip_t {
    zip_t *zip;
    sl_parse_zip_limits_t limits;
    char what [64];
    //  The open entry
    zip_file_t *file;
    char name [256];
    uint64_t comp_size;
    uint64_t declared;          //  uncompressed size the directory claims
    size_t entry_read;
    size_t total_read;
    bool refused;               //  sticky: a ceiling or the deadline
    char error [512];
};

static void
s_fail (sl_parse_zip_t *self, bool refusal, const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));

static void
s_fail (sl_parse_zip_t *self, bool refusal, const char *fmt, ...)
{
    if (refusal)
        self->refused = true;
    if (self->error [0])
        return;                 //  the first reason is the one to report
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, ap);
    va_end (ap);
}

//  Before libzip reads anything: refuse files that are not zips with a
//  reason that says what they are, and zips whose directory lists more
//  entries than the limit (libzip would allocate a table for all of them).
static int
s_precheck (const char *path, const char *what, int max_entries, char *err, size_t errlen)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        sl_parse_errf (err, errlen, "cannot open %s", path);
        return -1;
    }
    unsigned char head [8] = { 0 };
    size_t n = fread (head, 1, sizeof head, file);
    if (n == 8 && memcmp (head, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8) == 0) {
        fclose (file);
        sl_parse_errf (err, errlen, "this %s is an OLE compound file, not a zip: it is either "
                       "password-protected (encrypted) or a legacy binary Office file; save it "
                       "without a password as DOCX, XLSX, PPTX or OpenDocument and upload again", what);
        return -1;
    }
    if (n < 4 || memcmp (head, "PK", 2) != 0) {
        fclose (file);
        sl_parse_errf (err, errlen, "not a valid %s: the file is not a zip container", what);
        return -1;
    }
    int rc = 0;
    if (fseeko (file, 0, SEEK_END) == 0) {
        off_t size = ftello (file);
        off_t start = size > S_EOCD_SCAN ? size - S_EOCD_SCAN : 0;
        size_t want = (size_t) (size - start);
        unsigned char *tail = malloc (want ? want : 1);
        assert (tail);
        if (fseeko (file, start, SEEK_SET) == 0 && fread (tail, 1, want, file) == want) {
            //  The last EOCD signature is the real one (a comment may hold
            //  the bytes too, but then the count is still an upper claim)
            for (size_t i = want >= 22 ? want - 22 + 1 : 0; i-- > 0; )
                if (memcmp (tail + i, "PK\5\6", 4) == 0) {
                    unsigned entries = tail [i + 10] | (unsigned) tail [i + 11] << 8;
                    if (entries == 0xFFFF)
                        break;  //  ZIP64: libzip reads the real count; checked after open
                    if ((int) entries > max_entries) {
                        sl_parse_errf (err, errlen, "%s has %u zip entries, more than the limit "
                                       "of %d: refused as a possible zip bomb", what, entries, max_entries);
                        rc = -1;
                    }
                    break;
                }
        }
        free (tail);
    }
    fclose (file);
    return rc;
}

sl_parse_zip_t *
sl_parse_zip_new (const char *path, const char *what, const sl_parse_zip_limits_t *limits,
                  char *err, size_t errlen)
{
    assert (path && what && limits);
    if (s_precheck (path, what, limits->max_entries, err, errlen))
        return NULL;
    int code = 0;
    zip_t *zip = zip_open (path, ZIP_RDONLY | ZIP_CHECKCONS, &code);
    if (!zip) {
        zip_error_t error;
        zip_error_init_with_code (&error, code);
        sl_parse_errf (err, errlen, "not a valid %s: damaged or truncated zip container (%s)",
                       what, zip_error_strerror (&error));
        zip_error_fini (&error);
        return NULL;
    }
    zip_int64_t entries = zip_get_num_entries (zip, 0);
    if (entries > limits->max_entries) {
        sl_parse_errf (err, errlen, "%s has %lld zip entries, more than the limit of %d: "
                       "refused as a possible zip bomb", what, (long long) entries, limits->max_entries);
        zip_discard (zip);
        return NULL;
    }
    sl_parse_zip_t *self = calloc (1, sizeof *self);
    assert (self);
    self->zip = zip;
    self->limits = *limits;
    snprintf (self->what, sizeof self->what, "%s", what);
    return self;
}

void
sl_parse_zip_destroy (sl_parse_zip_t **self_p)
{
    assert (self_p);
    sl_parse_zip_t *self = *self_p;
    if (!self)
        return;
    sl_parse_zip_close (self);
    zip_discard (self->zip);
    free (self);
    *self_p = NULL;
}

bool
sl_parse_zip_has (sl_parse_zip_t *self, const char *name)
{
    return zip_name_locate (self->zip, name, 0) >= 0;
}

int
sl_parse_zip_open (sl_parse_zip_t *self, const char *name)
{
    sl_parse_zip_close (self);
    if (self->refused)
        return -1;
    zip_int64_t index = zip_name_locate (self->zip, name, 0);
    if (index < 0) {
        s_fail (self, false, "not a valid %s: the part %s is missing", self->what, name);
        return -1;
    }
    zip_stat_t st;
    zip_stat_init (&st);
    if (zip_stat_index (self->zip, (zip_uint64_t) index, 0, &st) != 0) {
        s_fail (self, false, "not a valid %s: cannot read the zip entry %s (%s)", self->what,
                name, zip_strerror (self->zip));
        return -1;
    }
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
        s_fail (self, true, "the zip entry %s of this %s is encrypted: remove the password and "
                "upload again", name, self->what);
        return -1;
    }
    //  The declared sizes first: a bomb that admits it is refused before
    //  a byte is inflated; one that lies is caught as it reads (s_check)
    const sl_parse_zip_limits_t *l = &self->limits;
    uint64_t comp = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : 0;
    uint64_t size = (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
    if (size > l->ratio_floor && size / (comp ? comp : 1) > (uint64_t) l->ratio) {
        s_fail (self, true, "zip entry %s expands more than %d times its compressed size: refused "
                "as a possible zip bomb", name, l->ratio);
        return -1;
    }
    if (size > l->max_entry) {
        char limit [32];
        sl_parse_size_str (l->max_entry, limit, sizeof limit);
        s_fail (self, true, "zip entry %s expands beyond %s (the per-entry limit): refused as a "
                "possible zip bomb", name, limit);
        return -1;
    }
    self->file = zip_fopen_index (self->zip, (zip_uint64_t) index, 0);
    if (!self->file) {
        s_fail (self, false, "not a valid %s: cannot open the zip entry %s (%s)", self->what,
                name, zip_strerror (self->zip));
        return -1;
    }
    snprintf (self->name, sizeof self->name, "%s", name);
    self->comp_size = comp;
    self->declared = size;
    self->entry_read = 0;
    return 0;
}

//  The ceilings, checked after every read: see the header.
static int
s_check (sl_parse_zip_t *self)
{
    const sl_parse_zip_limits_t *l = &self->limits;
    char limit [32];
    if (self->entry_read > l->max_entry) {
        sl_parse_size_str (l->max_entry, limit, sizeof limit);
        s_fail (self, true, "zip entry %s expands beyond %s (the per-entry limit): refused as a "
                "possible zip bomb", self->name, limit);
        return -1;
    }
    if (self->total_read > l->max_total) {
        sl_parse_size_str (l->max_total, limit, sizeof limit);
        s_fail (self, true, "this %s expands beyond %s in total (the container limit): refused as "
                "a possible zip bomb", self->what, limit);
        return -1;
    }
    if (self->entry_read > self->declared) {
        s_fail (self, true, "zip entry %s expands beyond the size its directory declares: a damaged "
                "container or a zip bomb, refused", self->name);
        return -1;
    }
    if (self->entry_read > l->ratio_floor
    &&  self->entry_read / (self->comp_size ? self->comp_size : 1) > (uint64_t) l->ratio) {
        s_fail (self, true, "zip entry %s expands more than %d times its compressed size: refused "
                "as a possible zip bomb", self->name, l->ratio);
        return -1;
    }
    if (l->deadline && sl_mono_ms () > l->deadline) {
        s_fail (self, true, "parse time limit of %d s exceeded", l->max_seconds);
        return -1;
    }
    return 0;
}

int
sl_parse_zip_read (sl_parse_zip_t *self, char *buf, int n)
{
    if (self->refused || !self->file)
        return -1;
    zip_int64_t got = zip_fread (self->file, buf, (zip_uint64_t) (n > 0 ? n : 0));
    if (got < 0) {
        s_fail (self, false, "not a valid %s: the zip entry %s is damaged (%s)", self->what,
                self->name, zip_file_strerror (self->file));
        return -1;
    }
    self->entry_read += (size_t) got;
    self->total_read += (size_t) got;
    if (s_check (self))
        return -1;
    return (int) got;
}

int
sl_parse_zip_tick (sl_parse_zip_t *self)
{
    if (self->refused)
        return -1;
    if (self->limits.deadline && sl_mono_ms () > self->limits.deadline) {
        s_fail (self, true, "parse time limit of %d s exceeded", self->limits.max_seconds);
        return -1;
    }
    return 0;
}

void
sl_parse_zip_close (sl_parse_zip_t *self)
{
    if (self->file)
        zip_fclose (self->file);
    self->file = NULL;
}

const char *
sl_parse_zip_error (sl_parse_zip_t *self)
{
    return self->error;
}

bool
sl_parse_zip_refused (sl_parse_zip_t *self)
{
    return self->refused;
}
