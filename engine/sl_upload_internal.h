/*  sl_upload_internal: the on-disk naming sl_upload.c shares with its
    self-test (sl_upload_test.c), which plants and damages upload files.
    Not part of the public API.
*/
#ifndef SL_UPLOAD_INTERNAL_H_INCLUDED
#define SL_UPLOAD_INTERNAL_H_INCLUDED

#include "sl_upload.h"

#define SL_UPLOAD_PATH_MAX  4096            //  longest path we build
#define SL_UPLOAD_PREFIX    "upload-"       //  tmp/upload-<id>.meta, .part

//  The paths of upload id's record (.meta) and bytes (.part), each of
//  SL_UPLOAD_PATH_MAX bytes.
void sl_upload_paths (sl_upload_t *self, const char *id, char *meta, char *part);

#endif
