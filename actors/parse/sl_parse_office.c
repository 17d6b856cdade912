/*  sl_parse_office: DOCX, PPTX, XLSX, ODT, ODP, ODS. Placeholder until the
    back-end lands: refuses with a clear reason.
*/
#include "sl_parse_internal.h"

int
sl_parse_office (const sl_parse_opts_t *opts, const char *path, const char *format,
                 sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen)
{
    (void) opts; (void) path; (void) fn; (void) arg; (void) info;
    sl_parse_errf (err, errlen, "%s documents are not supported yet", format);
    return -1;
}
