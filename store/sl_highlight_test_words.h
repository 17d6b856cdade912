/*  sl_highlight_test_words: words a stemmer and a tokenizer may disagree
    on (plurals, -ing/-ed/-ies, -ational, possessives, accented and
    non-Latin words, digits, hyphenated), for the tests that prove the
    highlights' stems are the indexes' (sl_highlight_test.c on SQLite's
    FTS5, sl_store_test.c on both backends). Tests only.
*/
#ifndef SL_HIGHLIGHT_TEST_WORDS_H_INCLUDED
#define SL_HIGHLIGHT_TEST_WORDS_H_INCLUDED

static const char *sl_highlight_test_words [] = {
    "configuring", "configured", "configuration", "Configurations", "running", "runs",
    "studies", "studying", "flies", "ponies", "relational", "conditional", "rational",
    "generalization", "generalizations", "hopping", "agreed", "happiness", "sky", "skies",
    "dying", "lying", "caresses", "John's", "caf\xC3\xA9", "na\xC3\xAFve", "R\xC3\xA9sum\xC3\xA9",
    "\xC3\x9C" "ber", "\xC3\x89" "COLE", "se\xC3\xB1or", "gar\xC3\xA7on", "2024", "v2", "x86_64",
    "3rd", "well-known", "e-mail", "\xD0\x9C\xD0\xBE\xD1\x81\xD0\xBA\xD0\xB2\xD0\xB0",
    "Stra\xC3\x9F" "e", "\xCE\xB8\xCE\xB5\xCE\xBF\xCE\xAF", "knives", "matrices", "indices",
    "analyses", "ties", "abilities", "sensational", "hopeful", "goodness", "formality",
    "electrical", "adjustable", "irritant", "replacement", "adoption", "homologous",
    "communism", "activate", "effective", "bowdlerize", "feed", "plastered", "motoring",
    "sing", "conflated", "troubled", "sized", "hoping", "filing", "failing", "falling",
    "tanned", "fizzed", "happy", "owed", "is", "as", "news", "yelling", "generously",
    "ÆSIR", "ﬁle", "état", "Ørsted", "œuvre", "İstanbul",
};
#define SL_HIGHLIGHT_TEST_WORDS \
    ((int) (sizeof sl_highlight_test_words / sizeof sl_highlight_test_words [0]))

#endif
