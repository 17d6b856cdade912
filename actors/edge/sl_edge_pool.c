/*  sl_edge_pool: pooled broker clients and outcome mapping. See sl_edge_pool.h. */
#include "sl_edge_pool.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_util.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _sl_edge_pool_t {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char *endpoint;
    char *curve_client;
    char *curve_server;
    sl_client_t **idle;
    int idle_count;
    int created;
    int max;
    int wait_ms;
};

sl_edge_pool_t *
sl_edge_pool_new (const char *endpoint, const char *curve_client, const char *curve_server,
                  int max_clients, int wait_ms)
{
    assert (endpoint);
    sl_edge_pool_t *self = calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    //  Waits are timed on the monotonic clock: a wall-clock step must not
    //  stretch or cut them
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->cond, &attr);
    pthread_condattr_destroy (&attr);
    self->wait_ms = wait_ms > 0 ? wait_ms : 1;
    self->endpoint = strdup (endpoint);
    //  inproc needs no CURVE: it never leaves the process
    if (curve_client && curve_server && strncmp (endpoint, "inproc:", 7) != 0) {
        self->curve_client = strdup (curve_client);
        self->curve_server = strdup (curve_server);
    }
    self->max = max_clients > 0 ? max_clients : 1;
    self->idle = calloc ((size_t) self->max, sizeof *self->idle);
    assert (self->idle);
    return self;
}

void
sl_edge_pool_destroy (sl_edge_pool_t **self_p)
{
    if (!*self_p)
        return;
    sl_edge_pool_t *self = *self_p;
    for (int i = 0; i < self->idle_count; i++)
        sl_client_destroy (&self->idle [i]);
    free (self->idle);
    free (self->endpoint);
    free (self->curve_client);
    free (self->curve_server);
    pthread_cond_destroy (&self->cond);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

sl_client_t *
sl_edge_pool_take (sl_edge_pool_t *self, sl_edge_fail_t *fail)
{
    memset (fail, 0, sizeof *fail);
    struct timespec deadline;
    clock_gettime (CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += self->wait_ms / 1000;
    deadline.tv_nsec += (long) (self->wait_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&self->lock);
    int rc = 0;
    while (self->idle_count == 0 && self->created >= self->max && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait (&self->cond, &self->lock, &deadline);
    if (self->idle_count > 0) {
        sl_client_t *client = self->idle [--self->idle_count];
        pthread_mutex_unlock (&self->lock);
        return client;
    }
    if (self->created >= self->max) {
        pthread_mutex_unlock (&self->lock);
        fail->status = 503;
        fail->retry_after_s = 1;
        snprintf (fail->message, sizeof fail->message, "the edge is busy: all %d broker connections "
                  "(http.broker_clients) stayed in use for %d ms; retry shortly", self->max, self->wait_ms);
        return NULL;
    }
    self->created++;
    pthread_mutex_unlock (&self->lock);
    //  Connecting happens outside the lock; a failure gives the slot back
    errno = 0;
    sl_client_t *client = sl_client_new (self->endpoint, self->curve_client, self->curve_server);
    if (!client) {
        int err = errno;
        pthread_mutex_lock (&self->lock);
        self->created--;
        pthread_cond_signal (&self->cond);
        pthread_mutex_unlock (&self->lock);
        fail->status = 503;
        fail->retry_after_s = 1;
        snprintf (fail->message, sizeof fail->message, "cannot open a broker connection%s%s%s",
                  err ? " (" : "", err ? strerror (err) : "", err ? ")" : "");
        if (err == EMFILE || err == ENFILE)
            snprintf (fail->message, sizeof fail->message, "the server has run out of file "
                      "descriptors (%s): cannot open a broker connection; retry shortly", strerror (err));
        sl_warn (NULL, "edge: %s", fail->message);
    }
    return client;
}

void
sl_edge_pool_give (sl_edge_pool_t *self, sl_client_t *client)
{
    if (!client)
        return;
    pthread_mutex_lock (&self->lock);
    assert (self->idle_count < self->max);
    self->idle [self->idle_count++] = client;
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->lock);
}

int
sl_edge_pool_size (sl_edge_pool_t *self)
{
    pthread_mutex_lock (&self->lock);
    int n = self->created;
    pthread_mutex_unlock (&self->lock);
    return n;
}

int
sl_edge_pool_map (const sl_client_result_t *result, const char *what, sl_edge_fail_t *fail)
{
    memset (fail, 0, sizeof *fail);
    switch (result->rc) {
        case SL_CLIENT_OK:
            fail->status = 200;
            break;
        case SL_CLIENT_BUSY: {
            fail->status = 429;
            int64_t ms = result->retry_ms > 0 ? result->retry_ms : 1000;
            fail->retry_after_s = (int) ((ms + 999) / 1000);
            snprintf (fail->message, sizeof fail->message,
                      "%s: the %s queue is full (%lld waiting); retry in %d s", what,
                      *result->service ? result->service : "service", (long long) result->depth,
                      fail->retry_after_s);
            break;
        }
        case SL_CLIENT_TIMEOUT:
            fail->status = 503;
            fail->timed_out = true;
            snprintf (fail->message, sizeof fail->message, "%s: the broker did not answer in time (%.300s)",
                      what, result->reason);
            break;
        case SL_CLIENT_ERROR:
        default:
            if (result->code == 503 || result->code == 408) {
                fail->status = 503;
                snprintf (fail->message, sizeof fail->message, "%s: service unavailable (%.300s)",
                          what, result->reason);
            }
            else
            if (result->code == 413) {
                fail->status = 413;
                snprintf (fail->message, sizeof fail->message, "%s: request too large for the broker (%.300s)",
                          what, result->reason);
            }
            else
            if (result->code == 404) {
                fail->status = 404;
                snprintf (fail->message, sizeof fail->message, "%s: %.300s", what, result->reason);
            }
            else {
                fail->status = 502;
                snprintf (fail->message, sizeof fail->message, "%s: broker refused the request (%lld: %.300s)",
                          what, (long long) result->code, result->reason);
            }
            break;
    }
    return fail->status;
}

int
sl_edge_pool_request (sl_edge_pool_t *self, const char *ws, const char *service, const char *kind,
                      const char *job, const json_t *body, int timeout_ms, json_t **reply,
                      sl_edge_fail_t *fail)
{
    *reply = NULL;
    memset (fail, 0, sizeof *fail);
    char what [96];
    snprintf (what, sizeof what, "%s/%s", service, kind);
    sl_envelope_t *env = sl_envelope_new (kind, job, ws);
    if (!env || sl_envelope_set_route (env, service)) {
        sl_envelope_destroy (&env);
        fail->status = 400;
        snprintf (fail->message, sizeof fail->message, "invalid workspace or job id");
        return fail->status;
    }
    size_t size;
    json_t *empty = body ? NULL : json_object ();
    char *packed = sl_json_to_msgpack (body ? body : empty, &size);
    json_decref (empty);
    sl_envelope_take_body (env, packed, size);
    sl_envelope_set_deadline (env, sl_now_ms () + timeout_ms);

    sl_client_t *client = sl_edge_pool_take (self, fail);
    if (!client) {
        sl_envelope_destroy (&env);
        return fail->status;
    }
    char *data = NULL;
    size_t data_size = 0;
    sl_client_result_t result;
    sl_client_rc_t rc = sl_client_request (client, env, timeout_ms, &data, &data_size, &result);
    sl_edge_pool_give (self, client);
    sl_envelope_destroy (&env);
    if (rc != SL_CLIENT_OK) {
        free (data);
        return sl_edge_pool_map (&result, what, fail);
    }
    char err [256];
    json_t *value = sl_json_from_msgpack (data, data_size, err, sizeof err);
    free (data);
    if (!value || !json_is_object (value)) {
        json_decref (value);
        fail->status = 502;
        snprintf (fail->message, sizeof fail->message, "%s: unreadable reply (%s)", what,
                  value ? "not a map" : err);
        return fail->status;
    }
    json_t *error = json_object_get (value, "error");
    if (error) {
        json_t *code = json_object_get (error, "code");
        int status = json_is_integer (code) ? (int) json_integer_value (code) : 500;
        if (status < 400 || status > 599)
            status = 500;
        fail->status = status;
        const char *message = json_string_value (json_object_get (error, "message"));
        snprintf (fail->message, sizeof fail->message, "%s", message ? message : "request failed");
        if (status == 429) {
            //  The service may say how long; otherwise a conservative default
            json_t *retry_ms = json_object_get (error, "retry_ms");
            json_t *retry_s = json_object_get (error, "retry_after");
            fail->retry_after_s = json_is_integer (retry_s) ? (int) json_integer_value (retry_s)
                                : json_is_integer (retry_ms) ? (int) ((json_integer_value (retry_ms) + 999) / 1000)
                                : 1;
            if (fail->retry_after_s < 1)
                fail->retry_after_s = 1;
        }
        json_decref (value);
        return fail->status;
    }
    *reply = value;
    return 200;
}
