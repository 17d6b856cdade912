/*  fuzz_envelope: libFuzzer target for everything that decodes bytes from
    the network before any trust is established: the msgpack validator,
    the envelope decoder and the broker protocol header decoder.
    Built with clang when SLUICE_FUZZ=ON; CI runs it for a short while
    (scripts/test.sh), seeded with valid envelopes from tests/fuzz_corpus.
*/
#include "sl_envelope.h"
#include "sl_mp.h"
#include "sl_proto.h"

#include <czmq.h>

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char err [256];
    sl_envelope_t *env = sl_envelope_decode (data, size, 1 << 20, err, sizeof err);
    if (env) {
        //  Whatever decodes must re-encode and decode to the same thing
        char *again;
        size_t again_size;
        if (sl_envelope_encode (env, &again, &again_size) == 0) {
            sl_envelope_t *copy = sl_envelope_decode (again, again_size, 0, err, sizeof err);
            if (!copy || strcmp (sl_envelope_id (copy), sl_envelope_id (env)) != 0)
                __builtin_trap ();
            sl_envelope_destroy (&copy);
            free (again);
        }
        sl_envelope_destroy (&env);
    }
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, data, size);
    zmsg_addmem (msg, data, size / 2);
    sl_proto_t cmd;
    if (sl_proto_decode (&msg, &cmd, err, sizeof err) == 0)
        sl_proto_clear (&cmd);
    return 0;
}
