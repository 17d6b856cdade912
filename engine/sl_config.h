/*  sl_config: settings for every role, from four layers, later wins:
        built-in defaults (given at each lookup)
        a config file in czmq's ZPL format (sluice.cfg, see docs/config.md)
        environment variables SLUICE_<SECTION>_<KEY>
        command-line --set section.key=value (and shortcuts in sluiced)
    Keys are "section/key" (ZPL paths); "section.key" is accepted too.
    An environment variable maps by lower-casing and turning the first "_"
    after the section into "/": SLUICE_BROKER_QUEUE_LIMIT = broker/queue_limit.

    Values are strings; typed getters parse them and fall back to the
    default (with a logged warning) when a value does not parse, so a typo
    never turns into a zero timeout silently.
    Read-only after start-up, so threads may share one instance.
*/
#ifndef SL_CONFIG_H_INCLUDED
#define SL_CONFIG_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct _sl_config_t sl_config_t;

sl_config_t *sl_config_new (void);
void sl_config_destroy (sl_config_t **self_p);

//  Load a ZPL file. 0, or -1 with a reason in err.
int sl_config_load_file (sl_config_t *self, const char *path, char *err, size_t errlen);

//  Apply SLUICE_* variables from envp (NULL-terminated, like environ).
void sl_config_load_env (sl_config_t *self, char **envp);

//  Set one key ("section.key" or "section/key"). 0, or -1 if malformed.
int sl_config_set (sl_config_t *self, const char *key, const char *value);

//  Parse "section.key=value". 0 or -1.
int sl_config_set_pair (sl_config_t *self, const char *pair);

//  Lookups; def is returned when the key is unset.
const char *sl_config_get (sl_config_t *self, const char *key, const char *def);
int64_t sl_config_int (sl_config_t *self, const char *key, int64_t def);
double sl_config_double (sl_config_t *self, const char *key, double def);
bool sl_config_bool (sl_config_t *self, const char *key, bool def);
//  Sizes accept suffixes k, m, g (KiB, MiB, GiB): "100m".
int64_t sl_config_size (sl_config_t *self, const char *key, int64_t def);

//  Every key set, sorted, "key = value" per line (for --print-config).
void sl_config_print (sl_config_t *self, FILE *out);

void sl_config_test (bool verbose);

#endif
