/*  sl_wordpiece: BERT's tokenizer: text -> vocabulary ids, as Hugging Face's
    BertTokenizer does it, so a model downloaded from the Hub sees the ids it
    was trained on.

    Two stages, streamed over the text in one pass with no allocation:
    1. Basic tokenisation: drop NUL, U+FFFD (and invalid UTF-8) and control
       characters; whitespace (and U+2028/2029, which Python's split() also
       splits on) separates words; each CJK ideograph is a word of its own;
       lower-case (Python's str.lower(): full mapping for U+0130 and the
       final-sigma rule included) and strip accents (NFD, then drop Mn marks)
       when configured; every punctuation character (ASCII symbols and
       Unicode P*) is a word of its own.
    2. WordPiece: each word, greedy longest-match-first against the vocab,
       continuation pieces prefixed "##"; a word with an unmatchable part, or
       longer than 100 characters, is one [UNK].

    Known differences from BertTokenizer: special-token strings written in
    the text ("[SEP]") are ordinary text here, not special tokens (a
    document cannot inject structure); combining marks other than Mn are not
    canonically reordered; Unicode tables are utf8proc's, which may be a
    version apart from Python's.

    Ownership: the tokenizer owns its vocabulary. Read-only after new, so
    every function but destroy is thread-safe.
*/
#ifndef SL_WORDPIECE_H_INCLUDED
#define SL_WORDPIECE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_wordpiece_s sl_wordpiece_t;

//  How to tokenise; the fields of a model's tokenizer_config.json.
typedef struct {
    bool lower_case;            //  do_lower_case (default true)
    int strip_accents;          //  -1: same as lower_case (HF's None, the default); 0: no; 1: yes
    bool chinese_chars;         //  tokenize_chinese_chars (default true)
    char unk [64], cls [64], sep [64], pad [64];    //  special tokens, default "[UNK]" etc.
} sl_wordpiece_config_t;

//  Fill config with BertTokenizer's defaults.
void sl_wordpiece_config_default (sl_wordpiece_config_t *config);

//  Load vocab_path (vocab.txt: one token per line, id = line number, as HF
//  reads it). config may be NULL for the defaults. Returns NULL with a
//  message in err if the file can't be read or lacks a special token.
//  Caller owns the tokenizer and must destroy it.
sl_wordpiece_t *sl_wordpiece_new (const char *vocab_path, const sl_wordpiece_config_t *config,
                                  char *err, size_t errlen);

//  Destroy the tokenizer; nulls *self_p, safe on NULL.
void sl_wordpiece_destroy (sl_wordpiece_t **self_p);

//  Number of lines in the vocabulary (one more than the largest id).
int sl_wordpiece_vocab_size (sl_wordpiece_t *self);

//  Id of token (exactly as in vocab.txt), or -1.
int sl_wordpiece_id (sl_wordpiece_t *self, const char *token);

//  Token of id, or NULL if out of range. Owned by the tokenizer.
const char *sl_wordpiece_token (sl_wordpiece_t *self, int id);

//  Ids of the special tokens (always present: new checks).
int sl_wordpiece_cls (sl_wordpiece_t *self);
int sl_wordpiece_sep (sl_wordpiece_t *self);
int sl_wordpiece_unk (sl_wordpiece_t *self);
int sl_wordpiece_pad (sl_wordpiece_t *self);

//  Tokenise text (len bytes, any bytes) into word-piece ids, without
//  [CLS]/[SEP]. Writes the first min(total, max_ids) ids to ids (NULL if
//  max_ids is 0). If count_all, reads the whole text and returns the total
//  number of pieces; otherwise stops once max_ids are written and returns
//  how many were. Never allocates, never fails.
size_t sl_wordpiece_encode (sl_wordpiece_t *self, const char *text, size_t len,
                            int32_t *ids, size_t max_ids, bool count_all);

void sl_wordpiece_test (bool verbose);

#endif
