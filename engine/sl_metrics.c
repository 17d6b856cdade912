/*  sl_metrics: Prometheus registry. See sl_metrics.h. */
#include "sl_metrics.h"
#include "sl_mp.h"

#include <czmq.h>
#include <pthread.h>

static const double s_buckets [] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300 };
#define BUCKETS (sizeof s_buckets / sizeof s_buckets [0])

typedef struct {
    char *name;
    char *labels;
    double value;               //  counter/gauge value, histogram sum
    uint64_t count;
    uint64_t bucket [BUCKETS];
} series_t;

typedef struct {
    sl_metric_type_t type;
    char *help;
    zlistx_t *series;           //  series_t *, in creation order
} family_t;

struct _sl_metrics_t {
    pthread_mutex_t lock;
    zhashx_t *families;         //  name → family_t
    zlistx_t *order;            //  names in declaration order
};

static void
s_series_destroy (void **item)
{
    series_t *s = *item;
    free (s->name);
    free (s->labels);
    free (s);
    *item = NULL;
}

static void
s_family_destroy (void **item)
{
    family_t *f = *item;
    zlistx_destroy (&f->series);
    free (f->help);
    free (f);
    *item = NULL;
}

sl_metrics_t *
sl_metrics_new (void)
{
    sl_metrics_t *self = calloc (1, sizeof *self);
    assert (self);
    pthread_mutex_init (&self->lock, NULL);
    self->families = zhashx_new ();
    zhashx_set_destructor (self->families, s_family_destroy);
    self->order = zlistx_new ();
    zlistx_set_destructor (self->order, (zlistx_destructor_fn *) zstr_free);
    return self;
}

void
sl_metrics_destroy (sl_metrics_t **self_p)
{
    if (*self_p) {
        zhashx_destroy (&(*self_p)->families);
        zlistx_destroy (&(*self_p)->order);
        pthread_mutex_destroy (&(*self_p)->lock);
        free (*self_p);
        *self_p = NULL;
    }
}

static family_t *
s_family (sl_metrics_t *self, const char *name, sl_metric_type_t type)
{
    family_t *f = zhashx_lookup (self->families, name);
    if (!f) {
        f = calloc (1, sizeof *f);
        f->type = type;
        f->series = zlistx_new ();
        zlistx_set_destructor (f->series, s_series_destroy);
        zhashx_insert (self->families, name, f);
        zlistx_add_end (self->order, strdup (name));
    }
    return f;
}

static series_t *
s_series (sl_metrics_t *self, const char *name, const char *labels, sl_metric_type_t type)
{
    family_t *f = s_family (self, name, type);
    labels = labels ? labels : "";
    for (series_t *s = zlistx_first (f->series); s; s = zlistx_next (f->series))
        if (streq (s->labels, labels))
            return s;
    series_t *s = calloc (1, sizeof *s);
    s->name = strdup (name);
    s->labels = strdup (labels);
    zlistx_add_end (f->series, s);
    return s;
}

void
sl_metrics_declare (sl_metrics_t *self, const char *name, sl_metric_type_t type, const char *help)
{
    pthread_mutex_lock (&self->lock);
    family_t *f = s_family (self, name, type);
    f->type = type;
    free (f->help);
    f->help = strdup (help);
    pthread_mutex_unlock (&self->lock);
}

void
sl_metrics_add (sl_metrics_t *self, const char *name, const char *labels, double value)
{
    pthread_mutex_lock (&self->lock);
    s_series (self, name, labels, SL_COUNTER)->value += value;
    pthread_mutex_unlock (&self->lock);
}

void
sl_metrics_set (sl_metrics_t *self, const char *name, const char *labels, double value)
{
    pthread_mutex_lock (&self->lock);
    s_series (self, name, labels, SL_GAUGE)->value = value;
    pthread_mutex_unlock (&self->lock);
}

void
sl_metrics_observe (sl_metrics_t *self, const char *name, const char *labels, double seconds)
{
    pthread_mutex_lock (&self->lock);
    series_t *s = s_series (self, name, labels, SL_HISTOGRAM);
    s->value += seconds;
    s->count++;
    for (size_t i = 0; i < BUCKETS; i++)
        if (seconds <= s_buckets [i])
            s->bucket [i]++;
    pthread_mutex_unlock (&self->lock);
}

void
sl_metrics_clear (sl_metrics_t *self, const char *name)
{
    pthread_mutex_lock (&self->lock);
    family_t *f = zhashx_lookup (self->families, name);
    if (f)
        zlistx_purge (f->series);
    pthread_mutex_unlock (&self->lock);
}

char *
sl_metrics_label (const char *value, char *buf, size_t cap)
{
    size_t n = 0;
    for (; value && *value && n + 3 < cap; value++) {
        if (*value == '\\' || *value == '"') {
            buf [n++] = '\\';
            buf [n++] = *value;
        }
        else
        if (*value == '\n') {
            buf [n++] = '\\';
            buf [n++] = 'n';
        }
        else
            buf [n++] = *value;
    }
    buf [n] = 0;
    return buf;
}

//  Broker figures: per service (a label), then broker-wide.
static const struct {
    const char *field, *name;
    sl_metric_type_t type;
    const char *help;
} s_broker_service [] = {
    { "queued", "sluice_broker_queue_depth", SL_GAUGE, "Messages queued per service" },
    { "inflight", "sluice_broker_inflight", SL_GAUGE, "Messages in flight at workers per service" },
    { "workers", "sluice_broker_workers", SL_GAUGE, "Workers connected per service" },
    { "credit", "sluice_broker_credit", SL_GAUGE, "Free worker credit per service" },
    { "submitted", "sluice_broker_submitted_total", SL_COUNTER, "Messages queued per service" },
    { "completed", "sluice_broker_completed_total", SL_COUNTER, "Messages acknowledged per service" },
    { "dead", "sluice_broker_dead_letters_total", SL_COUNTER, "Messages dead-lettered per service" },
    { "busy", "sluice_broker_busy_total", SL_COUNTER, "Submissions refused BUSY per service" },
    { "redelivered", "sluice_broker_redelivered_total", SL_COUNTER, "Messages delivered again per service" },
    { "held", "sluice_broker_held_total", SL_COUNTER,
      "Submissions refused per service: the job already had a live message" },
}, s_broker_global [] = {
    { "dlq", "sluice_broker_dlq_size", SL_GAUGE, "Dead letters held by the broker" },
    { "workers", "sluice_broker_peers", SL_GAUGE, "Workers connected to the broker" },
    { "jobs", "sluice_broker_live_jobs", SL_GAUGE, "Jobs with a live pipeline message" },
    { "malformed", "sluice_broker_malformed_total", SL_COUNTER, "Undecodable messages received" },
    { "refused", "sluice_broker_refused_total", SL_COUNTER, "Commands refused to a peer's key" },
};
#define COUNT(a) (sizeof (a) / sizeof (a) [0])

int
sl_metrics_broker_stats (sl_metrics_t *self, const void *data, size_t size)
{
    for (size_t i = 0; i < COUNT (s_broker_service); i++) {
        sl_metrics_declare (self, s_broker_service [i].name, s_broker_service [i].type, s_broker_service [i].help);
        sl_metrics_clear (self, s_broker_service [i].name);
    }
    for (size_t i = 0; i < COUNT (s_broker_global); i++) {
        sl_metrics_declare (self, s_broker_global [i].name, s_broker_global [i].type, s_broker_global [i].help);
        sl_metrics_clear (self, s_broker_global [i].name);
    }
    if (!data)
        return 0;
    sl_mp_t *mp = sl_mp_decode (data, size, NULL, 0);
    const msgpack_object *root = mp ? sl_mp_root (mp) : NULL;
    if (!root || root->type != MSGPACK_OBJECT_MAP) {
        sl_mp_destroy (&mp);
        return -1;
    }
    const msgpack_object *services = sl_mp_get (root, "services");
    uint32_t n = services && services->type == MSGPACK_OBJECT_MAP ? services->via.map.size : 0;
    for (uint32_t j = 0; j < n; j++) {
        char name [64] = "", esc [160], label [200];
        sl_mp_str (&services->via.map.ptr [j].key, name, sizeof name);
        snprintf (label, sizeof label, "service=\"%s\"", sl_metrics_label (name, esc, sizeof esc));
        for (size_t i = 0; i < COUNT (s_broker_service); i++) {
            int64_t value = 0;
            sl_mp_get_int (&services->via.map.ptr [j].val, s_broker_service [i].field, &value);
            sl_metrics_set (self, s_broker_service [i].name, label, (double) value);
        }
    }
    for (size_t i = 0; i < COUNT (s_broker_global); i++) {
        int64_t value = 0;
        sl_mp_get_int (root, s_broker_global [i].field, &value);
        sl_metrics_set (self, s_broker_global [i].name, NULL, (double) value);
    }
    sl_mp_destroy (&mp);
    return 0;
}

//  "name{labels,extra}" with the braces only when something is inside.
static void
s_name (char *buf, size_t cap, const char *name, const char *suffix, const char *labels, const char *extra)
{
    bool any = (labels && *labels) || (extra && *extra);
    snprintf (buf, cap, "%s%s%s%s%s%s%s", name, suffix, any ? "{" : "", labels ? labels : "",
              labels && *labels && extra && *extra ? "," : "", extra ? extra : "", any ? "}" : "");
}

char *
sl_metrics_render (sl_metrics_t *self)
{
    static const char *types [] = { "counter", "gauge", "histogram" };
    pthread_mutex_lock (&self->lock);
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&out, &size);
    for (char *name = zlistx_first (self->order); name; name = zlistx_next (self->order)) {
        family_t *fam = zhashx_lookup (self->families, name);
        if (fam->help)
            fprintf (f, "# HELP %s %s\n", name, fam->help);
        fprintf (f, "# TYPE %s %s\n", name, types [fam->type]);
        char line [1024];
        for (series_t *s = zlistx_first (fam->series); s; s = zlistx_next (fam->series)) {
            if (fam->type != SL_HISTOGRAM) {
                s_name (line, sizeof line, name, "", s->labels, NULL);
                fprintf (f, "%s %.17g\n", line, s->value);
                continue;
            }
            for (size_t i = 0; i < BUCKETS; i++) {
                char le [32];
                snprintf (le, sizeof le, "le=\"%g\"", s_buckets [i]);
                s_name (line, sizeof line, name, "_bucket", s->labels, le);
                fprintf (f, "%s %llu\n", line, (unsigned long long) s->bucket [i]);
            }
            s_name (line, sizeof line, name, "_bucket", s->labels, "le=\"+Inf\"");
            fprintf (f, "%s %llu\n", line, (unsigned long long) s->count);
            s_name (line, sizeof line, name, "_sum", s->labels, NULL);
            fprintf (f, "%s %.17g\n", line, s->value);
            s_name (line, sizeof line, name, "_count", s->labels, NULL);
            fprintf (f, "%s %llu\n", line, (unsigned long long) s->count);
        }
    }
    fclose (f);
    pthread_mutex_unlock (&self->lock);
    return out;
}
