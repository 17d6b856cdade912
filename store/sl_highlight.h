/*  sl_highlight: where a hit's text holds the words its query was ranked by.

    Search ranks words through the database's own full-text index, which
    splits text into tokens, folds them and stems them before it compares
    anything. A highlight a person can trust has to make the same decisions
    on the hit's text, or it marks words the ranking never saw ("config"
    for "configuration") and misses the ones it used ("configured" for
    "configuring"). So this class redoes, for one query, what the index
    does:

    - the query's terms are sl_store_query_terms' (stop words dropped),
      each tokenized and stemmed as the index tokenizes and stems a query;
    - the text is tokenized the same way, each token stemmed, and a token
      whose stem is one of the query's is a span.

    Two index flavours, named by their stemmer (libstemmer / Snowball):

    "porter"  SQLite FTS5 'porter unicode61 remove_diacritics 2'
              (store/sl_store_sqlite.c, migration 6): a token is a run of
              letters (L*), digits (N*) and private-use characters (Co),
              with combining marks kept inside it; it is lower-cased
              (Unicode simple case mapping) and stripped of diacritics
              (é -> e: the canonical decomposition's ASCII base); FTS5's
              Porter stems tokens of 3..64 bytes and passes others through.
    "english" PostgreSQL's configuration sluice_words (sl_store_pg.c,
              migration 6): the punctuation sl_store_query_terms knows is
              turned into spaces, so a token is a run of ASCII letters and
              digits and any other non-ASCII character; lower-cased as a
              C-locale database does (ASCII only: tests/pg_server.sh runs
              initdb --locale=C); Snowball English stems every token.
    Any other stemmer libstemmer knows works as "english" does.

    Offsets are Unicode code points [start, end) into the text, sorted and
    non-overlapping (tokens never overlap): Python slices text[start:end]
    directly; JavaScript counts UTF-16 units, so Array.from(text) first.

    Failure model: invalid UTF-8 in a text counts one code point per bad
    byte and separates tokens (nothing is read past the string's end); a
    token longer than SL_HIGHLIGHT_TOKEN_MAX bytes is never a match (no
    query term is that long); at most `max` spans are reported, the first
    ones. sl_highlight_new returns NULL for an unknown stemmer or out of
    memory: the caller searches without highlights.

    Thread-safety: a Snowball stemmer is not thread-safe, so each object
    holds its own: make one per search (cheap: no files, a few small
    allocations), use it from one thread, destroy it.
*/
#ifndef SL_HIGHLIGHT_H_INCLUDED
#define SL_HIGHLIGHT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct sl_highlight_s sl_highlight_t;

//  Longest token (folded, in bytes) that may match; longer ones never do
#define SL_HIGHLIGHT_TOKEN_MAX 256
//  Spans one hit may carry (a chunk of a few hundred words has fewer)
#define SL_HIGHLIGHT_SPANS_MAX 512

//  Highlighter for query, stemming with stemmer ("porter": SQLite's FTS5
//  index; "english": PostgreSQL's). NULL if the stemmer is unknown or
//  memory ran out. Caller destroys it.
sl_highlight_t *sl_highlight_new (const char *query, const char *stemmer);

//  Destroy and null the caller's pointer; safe on NULL.
void sl_highlight_destroy (sl_highlight_t **self_p);

//  How many distinct stems the query holds (0: nothing can match).
int sl_highlight_stems (sl_highlight_t *self);

//  The spans of text holding a query word: spans [2i], spans [2i + 1] are
//  the code point offsets [start, end) of the i-th, in order. Writes at
//  most max spans (2 * max ints) and returns how many.
int sl_highlight_spans (sl_highlight_t *self, const char *text, int *spans, int max);

//  The stem the index keeps for one word (tokenized first: the stem of
//  its first token), into out; false if the word holds no token. For the
//  self-test's comparison with the real indexes.
bool sl_highlight_stem (sl_highlight_t *self, const char *word, char *out, size_t size);

void sl_highlight_test (bool verbose);

#endif
