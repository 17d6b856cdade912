/*  sl_node: what one sluiced process shares among the actors it hosts.

    A node holds the configuration, the broker endpoints actors connect to,
    the data folder, the metrics registry, and a small registry of shared
    resources created on first use (the store handle, the blob area, the
    embedder), so four actor threads in one process open one database
    connection pool rather than four, while an actor alone in its own
    process gets exactly what it needs and nothing more.

    Actors are described by sl_actor_def_t (one per stage, defined in that
    stage's folder under actors/) and started by sluiced for each role.
    Thread-safe: sl_node_shared may be called from any actor thread.
*/
#ifndef SL_NODE_H_INCLUDED
#define SL_NODE_H_INCLUDED

#include "sl_config.h"
#include "sl_metrics.h"
#include "sl_worker.h"

typedef struct _sl_node_t sl_node_t;

//  Create a node. config is borrowed (must outlive the node).
sl_node_t *sl_node_new (sl_config_t *config);
//  Destroys shared resources in reverse order of creation.
void sl_node_destroy (sl_node_t **self_p);

sl_config_t *sl_node_config (sl_node_t *self);
sl_metrics_t *sl_node_metrics (sl_node_t *self);
const char *sl_node_data_dir (sl_node_t *self);

//  Broker endpoints for peers to connect to (set by sluiced once known).
void sl_node_set_broker (sl_node_t *self, const char *endpoint, const char *pub_endpoint);
const char *sl_node_broker (sl_node_t *self);
const char *sl_node_broker_pub (sl_node_t *self);
//  CURVE certificate paths for peers (NULL when links are plain).
const char *sl_node_curve_client (sl_node_t *self);
const char *sl_node_curve_server (sl_node_t *self);

//  The blob area under the data folder, created on first use (NULL with
//  err if the folder cannot be created).
struct sl_blob_s;
struct sl_blob_s *sl_node_blob (sl_node_t *self, char *err, size_t errlen);

typedef void *(sl_shared_new_fn) (sl_node_t *node, char *err, size_t errlen);
typedef void (sl_shared_destroy_fn) (void **item_p);

//  The shared resource called name, created with fn on first use. Returns
//  NULL (with err) if creation failed; a later call tries again.
void *sl_node_shared (sl_node_t *self, const char *name, sl_shared_new_fn *fn,
                      sl_shared_destroy_fn *destroy, char *err, size_t errlen);

//  One actor kind. Worker actors set handler (the runtime calls it for each
//  message, on concurrency threads); an actor without one (the HTTP edge)
//  starts its own threads in start and ends them in stop.
typedef struct {
    const char *name;               //  role and service name ("parse")
    int default_concurrency;
    //  Optional: build the state passed to every handler call.
    void *(*start) (sl_node_t *node, char *err, size_t errlen);
    sl_handler_fn *handler;
    void (*stop) (void **state_p);
    bool diagnostic;                //  not started by --role all
    bool stage_events;              //  runtime emits stage_started/completed
} sl_actor_def_t;

#endif
