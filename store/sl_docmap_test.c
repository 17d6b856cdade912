/*  sl_docmap_test: tags are dense, stable and distinct across growth. */
#include "sl_docmap.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "sl_check.h"

static void
s_test_tags (void)
{
    sl_docmap_t *map = sl_docmap_new ();
    CHECK (map && sl_docmap_size (map) == 0 && sl_docmap_find (map, "a") == -1);
    char id [40];
    for (int i = 0; i < 5000; i++) {
        snprintf (id, sizeof id, "doc-%08x", i * 2654435761u);
        CHECK (sl_docmap_tag (map, id) == i);
    }
    CHECK (sl_docmap_size (map) == 5000);
    for (int i = 0; i < 5000; i++) {
        snprintf (id, sizeof id, "doc-%08x", i * 2654435761u);
        CHECK (sl_docmap_find (map, id) == i && sl_docmap_tag (map, id) == i);
    }
    CHECK (sl_docmap_find (map, "never") == -1 && sl_docmap_size (map) == 5000);
    sl_docmap_destroy (&map);
    CHECK (map == NULL);
    sl_docmap_destroy (&map);
}

void
sl_docmap_test (bool verbose)
{
    printf (" * sl_docmap: ");
    if (verbose)
        printf ("\n");
    CASE ("tags dense, stable across growth, unknown ids -1", s_test_tags ());
    printf ("OK\n");
}
