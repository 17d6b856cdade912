/*  sl_join: work of one job cut into parts that any worker of any process
    may do, joined by whichever part finishes last. The parts meet in the
    job's artifact folder (shared by every process of a node, or a volume
    in scaled mode); these are the file operations they meet through.
    Used by parse (page ranges of a long PDF: actors/parse/sl_parse_fanout)
    and embed (chunk parts of a long document: actors/embed).

    The protocol every user follows:
    1. A part writes its output and then its marker, each whole or not at
       all (sl_join_write: a unique temporary name, fsync, rename), so a
       marker never names output that is not there.
    2. A part that finds every marker present tries to claim the join
       (sl_join_claim: link(2) of a file naming the part, which only one
       part can create). Two parts finishing together may both see every
       marker; only one joins. The claim names a part, not a process: if
       the claimer dies before its ACK, its redelivered part claims again
       (the file names it) and forwards the same successor (its id is
       derived from the part's message: the broker drops the duplicate).
    3. The joiner concatenates the parts in order (sl_join_concat; record
       files have no header, so they concatenate) and forwards the job.
    A part that fails retries on its own message; until it succeeds nobody
    joins, so nothing downstream ever sees half a document.

    Progress: each part rewrites its count of work done in place
    (sl_join_progress_set: fixed width, so a reader sees one number or the
    other, and a redelivered part restarts from 0 without counting twice);
    the job's progress is the sum over parts.
*/
#ifndef SL_JOIN_H_INCLUDED
#define SL_JOIN_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

//  Write path whole or not at all (a crash leaves the old file or the
//  new, fsync'd). 0, or -1 with errno (and no temporary left).
int sl_join_write (const char *path, const void *data, size_t size);

//  Read a small file into buf, NUL-terminated. Bytes read, or -1 (errno).
ssize_t sl_join_read (const char *path, char *buf, size_t cap);

//  Claim the join of the parts in dir under name (a file name, e.g.
//  "join") for part: 1 if it is this part's (now, or from an earlier
//  delivery of it), 0 if another part's, -1 on error (errno).
int sl_join_claim (const char *dir, const char *name, long long part);

//  Concatenate the files parts [0..n) into path, whole or not at all.
//  0, or -1 with errno.
int sl_join_concat (const char *path, const char *const *parts, int n);

//  Record that a part has done `done` units (best effort: progress is not
//  the result), and read such a count back (0 if absent).
void sl_join_progress_set (const char *path, int done);
int sl_join_progress_get (const char *path);

void sl_join_test (bool verbose);

#endif
