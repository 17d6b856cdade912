/*  sl_health: a very small HTTP server for operational endpoints of
    processes that have no HTTP edge: a worker pod's /healthz and /readyz
    (for Kubernetes probes) and the broker's /metrics and /stats.json (for
    Prometheus and the KEDA autoscaler). One libmicrohttpd thread; the
    caller's function renders each GET. Not for user traffic: that is the
    edge's job.
*/
#ifndef SL_HEALTH_H_INCLUDED
#define SL_HEALTH_H_INCLUDED

#include <stdbool.h>

typedef struct _sl_health_t sl_health_t;

//  Render path into *body (malloc'd, caller's function allocates; freed by
//  the server) and *content_type (static string). Return the HTTP status;
//  404 for unknown paths.
typedef int (sl_health_fn) (void *arg, const char *path, char **body, const char **content_type);

//  Listen on bind:port (bind NULL = 0.0.0.0). NULL (and a logged reason)
//  if the port cannot be bound. port 0 picks a free port.
sl_health_t *sl_health_new (const char *bind, int port, sl_health_fn *fn, void *arg);
void sl_health_destroy (sl_health_t **self_p);

//  The port actually bound.
int sl_health_port (sl_health_t *self);

void sl_health_test (bool verbose);

#endif
