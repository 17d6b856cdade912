/*  sl_join_test: self-test of sl_join: whole-or-nothing writes, one claim
    of a join among parts (and again for the part that holds it), ordered
    concatenation, progress counts. */
#include "sl_join.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void
sl_join_test (bool verbose)
{
    (void) verbose;
    char dir [] = "/tmp/sl_join_XXXXXX";
    assert (mkdtemp (dir));
    char a [256], b [256], joined [256], buf [64];
    snprintf (a, sizeof a, "%s/part.1", dir);
    snprintf (b, sizeof b, "%s/part.2", dir);
    snprintf (joined, sizeof joined, "%s/whole", dir);
    assert (sl_join_write (a, "first,", 6) == 0);
    assert (sl_join_write (b, "second", 6) == 0);
    assert (sl_join_read (a, buf, sizeof buf) == 6 && strcmp (buf, "first,") == 0);
    //  rewritten whole: the new content, nothing of the old
    assert (sl_join_write (a, "one,", 4) == 0);
    assert (sl_join_read (a, buf, sizeof buf) == 4 && strcmp (buf, "one,") == 0);
    //  the claim: the first part to claim holds it, another does not, the
    //  holder claims again (a redelivery of it)
    assert (sl_join_claim (dir, "join", 2) == 1);
    assert (sl_join_claim (dir, "join", 1) == 0);
    assert (sl_join_claim (dir, "join", 2) == 1);
    //  another join name is another claim
    assert (sl_join_claim (dir, "join.other", 1) == 1);
    const char *parts [] = { a, b };
    assert (sl_join_concat (joined, parts, 2) == 0);
    assert (sl_join_read (joined, buf, sizeof buf) == 10 && strcmp (buf, "one,second") == 0);
    //  a missing part: nothing is written
    char missing [256];
    snprintf (missing, sizeof missing, "%s/part.3", dir);
    const char *broken [] = { a, missing };
    unlink (joined);
    assert (sl_join_concat (joined, broken, 2) == -1 && access (joined, F_OK) != 0);
    //  progress: rewritten in place, absent reads 0
    char progress [256];
    snprintf (progress, sizeof progress, "%s/part.1.progress", dir);
    assert (sl_join_progress_get (progress) == 0);
    sl_join_progress_set (progress, 1500);
    sl_join_progress_set (progress, 7);
    assert (sl_join_progress_get (progress) == 7);
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    assert (system (cmd) == 0);
}
