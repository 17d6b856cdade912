/*  sl_health_test: self-test of sl_health.

    A real health server on a loopback port: a known path
    answers from the callback, an unknown one is 404.
*/
#include "sl_health.h"
#include "sl_log.h"
#include <arpa/inet.h>
#include <assert.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int
s_test_fn (void *arg, const char *path, char **body, const char **type)
{
    (void) arg;
    if (strcmp (path, "/healthz") == 0) {
        *body = strdup ("ok\n");
        return 200;
    }
    return 404;
}

void
sl_health_test (bool verbose)
{
    sl_health_t *h = sl_health_new ("127.0.0.1", 0, s_test_fn, NULL);
    assert (h && sl_health_port (h) > 0);
    char cmd [256], out [64] = "";
    snprintf (cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/healthz", sl_health_port (h));
    FILE *p = popen (cmd, "r");
    assert (p && fgets (out, sizeof out, p));
    pclose (p);
    assert (strcmp (out, "200") == 0);
    snprintf (cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' http://127.0.0.1:%d/nope", sl_health_port (h));
    p = popen (cmd, "r");
    assert (p && fgets (out, sizeof out, p));
    pclose (p);
    assert (strcmp (out, "404") == 0);
    if (verbose)
        printf ("sl_health: served on port %d\n", sl_health_port (h));
    sl_health_destroy (&h);
    assert (h == NULL);
}
