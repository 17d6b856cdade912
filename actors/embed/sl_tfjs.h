/*  sl_tfjs: reads a TensorFlow.js graph model's weights: the manifest in
    model.json and the binary shards it names, mapped read-only.

    A TF.js model folder holds model.json, whose "weightsManifest" is a list
    of groups; each group names its shard files ("paths") and its tensors
    ("weights": name, shape, dtype). A group's tensors lie back to back,
    little-endian, across the concatenation of its shards, in manifest order:
    a tensor's offset is the running sum of the sizes before it. Nothing in
    the file states an offset, so everything is checked instead: every shard
    must be a plain file beside model.json, the sizes the manifest implies
    must add up to exactly the bytes the shards hold, every shape is bounded
    and overflow-checked, and sl_tfjs_floats checks the shape a caller
    expects. A damaged or hostile folder gives an error message, never an
    over-read or an assert.

    The shards of a group are mapped side by side into one reserved address
    range (MAP_FIXED over a PROT_NONE reservation), so a tensor that spans
    two shards is still one contiguous, zero-copy array. That needs every
    shard but the last to be a whole number of pages (TF.js writes 4 MiB
    shards); a group whose shards are not is read into memory instead
    (sl_tfjs_mapped says which). Quantised weights and string tensors are
    refused: nothing here dequantises.

    Ownership: the reader owns the mappings; tensor pointers stay valid until
    sl_tfjs_destroy. Read-only after sl_tfjs_open, so any number of threads
    may read tensors at once. A shard truncated by someone else while mapped
    would fault on access (SIGBUS): install model files by rename, never in
    place (scripts/setup-model.sh does).
*/
#ifndef SL_TFJS_H_INCLUDED
#define SL_TFJS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_TFJS_MAX_RANK 8

typedef enum {
    SL_TFJS_FLOAT32,
    SL_TFJS_INT32,
    SL_TFJS_BOOL                //  one byte per element
} sl_tfjs_dtype_t;

//  One tensor of the manifest. Owned by the reader.
typedef struct {
    const char *name;
    sl_tfjs_dtype_t dtype;
    int rank;                   //  0 for a scalar
    int64_t shape [SL_TFJS_MAX_RANK];
    size_t count;               //  elements (1 for a scalar)
    size_t offset;              //  bytes from the start of its group
    const void *data;           //  count elements, read-only
} sl_tfjs_tensor_t;

typedef struct sl_tfjs_s sl_tfjs_t;

//  Open the model in folder dir (dir/model.json and the shards it names).
//  Returns NULL with a message naming the file and the problem in err.
//  Caller owns the reader and must destroy it.
sl_tfjs_t *sl_tfjs_open (const char *dir, char *err, size_t errlen);

//  Unmap and free; nulls *self_p, safe on NULL. No tensor may be in use.
void sl_tfjs_destroy (sl_tfjs_t **self_p);

//  Number of tensors in the manifest.
int sl_tfjs_count (sl_tfjs_t *self);

//  Tensor number index (0 <= index < count), in manifest order.
const sl_tfjs_tensor_t *sl_tfjs_at (sl_tfjs_t *self, int index);

//  Tensor by exact name, or NULL.
const sl_tfjs_tensor_t *sl_tfjs_find (sl_tfjs_t *self, const char *name);

//  The float32 tensor name, which must have exactly rank dims equal to
//  shape [0..rank-1]. Returns its data, or NULL with a message in err
//  (missing, wrong dtype, wrong shape).
const float *sl_tfjs_floats (sl_tfjs_t *self, const char *name, int rank, const int64_t *shape,
                             char *err, size_t errlen);

//  Value of a scalar tensor (float32 or int32, shape [] or [1]) into
//  *value. Returns 0, or -1 with a message in err.
int sl_tfjs_scalar (sl_tfjs_t *self, const char *name, double *value, char *err, size_t errlen);

//  Total bytes of all tensors (= all shards).
size_t sl_tfjs_bytes (sl_tfjs_t *self);

//  True if every group is mapped from its files (no copy in memory).
bool sl_tfjs_mapped (sl_tfjs_t *self);

//  sha256 (hex) over the shards' bytes, groups and shards in manifest
//  order: what identifies the weights. Owned by the reader.
const char *sl_tfjs_digest (sl_tfjs_t *self);

void sl_tfjs_test (bool verbose);

#endif
