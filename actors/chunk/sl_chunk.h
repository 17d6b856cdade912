/*  sl_chunk: the chunk stage's splitter. Turns a document's pages into
    overlapping, size-bounded chunks ready to embed.

    Flow: the chunk actor creates one chunker per document, feeds the pages
    parse produced in order (sl_chunker_add_page), then sl_chunker_finish;
    each finished chunk is handed to the emit callback, which the actor turns
    into a message for embed. The chunker is streaming: it holds the current
    page plus a window of about three chunks, never the whole document.

    What a chunk is:
    - Text is first normalised per page (sl_chunk_normalise: hyphenated line
      ends joined, single newlines -> space, blank lines -> "\n\n", spaces
      collapsed, control chars stripped, NFC). The document's normalised text
      is the normalised pages joined in order; between two pages goes
      "\n\n" if the first ends a sentence, nothing if it ends with a
      hyphenated word the next page completes ("infor-" + "mation"), else
      one space. All offsets below are byte offsets in that text.
    - A chunk is a contiguous slice of it, always on UTF-8 boundaries. It is
      filled up to target_tokens, cutting preferably at a paragraph break,
      else at a sentence end, else between words; a single word or sentence
      bigger than the budget is hard-split inside (by characters).
    - Each chunk after the first starts with up to overlap_tokens tokens of
      whole words/sentences repeated from the end of the previous chunk
      (overlap_len bytes), so text cut at a boundary stays retrievable.
    - Tokens are whatever the count callback says (the embedding model's
      tokenizer, or words by default). Each word is counted once and the sums
      used to plan; every emitted chunk is then counted once more to verify
      it, so the counter runs about twice over the text, never O(n^2). The
      count of "" is taken as fixed per-call tokens (BOS/EOS) and not summed
      per word. The limit holds unless one character alone is over it.

    Ownership: the chunker owns its copy of the text; a chunk passed to the
    callback (and its text) is valid only during the callback. Not
    thread-safe: one chunker per document, used by one thread.
*/
#ifndef SL_CHUNK_H_INCLUDED
#define SL_CHUNK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct sl_chunker_s sl_chunker_t;

//  Number of tokens of the embedding model in text (len bytes, UTF-8).
typedef size_t (sl_token_count_fn) (void *arg, const char *text, size_t len);

typedef struct {
    int target_tokens;          //  hard maximum per chunk (default 100)
    int overlap_tokens;         //  repeated from previous chunk (default 15), < target
    int min_tokens;             //  smallest trailing fragment worth its own chunk
                                //  (default 10); the last cuts are rebalanced, or the
                                //  fragment merged into the previous chunk, to avoid it
} sl_chunk_opts_t;

typedef struct {
    int ordinal;                //  0-based, in document order
    int page_start, page_end;   //  1-based pages the chunk's text spans
    size_t char_start, char_end;//  byte offsets in the document's normalised text
    const char *text;           //  normalised chunk text (not NUL-terminated; owned
    size_t len;                 //  by the chunker, valid during the callback)
    size_t overlap_len;         //  leading bytes of text repeated from the previous
                                //  chunk (with the space after them); text +
                                //  overlap_len is the new content
    int tokens;                 //  tokens of text, by the count callback
    char hash [65];             //  sha256 hex of text: dedupe and embedding-cache key
} sl_chunk_t;

//  Receives each chunk in order. Return non-zero to stop the chunker.
typedef int (sl_chunk_fn) (void *arg, const sl_chunk_t *chunk);

//  Fill opts with the defaults (100 / 15 / 10).
void sl_chunk_opts_defaults (sl_chunk_opts_t *opts);

//  Create a chunker for one document. opts NULL means defaults; count NULL
//  means sl_chunk_count_words. emit is required. Returns NULL (and logs why)
//  if opts are invalid: target_tokens >= 1, 0 <= overlap_tokens <
//  target_tokens, min_tokens >= 0. Caller owns it; destroy when done.
sl_chunker_t *sl_chunker_new (const sl_chunk_opts_t *opts, sl_token_count_fn *count,
                              void *count_arg, sl_chunk_fn *emit, void *emit_arg);

//  Append one page (1-based page_no, raw text of len bytes, any bytes: invalid
//  UTF-8 becomes U+FFFD). May emit chunks. Returns 0, or -1 if the callback
//  stopped the chunker, the chunker is finished, page_no < 1, or out of memory.
int sl_chunker_add_page (sl_chunker_t *self, int page_no, const char *text, size_t len);

//  End of document: emit the remaining chunks. An empty document emits none.
//  Returns 0, or -1 if the callback stopped the chunker or it was finished.
int sl_chunker_finish (sl_chunker_t *self);

//  Bytes of normalised document text seen so far.
size_t sl_chunker_doc_len (sl_chunker_t *self);

//  Destroy a chunker (without emitting); nulls *self_p, safe on NULL.
void sl_chunker_destroy (sl_chunker_t **self_p);

//  Default token counter: words, i.e. runs of non-space; in scripts written
//  without spaces (Han, kana) every character counts as one word.
size_t sl_chunk_count_words (void *arg, const char *text, size_t len);

//  Normalise one page's raw text as described above. Returns a new
//  NUL-terminated string and its length in *len_p, or NULL if out of memory.
//  Caller owns the result and must free it.
char *sl_chunk_normalise (const char *text, size_t len, size_t *len_p);

void sl_chunk_test (bool verbose);

#endif
