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

    Structure (sl_chunker_add with a sl_chunk_page_t; engine/sl_markup.h
    has the grammar):
    - Sections. Headings (a marked page's "# .." lines, and a PDF page's
      outline entries, taken as headings at the top of the page) keep a
      section path: a stack by level, shown as "Installation › Configuring
      the network" (U+203A with spaces). Heading lines are not part of the
      normalised text: the path travels in each chunk's `section`, the path
      in effect where the chunk's new text starts. Before a heading the text
      so far is cut (the chunk ends there, no overlap carried over) unless
      that would leave a chunk below min_tokens with nothing before it in
      the section to merge into; so a chunk straddles two sections only
      when the first had next to no text. A document that is only
      headings ("# Summer") has them as its text (the first 4 KiB).
    - Tables. A run of row lines ("| a | b |") is a table; its first row is
      the header. It becomes chunks of kind "table" whose text is the rows,
      one per line (normalisation keeps the row newlines): rows are never
      split, a table over the budget is cut between rows and every piece
      after the first starts with the header row again (not part of the
      piece's [char_start, char_end), which covers its new rows; a header
      that would take over half a piece is not repeated). Last
      resort: a single row over the budget (with the header) is split by
      cells: each cell becomes a paragraph "| cell |" of its own and goes
      through the text splitter (kind still "table", header not repeated;
      a cell bigger than the budget is split between words).
    - In a page that is not marked every line is text: "# apt" stays text.
    - Embedding context. With opts.embed_context and a title or section,
      a chunk is embedded as "Title › Section path\n\ntext" (`context` +
      "\n\n" + text). The budget counts the context's tokens (a context
      over a quarter of the target drops the title, then all but the last
      heading, then itself), `tokens` is the embedded text's, and `hash`
      is the sha256 of exactly the embedded text, so a chunk whose context
      changed never meets a stale cached vector. `text` stays the displayed
      text, without the context.
    - OCR. A page may carry the OCR stage's mean confidence; a chunk's
      ocr_confidence is the lowest over its pages (-1: none was OCR'd).

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
    bool embed_context;         //  embed "title › section" with each chunk
                                //  (default false here; the actor's default is true)
} sl_chunk_opts_t;

//  One page as the chunker takes it (pages.mp fields p, t, m, h, c).
typedef struct {
    int level;                  //  1 = top
    const char *title;          //  UTF-8, NUL-terminated
} sl_chunk_heading_t;

typedef struct {
    int page_no;                //  1-based
    const char *text;           //  raw text, any bytes (invalid UTF-8 becomes U+FFFD)
    size_t len;
    bool marked;                //  text is in sl_markup's grammar
    const sl_chunk_heading_t *headings;     //  outline entries at the top of the page
    int heading_count;
    int ocr_confidence;         //  0-100 if the page was OCR'd, else -1
} sl_chunk_page_t;

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
    char hash [65];             //  sha256 hex of what is embedded (context + "\n\n" +
                                //  text, or text): dedupe and embedding-cache key
    const char *kind;           //  "text" or "table"
    const char *section;        //  section path ("" outside any section)
    const char *context;        //  embedding context ("" none): "Title › Section"
    int ocr_confidence;         //  lowest OCR confidence of its pages, -1 none OCR'd
} sl_chunk_t;

//  Receives each chunk in order. Return non-zero to stop the chunker.
typedef int (sl_chunk_fn) (void *arg, const sl_chunk_t *chunk);

//  Fill opts with the defaults (100 / 15 / 10, no embedding context).
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

//  The same for a page with structure (marked text, outline headings, OCR
//  confidence). Same returns.
int sl_chunker_add (sl_chunker_t *self, const sl_chunk_page_t *page);

//  The document's title, for the embedding context (opts.embed_context).
//  Call before the first page; NULL or "" for none. Newlines become spaces,
//  and a title over 200 bytes is cut (on a character boundary).
void sl_chunker_set_title (sl_chunker_t *self, const char *title);

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
