/*  sl_safetensors: read-only access to the tensors of a .safetensors file,
    the format Hugging Face models ship their weights in.

    The format is an 8-byte little-endian header length N, N bytes of JSON
    ({"name": {"dtype": "F32", "shape": [r, c], "data_offsets": [b, e]}, ...,
    "__metadata__": {"k": "v"}}), then the raw tensor bytes, little-endian,
    row-major. The file is untrusted: open checks every field and every bound
    (header length, JSON shape, known dtypes, shape x dtype size = byte
    range, ranges inside the file, contiguous and non-overlapping, as the
    reference implementation requires) and fails with a message naming the
    tensor and the problem, before any tensor is touched.

    The file is mapped read-only (PROT_READ, MAP_PRIVATE): an F32 tensor
    whose bytes are 4-byte aligned is used in place, so the weights of a model
    cost page cache, not heap, and processes sharing a model share the pages.
    F16 and BF16 tensors (and an F32 tensor at a misaligned offset) are
    converted at load into a malloc'd F32 copy that the reader owns.

    Ownership: the reader owns the mapping and every copy; pointers it hands
    out live until sl_safetensors_destroy. sl_safetensors_f32 may convert,
    so call it while setting up (one thread); every other function is
    read-only and thread-safe.
*/
#ifndef SL_SAFETENSORS_H_INCLUDED
#define SL_SAFETENSORS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sl_safetensors_s sl_safetensors_t;

//  The dtypes of the format (all are accepted in a file; only F32, F16 and
//  BF16 can be read as floats).
typedef enum {
    SL_ST_BOOL, SL_ST_U8, SL_ST_I8, SL_ST_F8_E4M3, SL_ST_F8_E5M2, SL_ST_I16, SL_ST_U16,
    SL_ST_F16, SL_ST_BF16, SL_ST_I32, SL_ST_U32, SL_ST_F32, SL_ST_F64, SL_ST_I64, SL_ST_U64
} sl_st_dtype_t;

#define SL_ST_MAX_DIMS 8                        //  more dims is refused as corrupt
#define SL_ST_MAX_HEADER (100 * 1024 * 1024)    //  the reference implementation's limit

//  Map and validate the file at path. Returns NULL with a message a person
//  can act on in err (errlen bytes) if it can't be read or is not a valid
//  safetensors file. Caller owns the reader and must destroy it.
sl_safetensors_t *sl_safetensors_open (const char *path, char *err, size_t errlen);

//  Unmap the file and free every converted copy; nulls *self_p, safe on NULL.
void sl_safetensors_destroy (sl_safetensors_t **self_p);

//  Number of tensors in the file.
size_t sl_safetensors_count (sl_safetensors_t *self);

//  Name of tensor index (0 <= index < count). Owned by the reader.
const char *sl_safetensors_name (sl_safetensors_t *self, size_t index);

//  Index of the tensor called name, or -1 if there is none.
long sl_safetensors_find (sl_safetensors_t *self, const char *name);

//  dtype, number of dimensions and shape (ndim values, owned by the reader)
//  of tensor index.
sl_st_dtype_t sl_safetensors_dtype (sl_safetensors_t *self, size_t index);
int sl_safetensors_ndim (sl_safetensors_t *self, size_t index);
const int64_t *sl_safetensors_shape (sl_safetensors_t *self, size_t index);

//  The raw bytes of tensor index as stored (nbytes set if not NULL). Owned
//  by the reader; not necessarily aligned.
const void *sl_safetensors_data (sl_safetensors_t *self, size_t index, size_t *nbytes);

//  Name of a dtype as the format spells it ("F32").
const char *sl_safetensors_dtype_name (sl_st_dtype_t dtype);

//  The whole file as mapped (size set if not NULL), e.g. to hash it.
const void *sl_safetensors_file (sl_safetensors_t *self, size_t *size);

//  The tensor called name as F32, checking that it has exactly ndim
//  dimensions of the given shape. Returns a pointer into the mapping (F32,
//  aligned) or to a converted copy (F16, BF16, misaligned F32) that the
//  reader owns; asking twice returns the same copy. Returns NULL with a
//  message in err if the tensor is missing, has another shape, or another
//  dtype. Not thread-safe (may convert): call while setting up.
const float *sl_safetensors_f32 (sl_safetensors_t *self, const char *name, int ndim,
                                 const int64_t *shape, char *err, size_t errlen);

//  Bytes malloc'd so far for converted copies (0 when every tensor read was
//  an aligned F32 used in place).
size_t sl_safetensors_copied_bytes (sl_safetensors_t *self);

//  Convert an IEEE half (F16) or bfloat16 (BF16) to float; exact for every
//  input, including subnormals, infinities and NaN.
float sl_safetensors_f16_to_f32 (uint16_t h);
float sl_safetensors_bf16_to_f32 (uint16_t h);

void sl_safetensors_test (bool verbose);

#endif
