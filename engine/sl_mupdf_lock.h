/*  sl_mupdf_lock: the one lock every MuPDF context in the process shares.

    MuPDF's harfbuzz and openjpeg glue keep a global "current context"
    pointer guarded by FZ_LOCK_FREETYPE, and MuPDF's docs say that lock must
    be the same mutex for every context in the process. Two stages use
    MuPDF (parse extracts text, ocr renders pages), each with contexts of
    its own, and under --role all they run in one process: so the mutex
    lives here, in the engine, where both can reach it without including
    each other's headers. No MuPDF dependency: it is a plain mutex.

    sl_mupdf_once runs a setup function once per process (MuPDF's lazily
    built AES tables), whichever stage gets there first, before any
    context exists.
*/
#ifndef SL_MUPDF_LOCK_H_INCLUDED
#define SL_MUPDF_LOCK_H_INCLUDED

//  Take / release the process-wide FZ_LOCK_FREETYPE mutex.
void sl_mupdf_lock (void);
void sl_mupdf_unlock (void);

//  Run init the first time any caller gets here; later calls (with any
//  function) return at once. Thread-safe.
void sl_mupdf_once (void (*init) (void));

#endif
