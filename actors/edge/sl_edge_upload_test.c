/*  sl_edge_upload_test: self-test of sl_edge_upload.

    JSON and raw bodies go through the real blob area in a temp folder
    (multipart needs a live connection: tests/test_edge.py).
*/
#include "sl_edge_upload.h"
#include "sl_json.h"
#include "sl_util.h"
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <ctype.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void
sl_edge_upload_test (bool verbose)
{
    if (verbose)
        printf (" * sl_edge_upload: ");
    char why [256];
    assert (sl_edge_type_refused ("image/gif", "x.pdf", why, sizeof why));
    assert (strstr (why, "image/gif") && strstr (why, "DOCX"));
    assert (sl_edge_type_refused ("Application/ZIP; charset=x", NULL, why, sizeof why));
    assert (sl_edge_type_refused (NULL, "Photo.WEBP", why, sizeof why));
    assert (strstr (why, ".webp"));
    //  The documents people have: Office, OpenDocument, images, mail
    assert (!sl_edge_type_refused ("application/octet-stream", "a.docx", why, sizeof why));
    assert (!sl_edge_type_refused ("image/png", "scan.png", why, sizeof why));
    assert (!sl_edge_type_refused (NULL, "Photo.JPG", why, sizeof why));
    assert (!sl_edge_type_refused ("image/tiff", "fax.tif", why, sizeof why));
    assert (!sl_edge_type_refused ("image/x-png", "old-browser.png", why, sizeof why));
    assert (!sl_edge_type_refused ("application/vnd.oasis.opendocument.spreadsheet", "a.ods", why, sizeof why));
    assert (!sl_edge_type_refused ("application/vnd.openxmlformats-officedocument.presentationml.presentation",
                                   "deck.pptx", why, sizeof why));
    assert (!sl_edge_type_refused ("message/rfc822", "mail.eml", why, sizeof why));
    assert (!sl_edge_type_refused ("application/mbox", "inbox.mbox", why, sizeof why));
    //  Legacy binary Office: refused with what to do about it
    assert (sl_edge_type_refused ("application/octet-stream", "old.doc", why, sizeof why));
    assert (strstr (why, "legacy") && strstr (why, "(doc)") && strstr (why, "DOCX"));
    assert (sl_edge_type_refused ("application/vnd.ms-excel", "x", why, sizeof why));
    assert (strstr (why, "application/vnd.ms-excel"));
    assert (!sl_edge_type_refused ("application/pdf", "a.pdf", why, sizeof why));
    assert (!sl_edge_type_refused ("application/octet-stream", "notes", why, sizeof why));
    assert (!sl_edge_type_refused ("text/plain", "a.dir/readme", why, sizeof why));
    assert (!sl_edge_type_refused ("text/markdown; charset=utf-8", "a.md", why, sizeof why));

    char *name = sl_edge_disposition_filename ("attachment; filename=\"re\\\"port.pdf\"");
    assert (name && strcmp (name, "re\"port.pdf") == 0);
    free (name);
    name = sl_edge_disposition_filename ("attachment; filename=plain.txt; size=3");
    assert (name && strcmp (name, "plain.txt") == 0);
    free (name);
    name = sl_edge_disposition_filename ("attachment; filename=\"x.pdf\"; filename*=UTF-8''%C3%A9t%C3%A9.pdf");
    assert (name && strcmp (name, "\xC3\xA9t\xC3\xA9.pdf") == 0);
    free (name);
    assert (sl_edge_disposition_filename ("inline") == NULL);
    assert (sl_edge_disposition_filename (NULL) == NULL);

    name = sl_edge_name_clean ("d/a/n.txt", why, sizeof why);
    assert (name && strcmp (name, "d/a/n.txt") == 0);
    free (name);
    name = sl_edge_name_clean ("/abs//./x\\y\\re\"port.pdf", why, sizeof why);
    assert (name && strcmp (name, "abs/x/y/re\"port.pdf") == 0);
    free (name);
    name = sl_edge_name_clean ("\xC3\xA9t\xC3\xA9/..a../b..", why, sizeof why);
    assert (name && strcmp (name, "\xC3\xA9t\xC3\xA9/..a../b..") == 0);
    free (name);
    name = sl_edge_name_clean (NULL, why, sizeof why);
    assert (name && *name == 0);
    free (name);
    name = sl_edge_name_clean ("./", why, sizeof why);
    assert (name && *name == 0);
    free (name);
    assert (sl_edge_name_clean ("../etc/passwd", why, sizeof why) == NULL && strstr (why, ".."));
    assert (sl_edge_name_clean ("a/../../b", why, sizeof why) == NULL);
    assert (sl_edge_name_clean ("a\\..\\b", why, sizeof why) == NULL);
    assert (sl_edge_name_clean ("a\x01b.pdf", why, sizeof why) == NULL && strstr (why, "control"));
    assert (sl_edge_name_clean ("caf\xE9.txt", why, sizeof why) == NULL && strstr (why, "UTF-8"));
    char longname [300];
    memset (longname, 'a', 299);
    longname [299] = 0;
    assert (sl_edge_name_clean (longname, why, sizeof why) == NULL && strstr (why, "255"));
    char url [] = "HtTpS://Example.ORG/A";
    sl_edge_url_normalise (url);
    assert (strcmp (url, "https://Example.ORG/A") == 0);

    assert (sl_edge_url_valid ("https://example.org/a.pdf"));
    assert (sl_edge_url_valid ("HTTP://127.0.0.1:8080/x?y=1"));
    assert (!sl_edge_url_valid ("ftp://example.org/"));
    assert (!sl_edge_url_valid ("file:///etc/passwd"));
    assert (!sl_edge_url_valid ("http://"));
    assert (!sl_edge_url_valid ("http:///path"));
    assert (!sl_edge_url_valid ("http://a b"));
    assert (!sl_edge_url_valid ("http://a\nb"));

    char root [] = "/tmp/sl-edge-upload-XXXXXX";
    assert (mkdtemp (root));
    sl_blob_t *blobs = sl_blob_new (root);
    assert (blobs);
    int status;
    char message [256];

    //  JSON: one URL, many URLs, malformed, wrong fields, too large
    sl_edge_upload_t *up = sl_edge_upload_new (NULL, blobs, "application/json; charset=utf-8", NULL,
                                               1000, 100, &status, message, sizeof message);
    assert (up && sl_edge_upload_is_json (up));
    assert (sl_edge_upload_feed (up, "{\"urls\": [\"http://a.example/1\",", 31) == 0);
    assert (sl_edge_upload_feed (up, " \"https://b.example/2\"]}", 24) == 0);
    assert (sl_edge_upload_finish (up) == 0);
    assert (sl_edge_upload_count (up) == 2);
    assert (strcmp (sl_edge_upload_doc (up, 1)->url, "https://b.example/2") == 0);
    sl_edge_upload_destroy (&up);
    assert (up == NULL);

    const char *bad [] = { "{\"url\": ", "[1,2]", "{\"url\": 5}", "{\"urls\": []}", "{\"urls\": [\"x\"]}",
                           "{\"nothing\": 1}", "{\"url\": \"ftp://x/\"}", "", NULL };
    for (int i = 0; bad [i]; i++) {
        up = sl_edge_upload_new (NULL, blobs, "application/json", NULL, 1000, 100, &status,
                                 message, sizeof message);
        assert (up);
        sl_edge_upload_feed (up, bad [i], strlen (bad [i]));
        assert (sl_edge_upload_finish (up) == -1);
        const char *reason;
        assert (sl_edge_upload_error (up, &reason) == 400);
        assert (*reason);
        sl_edge_upload_destroy (&up);
    }
    up = sl_edge_upload_new (NULL, blobs, "application/json", NULL, 1000, 10, &status, message, sizeof message);
    assert (sl_edge_upload_feed (up, "{\"url\": \"http://x.example/\"}", 28) == -1);
    assert (sl_edge_upload_error (up, NULL) == 413);
    sl_edge_upload_destroy (&up);

    //  Raw: streamed into the blob area with its hash; refused types; limit
    assert (sl_edge_upload_new (NULL, blobs, "text/plain", "../notes.txt", 1000, 100, &status,
                                message, sizeof message) == NULL);
    assert (status == 400 && strstr (message, ".."));
    up = sl_edge_upload_new (NULL, blobs, "text/plain", "/d/notes.txt", 1000, 100, &status,
                             message, sizeof message);
    assert (up);
    assert (sl_edge_upload_feed (up, "hello ", 6) == 0);
    assert (sl_edge_upload_feed (up, "world", 5) == 0);
    assert (sl_edge_upload_finish (up) == 0);
    sl_edge_doc_t *doc = sl_edge_upload_doc (up, 0);
    char sha [65];
    sl_sha256_hex ("hello world", 11, sha);
    assert (strcmp (doc->sha256, sha) == 0 && doc->size == 11);
    assert (strcmp (doc->filename, "d/notes.txt") == 0 && strcmp (doc->mime, "text/plain") == 0);
    assert (sl_blob_exists (blobs, sha));
    assert (sl_edge_upload_bytes (up) == 11);
    sl_edge_upload_destroy (&up);

    assert (sl_edge_upload_new (NULL, blobs, "image/gif", "a.gif", 1000, 100, &status, message,
                                sizeof message) == NULL);
    assert (status == 415 && strstr (message, "image/gif"));
    assert (sl_edge_upload_new (NULL, blobs, "application/octet-stream", "a.exe", 1000, 100, &status,
                                message, sizeof message) == NULL);
    assert (status == 415);
    assert (sl_edge_upload_new (NULL, blobs, NULL, "a.pdf", 1000, 100, &status, message,
                                sizeof message) == NULL);
    assert (status == 415);

    up = sl_edge_upload_new (NULL, blobs, "text/plain", "big.txt", 10, 100, &status, message, sizeof message);
    assert (sl_edge_upload_feed (up, "12345678", 8) == 0);
    assert (sl_edge_upload_feed (up, "9abc", 4) == -1);
    assert (sl_edge_upload_error (up, NULL) == 413);
    assert (sl_edge_upload_finish (up) == -1);
    sl_edge_upload_destroy (&up);

    //  An empty raw upload is a refused document, not a silent success
    up = sl_edge_upload_new (NULL, blobs, "text/plain", "empty.txt", 10, 100, &status, message, sizeof message);
    assert (sl_edge_upload_finish (up) == 0);
    assert (sl_edge_upload_doc (up, 0)->status == 400);
    sl_edge_upload_destroy (&up);

    //  Nothing half-written is left in tmp/
    char tmp [600];
    snprintf (tmp, sizeof tmp, "%s/tmp", root);
    DIR *dir = opendir (tmp);
    assert (dir);
    int leftovers = 0;
    struct dirent *entry;
    while ((entry = readdir (dir)))
        if (entry->d_name [0] != '.')
            leftovers++;
    closedir (dir);
    assert (leftovers == 0);
    sl_blob_destroy (&blobs);
    char cmd [700];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", root);
    assert (system (cmd) == 0);
    if (verbose)
        printf ("OK\n");
}
