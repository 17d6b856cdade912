/*  sluice_tus: the CLI's resumable upload of one file (tus 1.0, /v1/uploads).

    Files of at least SLUICE_RESUMABLE_MIN bytes (default 8 MiB) go this
    way instead of one multipart POST, so a dropped connection costs the
    bytes in flight, not the whole file:

      - where the upload stands is kept in a small state file (under
        $SLUICE_STATE_DIR, else $XDG_STATE_HOME/sluice, else
        ~/.local/state/sluice), named by the server, the file's absolute
        path, size and mtime: running the same `sluice ingest` again after
        a crash or Ctrl-C resumes the upload instead of starting over, and
        a changed file starts a new one;
      - the file is sent in PATCHes of SLUICE_UPLOAD_PIECE bytes (default
        16 MiB), streamed from disk; a failed PATCH (connection lost, 423,
        5xx) is followed by a HEAD and the upload goes on from the offset
        the server holds, with a growing pause, up to `retries` times in a
        row;
      - when the last byte is in, the edge ingests the file and names the
        job (Sluice-Job), which is what the caller gets.

    Ownership: borrows the curl handle (reset before each request).
*/
#ifndef SLUICE_TUS_H_INCLUDED
#define SLUICE_TUS_H_INCLUDED

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    CURL *curl;
    const char *server;         //  "http://host:port", no trailing slash
    const char *key;            //  bearer key or NULL
    int retries;                //  failed requests in a row before giving up
    bool quiet;                 //  no "resuming" lines on stderr
} sluice_tus_t;

//  The size from which files are uploaded resumably (SLUICE_RESUMABLE_MIN).
long long sluice_tus_threshold (void);

//  Upload path (named name, attributes meta or NULL) and get its job id.
//  Returns the HTTP status of the last answer (204: done, job filled; 0:
//  the server could not be reached) with a message in error otherwise.
long sluice_tus_upload (const sluice_tus_t *tus, const char *path, const char *name, json_t *meta,
                        char job [33], char *error, size_t errlen);

#endif
