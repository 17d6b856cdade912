/*  sl_parse_mail: EML and MBOX. Placeholder until the back-end lands:
    refuses with a clear reason.
*/
#include "sl_parse_internal.h"

int
sl_parse_mail (const sl_parse_opts_t *opts, const char *path, bool mbox,
               sl_page_fn *fn, void *arg, sl_parse_info_t *info, char *err, size_t errlen)
{
    (void) opts; (void) path; (void) fn; (void) arg; (void) info;
    sl_parse_errf (err, errlen, "%s files are not supported yet", mbox ? "mbox" : "eml");
    return -1;
}
