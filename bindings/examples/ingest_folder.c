/*  ingest_folder: ingest every file of a folder through libsluice, print
    live progress, then search.

        sluice_ingest_folder ENDPOINT FOLDER QUERY [CLIENT_CERT BROKER_CERT]

    ENDPOINT is the broker (tcp://127.0.0.1:5555); with the two certificate
    paths (from `sluiced --keygen`) the link is CURVE-encrypted.
    Build against an installed library with
        cc ingest_folder.c $(pkg-config --cflags --libs sluice)
    Exit status: 0 if every document was ingested, 1 otherwise.
*/
#include <sluice_client.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILES 256

int
main (int argc, char **argv)
{
    if (argc != 4 && argc != 6) {
        fprintf (stderr, "usage: %s ENDPOINT FOLDER QUERY [CLIENT_CERT BROKER_CERT]\n", argv [0]);
        return 2;
    }
    sluice_client_t *client = sluice_client_new (argv [1]);
    if (!client) {
        fprintf (stderr, "not an endpoint: %s\n", argv [1]);
        return 2;
    }
    if (argc == 6 && sluice_client_set_curve (client, argv [4], argv [5]) != SLUICE_OK) {
        fprintf (stderr, "%s\n", sluice_client_message (client));
        return 2;
    }
    if (sluice_client_connect (client, 10000) != SLUICE_OK) {
        fprintf (stderr, "cannot connect: %s\n", sluice_client_message (client));
        return 1;
    }
    //  One watch follows every job: the events of all arrive in one loop
    sluice_watch_t *watch = NULL;
    if (sluice_watch_new (client, &watch) != SLUICE_OK) {
        fprintf (stderr, "%s\n", sluice_client_message (client));
        return 1;
    }
    DIR *dir = opendir (argv [2]);
    if (!dir) {
        perror (argv [2]);
        return 1;
    }
    static char names [MAX_FILES][256], jobs [MAX_FILES][SLUICE_ID_SIZE];
    int count = 0, failed = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)) && count < MAX_FILES) {
        char path [4096];
        struct stat st;
        snprintf (path, sizeof path, "%s/%s", argv [2], entry->d_name);
        if (entry->d_name [0] == '.' || stat (path, &st) != 0 || !S_ISREG (st.st_mode))
            continue;
        jobs [count][0] = 0;
        sluice_rc_t rc;
        //  BUSY: the pipeline is full; wait as long as the server asks
        while ((rc = sluice_client_ingest_file (client, path, NULL, jobs [count], 60000)) == SLUICE_BUSY)
            usleep ((useconds_t) sluice_client_retry_ms (client) * 1000);
        if (rc != SLUICE_OK) {
            printf ("%-28s refused: %s\n", entry->d_name, sluice_client_message (client));
            failed++;
            continue;
        }
        snprintf (names [count], sizeof names [count], "%s", entry->d_name);
        printf ("%-28s submitted as job %s\n", names [count], jobs [count]);
        if (sluice_watch_add (watch, jobs [count], 0, 0) != SLUICE_OK) {
            printf ("%-28s cannot follow: %s\n", names [count], sluice_client_message (client));
            failed++;
        }
        count++;
    }
    closedir (dir);

    //  Live progress until every job has finished
    while (true) {
        sluice_event_t *event = NULL;
        sluice_rc_t rc = sluice_watch_next (watch, &event, 300000);
        if (rc == SLUICE_END)
            break;
        if (rc != SLUICE_OK) {
            fprintf (stderr, "waiting for events: %s\n", sluice_rc_name (rc));
            failed++;
            break;
        }
        const char *name = "?";
        for (int i = 0; i < count; i++)
            if (strcmp (jobs [i], sluice_event_job (event)) == 0)
                name = names [i];
        const char *type = sluice_event_type (event);
        if (strcmp (type, "stage_progress") == 0)
            printf ("%-28s %-8s %3d%% %s\n", name, sluice_event_stage (event), sluice_event_percent (event),
                    sluice_event_message (event) ? sluice_event_message (event) : "");
        else
        if (strcmp (type, "job_completed") == 0)
            printf ("%-28s completed -> document %s\n", name,
                    sluice_event_document_id (event) ? sluice_event_document_id (event) : "?");
        else
        if (strcmp (type, "job_failed") == 0) {
            printf ("%-28s FAILED: %s\n", name, sluice_event_reason (event) ? sluice_event_reason (event) : "?");
            failed++;
        }
        else
            printf ("%-28s %s %s\n", name, type, sluice_event_stage (event) ? sluice_event_stage (event) : "");
        sluice_event_destroy (&event);
    }
    sluice_watch_destroy (&watch);

    sluice_hits_t *hits = NULL;
    if (sluice_client_search (client, argv [3], 5, &hits, 0) == SLUICE_OK) {
        printf ("\nsearch \"%s\":\n", argv [3]);
        for (size_t i = 0; i < sluice_hits_size (hits); i++) {
            char text [71];
            snprintf (text, sizeof text, "%s", sluice_hits_text (hits, i));
            for (char *p = text; *p; p++)
                if (*p == '\n' || *p == '\r' || *p == '\t')
                    *p = ' ';
            printf ("  %.3f  %s p.%d  %s\n", sluice_hits_score (hits, i),
                    sluice_hits_title (hits, i) ? sluice_hits_title (hits, i) : sluice_hits_document_id (hits, i),
                    sluice_hits_page_start (hits, i), text);
        }
        sluice_hits_destroy (&hits);
    }
    else {
        fprintf (stderr, "search: %s\n", sluice_client_message (client));
        failed++;
    }
    sluice_client_destroy (&client);
    printf ("%d submitted, %d failed\n", count, failed);
    return failed ? 1 : 0;
}
