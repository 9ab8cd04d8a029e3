/* test_disk_util.h - formatted disks for test fixtures.
 *
 * A shard store is only ever opened after an explicit format
 * (hm_disk_format); fixtures that want "a store in this directory" go
 * through test_store_open, which formats the directory first when it has
 * no label yet (a fresh directory, or one whose format a simulated crash
 * cut short) and then opens it like production does.  Tests of the
 * refusals call hm_shard_store_open / hm_shard_store_open_checked
 * themselves. */
#ifndef TEST_DISK_UTIL_H
#define TEST_DISK_UTIL_H

#include <stdio.h>

#include "hm_disk_label.h"
#include "hm_err.h"
#include "hm_shard_store.h"

/* The cluster every fixture disk belongs to. */
#define TEST_DISK_CLUSTER_ID "00112233445566778899aabbccddeeff"

/* Format dir as slot `slot` of TEST_DISK_CLUSTER_ID unless it already has a
 * label.  0, or the format's error (its reason printed to stderr). */
static inline int test_disk_format(hm_env *env, const char *dir, uint32_t slot)
{
    hm_disk_label l;
    int rc = hm_disk_label_read(env, dir, &l);
    if (rc != HM_ENOENT) return rc;
    char reason[HM_DISK_REASON_BYTES];
    rc = hm_disk_format(env, dir, TEST_DISK_CLUSTER_ID, slot, NULL, reason, sizeof reason);
    if (rc != 0) fprintf(stderr, "test_disk_format %s: %s\n", dir, reason);
    return rc;
}

/* test_disk_format(dir, slot 0), then hm_shard_store_open. */
static inline int test_store_open(hm_shard_store **out, hm_env *env, const char *dir)
{
    int rc = test_disk_format(env, dir, 0);
    if (rc != 0) return rc;
    return hm_shard_store_open(out, env, dir);
}

#endif
