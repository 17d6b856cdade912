/*  sl_crawl: robots.txt and links. See sl_crawl.h. */
#include "sl_crawl.h"

#include <assert.h>
#include <ctype.h>
#include <curl/curl.h>
#include <libxml/HTMLparser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S_ROBOTS_MAX (500 * 1024)
#define S_RULES_MAX 1000

typedef struct {
    char *path;                 //  pattern: '*' any run, '$' at the end anchors
    bool allow;
} s_rule_t;

struct _sl_robots_t {
    s_rule_t rules [S_RULES_MAX];
    int count;
};

//  --------------------------------------------------------------------------
//  robots.txt

//  Does pattern match the start of path (all of it with '$')?
static bool
s_match (const char *pattern, const char *path)
{
    if (*pattern == 0)
        return true;
    if (*pattern == '$' && pattern [1] == 0)
        return *path == 0;
    if (*pattern == '*') {
        for (const char *p = path; ; p++) {
            if (s_match (pattern + 1, p))
                return true;
            if (*p == 0)
                return false;
        }
    }
    return *path == *pattern && s_match (pattern + 1, path + 1);
}

static void
s_trim (char *s)
{
    char *hash = strchr (s, '#');
    if (hash)
        *hash = 0;
    size_t len = strlen (s);
    while (len && isspace ((unsigned char) s [len - 1]))
        s [--len] = 0;
    size_t lead = strspn (s, " \t");
    memmove (s, s + lead, strlen (s + lead) + 1);
}

sl_robots_t *
sl_robots_new (const char *text, size_t len, const char *agent)
{
    sl_robots_t *self = calloc (1, sizeof *self);
    assert (self);
    if (!text)
        return self;
    len = len > S_ROBOTS_MAX ? S_ROBOTS_MAX : len;
    //  Two passes: the rules of groups naming our agent; if none, of "*"
    for (int pass = 0; pass < 2 && self->count == 0; pass++) {
        const char *want = pass == 0 ? agent : "*";
        bool in_group = false, group_has_rules = false;
        for (size_t at = 0; at < len; ) {
            size_t end = at;
            while (end < len && text [end] != '\n')
                end++;
            char line [1024];
            size_t n = end - at < sizeof line - 1 ? end - at : sizeof line - 1;
            memcpy (line, text + at, n);
            line [n] = 0;
            at = end + 1;
            s_trim (line);
            char *colon = strchr (line, ':');
            if (!colon)
                continue;
            *colon = 0;
            char *value = colon + 1;
            s_trim (line);
            s_trim (value);
            if (strcasecmp (line, "user-agent") == 0) {
                //  consecutive user-agent lines share one group
                if (group_has_rules)
                    in_group = false;
                group_has_rules = false;
                if (strcasecmp (value, want) == 0)
                    in_group = true;
            }
            else
            if (strcasecmp (line, "allow") == 0 || strcasecmp (line, "disallow") == 0) {
                group_has_rules = true;
                if (in_group && *value && self->count < S_RULES_MAX) {
                    self->rules [self->count].path = strdup (value);
                    assert (self->rules [self->count].path);
                    self->rules [self->count++].allow = strcasecmp (line, "allow") == 0;
                }
            }
        }
    }
    return self;
}

void
sl_robots_destroy (sl_robots_t **self_p)
{
    assert (self_p);
    sl_robots_t *self = *self_p;
    if (self) {
        for (int i = 0; i < self->count; i++)
            free (self->rules [i].path);
        free (self);
        *self_p = NULL;
    }
}

bool
sl_robots_allowed (const sl_robots_t *self, const char *path)
{
    size_t best = 0;
    bool allowed = true;
    for (int i = 0; i < self->count; i++) {
        const s_rule_t *rule = &self->rules [i];
        size_t len = strlen (rule->path);
        if (s_match (rule->path, path) && (len > best || (len == best && rule->allow))) {
            best = len;
            allowed = rule->allow;
        }
    }
    return allowed;
}

//  --------------------------------------------------------------------------
//  Links

int
sl_crawl_url_path (const char *url, char *out, size_t size)
{
    CURLU *u = curl_url ();
    char *scheme = NULL, *path = NULL, *query = NULL;
    int rc = -1;
    if (u && curl_url_set (u, CURLUPART_URL, url, 0) == CURLUE_OK
    &&  curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
    &&  (strcmp (scheme, "http") == 0 || strcmp (scheme, "https") == 0)) {
        curl_url_get (u, CURLUPART_PATH, &path, 0);
        curl_url_get (u, CURLUPART_QUERY, &query, 0);
        snprintf (out, size, "%s%s%s", path && *path ? path : "/", query ? "?" : "",
                  query ? query : "");
        rc = 0;
    }
    curl_free (scheme);
    curl_free (path);
    curl_free (query);
    curl_url_cleanup (u);
    return rc;
}

int
sl_crawl_robots_url (const char *url, char *out, size_t size)
{
    CURLU *u = curl_url ();
    char *full = NULL, *scheme = NULL;
    int rc = -1;
    if (u && curl_url_set (u, CURLUPART_URL, url, 0) == CURLUE_OK
    &&  curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
    &&  (strcmp (scheme, "http") == 0 || strcmp (scheme, "https") == 0)
    &&  curl_url_set (u, CURLUPART_PATH, "/robots.txt", 0) == CURLUE_OK
    &&  curl_url_set (u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK
    &&  curl_url_set (u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK
    &&  curl_url_get (u, CURLUPART_URL, &full, 0) == CURLUE_OK) {
        snprintf (out, size, "%s", full);
        rc = 0;
    }
    curl_free (full);
    curl_free (scheme);
    curl_url_cleanup (u);
    return rc;
}

typedef struct {
    CURLU *base;
    char origin [600];          //  scheme://host:port of the page
    int max_links;
    int count;
    bool stop;
    sl_crawl_link_fn *fn;
    void *arg;
} s_walk_t;

//  scheme://host:port of u (default ports made explicit)
static int
s_origin (CURLU *u, char *out, size_t size)
{
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = -1;
    if (curl_url_get (u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
    &&  curl_url_get (u, CURLUPART_HOST, &host, 0) == CURLUE_OK
    &&  curl_url_get (u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK
    &&  (strcmp (scheme, "http") == 0 || strcmp (scheme, "https") == 0)) {
        snprintf (out, size, "%s://%s:%s", scheme, host, port);
        rc = 0;
    }
    curl_free (scheme);
    curl_free (host);
    curl_free (port);
    return rc;
}

//  One spelling per page: an explicit default port goes (http://h:80/ is http://h/)
static int
s_default_port_dropped (CURLU *u)
{
    char *scheme = NULL, *port = NULL;
    curl_url_get (u, CURLUPART_SCHEME, &scheme, 0);
    if (curl_url_get (u, CURLUPART_PORT, &port, 0) == CURLUE_OK && scheme
    &&  ((strcmp (scheme, "http") == 0 && strcmp (port, "80") == 0)
         || (strcmp (scheme, "https") == 0 && strcmp (port, "443") == 0)))
        curl_url_set (u, CURLUPART_PORT, NULL, 0);
    curl_free (scheme);
    curl_free (port);
    return 0;
}

static void
s_link (s_walk_t *walk, const char *href)
{
    if (walk->stop || !href || !*href || strlen (href) > 2000)
        return;
    CURLU *u = curl_url_dup (walk->base);
    char *full = NULL, origin [600];
    if (u && curl_url_set (u, CURLUPART_URL, href, 0) == CURLUE_OK
    &&  curl_url_set (u, CURLUPART_FRAGMENT, NULL, 0) == CURLUE_OK
    &&  s_origin (u, origin, sizeof origin) == 0 && strcmp (origin, walk->origin) == 0
    &&  s_default_port_dropped (u) == 0
    &&  curl_url_get (u, CURLUPART_URL, &full, 0) == CURLUE_OK) {
        walk->count++;
        if (!walk->fn (walk->arg, full) || walk->count >= walk->max_links)
            walk->stop = true;
    }
    curl_free (full);
    curl_url_cleanup (u);
}

static void
s_walk (s_walk_t *walk, xmlNode *node, int depth)
{
    for (; node && !walk->stop; node = node->next) {
        if (node->type != XML_ELEMENT_NODE)
            continue;
        const char *name = (const char *) node->name;
        if (strcasecmp (name, "base") == 0) {
            xmlChar *href = xmlGetProp (node, (const xmlChar *) "href");
            if (href)
                curl_url_set (walk->base, CURLUPART_URL, (const char *) href, 0);
            xmlFree (href);
        }
        else
        if (strcasecmp (name, "a") == 0 || strcasecmp (name, "area") == 0) {
            xmlChar *href = xmlGetProp (node, (const xmlChar *) "href");
            s_link (walk, (const char *) href);
            xmlFree (href);
        }
        if (depth < 256)
            s_walk (walk, node->children, depth + 1);
    }
}

int
sl_crawl_links (const char *path, const char *url, int max_links, sl_crawl_link_fn *fn, void *arg)
{
    s_walk_t walk = { .max_links = max_links, .fn = fn, .arg = arg };
    walk.base = curl_url ();
    if (!walk.base || curl_url_set (walk.base, CURLUPART_URL, url, 0) != CURLUE_OK
    ||  s_origin (walk.base, walk.origin, sizeof walk.origin)) {
        curl_url_cleanup (walk.base);
        return -1;
    }
    htmlDocPtr doc = htmlReadFile (path, NULL, HTML_PARSE_NONET | HTML_PARSE_NOERROR
                                   | HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER);
    if (!doc) {
        curl_url_cleanup (walk.base);
        return -1;
    }
    s_walk (&walk, xmlDocGetRootElement (doc), 0);
    xmlFreeDoc (doc);
    curl_url_cleanup (walk.base);
    return walk.count;
}
