/*  sl_use_tokenizer: the SentencePiece-style tokenizer of Universal
    Sentence Encoder lite, a port of the one in the model's JavaScript
    runtime (@energetic-ai/embeddings 0.2.0, lib/tokenizer.ts), which is the
    reference: same ids for every text, quirks included.

    The vocabulary (vocab.json) is a list of [piece, score] pairs; a piece's
    id is its index. Ids 0..5 are reserved (0 is the unknown piece) and are
    never matched. Encoding a text:
      1. NFKC-normalise (utf8proc; invalid UTF-8 bytes become U+FFFD first).
      2. If not empty: put U+2581 in front and in place of each U+0020.
      3. Viterbi over code points: the best-scoring segmentation into pieces
         (scores added in double, as JavaScript does). Where no piece starts
         at a position, that one character is the unknown piece (id 0,
         score 0). Ties go to the later candidate, i.e. the shorter piece.
      4. Runs of id 0 merge into one.
    What the JavaScript runtime does and a clean design would not, kept so
    the ids match: a score of null counts as 0; when a piece is listed twice
    the later entry wins; a lattice position no piece ends at keeps score 0,
    and a best score of exactly 0 counts as "not set yet"; the backward pass
    steps by each piece's length in UTF-16 units, not code points (the same
    for this vocabulary, which has no astral characters).

    Ownership: the tokenizer owns its trie. Read-only after new: encode may
    be called from any number of threads at once (each call allocates its
    own scratch, sized by the text, never per token).
*/
#ifndef SL_USE_TOKENIZER_H_INCLUDED
#define SL_USE_TOKENIZER_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_use_tokenizer_s sl_use_tokenizer_t;

//  Load the vocabulary from vocab_path (vocab.json). Returns NULL with a
//  message in err if the file is missing or not a list of [string, number
//  or null] pairs. Caller owns the tokenizer and must destroy it.
sl_use_tokenizer_t *sl_use_tokenizer_new (const char *vocab_path, char *err, size_t errlen);

//  Free the tokenizer; nulls *self_p, safe on NULL.
void sl_use_tokenizer_destroy (sl_use_tokenizer_t **self_p);

//  Number of pieces (ids are 0 .. size-1).
int sl_use_tokenizer_size (sl_use_tokenizer_t *self);

//  sha256 (hex) of the vocabulary file's bytes. Owned by the tokenizer.
const char *sl_use_tokenizer_digest (sl_use_tokenizer_t *self);

//  Tokenize text (len bytes, any bytes). Writes the first max_ids ids into
//  ids (which may be NULL when max_ids is 0) and returns how many ids the
//  whole text has (possibly more than max_ids), or -1 if out of memory.
long sl_use_tokenizer_encode (sl_use_tokenizer_t *self, const char *text, size_t len,
                              int32_t *ids, size_t max_ids);

void sl_use_tokenizer_test (bool verbose);

#endif
