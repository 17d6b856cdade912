/*  sl_fetch_internal: the pieces of sl_fetch that its self-test checks one
    by one (the address guard and the filename helpers) and the test hooks.
    Not part of the public API: only sl_fetch.c and sl_fetch_test.c include
    this.
*/
#ifndef SL_FETCH_INTERNAL_H_INCLUDED
#define SL_FETCH_INTERNAL_H_INCLUDED

#include "sl_fetch.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

//  One allow_cidrs entry
typedef struct {
    int family;                 //  AF_INET or AF_INET6
    unsigned char addr [16];
    int prefix;
} sl_fetch_cidr_t;
//  Per-call state shared by the callbacks
typedef struct {
    const sl_fetch_opts_t *opts;
    sl_fetch_cidr_t *allow;
    int allow_count;
    char refused [320];         //  first guard refusal of this hop
    int opened;                 //  sockets the guard allowed on this hop
    sl_blob_writer_t *writer;
    unsigned char head [SL_SNIFF_HEAD];
    size_t head_len;
    //  The current response (reset by each status line)
    long status;
    char reason [64];
    char content_type [128];
    char disposition [256];     //  sanitised Content-Disposition filename
    long long content_length;   //  -1 if not announced
    //  Why we aborted the transfer, if we did
    bool declared_too_large;
    bool too_large;
    bool disk_error;
    int disk_errno;             //  why the blob write failed
    bool http_error;
    int64_t last_progress_ms;
} sl_fetch_ctx_t;


//  Set only by the self-test: refuse (and count) any connection to an
//  address other than 127.0.0.1 even if the guard would allow it, so a guard
//  bug can never make the test send traffic off the machine.
extern atomic_bool sl_fetch_test_loopback_only;
extern atomic_int sl_fetch_test_offhost_attempts;

//  Why this address must not be contacted, or NULL if it is public.
const char *sl_fetch_addr_reason (int family, const unsigned char *a);

//  Parse "a.b.c.d/n,x::y/m,..." into *list. Returns count, or -1 with the
//  offending entry copied into bad.
int sl_fetch_cidrs_parse (const char *spec, sl_fetch_cidr_t **list, char *bad, size_t badcap);

//  Decide about one address; NULL if it may be contacted, else the reason.
//  text receives the address in printable form.
const char *sl_fetch_guard (sl_fetch_ctx_t *ctx, int family, const unsigned char *a,
                            char *text, size_t cap);

//  Make a server- or URL-supplied name safe to show and store.
void sl_fetch_sanitize_filename (const char *in, size_t in_len, char *out, size_t cap);

//  The filename from a Content-Disposition value ("" if none).
void sl_fetch_disposition_filename (const char *value, char *out, size_t cap);

//  The last path segment of a URL, decoded and sanitised ("" if none).
void sl_fetch_url_filename (const char *url, char *out, size_t cap);

//  The URL without user:password, for messages and final_url.
void sl_fetch_display_url (const char *url, char *out, size_t cap);

#endif
