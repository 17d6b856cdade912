/*  sluice_args: the CLI's short forms of attributes and filters, turned
    into the JSON the API takes (docs/openapi.yaml).

    --meta key=value (repeatable): value typed as a person means it:
        true / false          a boolean
        42, -1.5, 1e3         a number
        a,b,c                 a list (each item typed the same way)
        anything else         a string ("2024-03-01" stays a string; the
                              server reads it as a date where one is asked)
    A string that looks like a number or holds a comma goes in --meta-json.
    In `sluice tag`, key= (nothing after =) removes the key.

    --filter EXPR (repeatable, ANDed):
        key=v                 equality (on a list: contains)
        key~a,b               any of
        key>=v key>v key<=v key<v   ranges (numbers or dates); two on the
                              same key make one range
    --filter-json for anything else.

    The server checks everything (400 with the reason); these only build
    JSON and refuse what cannot be read at all (no key, no operator).
    Pure functions; the caller owns the json_t objects.
*/
#ifndef SLUICE_ARGS_H_INCLUDED
#define SLUICE_ARGS_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

//  A value as typed on the command line (see above); lists when split.
json_t *sluice_arg_value (const char *text, bool split);

//  Add key=value to meta (an object). removable: "key=" sets null. 0, or
//  -1 with the reason in err.
int sluice_meta_add (json_t *meta, const char *arg, bool removable, char *err, size_t errlen);

//  Add one filter expression to filter (an object). 0, or -1 with err.
int sluice_filter_add (json_t *filter, const char *arg, char *err, size_t errlen);

#endif
