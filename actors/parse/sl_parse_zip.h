/*  sl_parse_zip: a bounded reader of the zip containers Office (OOXML) and
    OpenDocument files are made of, over libzip. Internal to parse.

    A zip is the easiest bomb there is: a few kilobytes of deflate can
    expand to gigabytes, a central directory can list millions of entries,
    and the sizes it declares are claims, not facts. So a declared size can
    only refuse an entry (one that admits to a ratio or size over the
    ceilings is refused before a byte is inflated), never admit one: every
    byte is counted as it is decompressed, and an entry that yields more
    than its directory declared is refused too:

      - entry count: the end-of-central-directory record is read before
        libzip sees the file, so a zip that lists 100,000 entries is
        refused before libzip allocates its table;
      - per entry: uncompressed bytes read from one entry are capped
        (max_entry), and once an entry has produced ratio_floor bytes it may
        not have expanded more than ratio times its compressed size;
      - in total: uncompressed bytes read from all entries together are
        capped (max_total), so re-reading entries cannot multiply the work;
      - time: the deadline is checked on every read.
    A refusal is sticky: once a ceiling is hit every later read fails with
    the same reason, so a caller that swallows one error still fails.

    Files that are not zips get a reason a person can act on: an OLE
    compound file is what an encrypted (password-protected) OOXML document
    or a legacy binary .doc/.xls/.ppt is; a damaged or truncated zip names
    what libzip found.

    Entries are read as streams (one open entry at a time), so memory does
    not grow with entry size. Not thread-safe: one reader per parse call.
*/
#ifndef SL_PARSE_ZIP_H_INCLUDED
#define SL_PARSE_ZIP_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _sl_parse_zip_t sl_parse_zip_t;

typedef struct {
    size_t max_entry;           //  uncompressed bytes from one entry
    size_t max_total;           //  uncompressed bytes from all entries
    int max_entries;            //  entries in the central directory
    int ratio;                  //  uncompressed : compressed ceiling ...
    size_t ratio_floor;         //  ... enforced once an entry passed this
    int64_t deadline;           //  sl_mono_ms () value; 0 for none
    int max_seconds;            //  named in the time-limit reason
} sl_parse_zip_limits_t;

//  Open the zip at path. Returns NULL with a reason in err if it is not a
//  zip (encrypted Office file, damaged, truncated) or lists too many
//  entries. what names the format in messages ("DOCX document").
sl_parse_zip_t *sl_parse_zip_new (const char *path, const char *what,
                                  const sl_parse_zip_limits_t *limits, char *err, size_t errlen);

//  Close the container and null the pointer.
void sl_parse_zip_destroy (sl_parse_zip_t **self_p);

//  True if the container has an entry of exactly this name.
bool sl_parse_zip_has (sl_parse_zip_t *self, const char *name);

//  Open entry name for reading (closing any open one). Returns 0, or -1
//  with the reason in sl_parse_zip_error.
int sl_parse_zip_open (sl_parse_zip_t *self, const char *name);

//  Read up to n bytes of the open entry into buf. Returns the bytes read,
//  0 at its end, -1 on failure or a ceiling (reason in sl_parse_zip_error).
int sl_parse_zip_read (sl_parse_zip_t *self, char *buf, int n);

//  Check the deadline between reads (long runs of nodes from few bytes).
//  Returns 0, or -1 once the deadline passed (reason in sl_parse_zip_error).
int sl_parse_zip_tick (sl_parse_zip_t *self);

//  Close the open entry, if any.
void sl_parse_zip_close (sl_parse_zip_t *self);

//  The first failure's reason ("" if none).
const char *sl_parse_zip_error (sl_parse_zip_t *self);

//  True once a ceiling or the deadline refused a read (the failure is the
//  document's, not one entry's).
bool sl_parse_zip_refused (sl_parse_zip_t *self);

#endif
