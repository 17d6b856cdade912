/*  sl_parse_fanout: the page-range join of a PDF parsed in parallel.

    A PDF of more than parse.range_pages pages is not parsed by one
    handler: the parse actor counts its pages and forwards one "range"
    message per range of that many pages back to the parse service
    (pages [first, end), 1-based). Any parse handler of any process takes
    a range, writes its pages to the job folder as pages.r<first>.mp and
    then a marker range.<first>.done (totals for the join). The range that
    finds every marker present joins: it concatenates the ranges' pages,
    in page order, into pages.mp (the file a whole parse would have
    written, so chunking cannot see range edges and the chunks are the
    same) and alone forwards the job to chunk.

    Failure model (crash-safe and idempotent under redelivery):
    - Every file is written to a temporary name, fsync'd and renamed, so a
      crash leaves a whole file or none; a redelivered range rewrites its
      own files and nothing else.
    - Two ranges finishing together may both see every marker: the join
      is claimed by link(2) of a file naming the claiming range, which
      only one can create. The claim names a range, not a process, so if
      the claimer dies before its ACK, its range is redelivered, claims
      again (the file names it) and forwards the same successor (same
      derived id: the broker drops a duplicate).
    - pages.mp is joined only if absent: a late duplicate never rewrites
      pages that ocr may have rewritten since.
    - A range that fails retries on its own (its own message); until it
      succeeds no join happens, so the job waits for it and nothing is
      committed half.
    - The text limit (parse.max_text_mb) is the document's: a range stops
      at it as a whole parse would, keeps the pages before, and the join
      finds the page where the text of all ranges in page order passes it,
      so the job fails with the sentence and page a whole parse gives,
      whichever range finished first.
    - Progress: each range keeps its count of pages done in
      range.<first>.progress (rewritten in place, so a redelivered range
      starts from 0 again and never counts twice); the sum over ranges is
      the job's pages done.
*/
#ifndef SL_PARSE_FANOUT_H_INCLUDED
#define SL_PARSE_FANOUT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  What one finished range reports to the join.
typedef struct {
    int need_ocr;               //  pages written with "o"
    long long text_bytes;       //  text extracted
    int over_at;                //  page that passed the text limit within the
                                //  range (its pages before it were written), 0 if none
    char title [512];           //  the parse's title (range 1's is the document's)
} sl_fanout_range_t;

//  Number of ranges of step pages in a document of pages pages.
int sl_fanout_ranges (int pages, int step);

//  True if [first, end) is a range the fan-out makes of a document of
//  pages pages cut every step pages (a message naming anything else is
//  refused: it did not come from the fan-out).
bool sl_fanout_range_valid (int first, int end, long long step, long long pages);

//  Path of range first's pages file in job folder dir.
void sl_fanout_pages_path (const char *dir, int first, char *buf, size_t cap);

//  Record range first as finished. 0, or -1 with errno.
int sl_fanout_mark (const char *dir, int first, const sl_fanout_range_t *range);

//  True if every range of (pages, step) is marked; sums their reports
//  into total (title: range 1's; over_at: the first range's that has one).
bool sl_fanout_complete (const char *dir, int pages, int step, sl_fanout_range_t *total);

//  Claim the join for range first: 1 if it is this range's (now or from
//  an earlier delivery of it), 0 if another range's, -1 on error (errno).
int sl_fanout_claim (const char *dir, int first);

//  The page at which the text of the ranges' pages, in page order, passes
//  limit bytes (as a whole parse counts it), or 0 if it does not; -1 if a
//  range's pages cannot be read.
int sl_fanout_text_over (const char *dir, int pages, int step, size_t limit);

//  Concatenate the ranges' pages into pages.mp in page order, unless
//  pages.mp exists already. 0, or -1 with errno.
int sl_fanout_join (const char *dir, int pages, int step);

//  Record that range first has done pages pages (best effort).
void sl_fanout_progress_set (const char *dir, int first, int done);

//  Pages done over all ranges of (pages, step).
int sl_fanout_progress_sum (const char *dir, int pages, int step);

//  Self-test.
void sl_parse_fanout_test (bool verbose);

#endif
