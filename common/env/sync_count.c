/* sync_count.c - how many syncs the production binding has issued.
 *
 * Every fdatasync of a file, fsync of a directory and sync inside the LMDB
 * store that goes through the posix binding is counted here, so a benchmark
 * can print syncs per operation and an operator can see the fsync budget
 * (docs/performance.md).  Process-wide relaxed atomics: the counts are
 * figures to read, never used to order anything.
 */
#include "env_int.h"

#include <stdatomic.h>

static atomic_uint_fast64_t sync_counts[HM_ENV_SYNC_KIND_COUNT];

void hm_env_sync_note(enum hm_env_sync_kind kind)
{
    if ((int)kind < 0 || kind >= HM_ENV_SYNC_KIND_COUNT) return;
    atomic_fetch_add_explicit(&sync_counts[kind], 1, memory_order_relaxed);
}

uint64_t hm_env_syncs(enum hm_env_sync_kind kind)
{
    if ((int)kind < 0 || kind >= HM_ENV_SYNC_KIND_COUNT) return 0;
    return (uint64_t)atomic_load_explicit(&sync_counts[kind], memory_order_relaxed);
}

uint64_t hm_env_syncs_total(void)
{
    uint64_t n = 0;
    for (int k = 0; k < HM_ENV_SYNC_KIND_COUNT; k++)
        n += hm_env_syncs((enum hm_env_sync_kind)k);
    return n;
}
