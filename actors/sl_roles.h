/*  sl_roles: the table of actor kinds sluiced can host, in pipeline order.
    Each stage defines its sl_actor_def_t in its own folder; this table is
    the one place that lists them all.
*/
#ifndef SL_ROLES_H_INCLUDED
#define SL_ROLES_H_INCLUDED

#include "sl_node.h"

//  NULL-terminated array of actor definitions.
extern const sl_actor_def_t *sl_roles [];

//  Look a role up by name; NULL if unknown.
const sl_actor_def_t *sl_roles_find (const char *name);

#endif
