/*  sl_node: per-process shared context. See sl_node.h. */
#include "sl_node.h"
#include "sl_log.h"
#include "sl_blob.h"

#include <czmq.h>
#include <pthread.h>

typedef struct {
    char *name;
    void *item;
    sl_shared_destroy_fn *destroy;
} shared_t;

struct _sl_node_t {
    sl_config_t *config;
    sl_metrics_t *metrics;
    char *broker;
    char *broker_pub;
    char data_dir [1024];
    pthread_mutex_t lock;
    zlistx_t *shared;               //  shared_t *, creation order
};

sl_node_t *
sl_node_new (sl_config_t *config)
{
    sl_node_t *self = calloc (1, sizeof *self);
    assert (self);
    self->config = config;
    self->metrics = sl_metrics_new ();
    snprintf (self->data_dir, sizeof self->data_dir, "%s", sl_config_get (config, "data.dir", "./data"));
    pthread_mutex_init (&self->lock, NULL);
    self->shared = zlistx_new ();
    return self;
}

void
sl_node_destroy (sl_node_t **self_p)
{
    if (*self_p) {
        sl_node_t *self = *self_p;
        for (shared_t *s = zlistx_last (self->shared); s; s = zlistx_prev (self->shared)) {
            if (s->destroy)
                s->destroy (&s->item);
            free (s->name);
            free (s);
        }
        zlistx_destroy (&self->shared);
        sl_metrics_destroy (&self->metrics);
        free (self->broker);
        free (self->broker_pub);
        pthread_mutex_destroy (&self->lock);
        free (self);
        *self_p = NULL;
    }
}

sl_config_t *sl_node_config (sl_node_t *self) { return self->config; }
sl_metrics_t *sl_node_metrics (sl_node_t *self) { return self->metrics; }
const char *sl_node_data_dir (sl_node_t *self) { return self->data_dir; }
const char *sl_node_broker (sl_node_t *self) { return self->broker; }
const char *sl_node_broker_pub (sl_node_t *self) { return self->broker_pub; }

void
sl_node_set_broker (sl_node_t *self, const char *endpoint, const char *pub_endpoint)
{
    free (self->broker);
    free (self->broker_pub);
    self->broker = strdup (endpoint);
    self->broker_pub = strdup (pub_endpoint);
}

const char *
sl_node_curve_client (sl_node_t *self)
{
    return sl_config_get (self->config, "curve.client_cert", NULL);
}

const char *
sl_node_curve_server (sl_node_t *self)
{
    return sl_config_get (self->config, "curve.broker_public", NULL);
}

void *
sl_node_shared (sl_node_t *self, const char *name, sl_shared_new_fn *fn,
                sl_shared_destroy_fn *destroy, char *err, size_t errlen)
{
    pthread_mutex_lock (&self->lock);
    void *item = NULL;
    for (shared_t *s = zlistx_first (self->shared); s; s = zlistx_next (self->shared))
        if (streq (s->name, name)) {
            item = s->item;
            break;
        }
    if (!item) {
        //  Created under the lock: two actor threads asking at once must
        //  not open the database twice
        item = fn (self, err, errlen);
        if (item) {
            shared_t *s = calloc (1, sizeof *s);
            s->name = strdup (name);
            s->item = item;
            s->destroy = destroy;
            zlistx_add_end (self->shared, s);
        }
    }
    pthread_mutex_unlock (&self->lock);
    return item;
}

static void *
s_blob_new (sl_node_t *node, char *err, size_t errlen)
{
    sl_blob_t *blob = sl_blob_new (node->data_dir);
    if (!blob)
        snprintf (err, errlen, "cannot create the blob area in %s: %s", node->data_dir, strerror (errno));
    else
        sl_blob_tmp_sweep (blob, 3600);     //  uploads torn by a crash
    return blob;
}

static void
s_blob_destroy (void **item)
{
    sl_blob_destroy ((sl_blob_t **) item);
}

sl_blob_t *
sl_node_blob (sl_node_t *self, char *err, size_t errlen)
{
    return sl_node_shared (self, "blob", s_blob_new, s_blob_destroy, err, errlen);
}
