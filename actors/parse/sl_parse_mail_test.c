/*  sl_parse_mail self-test: messages and mailboxes written by the test
    itself into a temporary folder, read through sl_parse_file as the parse
    actor reads them.
*/
#include "sl_parse.h"
#include "sl_check.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char s_dir [256];

typedef struct {
    int pages;
    int page_count;
    char *text [8];             //  the first pages' text
    bool marked;
    int attachments;
    char names [8][256];
    char mimes [8][128];
    char *contents [8];
    int stop_at;                //  attachment number to stop at (0: never)
} s_seen_t;

static void
s_seen_free (s_seen_t *seen)
{
    for (int i = 0; i < 8; i++) {
        free (seen->text [i]);
        free (seen->contents [i]);
    }
    memset (seen, 0, sizeof *seen);
}

static int
s_on_page (void *arg, const sl_page_t *page)
{
    s_seen_t *seen = (s_seen_t *) arg;
    if (seen->pages < 8)
        seen->text [seen->pages] = strndup (page->text, page->len);
    seen->pages++;
    seen->page_count = page->page_count;
    seen->marked = page->marked;
    CHECK (strlen (page->text) == page->len);
    return 0;
}

static int
s_on_attachment (void *arg, const char *name, const char *mime, const char *path)
{
    s_seen_t *seen = (s_seen_t *) arg;
    CHECK (name && *name && !strchr (name, '/') && !strstr (name, ".."));
    int i = seen->attachments++;
    if (i < 8) {
        snprintf (seen->names [i], sizeof seen->names [i], "%s", name);
        snprintf (seen->mimes [i], sizeof seen->mimes [i], "%s", mime);
        FILE *f = fopen (path, "rb");
        CHECK (f);
        char buf [4096];
        size_t n = fread (buf, 1, sizeof buf - 1, f);
        fclose (f);
        buf [n] = 0;
        seen->contents [i] = strdup (buf);
    }
    return seen->stop_at && seen->attachments == seen->stop_at ? 1 : 0;
}

static void
s_write (const char *name, const char *data, size_t len, char *path, size_t cap)
{
    snprintf (path, cap, "%s/%s", s_dir, name);
    FILE *f = fopen (path, "wb");
    CHECK (f);
    CHECK (fwrite (data, 1, len, f) == len);
    fclose (f);
}

static int
s_parse (const char *path, const char *mime, s_seen_t *seen, sl_parse_info_t *info,
         char *err, size_t errlen, const sl_parse_opts_t *custom)
{
    sl_parse_opts_t opts;
    if (custom)
        opts = *custom;
    else
        sl_parse_opts_defaults (&opts);
    opts.on_attachment = s_on_attachment;
    opts.attachment_arg = seen;
    memset (info, 0, sizeof *info);
    return sl_parse_file (&opts, path, mime, s_on_page, seen, info, err, errlen);
}

//  A message in ISO-8859-1, quoted-printable, with a plain and an HTML
//  alternative and a base64 text attachment
static const char *s_alternative =
    "From: Alice Example <alice@example.org>\r\n"
    "To: Bob <bob@example.org>, carol@example.org\r\n"
    "Cc: Dave <dave@example.org>\r\n"
    "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n"
    "Subject: =?UTF-8?Q?Quarterly_caf=C3=A9_report?=\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    "\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=\"alt\"\r\n"
    "\r\n"
    "--alt\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "The caf=E9 on the corner sells 42 pastries a day, a very long line that =\r\n"
    "continues here.\r\n"
    "# not a heading\r\n"
    "--alt\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<html><body><p>HTML alternative only</p></body></html>\r\n"
    "--alt--\r\n"
    "--outer\r\n"
    "Content-Type: text/plain; name=\"notes.txt\"\r\n"
    "Content-Disposition: attachment; filename=\"../../etc/notes.txt\"\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "QXR0YWNoZWQgbm90ZXMgYWJvdXQgdGhlIGhhcmJvdXIu\r\n"
    "--outer--\r\n";

static void
s_test_alternative (void)
{
    char path [512], err [512];
    s_write ("alt.eml", s_alternative, strlen (s_alternative), path, sizeof path);
    s_seen_t seen = { 0 };
    sl_parse_info_t info;
    CHECK (s_parse (path, "message/rfc822", &seen, &info, err, sizeof err, NULL) == 0);
    CHECK (seen.pages == 1 && seen.page_count == 1 && seen.marked);
    CHECK (strcmp (info.format, "eml") == 0);
    CHECK (strcmp (info.title, "Quarterly café report") == 0);
    const char *t = seen.text [0];
    CHECK (strncmp (t, "# Quarterly café report\n", 24) == 0);
    CHECK (strstr (t, "From: Alice Example <alice@example.org>"));
    CHECK (strstr (t, "To: Bob <bob@example.org>, carol@example.org"));
    CHECK (strstr (t, "Cc: Dave <dave@example.org>"));
    CHECK (strstr (t, "Date: Mon, 7 Dec 2026 10:00:00 +0000"));
    CHECK (strstr (t, "Attachments: notes.txt"));
    //  quoted-printable soft break joined, Latin-1 converted, markup escaped
    CHECK (strstr (t, "The café on the corner sells 42 pastries a day, a very long line that continues here."));
    CHECK (strstr (t, "\n\\# not a heading"));
    CHECK (!strstr (t, "HTML alternative only"));
    CHECK (!strchr (t, '\r'));
    CHECK (info.attachments == 1 && seen.attachments == 1);
    CHECK (strcmp (seen.names [0], "notes.txt") == 0);
    CHECK (strcmp (seen.mimes [0], "text/plain") == 0);
    CHECK (strcmp (seen.contents [0], "Attached notes about the harbour.") == 0);
    s_seen_free (&seen);
}

static void
s_test_html_only (void)
{
    const char *eml =
        "From: news@example.org\n"
        "Subject: Newsletter\n"
        "Content-Type: text/html; charset=windows-1252\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        "PGh0bWw+PGJvZHk+PGgxPlNwcmluZyBpc3N1ZTwvaDE+PHA+R2FyZGVucyBibG9vbSBpbiBNYXku\n"
        "PC9wPjxzY3JpcHQ+YWxlcnQoMSk8L3NjcmlwdD48L2JvZHk+PC9odG1sPg==\n";
    //  <html><body><h1>Spring issue</h1><p>Gardens bloom in May.</p><script>alert(1)</script></body></html>
    char path [512], err [512];
    s_write ("html.eml", eml, strlen (eml), path, sizeof path);
    s_seen_t seen = { 0 };
    sl_parse_info_t info;
    CHECK (s_parse (path, "message/rfc822", &seen, &info, err, sizeof err, NULL) == 0);
    CHECK (seen.pages == 1);
    CHECK (strstr (seen.text [0], "# Newsletter\n"));
    CHECK (strstr (seen.text [0], "Spring issue"));
    CHECK (strstr (seen.text [0], "Gardens bloom in May."));
    CHECK (!strstr (seen.text [0], "<p>") && !strstr (seen.text [0], "alert(1)"));
    CHECK (info.attachments == 0);
    s_seen_free (&seen);
}

static void
s_test_mbox (void)
{
    const char *mbox =
        "From alice@example.org Mon Dec  7 10:00:00 2026\n"
        "From: alice@example.org\nSubject: First message\n\nApples are red.\n\n"
        "From bob@example.org Mon Dec  7 11:00:00 2026\n"
        "From: bob@example.org\nSubject: Second message\n\nBananas are yellow.\n>From here on, quoted.\n\n"
        "From carol@example.org Mon Dec  7 12:00:00 2026\n"
        "From: carol@example.org\nSubject: Third message\n"
        "Content-Type: multipart/mixed; boundary=b\n\n"
        "--b\nContent-Type: text/plain\n\nCherries are dark.\n"
        "--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=data.bin\n\nxyz\n"
        "--b--\n";
    char path [512], err [512];
    s_write ("box.mbox", mbox, strlen (mbox), path, sizeof path);
    s_seen_t seen = { 0 };
    sl_parse_info_t info;
    CHECK (s_parse (path, "application/mbox", &seen, &info, err, sizeof err, NULL) == 0);
    CHECK (seen.pages == 3 && seen.page_count == 3 && info.page_count == 3);
    CHECK (strcmp (info.format, "mbox") == 0 && strcmp (info.title, "box.mbox") == 0);
    CHECK (strstr (seen.text [0], "# First message\n") && strstr (seen.text [0], "Apples are red."));
    CHECK (strstr (seen.text [1], "# Second message\n") && strstr (seen.text [1], "Bananas are yellow."));
    CHECK (!strstr (seen.text [1], "Apples") && !strstr (seen.text [1], "Cherries"));
    CHECK (strstr (seen.text [2], "# Third message\n") && strstr (seen.text [2], "Cherries are dark."));
    CHECK (info.attachments == 1 && strcmp (seen.names [0], "data.bin") == 0);
    s_seen_free (&seen);

    //  a mailbox over max_pages messages fails before it is parsed
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    opts.max_pages = 2;
    CHECK (s_parse (path, "application/mbox", &seen, &info, err, sizeof err, &opts) == -1);
    CHECK (strstr (err, "3 messages, more than the limit of 2") && seen.pages == 0);
    s_seen_free (&seen);

    //  not a mailbox at all
    s_write ("none.mbox", "just some words\n", 16, path, sizeof path);
    CHECK (s_parse (path, "application/mbox", &seen, &info, err, sizeof err, NULL) == -1);
    CHECK (strstr (err, "not a mailbox"));
    s_seen_free (&seen);
}

static void
s_test_names (void)
{
    const char *eml =
        "From: a@example.org\nSubject: Names\nContent-Type: multipart/mixed; boundary=n\n\n"
        "--n\nContent-Type: text/plain\n\nBody.\n"
        "--n\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\"..\"\n\none\n"
        "--n\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\"a\x01\x1f" "b.txt\"\n\ntwo\n"
        "--n\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\"b.txt\"\n\nthree\n"
        "--n\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\"C:\\\\x\\\\b.txt\"\n\nfour\n"
        "--n\nContent-Type: text/plain\nContent-Disposition: attachment; filename=\"%s.txt\"\n\nfive\n"
        "--n\nContent-Type: message/rfc822\nContent-Disposition: attachment\n\n"
        "From: inner@example.org\nSubject: Inner / note\n\nThe inner body.\n"
        "--n--\n";
    char path [512], err [512], long_stem [301], text [4096];
    memset (long_stem, 'x', 300);
    long_stem [300] = 0;
    snprintf (text, sizeof text, eml, long_stem);
    s_write ("names.eml", text, strlen (text), path, sizeof path);
    s_seen_t seen = { 0 };
    sl_parse_info_t info;
    CHECK (s_parse (path, NULL, &seen, &info, err, sizeof err, NULL) == 0);
    CHECK (strcmp (info.format, "eml") == 0);       //  by the extension
    CHECK (seen.attachments == 6);
    CHECK (strcmp (seen.names [0], "attachment-1") == 0);
    CHECK (strcmp (seen.names [1], "ab.txt") == 0);
    CHECK (strcmp (seen.names [2], "b.txt") == 0);
    CHECK (strcmp (seen.names [3], "b-2.txt") == 0);    //  same name: made unique
    //  too long: the stem cut to 200 bytes with the extension
    CHECK (strlen (seen.names [4]) == 200 && strcmp (seen.names [4] + 196, ".txt") == 0);
    CHECK (strcmp (seen.names [5], "Inner - note.eml") == 0);
    CHECK (strcmp (seen.mimes [5], "message/rfc822") == 0);
    CHECK (strstr (seen.contents [5], "Subject: Inner / note") && strstr (seen.contents [5], "The inner body."));
    CHECK (!strstr (seen.text [0], "The inner body."));   //  a document of its own
    s_seen_free (&seen);

    //  the caller stops: the parse fails and says where
    seen.stop_at = 2;
    CHECK (s_parse (path, "message/rfc822", &seen, &info, err, sizeof err, NULL) == -1);
    CHECK (strstr (err, "stopped by caller at attachment 'ab.txt'"));
    s_seen_free (&seen);
}

//  Hostile: 1,000 multiparts nested in each other
static void
s_test_deep_nesting (void)
{
    size_t cap = 200000, len = 0;
    char *eml = malloc (cap);
    len += (size_t) snprintf (eml + len, cap - len, "From: x@example.org\nSubject: Deep\n"
                              "Content-Type: multipart/mixed; boundary=b0\n\n");
    for (int i = 1; i < 1000; i++)
        len += (size_t) snprintf (eml + len, cap - len,
                                  "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i - 1, i);
    len += (size_t) snprintf (eml + len, cap - len, "--b999\nContent-Type: text/plain\n\ndeep text\n");
    for (int i = 999; i >= 0; i--)
        len += (size_t) snprintf (eml + len, cap - len, "--b%d--\n", i);
    char path [512], err [512];
    s_write ("deep.eml", eml, len, path, sizeof path);
    free (eml);
    s_seen_t seen = { 0 };
    sl_parse_info_t info;
    CHECK (s_parse (path, "message/rfc822", &seen, &info, err, sizeof err, NULL) == -1);
    CHECK (strstr (err, "nested") && strstr (err, "refused"));
    CHECK (seen.pages == 0);
    s_seen_free (&seen);
}

//  Hostile: 10,000 attachments in one message
static void
s_test_many_attachments (void)
{
    size_t cap = 2000000, len = 0;
    char *eml = malloc (cap);
    len += (size_t) snprintf (eml + len, cap - len, "From: x@example.org\nSubject: Many\n"
                              "Content-Type: multipart/mixed; boundary=m\n\n"
                              "--m\nContent-Type: text/plain\n\nThe body survives.\n");
    for (int i = 0; i < 10000; i++)
        len += (size_t) snprintf (eml + len, cap - len, "--m\nContent-Type: text/plain\n"
                                  "Content-Disposition: attachment; filename=f%d.txt\n\nfile %d\n", i, i);
    len += (size_t) snprintf (eml + len, cap - len, "--m--\n");
    char path [512], err [512];
    s_write ("many.eml", eml, len, path, sizeof path);
    free (eml);
    s_seen_t seen = { 0 };
    sl_parse_info_t info;
    CHECK (s_parse (path, "message/rfc822", &seen, &info, err, sizeof err, NULL) == 0);
    CHECK (seen.attachments == 100 && info.attachments == 100);
    CHECK (strstr (seen.text [0], "The body survives."));
    CHECK (strstr (seen.text [0], "Attachments not extracted: 9900 over the limit of 100"));
    s_seen_free (&seen);
}

//  Hostile: more parts than a message may have (20,000)
static void
s_test_too_many_parts (void)
{
    size_t cap = 1000000, len = 0;
    char *eml = malloc (cap);
    len += (size_t) snprintf (eml + len, cap - len, "From: x@example.org\nSubject: Parts\n"
                              "Content-Type: multipart/mixed; boundary=p\n\n");
    for (int i = 0; i < 20001; i++)
        len += (size_t) snprintf (eml + len, cap - len, "--p\nContent-Type: text/x-a\n\n.\n");
    len += (size_t) snprintf (eml + len, cap - len, "--p--\n");
    char path [512], err [512];
    s_write ("parts.eml", eml, len, path, sizeof path);
    free (eml);
    s_seen_t seen = { 0 };
    sl_parse_info_t info;
    CHECK (s_parse (path, "message/rfc822", &seen, &info, err, sizeof err, NULL) == -1);
    CHECK (strstr (err, "more than 20000 MIME parts") && seen.pages == 0);
    s_seen_free (&seen);
}

//  A body part over max_text_bytes fails the message with the limit named
static void
s_test_body_limit (void)
{
    char eml [1024], path [512], err [512];
    snprintf (eml, sizeof eml, "From: x@example.org\nSubject: Big\n\n%0300d\n", 7);
    s_write ("big.eml", eml, strlen (eml), path, sizeof path);
    sl_parse_opts_t opts;
    sl_parse_opts_defaults (&opts);
    opts.max_text_bytes = 100;
    s_seen_t seen = { 0 };
    sl_parse_info_t info;
    CHECK (s_parse (path, "message/rfc822", &seen, &info, err, sizeof err, &opts) == -1);
    CHECK (strstr (err, "message 1 has a body part larger than 100 bytes") && seen.pages == 0);
    s_seen_free (&seen);
}

//  Hostile: a message cut off in the middle of its attachment
static void
s_test_truncated (void)
{
    size_t len = strlen (s_alternative) - 40;      //  inside the base64 line
    char path [512], err [512];
    s_write ("cut.eml", s_alternative, len, path, sizeof path);
    s_seen_t seen = { 0 };
    sl_parse_info_t info;
    CHECK (s_parse (path, "message/rfc822", &seen, &info, err, sizeof err, NULL) == 0);
    CHECK (seen.pages == 1 && strstr (seen.text [0], "The café on the corner"));
    s_seen_free (&seen);

    //  cut inside the headers: still a (short) message, never a crash
    s_write ("cut2.eml", s_alternative, 30, path, sizeof path);
    int rc = s_parse (path, "message/rfc822", &seen, &info, err, sizeof err, NULL);
    CHECK (rc == 0 || *err);
    s_seen_free (&seen);
}

void
sl_parse_mail_test (bool verbose)
{
    printf (" * sl_parse_mail: ");
    if (verbose)
        printf ("\n");
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_dir, sizeof s_dir, "%s/sl_parse_mail_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    CHECK (mkdtemp (s_dir));

    CASE ("EML: plain preferred over HTML, quoted-printable, Latin-1, a text attachment", s_test_alternative ());
    CASE ("EML: an HTML-only body is read through the HTML back-end", s_test_html_only ());
    CASE ("MBOX: 3 messages are 3 pages; over max_pages or no separator refused", s_test_mbox ());
    CASE ("attachment names sanitised and unique; an attached message is a .eml", s_test_names ());
    CASE ("hostile: 1,000 nested multiparts refused with a reason", s_test_deep_nesting ());
    CASE ("hostile: 10,000 attachments, 100 handed over, the rest counted", s_test_many_attachments ());
    CASE ("hostile: more than 20,000 parts in a message refused", s_test_too_many_parts ());
    CASE ("a body part over max_text_bytes refused with the limit", s_test_body_limit ());
    CASE ("hostile: a truncated message reads what is there", s_test_truncated ());

    char cmd [512];
    snprintf (cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    CHECK (system (cmd) == 0);
    printf ("OK\n");
}
