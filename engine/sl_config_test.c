/*  sl_config_test: self-test of sl_config.

    Keys from a file, the environment and --set pairs (in that
    order of precedence), typed getters with defaults, refused keys, printing.
*/
#include "sl_config.h"
#include "sl_log.h"
#include <czmq.h>
#include <ctype.h>

void
sl_config_test (bool verbose)
{
    sl_log_set_level (SL_LOG_ERROR);
    sl_config_t *cfg = sl_config_new ();
    char path [] = "/tmp/sl_config_test_XXXXXX";
    int fd = mkstemp (path);
    assert (fd >= 0);
    const char *zpl = "broker\n    endpoint = \"tcp://*:5555\"\n    queue_limit = 50\nparse\n    max_memory = 64m\n";
    assert (write (fd, zpl, strlen (zpl)) == (ssize_t) strlen (zpl));
    close (fd);
    char err [256];
    assert (sl_config_load_file (cfg, path, err, sizeof err) == 0);
    assert (streq (sl_config_get (cfg, "broker.endpoint", ""), "tcp://*:5555"));
    assert (sl_config_int (cfg, "broker/queue_limit", 0) == 50);
    assert (sl_config_size (cfg, "parse.max_memory", 0) == 64 << 20);
    //  Environment overrides the file, --set overrides the environment
    char *env [] = { "SLUICE_BROKER_QUEUE_LIMIT=70", "SLUICE_FETCH_ALLOW_CIDRS=127.0.0.1/32",
                     "OTHER=1", "SLUICE_NOSECTION=1", NULL };
    sl_config_load_env (cfg, env);
    assert (sl_config_int (cfg, "broker.queue_limit", 0) == 70);
    assert (streq (sl_config_get (cfg, "fetch.allow_cidrs", ""), "127.0.0.1/32"));
    assert (sl_config_set_pair (cfg, "broker.queue_limit=90") == 0);
    assert (sl_config_int (cfg, "broker.queue_limit", 0) == 90);
    //  Bad values fall back to the default; bad keys are refused
    sl_config_set (cfg, "x.n", "12abc");
    assert (sl_config_int (cfg, "x.n", 7) == 7);
    sl_config_set (cfg, "x.b", "maybe");
    assert (sl_config_bool (cfg, "x.b", true) == true);
    sl_config_set (cfg, "x.b", "off");
    assert (sl_config_bool (cfg, "x.b", true) == false);
    assert (sl_config_set (cfg, "bad key", "1") == -1);
    assert (sl_config_set_pair (cfg, "=1") == -1);
    assert (sl_config_get (cfg, "absent.key", NULL) == NULL);
    assert (sl_config_load_file (cfg, "/nonexistent.cfg", err, sizeof err) == -1);
    assert (strstr (err, "cannot read"));
    if (verbose)
        sl_config_print (cfg, stdout);
    sl_config_destroy (&cfg);
    sl_config_destroy (&cfg);
    unlink (path);
}
