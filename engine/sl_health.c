/*  sl_health: operational HTTP endpoints on libmicrohttpd. See sl_health.h. */
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

struct _sl_health_t {
    struct MHD_Daemon *daemon;
    sl_health_fn *fn;
    void *arg;
    int port;
};

static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload, size_t *upload_size, void **state)
{
    sl_health_t *self = (sl_health_t *) cls;
    (void) version; (void) upload; (void) upload_size; (void) state;
    char *body = NULL;
    const char *type = "text/plain; charset=utf-8";
    int status = 405;
    if (strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0)
        status = self->fn (self->arg, url, &body, &type);
    if (!body)
        body = strdup (status == 404 ? "not found\n" : status == 405 ? "method not allowed\n" : "");
    struct MHD_Response *response = MHD_create_response_from_buffer (strlen (body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, "Content-Type", type);
    MHD_add_response_header (response, "Cache-Control", "no-store");
    enum MHD_Result rc = MHD_queue_response (conn, (unsigned int) status, response);
    MHD_destroy_response (response);
    return rc;
}

sl_health_t *
sl_health_new (const char *bind, int port, sl_health_fn *fn, void *arg)
{
    sl_health_t *self = calloc (1, sizeof *self);
    assert (self);
    self->fn = fn;
    self->arg = arg;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    if (!bind || inet_pton (AF_INET, bind, &addr.sin_addr) != 1)
        addr.sin_addr.s_addr = htonl (INADDR_ANY);
    self->daemon = MHD_start_daemon (MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                                     s_answer, self, MHD_OPTION_SOCK_ADDR, &addr,
                                     MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!self->daemon) {
        sl_error (NULL, "cannot serve operational HTTP on %s:%d", bind ? bind : "0.0.0.0", port);
        free (self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : port;
    return self;
}

void
sl_health_destroy (sl_health_t **self_p)
{
    if (*self_p) {
        MHD_stop_daemon ((*self_p)->daemon);
        free (*self_p);
        *self_p = NULL;
    }
}

int
sl_health_port (sl_health_t *self)
{
    return self->port;
}
