/*  sl_util_test: self-test of sl_util.

    Ids (random and derived), SHA-256, the clocks, disk-full
    errors, token validation and sl_mkdirs in a temporary folder.
*/
#include "sl_util.h"
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void
sl_util_test (bool verbose)
{
    //  CPUs: a pod's limit read from cgroup v2's cpu.max, rounded up;
    //  unlimited or unreadable is 0 (the affinity mask decides)
    assert (sl_cpu_quota_v2 ("max 100000\n") == 0);
    assert (sl_cpu_quota_v2 ("200000 100000\n") == 2);
    assert (sl_cpu_quota_v2 ("250000 100000") == 3);
    assert (sl_cpu_quota_v2 ("50000 100000") == 1);
    assert (sl_cpu_quota_v2 ("") == 0 && sl_cpu_quota_v2 ("-1 100000") == 0 && sl_cpu_quota_v2 (NULL) == 0);
    int cpus = sl_cpu_count ();
    long online = sysconf (_SC_NPROCESSORS_ONLN);
    assert (cpus >= 1 && (online <= 0 || cpus <= online));

    char a [SL_ID_LEN + 1], b [SL_ID_LEN + 1];
    sl_id_new (a);
    sl_id_new (b);
    assert (strlen (a) == SL_ID_LEN && strcmp (a, b) != 0);
    sl_id_derive (a, "job", "parse", "1");
    sl_id_derive (b, "job", "parse", "1");
    assert (strcmp (a, b) == 0);
    sl_id_derive (b, "job", "parse", "2");
    assert (strcmp (a, b) != 0);
    char hex [SL_SHA256_HEX];
    sl_sha256_hex ("abc", 3, hex);
    assert (strcmp (hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    assert (sl_disk_full (ENOSPC) && sl_disk_full (EDQUOT) && !sl_disk_full (EIO) && !sl_disk_full (0));
    assert (sl_token_valid ("abc-1.2_x"));
    assert (!sl_token_valid ("../etc"));
    assert (!sl_token_valid (".."));
    assert (!sl_token_valid (""));
    assert (!sl_token_valid ("a/b"));
    assert (sl_now_ms () > 1600000000000LL);
    int64_t t0 = sl_mono_ms ();
    assert (sl_mono_ms () >= t0);
    char dir [] = "/tmp/sl_util_test_XXXXXX";
    assert (mkdtemp (dir));
    char deep [256];
    snprintf (deep, sizeof deep, "%s/a/b/c", dir);
    assert (sl_mkdirs (deep, 0755) == 0);
    assert (sl_mkdirs (deep, 0755) == 0);
    struct stat st;
    assert (stat (deep, &st) == 0 && S_ISDIR (st.st_mode));
    char cmd [300];
    snprintf (cmd, sizeof cmd, "rm -rf %s", dir);
    assert (system (cmd) == 0);
}
