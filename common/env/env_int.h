/* env_int.h - shared between the pieces of the production binding
 * (posix.c, kv_lmdb.c, sync_count.c); not for cores. */
#ifndef HM_ENV_INT_H
#define HM_ENV_INT_H

#include "hm_env.h"

/* Count one sync of the given kind (sync_count.c). */
void hm_env_sync_note(enum hm_env_sync_kind kind);

#endif
