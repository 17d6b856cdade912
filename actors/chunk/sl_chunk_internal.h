/*  sl_chunk_internal: the character helpers of sl_chunk that its self-test
    reuses to build reference chunkings (byte buffer, hyphen joining,
    sentence ends). Not part of the public API: only sl_chunk.c and
    sl_chunk_test.c include this.
*/
#ifndef SL_CHUNK_INTERNAL_H_INCLUDED
#define SL_CHUNK_INTERNAL_H_INCLUDED

#include "sl_chunk.h"

#include <stdbool.h>
#include <stddef.h>

//  No piece is larger than this many bytes, whatever the counter says: a
//  counter that calls a 1 MB base64 blob "one word" must not produce a 1 MB
//  chunk.
#define SL_CHUNK_MAX_PIECE_BYTES 256

//  Growable byte buffer used by the normaliser.
typedef struct {
    char *data;
    size_t len, cap;
} sl_chunk_bytes_t;

//  Append n bytes, keeping data NUL-terminated. Returns 0, or -1 if out of
//  memory.
int sl_chunk_bytes_put (sl_chunk_bytes_t *b, const void *data, size_t n);

//  How the word text [s, e) ends: 0 not a sentence end, 1 ends with . ! ?
//  (a sentence if a capital follows), 2 ends with a strong mark like U+3002.
int sl_chunk_word_end_kind (const char *text, size_t s, size_t e);

//  If data ends with letter + hyphen, return the hyphen's byte length, else 0.
size_t sl_chunk_ends_with_word_hyphen (const char *data, size_t len);

//  True if data starts with a lowercase letter.
bool sl_chunk_starts_lowercase (const char *data, size_t len);

//  How much the chunker holds now: bytes of normalised text in its window,
//  pieces and page marks. The self-test checks these stay bounded.
void sl_chunker_window (sl_chunker_t *self, size_t *buf_len, size_t *pieces, size_t *pages);

#endif
