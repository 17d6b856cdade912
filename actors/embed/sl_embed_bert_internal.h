/*  sl_embed_bert_internal: the tokenizer step of the "bert" provider, which
    its self-test checks against the reference token ids. Not part of the
    public API: only sl_embed_bert.c and sl_embed_bert_test.c include this.
*/
#ifndef SL_EMBED_BERT_INTERNAL_H_INCLUDED
#define SL_EMBED_BERT_INTERNAL_H_INCLUDED

#include "sl_embedder.h"

#include <stddef.h>
#include <stdint.h>

//  An open bert model: what sl_embed_bert_provider.open returns
typedef struct sl_embed_bert_s sl_embed_bert_t;

//  Token ids of one text: [CLS] pieces [SEP], at most max_tokens; 0 if the
//  text has no pieces.
int sl_embed_bert_tokenize (sl_embed_bert_t *self, const char *text, size_t len, int32_t *ids);

#endif
