/*  sl_metrics: Prometheus registry. See sl_metrics.h. */
#include "sl_metrics.h"

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

void
sl_metrics_test (bool verbose)
{
    sl_metrics_t *m = sl_metrics_new ();
    sl_metrics_declare (m, "sluice_http_requests_total", SL_COUNTER, "HTTP requests");
    sl_metrics_add (m, "sluice_http_requests_total", "route=\"/v1/ingest\",status=\"202\"", 1);
    sl_metrics_add (m, "sluice_http_requests_total", "route=\"/v1/ingest\",status=\"202\"", 2);
    sl_metrics_set (m, "sluice_queue_depth", "service=\"parse\"", 7);
    sl_metrics_observe (m, "sluice_stage_seconds", "stage=\"parse\"", 0.2);
    sl_metrics_observe (m, "sluice_stage_seconds", "stage=\"parse\"", 40);
    char *text = sl_metrics_render (m);
    if (verbose)
        printf ("%s", text);
    assert (strstr (text, "# TYPE sluice_http_requests_total counter\n"));
    assert (strstr (text, "sluice_http_requests_total{route=\"/v1/ingest\",status=\"202\"} 3\n"));
    assert (strstr (text, "sluice_queue_depth{service=\"parse\"} 7\n"));
    assert (strstr (text, "sluice_stage_seconds_bucket{stage=\"parse\",le=\"0.25\"} 1\n"));
    assert (strstr (text, "sluice_stage_seconds_bucket{stage=\"parse\",le=\"60\"} 2\n"));
    assert (strstr (text, "sluice_stage_seconds_count{stage=\"parse\"} 2\n"));
    free (text);
    sl_metrics_clear (m, "sluice_queue_depth");
    text = sl_metrics_render (m);
    assert (!strstr (text, "sluice_queue_depth{"));
    free (text);
    char buf [32];
    assert (streq (sl_metrics_label ("a\"b\\c", buf, sizeof buf), "a\\\"b\\\\c"));
    sl_metrics_destroy (&m);
    assert (m == NULL);
}
