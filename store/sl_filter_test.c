/*  sl_filter_test: self-test of sl_filter (attributes and filters).

    Each refusal of the header has a case whose message is checked; the
    parsers are then fed mutated and random inputs (a small fuzzer): they
    must answer every one with a result or a reason, never crash or leak
    (the suite runs under ASan).
*/
#include "sl_filter.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sl_check.h"

static bool
s_meta_refused (const char *text, const char *words)
{
    char err [256] = "";
    sl_meta_t *meta = sl_meta_parse (text, -1, err, sizeof err);
    bool refused = !meta && strstr (err, words) != NULL;
    if (!refused)
        fprintf (stderr, "meta %s: '%s'\n", text, err);
    sl_meta_destroy (&meta);
    return refused;
}

static bool
s_filter_refused (const char *text, const char *words)
{
    char err [256] = "";
    sl_filter_t *filter = NULL;
    int rc = sl_filter_parse (text, NULL, NULL, 0, &filter, err, sizeof err);
    bool refused = rc == -1 && !filter && strstr (err, words) != NULL;
    if (!refused)
        fprintf (stderr, "filter %s: '%s'\n", text, err);
    sl_filter_destroy (&filter);
    return refused;
}

static void
s_test_meta_rows (void)
{
    char err [256];
    sl_meta_t *meta = sl_meta_parse ("{\"year\": 2024, \"team\": \"legal\", \"tags\": "
                                     "[\"contract\", \"nda\"], \"signed\": \"2024-03-01\", "
                                     "\"draft\": false, \"empty\": []}", -1, err, sizeof err);
    CHECK (meta);
    //  canonical: compact, keys sorted
    CHECK (strcmp (meta->json, "{\"draft\":false,\"empty\":[],\"signed\":\"2024-03-01\","
                   "\"tags\":[\"contract\",\"nda\"],\"team\":\"legal\",\"year\":2024}") == 0);
    CHECK (meta->n_attrs == 6);
    int seen = 0;
    for (int i = 0; i < meta->n_attrs; i++) {
        sl_attr_t *a = &meta->attrs [i];
        if (strcmp (a->key, "year") == 0) {
            CHECK (a->vtype == 'n' && a->num == 2024 && strcmp (a->text, "2024") == 0);
            seen++;
        }
        if (strcmp (a->key, "signed") == 0) {
            CHECK (a->vtype == 'd' && a->num == 1709251200.0);
            seen++;
        }
        if (strcmp (a->key, "draft") == 0) {
            CHECK (a->vtype == 'b' && a->num == 0 && strcmp (a->text, "false") == 0);
            seen++;
        }
        if (strcmp (a->key, "tags") == 0)
            seen++;
    }
    CHECK (seen == 5);
    sl_meta_destroy (&meta);
    CHECK (meta == NULL);
}

static void
s_test_meta_refusals (void)
{
    CHECK (s_meta_refused ("[1]", "must be a JSON object"));
    CHECK (s_meta_refused ("{\"a\": {\"b\": 1}}", "is an object"));
    CHECK (s_meta_refused ("{\"a\": null}", "is null"));
    CHECK (s_meta_refused ("{\"a\": [[1]]}", "holds a list"));
    CHECK (s_meta_refused ("{\"a b\": 1}", "is not 1-64 characters"));
    CHECK (s_meta_refused ("{\"\": 1}", "is not 1-64 characters"));
    CHECK (s_meta_refused ("{\"a\": 1, \"a\": 2}", "not valid JSON"));
    CHECK (s_meta_refused ("{\"a\": 1", "not valid JSON"));
    char big [2000];
    memset (big, 'x', sizeof big);
    big [sizeof big - 1] = 0;
    char text [2100];
    snprintf (text, sizeof text, "{\"a\": \"%s\"}", big);
    CHECK (s_meta_refused (text, "more than 1024"));
    char *list = malloc (1000);
    size_t used = (size_t) sprintf (list, "{\"a\": [");
    for (int i = 0; i < 101; i++)
        used += (size_t) sprintf (list + used, "%s%d", i ? "," : "", i);
    sprintf (list + used, "]}");
    CHECK (s_meta_refused (list, "101 items, more than 100"));
    free (list);
    char *keys = malloc (4000);
    used = (size_t) sprintf (keys, "{");
    for (int i = 0; i < 65; i++)
        used += (size_t) sprintf (keys + used, "%s\"k%d\": 1", i ? "," : "", i);
    sprintf (keys + used, "}");
    CHECK (s_meta_refused (keys, "65 keys, more than 64"));
    free (keys);
    //  under every per-value bound, over the total
    char *total = malloc (40000);
    used = (size_t) sprintf (total, "{");
    for (int i = 0; i < 20; i++)
        used += (size_t) sprintf (total + used, "%s\"k%d\": \"%.1000s\"", i ? "," : "", i, big);
    sprintf (total + used, "}");
    CHECK (s_meta_refused (total, "more than 16384"));
    free (total);
}

static void
s_test_merge (void)
{
    char err [256];
    sl_meta_t *meta = sl_meta_merge ("{\"a\":1,\"b\":\"x\"}", "{\"b\": null, \"c\": true}", err,
                                     sizeof err);
    CHECK (meta && strcmp (meta->json, "{\"a\":1,\"c\":true}") == 0);
    sl_meta_destroy (&meta);
    meta = sl_meta_merge (NULL, "{\"a\": [1, 2]}", err, sizeof err);
    CHECK (meta && strcmp (meta->json, "{\"a\":[1,2]}") == 0);
    sl_meta_destroy (&meta);
    meta = sl_meta_merge ("{}", "{\"a\": {\"x\": 1}}", err, sizeof err);
    CHECK (!meta && strstr (err, "is an object"));
    meta = sl_meta_merge ("{}", "[]", err, sizeof err);
    CHECK (!meta && strstr (err, "must be a JSON object"));
    meta = sl_meta_merge ("{}", "{\"bad key\": null}", err, sizeof err);
    CHECK (!meta && strstr (err, "not 1-64"));
}

static void
s_test_instants (void)
{
    double t;
    CHECK (sl_instant_parse ("1970-01-01", &t) && t == 0);
    CHECK (sl_instant_parse ("2024-03-01", &t) && t == 1709251200.0);
    CHECK (sl_instant_parse ("2024-03-01T00:00:00Z", &t) && t == 1709251200.0);
    CHECK (sl_instant_parse ("2024-03-01T02:00:00+02:00", &t) && t == 1709251200.0);
    CHECK (sl_instant_parse ("2024-02-29T23:00:00-01:00", &t) && t == 1709251200.0);
    CHECK (sl_instant_parse ("2024-03-01T00:00:00.5Z", &t) && t == 1709251200.5);
    CHECK (!sl_instant_parse ("2023-02-29", &t));
    CHECK (!sl_instant_parse ("2024-13-01", &t));
    CHECK (!sl_instant_parse ("2024-03-01T25:00:00Z", &t));
    CHECK (!sl_instant_parse ("2024-03-01T00:00:00", &t));     //  no zone: ambiguous
    CHECK (!sl_instant_parse ("2024-03-01x", &t));
    CHECK (!sl_instant_parse ("abc", &t));
    CHECK (!sl_instant_parse ("2024-03-01T00:00:00.Z", &t));
}

static void
s_test_filter_parse (void)
{
    char err [256];
    sl_filter_t *f = NULL;
    const char *mimes [] = { "application/pdf", "text/html" };
    CHECK (sl_filter_parse ("{\"team\": \"legal\", \"tags\": {\"any\": [\"a\", 2]}, "
                            "\"year\": {\"gte\": 2020, \"lt\": 2025}, \"signed\": "
                            "{\"lte\": \"2024-06-30\"}, \"draft\": false}", "upload:r/", mimes, 2,
                            &f, err, sizeof err) == 0);
    CHECK (f && f->n_conds == 5 && f->n_mimes == 2);
    CHECK (strcmp (f->source_prefix, "upload:r/") == 0);
    CHECK (memcmp (f->source_upper, "upload:r/\xF4\x8F\xBF\xBF", 14) == 0);
    for (int i = 0; i < f->n_conds; i++) {
        sl_cond_t *c = &f->conds [i];
        if (strcmp (c->key, "year") == 0)
            CHECK (c->op == SL_COND_RANGE && c->vtype == 'n' && c->has_lo && c->lo_incl
                   && c->has_hi && !c->hi_incl && strcmp (c->hi, "2025") == 0);
        if (strcmp (c->key, "signed") == 0)
            CHECK (c->op == SL_COND_RANGE && c->vtype == 'd' && !c->has_lo && c->hi_incl
                   && atof (c->hi) == 1719705600.0);
        if (strcmp (c->key, "tags") == 0)
            CHECK (c->op == SL_COND_ANY && c->n_values == 2 && c->values [1].vtype == 'n');
        if (strcmp (c->key, "draft") == 0)
            CHECK (c->op == SL_COND_EQ && c->values [0].vtype == 'b');
    }
    char sql [8192] = "";
    const char *params [SL_FILTER_PARAMS_MAX];
    int n = 0;
    CHECK (sl_filter_sql (f, true, 2, 7, sql, sizeof sql, params, SL_FILTER_PARAMS_MAX, &n) == 0);
    CHECK (strstr (sql, "workspace = $2 AND key = $7"));
    CHECK (strstr (sql, "COLLATE \"C\""));
    CHECK (n == 5 + 2 + 1 + 2 + 1 + 1 + 2 + 2);
    //  too small a buffer is an error, never an overflow
    char tiny [40] = "";
    CHECK (sl_filter_sql (f, false, 2, 7, tiny, sizeof tiny, params, SL_FILTER_PARAMS_MAX, &n) == -1);
    CHECK (sl_filter_sql (f, false, 2, 7, sql, sizeof sql, params, 3, &n) == -1);
    sl_filter_destroy (&f);
    CHECK (f == NULL);
    //  nothing asked: no filter at all
    CHECK (sl_filter_parse ("{}", NULL, NULL, 0, &f, err, sizeof err) == 0 && f == NULL);
    CHECK (sl_filter_parse (NULL, NULL, NULL, 0, &f, err, sizeof err) == 0 && f == NULL);
}

static void
s_test_filter_refusals (void)
{
    CHECK (s_filter_refused ("[]", "must be a JSON object"));
    CHECK (s_filter_refused ("{\"year\": {\"between\": 1}}", "unknown operator \"between\""));
    CHECK (s_filter_refused ("{\"year\": {\"gte\": \"abc\"}}", "takes a number or a date"));
    CHECK (s_filter_refused ("{\"year\": {\"gte\": 1, \"lt\": \"2024-01-01\"}}", "mixes"));
    CHECK (s_filter_refused ("{\"year\": {\"gte\": 1, \"gt\": 2}}", "two lower bounds"));
    CHECK (s_filter_refused ("{\"year\": {}}", "no operator"));
    CHECK (s_filter_refused ("{\"tags\": {\"any\": []}}", "list of 1 to 100"));
    CHECK (s_filter_refused ("{\"tags\": {\"any\": \"a\"}}", "list of 1 to 100"));
    CHECK (s_filter_refused ("{\"tags\": {\"any\": [\"a\"], \"gte\": 1}}", "cannot be combined"));
    CHECK (s_filter_refused ("{\"tags\": {\"any\": [null]}}", "compares with null"));
    CHECK (s_filter_refused ("{\"tags\": [\"a\"]}", "any of several"));
    CHECK (s_filter_refused ("{\"team\": null}", "compares with null"));
    CHECK (s_filter_refused ("{\"bad key\": 1}", "not an attribute name"));
    CHECK (s_filter_refused ("{\"a\": 1", "not valid JSON"));
    char many [2000];
    size_t used = (size_t) sprintf (many, "{");
    for (int i = 0; i < 17; i++)
        used += (size_t) sprintf (many + used, "%s\"k%d\": 1", i ? "," : "", i);
    sprintf (many + used, "}");
    CHECK (s_filter_refused (many, "17 conditions, more than 16"));
    char err [256];
    sl_filter_t *f = NULL;
    const char *bad [] = { "pdf" };
    CHECK (sl_filter_parse (NULL, NULL, bad, 1, &f, err, sizeof err) == -1 && strstr (err, "mime"));
    CHECK (sl_filter_parse (NULL, "", NULL, 0, &f, err, sizeof err) == -1
           && strstr (err, "source_prefix"));
    json_t *req = json_pack ("{s:i}", "source_prefix", 3);
    CHECK (sl_filter_from_request (req, &f, err, sizeof err) == -1 && strstr (err, "source_prefix"));
    json_decref (req);
    req = json_pack ("{s:[]}", "mime");
    CHECK (sl_filter_from_request (req, &f, err, sizeof err) == -1 && strstr (err, "mime"));
    json_decref (req);
}

//  Mutations of valid inputs and random bytes: a result or a reason
static uint64_t s_rng = 0x2545F4914F6CDD1DULL;

static uint32_t
s_rand (void)
{
    s_rng ^= s_rng >> 12;
    s_rng ^= s_rng << 25;
    s_rng ^= s_rng >> 27;
    return (uint32_t) ((s_rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static void
s_test_fuzz (void)
{
    const char *seeds [] = {
        "{\"team\": \"legal\", \"year\": 2024, \"tags\": [\"contract\"], \"signed\": \"2024-03-01\"}",
        "{\"year\": {\"gte\": 2020, \"lt\": 2025}, \"tags\": {\"any\": [\"a\", \"b\"]}}",
        "{\"signed\": {\"gte\": \"2024-01-01T00:00:00Z\", \"lte\": \"2024-06-30\"}}",
        "{\"x\": [1.5e300, -0, true, false, \"\\u00e9\"]}",
    };
    const char alphabet [] = "{}[]\":,0123456789.eE+-tfnulrsagtybxz \\\xc3\xa9\x80\xff";
    char buf [512], err [256];
    for (int round = 0; round < 20000; round++) {
        const char *seed = seeds [s_rand () % 4];
        size_t len = strlen (seed);
        memcpy (buf, seed, len + 1);
        int edits = 1 + (int) (s_rand () % 4);
        for (int e = 0; e < edits && len > 0; e++) {
            size_t at = s_rand () % len;
            switch (s_rand () % 3) {
                case 0: buf [at] = alphabet [s_rand () % (sizeof alphabet - 1)]; break;
                case 1: memmove (buf + at, buf + at + 1, len - at); len--; break;
                default:
                    if (len + 1 < sizeof buf) {
                        memmove (buf + at + 1, buf + at, len - at + 1);
                        buf [at] = alphabet [s_rand () % (sizeof alphabet - 1)];
                        len++;
                    }
            }
        }
        if (round % 5 == 0) {
            len = s_rand () % 64;
            for (size_t i = 0; i < len; i++)
                buf [i] = (char) (1 + s_rand () % 255);
            buf [len] = 0;
        }
        *err = 0;
        sl_meta_t *meta = sl_meta_parse (buf, -1, err, sizeof err);
        CHECK (meta || *err);
        sl_meta_destroy (&meta);
        *err = 0;
        meta = sl_meta_merge (seeds [0], buf, err, sizeof err);
        CHECK (meta || *err);
        sl_meta_destroy (&meta);
        sl_filter_t *f = NULL;
        *err = 0;
        int rc = sl_filter_parse (buf, NULL, NULL, 0, &f, err, sizeof err);
        CHECK (rc == 0 || (*err && !f));
        if (f) {
            char sql [16384] = "";
            const char *params [SL_FILTER_PARAMS_MAX];
            int n;
            CHECK (sl_filter_sql (f, s_rand () % 2, 1, 2, sql, sizeof sql, params,
                                  SL_FILTER_PARAMS_MAX, &n) == 0);
        }
        sl_filter_destroy (&f);
        double t;
        sl_instant_parse (buf, &t);
    }
}

void
sl_filter_test (bool verbose)
{
    printf (" * sl_filter: ");
    if (verbose)
        printf ("\n");
    CASE ("meta: one row per scalar and list item, canonical text", s_test_meta_rows ());
    CASE ("meta: each bound and shape refused with its reason", s_test_meta_refusals ());
    CASE ("meta: merge sets and removes keys, result checked", s_test_merge ());
    CASE ("instants: dates, timestamps, offsets; impossible ones refused", s_test_instants ());
    CASE ("filter: every operator parsed, SQL and parameters bounded", s_test_filter_parse ());
    CASE ("filter: each refusal names the attribute and the fix", s_test_filter_refusals ());
    CASE ("fuzz: 20000 mutated and random inputs answered, never crash", s_test_fuzz ());
    printf ("OK\n");
}
