/*  sl_filter: document attributes ("meta") and search filters over them,
    validated once for every caller (the edge, the store, the query
    service, the tests).

    Attributes are a JSON object whose values are strings, numbers,
    booleans, or lists of those (not nested), e.g.
        {"team": "legal", "year": 2024, "tags": ["contract"], "signed": "2024-03-01"}
    A string that reads as an ISO 8601 date (YYYY-MM-DD, that day at 00:00
    UTC) or an RFC 3339 timestamp (2024-03-01T09:30:00Z, +02:00 offsets,
    fractions) is also an instant, so date ranges compare instants.
    Bounds (every input is hostile): at most SL_META_KEYS keys, each
    matching [A-Za-z0-9_.-]{1,64}; strings at most SL_META_STRING bytes of
    UTF-8; lists at most SL_META_LIST items; the whole object at most
    SL_META_BYTES of compact JSON. null, nested objects and lists of lists
    are refused. The canonical text (compact, keys sorted) is what the
    store keeps and shows.

    A filter is a JSON object whose keys are attribute names, ANDed:
        "team": "legal"                 equality (a list attribute: contains)
        "draft": false, "year": 2024    typed equality (bool, number)
        "tags": {"any": ["a", "b"]}     any of (strings or numbers)
        "year": {"gte": 2020, "lt": 2025}            numeric range
        "signed": {"gte": "2024-01-01", "lte": "2024-06-30"}   instant range
    and beside it the search's source_prefix (the document's source starts
    with it) and mime (a type or a list of types). At most
    SL_FILTER_CONDITIONS attribute conditions, SL_FILTER_VALUES values in
    one "any", SL_FILTER_MIMES types. Anything else (an unknown operator,
    "gte": "abc", "any": [] ...) is refused with a sentence that names the
    attribute and says what was expected.

    The parsed filter is a plain struct the store's backends read to
    build their SQL (sl_filter_sql): the policy is here, the SQL in one
    helper both backends share, since their dialects agree on it.

    Failure model: every function is pure and thread-safe; parse functions
    return NULL / -1 with a reason in err and never abort on input.
*/
#ifndef SL_FILTER_H_INCLUDED
#define SL_FILTER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_META_KEYS        64          //  keys in one document's attributes
#define SL_META_KEY_MAX     64          //  bytes in a key
#define SL_META_STRING      1024        //  bytes in one string value
#define SL_META_LIST        100         //  items in one list value
#define SL_META_BYTES       16384       //  compact JSON of the whole object
#define SL_FILTER_CONDITIONS 16         //  attribute conditions in one filter
#define SL_FILTER_VALUES    100         //  values in one "any"
#define SL_FILTER_MIMES     16          //  types in one search's mime
#define SL_FILTER_PREFIX    2048        //  bytes in a source_prefix

//  One stored attribute value: one row of the attribute table per scalar
//  and per list item. vtype: 's' string, 'd' string that is an instant,
//  'n' number, 'b' boolean ("true"/"false" in text, 1/0 in num)
typedef struct {
    const char *key;
    char vtype;
    char *text;                 //  as given (numbers: "%.17g")
    double num;                 //  numbers; instants: seconds since 1970 UTC
} sl_attr_t;

//  Parsed attributes. Release with sl_meta_destroy.
typedef struct {
    char *json;                 //  canonical text: compact, keys sorted
    sl_attr_t *attrs;           //  the rows, keys pointing into the object
    int n_attrs;
    void *object;               //  the parsed object (owns the keys)
} sl_meta_t;

//  Parse and check attributes from JSON text (len bytes; -1: NUL-ended).
//  NULL with the reason in err.
sl_meta_t *sl_meta_parse (const char *text, ptrdiff_t len, char *err, size_t errlen);

//  The same from a parsed JSON value (a jansson json_t *, borrowed).
sl_meta_t *sl_meta_from_json (const void *json, char *err, size_t errlen);

void sl_meta_destroy (sl_meta_t **self_p);

//  PATCH: current (canonical text, NULL or "" for none) with patch (JSON
//  text) merged over it, a key set to null removed; the result checked as
//  sl_meta_parse checks. NULL with the reason in err.
sl_meta_t *sl_meta_merge (const char *current, const char *patch, char *err, size_t errlen);

//  Seconds since 1970 UTC of an ISO 8601 date or RFC 3339 timestamp in s;
//  false if s is neither (or an impossible date, 2024-02-30).
bool sl_instant_parse (const char *s, double *seconds);

//  --------------------------------------------------------------------------
//  Filters

typedef enum {
    SL_COND_EQ,                 //  values [0]
    SL_COND_ANY,                //  values [0..n)
    SL_COND_RANGE               //  lo/hi of vtype 'n' or 'd'
} sl_cond_op_t;

typedef struct {
    char vtype;                 //  's' (matches 's' and 'd' rows by text), 'n', 'b'
    char *text;                 //  the parameter: text, "%.17g", or "true"/"false"
} sl_fvalue_t;

typedef struct {
    char key [SL_META_KEY_MAX + 1];
    sl_cond_op_t op;
    sl_fvalue_t *values;
    int n_values;
    char vtype;                 //  RANGE: 'n' numbers or 'd' instants
    bool has_lo, lo_incl, has_hi, hi_incl;
    char lo [32], hi [32];      //  RANGE bounds as "%.17g" (seconds for instants)
} sl_cond_t;

//  A parsed filter. Release with sl_filter_destroy.
typedef struct sl_filter_s {
    sl_cond_t conds [SL_FILTER_CONDITIONS];
    int n_conds;
    char *source_prefix;        //  NULL: any source
    char *source_upper;         //  source_prefix followed by U+10FFFF (range end)
    char *mimes [SL_FILTER_MIMES];
    int n_mimes;
} sl_filter_t;

//  Parse a search's filter fields out of a request object (a jansson
//  json_t *, borrowed): "filter" (object), "source_prefix" (string),
//  "mime" (string or array). *filter_p gets NULL when the request has
//  none of them (an empty filter object counts as none). 0, or -1 with
//  the reason in err.
int sl_filter_from_request (const void *request, sl_filter_t **filter_p, char *err,
                            size_t errlen);

//  The same from JSON text: filter_json (NULL: none), source_prefix (NULL:
//  none), mimes [0..n_mimes).
int sl_filter_parse (const char *filter_json, const char *source_prefix,
                     const char *const *mimes, int n_mimes, sl_filter_t **filter_p,
                     char *err, size_t errlen);

void sl_filter_destroy (sl_filter_t **self_p);

//  For the store's backends: the filter as SQL conditions on a documents
//  row aliased d, appended to sql (size bytes; NUL-ended, truncation is
//  an error): " AND d.id IN (SELECT document_id FROM doc_attrs WHERE
//  workspace = <ws> AND key = ... )" per condition, source prefix and mime
//  likewise. Parameters are written as placeholders mark + number (mark
//  '?' for SQLite, '$' for PostgreSQL) from first_param on; params gets
//  their text values (pointers into the filter), *n_params how many.
//  ws_param is the number of the workspace's parameter; pg adds what
//  PostgreSQL needs (byte-order collation for the prefix range).
//  Returns 0, or -1 if sql or params is too small.
int sl_filter_sql (const sl_filter_t *filter, bool pg, int ws_param, int first_param,
                   char *sql, size_t size, const char **params, int max_params,
                   int *n_params);

//  Upper bound on the parameters sl_filter_sql can use
#define SL_FILTER_PARAMS_MAX \
    (SL_FILTER_CONDITIONS * (1 + SL_FILTER_VALUES) + 2 + SL_FILTER_MIMES)

void sl_filter_test (bool verbose);

#endif
