/*  sl_check: named cases for self-tests (sl_NAME_test.c files only).

    A self-test is a list of cases, each proving one behaviour:

        CASE ("redirects: 5 followed, the 6th refused", s_test_redirects ());

    and a failing CHECK names the file, the line, the case running and the
    condition, then exits: the failure says what broke without a debugger.
    Header-only and static, so each test program has its own case name;
    never include it from production code.
*/
#ifndef SL_CHECK_H_INCLUDED
#define SL_CHECK_H_INCLUDED

#include <stdio.h>
#include <stdlib.h>

//  The case running, named in every failure
static const char *s_case = "setup";

#define CHECK(cond) do { if (!(cond)) { \
    fprintf (stderr, "FAIL %s:%d: case '%s': %s\n", __FILE__, __LINE__, s_case, #cond); \
    exit (1); } } while (0)

//  Runs call as the case called name (listed when the test is verbose)
#define CASE(name, call) do { s_case = (name); if (verbose) printf ("   - %s\n", s_case); \
    fflush (stdout); call; } while (0)

#endif
