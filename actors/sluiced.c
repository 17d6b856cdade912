/*  sluiced: the one Sluice binary. It hosts any set of roles:

        sluiced                         everything in one process (embedded)
        sluiced --role broker           just the broker, on tcp
        sluiced --role parse,chunk --broker tcp://broker:5555

    In the embedded default the broker binds inproc endpoints and every
    actor is a thread of this process; in scaled mode each process connects
    to a remote broker over tcp. The actor code is the same either way.

    Signals: SIGINT/SIGTERM are blocked in every thread and taken here with
    sigwait, so no library call elsewhere is interrupted by them. On the
    first one sluiced drains: the HTTP edge stops taking requests, workers
    finish what they hold and hand back the rest, the broker saves its
    queues, and the process exits 0.

    A handler still running when its worker's drain runs out (a parse deep
    in a hostile PDF) cannot be stopped from outside. Its worker detaches
    it, and from then on it may touch its actor's state and the node (the
    store, the blob area, the config) at any moment, so sluiced frees none
    of that: the other actors stop as usual, the broker saves its queues,
    and the process leaves with _exit, letting the operating system take
    the memory back (no atexit handler runs under the handler's feet).

    Every process with the intake role also runs the storage collector
    (sl_janitor; storage.gc=false turns it off), which a lease in the
    store lets one of them run at a time.
*/
#include "sl_broker.h"
#include "sl_config.h"
#include "sl_embed_shared.h"
#include "sl_blob.h"
#include "sl_chunking.h"
#include "sl_health.h"
#include "sl_janitor.h"
#include "sl_json.h"
#include "sl_log.h"
#include "sl_metrics.h"
#include "sl_mp.h"
#include "sl_node.h"
#include "sl_proto.h"
#include "sl_roles.h"
#include "sl_store_node.h"
#include "sl_util.h"
#include "sl_worker.h"

#include <czmq.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>

extern char **environ;

#define SLUICE_VERSION "0.1.0"
#define MAX_ACTORS 32

typedef struct {
    const sl_actor_def_t *def;
    void *state;
    sl_worker_t *worker;
} running_t;

//  What the operational endpoints look at.
typedef struct {
    sl_node_t *node;
    sl_broker_t *broker;
    running_t *running;
    int count;
} ops_t;

//  ---------------------------------------------------------------------
//  Broker operational endpoints (broker.metrics_port): /metrics in the
//  Prometheus format and /stats.json for autoscalers (KEDA reads
//  services.<stage>.queued), both from the broker's own STATS answer.

static int
s_broker_ops (void *arg, const char *path, char **body, const char **type)
{
    ops_t *ops = (ops_t *) arg;
    if (streq (path, "/healthz")) {
        *body = strdup ("ok\n");
        return 200;
    }
    if (!streq (path, "/metrics") && !streq (path, "/stats.json") && !streq (path, "/readyz"))
        return 404;
    char *data = NULL;
    size_t size = 0;
    if (sl_broker_stats (ops->broker, &data, &size)) {
        *body = strdup ("broker has no statistics yet\n");
        return 503;
    }
    if (streq (path, "/readyz")) {
        //  Ready = serving: a single broker whose loop turns, or the active
        //  one of a pair. A Service over both brokers of a pair (the one
        //  autoscalers read) then reaches the active one only
        char pair [16] = "";
        sl_mp_t *mp = sl_mp_decode (data, size, NULL, 0);
        if (mp)
            sl_mp_get_str (sl_mp_root (mp), "pair", pair, sizeof pair);
        sl_mp_destroy (&mp);
        free (data);
        bool serving = !*pair || streq (pair, "active");
        *body = serving ? strdup ("ok\n") : zsys_sprintf ("standing by: this broker of the pair is %s\n", pair);
        return serving ? 200 : 503;
    }
    if (streq (path, "/stats.json")) {
        *body = sl_json_text_from_mp (data, size);
        *type = "application/json";
        free (data);
        return *body ? 200 : 500;
    }
    //  One mapping from broker figures to metric names (sl_metrics), the
    //  edge's /metrics shows the same series
    sl_metrics_t *m = sl_metrics_new ();
    int rc = sl_metrics_broker_stats (m, data, size);
    free (data);
    *body = rc ? strdup ("unreadable broker statistics\n") : sl_metrics_render (m);
    sl_metrics_destroy (&m);
    if (rc)
        return 500;
    *type = "text/plain; version=0.0.4";
    return 200;
}

//  Worker operational endpoints (worker.health_port): /healthz = every
//  worker's loop is turning (restart me if not); /readyz = every worker has
//  heard from the broker within its liveness window (send me work).
static int
s_worker_ops (void *arg, const char *path, char **body, const char **type)
{
    ops_t *ops = (ops_t *) arg;
    bool live = streq (path, "/healthz"), ready = streq (path, "/readyz");
    if (streq (path, "/metrics")) {
        *body = sl_metrics_render (sl_node_metrics (ops->node));
        *type = "text/plain; version=0.0.4";
        return 200;
    }
    if (!live && !ready)
        return 404;
    char *out = NULL;
    size_t out_size = 0;
    FILE *f = open_memstream (&out, &out_size);
    bool ok = true;
    for (int i = 0; i < ops->count; i++) {
        sl_worker_t *w = ops->running [i].worker;
        if (!w)
            continue;
        bool good = live ? sl_worker_alive (w) : sl_worker_connected (w);
        fprintf (f, "%s: %s\n", ops->running [i].def->name,
                 good ? "ok" : live ? "actor loop stalled" : "not connected to broker");
        ok = ok && good;
    }
    fclose (f);
    *body = out;
    return ok ? 200 : 503;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: sluiced [options]\n"
        "  --role ROLES      comma-separated roles, or 'all' (default): broker");
    for (int i = 0; sl_roles [i]; i++)
        fprintf (out, ", %s", sl_roles [i]->name);
    fprintf (out, "\n"
        "  --broker EP       broker endpoint to connect to (scaled mode), e.g. tcp://10.0.0.5:5555\n"
        "  --events EP       broker event endpoint to connect to (default: broker port + 1)\n"
        "  --config FILE     settings file (ZPL); also SLUICE_* environment variables\n"
        "  --data DIR        data folder (default ./data)\n"
        "  --set KEY=VALUE   any setting, e.g. --set parse.concurrency=2 (repeatable)\n"
        "  --print-config    print the effective settings and exit\n"
        "  --keygen PATH     write a CURVE certificate: PATH (public) and PATH_secret\n"
        "  --reembed WS      re-embed workspace WS's stored chunks with the configured\n"
        "                    embed.provider/options (no re-parse) and switch it to that\n"
        "                    model; vectors go through the embedding cache a page (256)\n"
        "                    at a time, so memory stays at one page whatever the size\n"
        "  --version, --help\n"
        "See docs/config.md for every setting.\n");
}

//  tcp://host:5555 → tcp://host:5556 (the event endpoint by convention)
//  (a comma list, a broker pair, element by element)
static void
s_events_from_broker (const char *broker, char *out, size_t cap)
{
    sl_proto_events_endpoint (broker, out, cap);
}

//  --keygen PATH: write a CURVE certificate pair, PATH (public, to hand
//  to the broker (curve.worker_keys, curve.workers_dir, curve.client_keys)
//  or to peers) and PATH_secret (keep it).
static int
s_keygen (const char *path)
{
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, "created-by", "sluiced %s", SLUICE_VERSION);
    int rc = zcert_save (cert, path);
    if (rc == 0) {
        printf ("public key  %s\nsecret key  %s_secret (keep it private)\nz85 public  %s\n", path, path,
                zcert_public_txt (cert));
        char secret [1100];
        snprintf (secret, sizeof secret, "%s_secret", path);
        chmod (secret, 0600);
    }
    else
        fprintf (stderr, "sluiced: cannot write %s: %s\n", path, strerror (errno));
    zcert_destroy (&cert);
    return rc == 0 ? 1 : 2;      //  1: handled, exit 0
}

//  --reembed WORKSPACE: embed every stored chunk of the workspace again
//  with the configured embedder and switch the workspace to its model (no
//  fetch, no parse, no chunking). Vectors go to the embedding cache page by
//  page, so memory stays at one page whatever the workspace's size, a text
//  already embedded with the model (a repeated chunk, an earlier run cut
//  short) is not embedded again, and the switch is one store transaction
//  that takes them from there. Safe while nodes run: a document committed
//  meanwhile leaves chunks with no new vector, the switch says how many, and
//  another pass (only those are embedded) follows; a deleted one just has
//  nothing to switch. Every node's index reloads on its next search; nodes
//  still configured with the old model get 409 from search until
//  reconfigured.
static const char *s_reembed_workspace = NULL;
#define S_REEMBED_PAGE   256
#define S_REEMBED_PASSES 3

//  One pass over the workspace: embed into the cache what it lacks.
//  Returns 0, or 1 with the reason printed.
static int
s_reembed_pass (sl_store_t *store, sl_embedder_t *embedder, const char *workspace,
                size_t *total, size_t *embedded)
{
    const char *model = sl_embedder_model_id (embedder);
    int dim = sl_embedder_dim (embedder);
    float *vectors = malloc ((size_t) S_REEMBED_PAGE * (size_t) dim * sizeof *vectors);
    float *fresh = malloc ((size_t) S_REEMBED_PAGE * (size_t) dim * sizeof *fresh);
    int64_t keys [S_REEMBED_PAGE];
    char *texts [S_REEMBED_PAGE];
    char hashes [S_REEMBED_PAGE][SL_SHA256_HEX];
    const char *hash_ptrs [S_REEMBED_PAGE], *miss_texts [S_REEMBED_PAGE], *miss_hashes [S_REEMBED_PAGE];
    size_t miss_lens [S_REEMBED_PAGE];
    bool found [S_REEMBED_PAGE];
    char err [512] = "";
    int count = 0, rc = vectors && fresh ? 0 : 1;
    if (rc)
        fprintf (stderr, "sluiced: --reembed: out of memory\n");
    int64_t after = 0;
    *total = *embedded = 0;
    do {
        if (rc || sl_store_workspace_chunks (store, workspace, after, S_REEMBED_PAGE, keys, texts,
                                             &count) != SL_STORE_OK) {
            if (!rc)
                fprintf (stderr, "sluiced: --reembed: %s\n", sl_store_errmsg (store));
            rc = 1;
            break;
        }
        for (int i = 0; i < count; i++) {
            sl_sha256_hex (texts [i], strlen (texts [i]), hashes [i]);
            hash_ptrs [i] = hashes [i];
        }
        int misses = 0;
        if (count > 0 && sl_store_cache_get (store, model, hash_ptrs, count, dim, vectors, found) < 0) {
            fprintf (stderr, "sluiced: --reembed: %s\n", sl_store_errmsg (store));
            rc = 1;
        }
        for (int i = 0; !rc && i < count; i++)
            if (!found [i]) {
                miss_texts [misses] = texts [i];
                miss_lens [misses] = strlen (texts [i]);
                miss_hashes [misses++] = hashes [i];
            }
        if (!rc && misses > 0
        &&  sl_embedder_embed (embedder, miss_texts, miss_lens, misses, fresh, err, sizeof err)) {
            fprintf (stderr, "sluiced: --reembed: embedding failed: %s\n", err);
            rc = 1;
        }
        if (!rc && misses > 0
        &&  sl_store_cache_put (store, model, miss_hashes, misses, fresh, dim) != SL_STORE_OK) {
            fprintf (stderr, "sluiced: --reembed: %s\n", sl_store_errmsg (store));
            rc = 1;
        }
        sl_store_texts_free (texts, count);
        if (count > 0)
            after = keys [count - 1];
        *total += (size_t) count;
        *embedded += (size_t) misses;
        if (!rc && count > 0 && (*total % (16 * S_REEMBED_PAGE) == 0 || count < S_REEMBED_PAGE)) {
            printf ("%zu chunks: %zu embedded, %zu already in the cache\n", *total, *embedded,
                    *total - *embedded);
            fflush (stdout);
        }
    } while (!rc && count == S_REEMBED_PAGE);
    free (vectors);
    free (fresh);
    return rc;
}

//  Re-embedding keeps the chunks as they were cut: say so when they were
//  cut longer than the new model reads, since their ends would then not
//  count in their vectors (ingesting again re-cuts them)
static void
s_reembed_chunking_note (sl_config_t *cfg, sl_store_t *store, const char *workspace,
                         sl_embedder_t *embedder)
{
    sl_chunking_t chunking;
    sl_chunking_from_config (&chunking, cfg);
    char json [1100] = "", err [256];
    if (sl_store_workspace_chunking (store, workspace, json, sizeof json) == SL_STORE_OK)
        sl_chunking_apply_text (&chunking, json, err, sizeof err);
    int max = sl_embedder_max_tokens (embedder);
    if (max > 0 && chunking.target_tokens > max)
        printf ("note: workspace %s cuts chunks of up to %d tokens and %s reads %d: the rest "
                "of a longer chunk will not count in its vector; ingest the documents again "
                "to cut them for this model\n", workspace, chunking.target_tokens,
                sl_embedder_model_id (embedder), max);
}

static int
s_reembed (sl_config_t *cfg, const char *workspace)
{
    //  Nothing here needs a graceful drain: the switch is one transaction,
    //  so Ctrl-C at any point leaves the workspace as it was (and what was
    //  embedded stays in the cache for the next run)
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    pthread_sigmask (SIG_UNBLOCK, &signals, NULL);

    sl_node_t *node = sl_node_new (cfg);
    char err [512] = "";
    int rc = 1;
    sl_store_t *store = sl_store_shared (node, err, sizeof err);
    sl_embedder_t *embedder = store ? sl_embedder_shared (node, err, sizeof err) : NULL;
    if (!store || !embedder) {
        fprintf (stderr, "sluiced: --reembed: %s\n", err);
        goto done;
    }
    if (*sl_embedder_fallback_note ()) {
        fprintf (stderr, "sluiced: --reembed: %s; set embed.provider to the embedder to "
                 "re-embed with\n", sl_embedder_fallback_note ());
        goto done;
    }
    const char *model = sl_embedder_model_id (embedder);
    int dim = sl_embedder_dim (embedder);
    char old_model [256] = "";
    int old_dim = 0;
    int src = sl_store_workspace_model (store, workspace, old_model, sizeof old_model, &old_dim);
    if (src == SL_STORE_NOT_FOUND)
        snprintf (old_model, sizeof old_model, "(none)");
    else
    if (src != SL_STORE_OK) {
        fprintf (stderr, "sluiced: --reembed: %s\n", sl_store_errmsg (store));
        goto done;
    }
    printf ("re-embedding workspace %s: %s (%d dimensions) -> %s (%d dimensions)\n", workspace,
            old_model, old_dim, model, dim);
    s_reembed_chunking_note (cfg, store, workspace, embedder);
    fflush (stdout);
    for (int pass = 1; pass <= S_REEMBED_PASSES; pass++) {
        size_t total = 0, embedded = 0;
        if (s_reembed_pass (store, embedder, workspace, &total, &embedded))
            goto done;
        int64_t missing = 0;
        src = sl_store_workspace_reembed (store, workspace, model, dim, &missing);
        if (src == SL_STORE_OK) {
            printf ("re-embedded %zu chunks of workspace %s: %s -> %s\n", total, workspace,
                    old_model, model);
            rc = 0;
            goto done;
        }
        if (src != SL_STORE_CONFLICT || missing == 0 || pass == S_REEMBED_PASSES) {
            fprintf (stderr, "sluiced: --reembed: %s\n", sl_store_errmsg (store));
            goto done;
        }
        printf ("%lld chunks were added during the pass: another pass\n", (long long) missing);
        fflush (stdout);
    }
done:
    sl_node_destroy (&node);
    return rc;
}

static int
s_parse_args (int argc, char **argv, sl_config_t *cfg)
{
    static struct option options [] = {
        { "role", required_argument, 0, 'r' },
        { "broker", required_argument, 0, 'b' },
        { "events", required_argument, 0, 'e' },
        { "config", required_argument, 0, 'c' },
        { "data", required_argument, 0, 'd' },
        { "set", required_argument, 0, 's' },
        { "print-config", no_argument, 0, 'p' },
        { "keygen", required_argument, 0, 'k' },
        { "reembed", required_argument, 0, 'E' },
        { "version", no_argument, 0, 'V' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    //  The config file is read first so the command line overrides it
    for (int i = 1; i < argc - 1; i++)
        if (streq (argv [i], "--config")) {
            char err [512];
            if (sl_config_load_file (cfg, argv [i + 1], err, sizeof err)) {
                fprintf (stderr, "sluiced: %s\n", err);
                return 2;
            }
        }
    sl_config_load_env (cfg, environ);
    int opt;
    while ((opt = getopt_long (argc, argv, "r:b:e:c:d:s:pVh", options, NULL)) != -1) {
        switch (opt) {
            case 'r': sl_config_set (cfg, "role", optarg); break;
            case 'b': sl_config_set (cfg, "broker.endpoint", optarg); break;
            case 'e': sl_config_set (cfg, "broker.events", optarg); break;
            case 'c': break;
            case 'd': sl_config_set (cfg, "data.dir", optarg); break;
            case 's':
                if (sl_config_set_pair (cfg, optarg)) {
                    fprintf (stderr, "sluiced: --set wants KEY=VALUE, got '%s'\n", optarg);
                    return 2;
                }
                break;
            case 'p': sl_config_set (cfg, "print_config", "1"); break;
            case 'k': return s_keygen (optarg);
            case 'E': s_reembed_workspace = optarg; break;
            case 'V': printf ("sluiced %s\n", SLUICE_VERSION); return 1;
            case 'h': s_usage (stdout); return 1;
            default: s_usage (stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "sluiced: unexpected argument '%s'\n", argv [optind]);
        return 2;
    }
    return 0;
}

//  Does the role list name this role (or is it 'all')?
static bool
s_has_role (const char *roles, const char *name, bool diagnostic)
{
    if (streq (roles, "all"))
        return !diagnostic || streq (name, "broker") ? true : false;
    char buf [512];
    snprintf (buf, sizeof buf, "%s", roles);
    char *save = NULL;
    for (char *tok = strtok_r (buf, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
        if (streq (tok, name))
            return true;
    return false;
}

static int
s_check_roles (const char *roles)
{
    if (streq (roles, "all"))
        return 0;
    char buf [512];
    snprintf (buf, sizeof buf, "%s", roles);
    char *save = NULL;
    for (char *tok = strtok_r (buf, ",", &save); tok; tok = strtok_r (NULL, ",", &save))
        if (!streq (tok, "broker") && !sl_roles_find (tok)) {
            fprintf (stderr, "sluiced: unknown role '%s' (try --help)\n", tok);
            return -1;
        }
    return 0;
}

static sl_broker_t *
s_start_broker (sl_config_t *cfg, bool embedded, const char *data_dir)
{
    sl_broker_config_t bc;
    sl_broker_config_defaults (&bc);
    bc.endpoint = sl_config_get (cfg, "broker.bind", embedded ? "inproc://sluice" : "tcp://*:5555");
    char events [512];
    s_events_from_broker (bc.endpoint, events, sizeof events);
    if (strncmp (bc.endpoint, "tcp://*:", 8) == 0)
        snprintf (events, sizeof events, "tcp://*:%d", atoi (bc.endpoint + 8) + 1);
    bc.pub_endpoint = sl_config_get (cfg, "broker.events_bind", events);
    bc.heartbeat_ms = (int) sl_config_int (cfg, "broker.heartbeat_ms", bc.heartbeat_ms);
    bc.liveness = (int) sl_config_int (cfg, "broker.liveness", bc.liveness);
    bc.queue_limit = (size_t) sl_config_int (cfg, "broker.queue_limit", (int64_t) bc.queue_limit);
    bc.retry_after_ms = (int) sl_config_int (cfg, "broker.retry_after_ms", bc.retry_after_ms);
    bc.dlq_limit = (size_t) sl_config_int (cfg, "broker.dlq_limit", (int64_t) bc.dlq_limit);
    bc.journal_service = sl_config_get (cfg, "broker.journal", "journal");
    if (bc.journal_service && !*bc.journal_service)
        bc.journal_service = NULL;
    char snapshot [1100];
    snprintf (snapshot, sizeof snapshot, "%s/broker.snapshot", data_dir);
    bc.snapshot_path = sl_config_get (cfg, "broker.snapshot", snapshot);
    bc.services = sl_config_get (cfg, "broker.services", "intake,fetch,parse,chunk,embed,store,journal,query,upload");
    bc.curve_secret = sl_config_get (cfg, "curve.broker_secret", NULL);
    bc.curve_workers = sl_config_get (cfg, "curve.worker_keys", NULL);
    //  curve.clients_dir is the old name of curve.workers_dir: every key in
    //  it could do everything then, and it still can
    const char *old_dir = sl_config_get (cfg, "curve.clients_dir", NULL);
    bc.curve_workers_dir = sl_config_get (cfg, "curve.workers_dir", old_dir);
    if (old_dir && bc.curve_workers_dir == old_dir)
        sl_warn (NULL, "curve.clients_dir is deprecated: its keys are worker keys (trusted with every "
                 "workspace); rename it curve.workers_dir, and give outside programs curve.client_keys");
    bc.curve_clients = sl_config_get (cfg, "curve.client_keys", NULL);
    bc.client_services = sl_config_get (cfg, "broker.client_services", NULL);
    bc.insecure = sl_config_bool (cfg, "broker.insecure", false);
    bc.max_msg_size = sl_config_size (cfg, "broker.max_msg_size", SL_MAX_MSG_DEFAULT);
    //  A failover pair (sl_broker.h, "Failover"): unset is a single broker
    bc.pair = sl_config_get (cfg, "broker.pair", NULL);
    if (bc.pair && !*bc.pair)
        bc.pair = NULL;
    bc.state_endpoint = sl_config_get (cfg, "broker.state_bind", NULL);
    bc.peer = sl_config_get (cfg, "broker.peer", NULL);
    return sl_broker_new (&bc);
}

//  The storage collector for this node, started; NULL (logged) if the
//  store or the blob area cannot be had: intake then fails on its own.
static sl_janitor_t *
s_start_janitor (sl_node_t *node)
{
    char err [512] = "";
    sl_store_t *store = sl_store_shared (node, err, sizeof err);
    sl_blob_t *blobs = store ? sl_node_blob (node, err, sizeof err) : NULL;
    if (!blobs) {
        sl_error (NULL, "storage collector not started: %s", err);
        return NULL;
    }
    sl_janitor_config_t jc;
    sl_janitor_config_load (&jc, sl_node_config (node));
    sl_janitor_t *janitor = sl_janitor_new (store, blobs, &jc, sl_node_metrics (node));
    if (sl_janitor_start (janitor)) {
        sl_error (NULL, "storage collector not started: cannot create its thread");
        sl_janitor_destroy (&janitor);
    }
    return janitor;
}

int
main (int argc, char **argv)
{
    //  Tesseract (the ocr stage) is built with OpenMP, whose runtime reads
    //  OMP_THREAD_LIMIT once, as the library loads, before main: unset, every
    //  page spreads over all cores and spins, measured 5x slower and 6x the
    //  CPU on a busy 2-core machine. One page per thread is the stage's own
    //  concurrency (ocr.concurrency). So set it and start again, before
    //  anything else has happened; a value set by the operator is kept, and
    //  if the exec fails we carry on as we are.
    if (!getenv ("OMP_THREAD_LIMIT") && setenv ("OMP_THREAD_LIMIT", "1", 1) == 0)
        execv ("/proc/self/exe", argv);
    //  Before any thread exists: signals go to sigwait, not to a handler
    sigset_t signals;
    sigemptyset (&signals);
    sigaddset (&signals, SIGINT);
    sigaddset (&signals, SIGTERM);
    pthread_sigmask (SIG_BLOCK, &signals, NULL);
    signal (SIGPIPE, SIG_IGN);
    zsys_handler_set (NULL);
    zsys_set_logstream (NULL);
    //  Initialise czmq here, once: its lazy init races when two actor
    //  threads open their first sockets at the same moment
    zsys_init ();

    sl_config_t *cfg = sl_config_new ();
    int rc = s_parse_args (argc, argv, cfg);
    if (rc) {
        sl_config_destroy (&cfg);
        return rc == 1 ? 0 : rc;
    }
    int level = sl_log_level_parse (sl_config_get (cfg, "log.level", NULL));
    if (level >= 0)
        sl_log_set_level ((sl_log_level_t) level);
    sl_log_set_role ("sluiced");
    const char *roles = sl_config_get (cfg, "role", "all");
    if (s_check_roles (roles)) {
        sl_config_destroy (&cfg);
        return 2;
    }
    if (sl_config_bool (cfg, "print_config", false)) {
        sl_config_print (cfg, stdout);
        sl_config_destroy (&cfg);
        return 0;
    }
    if (s_reembed_workspace) {
        rc = s_reembed (cfg, s_reembed_workspace);
        sl_config_destroy (&cfg);
        return rc;
    }
    //  Every socket to or from the broker refuses larger message parts
    sl_proto_set_max_msg_size (sl_config_size (cfg, "broker.max_msg_size", SL_MAX_MSG_DEFAULT));
    sl_node_t *node = sl_node_new (cfg);
    sl_metrics_declare (sl_node_metrics (node), "sluice_stage_duration_seconds", SL_HISTOGRAM,
                        "Time a stage handler spent on one message, by stage and outcome");
    if (sl_mkdirs (sl_node_data_dir (node), 0755)) {
        sl_error (NULL, "cannot create data folder %s: %s", sl_node_data_dir (node), strerror (errno));
        return 1;
    }
    bool embedded = streq (roles, "all");
    if (embedded) {
        //  One process is the whole system: jobs it left unfinished are
        //  orphans, unless it stopped cleanly and saved its queues, in which
        //  case the broker snapshot carries them on and re-driving them
        //  would only duplicate work
        char snapshot [1100];
        snprintf (snapshot, sizeof snapshot, "%s/broker.snapshot", sl_config_get (cfg, "data.dir", "./data"));
        bool clean = access (sl_config_get (cfg, "broker.snapshot", snapshot), F_OK) == 0;
        sl_config_set (cfg, "jobs.redrive_orphans", clean ? "0" : "1");
    }
    sl_broker_t *broker = NULL;
    if (s_has_role (roles, "broker", false)) {
        broker = s_start_broker (cfg, embedded, sl_node_data_dir (node));
        if (!broker)
            return 1;
        sl_node_set_broker (node, sl_broker_endpoint (broker), sl_broker_pub_endpoint (broker));
    }
    else {
        const char *ep = sl_config_get (cfg, "broker.endpoint", "tcp://127.0.0.1:5555");
        char events [512];
        s_events_from_broker (ep, events, sizeof events);
        sl_node_set_broker (node, ep, sl_config_get (cfg, "broker.events", events));
    }

    running_t running [MAX_ACTORS];
    int count = 0;
    for (int i = 0; sl_roles [i] && count < MAX_ACTORS; i++) {
        const sl_actor_def_t *def = sl_roles [i];
        if (!s_has_role (roles, def->name, def->diagnostic))
            continue;
        running_t *r = &running [count];
        memset (r, 0, sizeof *r);
        r->def = def;
        char err [512] = "";
        if (def->start && !(r->state = def->start (node, err, sizeof err))) {
            sl_error (NULL, "cannot start %s: %s", def->name, err);
            rc = 1;
            break;
        }
        if (def->handler) {
            char key [64];
            snprintf (key, sizeof key, "%s.concurrency", def->name);
            sl_worker_config_t wc;
            sl_worker_config_defaults (&wc);
            wc.service = def->name;
            wc.broker = sl_node_broker (node);
            wc.concurrency = (int) sl_config_int (cfg, key, def->default_concurrency);
            //  Never 0, the runtime's inline mode: the handler would run on
            //  the thread that heartbeats, and a long document would go
            //  silent, be declared dead and have its message taken back
            if (wc.concurrency < 1)
                wc.concurrency = 1;
            wc.heartbeat_ms = (int) sl_config_int (cfg, "broker.heartbeat_ms", wc.heartbeat_ms);
            wc.liveness = (int) sl_config_int (cfg, "broker.liveness", wc.liveness);
            wc.drain_timeout_ms = (int) sl_config_int (cfg, "worker.drain_timeout_ms", wc.drain_timeout_ms);
            wc.handler = def->handler;
            wc.stage_events = def->stage_events;
            if (def->stage_events) {
                //  A pipeline stage: a cancelled job stops at its boundary
                wc.admit = sl_store_job_gate;
                wc.admit_arg = node;
            }
            wc.metrics = sl_node_metrics (node);
            wc.state = r->state;
            if (strncmp (wc.broker, "inproc:", 7) != 0) {
                wc.curve_client = sl_node_curve_client (node);
                wc.curve_server = sl_node_curve_server (node);
            }
            r->worker = sl_worker_new (&wc);
        }
        count++;
    }
    sl_janitor_t *janitor = NULL;
    if (rc == 0 && s_has_role (roles, "intake", false) && sl_config_bool (cfg, "storage.gc", true))
        janitor = s_start_janitor (node);
    //  Operational HTTP for pods (off in the embedded default, where the
    //  edge serves /healthz, /readyz and /metrics)
    ops_t ops = { node, broker, running, count };
    sl_health_t *broker_ops = NULL, *worker_ops = NULL;
    int64_t metrics_port = sl_config_int (cfg, "broker.metrics_port", embedded ? 0 : 9101);
    if (rc == 0 && broker && metrics_port > 0
    &&  !(broker_ops = sl_health_new (sl_config_get (cfg, "broker.metrics_bind", NULL), (int) metrics_port, s_broker_ops, &ops)))
        rc = 1;
    int64_t health_port = sl_config_int (cfg, "worker.health_port", embedded ? 0 : 9102);
    bool any_worker = false;
    for (int i = 0; i < count; i++)
        any_worker = any_worker || running [i].worker;
    if (rc == 0 && any_worker && health_port > 0
    &&  !(worker_ops = sl_health_new (sl_config_get (cfg, "worker.health_bind", NULL), (int) health_port, s_worker_ops, &ops)))
        rc = 1;
    if (rc == 0) {
        sl_info (NULL, "sluiced %s up: roles %s, broker %s, data %s", SLUICE_VERSION, roles,
                 sl_node_broker (node), sl_node_data_dir (node));
        int sig = 0;
        sigwait (&signals, &sig);
        sl_info (NULL, "signal %d: draining", sig);
    }
    sl_health_destroy (&worker_ops);
    sl_health_destroy (&broker_ops);
    sl_janitor_destroy (&janitor);
    //  Reverse order: the edge (last in the table) stops first, then the
    //  stages drain, and the broker goes last so their ACKs still land.
    //  An actor whose handler is still running keeps its state (see above).
    int left_running = 0;
    for (int i = count - 1; i >= 0; i--) {
        if (!sl_worker_destroy (&running [i].worker)) {
            left_running++;
            continue;
        }
        if (running [i].def->stop)
            running [i].def->stop (&running [i].state);
    }
    sl_broker_destroy (&broker);
    if (left_running) {
        sl_error (NULL, "stopped with %d actor(s) still running a handler: exiting without freeing "
                  "what they use", left_running);
        fflush (stdout);
        fflush (stderr);
        _exit (rc);
    }
    sl_node_destroy (&node);
    sl_config_destroy (&cfg);
    sl_info (NULL, "stopped");
    return rc;
}
