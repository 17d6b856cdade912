/*  sl_records: append-only files of msgpack records, the artifacts that
    pipeline stages hand to each other through the blob area (pages.mp
    from parse, chunks.mp from chunk). Messages carry counts and ids, never
    the megabytes; each stage streams its input record by record, so
    memory stays flat however large the document.

    Format: each record is a 4-byte little-endian length, then that many
    bytes of one msgpack value. Readers validate each record with sl_mp
    (a torn or corrupt file is an error, not a crash). Writers write to
    "<path>.<random>.tmp" and rename on commit, so a reader never sees half a file
    and a redelivered stage simply rewrites it.
*/
#ifndef SL_RECORDS_H_INCLUDED
#define SL_RECORDS_H_INCLUDED

#include "sl_mp.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_RECORD_MAX (64u << 20)

typedef struct _sl_recw_t sl_recw_t;
typedef struct _sl_recr_t sl_recr_t;

//  Open a writer for path (writes a unique temp file beside it). NULL on error (errno set).
sl_recw_t *sl_recw_new (const char *path);
//  Append one record (msgpack bytes). 0 or -1; after a -1 the writer
//  refuses every further write and its commit fails.
int sl_recw_write (sl_recw_t *self, const void *data, size_t size);
//  The errno of the writer's first failed write (ENOSPC: the disk is
//  full), EMSGSIZE for a record over SL_RECORD_MAX, 0 if none failed.
int sl_recw_error (sl_recw_t *self);
//  Append the writer buffer's content as one record and reset it.
int sl_recw_write_mpw (sl_recw_t *self, sl_mpw_t *w);
//  fsync + rename into place; destroys the writer. 0, or -1 with errno
//  saying why (that of the first failed write, or of the flush, fsync or
//  rename: a full disk often shows only here, when buffers are flushed).
int sl_recw_commit (sl_recw_t **self_p);
//  Remove the temp file; destroys the writer.
void sl_recw_abort (sl_recw_t **self_p);

//  Open path for reading. NULL if missing (errno set).
sl_recr_t *sl_recr_new (const char *path);
void sl_recr_destroy (sl_recr_t **self_p);
//  Next record: 1 with *mp_p set (caller destroys), 0 at end, -1 on a
//  corrupt file (with a reason in err).
int sl_recr_next (sl_recr_t *self, sl_mp_t **mp_p, char *err, size_t errlen);

//  Pass over the next n records without decoding them (a part of an
//  artifact read from its first record). 0, or -1 with a reason in err if
//  the file ends or is corrupt before.
int sl_recr_skip (sl_recr_t *self, int64_t n, char *err, size_t errlen);

void sl_records_test (bool verbose);

#endif
