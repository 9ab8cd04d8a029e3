/* hm_shard_dirsync.h - group commit for the directory syncs of one disk.
 *
 * A shard put publishes its file by a rename and must then make three
 * directory entries durable: the file's in its fan-out directory, and, the
 * first time this process uses them, the fan-out directories' own entries.
 * Concurrent puts land in different fan-out directories, so one fsync per
 * directory would still cost about one per put.  Callers hand their
 * directories to hm_dirsync_sync; one of them (the leader) syncs everything
 * that is pending while the others wait, and a caller returns once a sync
 * that began after its call has covered its directories.  When the leader
 * holds more than one directory and the binding offers sync_fs (syncfs(2)
 * on Linux), it makes one file-system-wide sync instead of one fsync per
 * directory: the same guarantee for every entry on that file system, at the
 * price of also flushing whatever else is dirty there (see
 * docs/adr/0006-fsync-budget.md).  No lock that other requests need is held
 * while syncing.
 *
 * A failed sync fails the callers whose directories it did not cover (in a
 * one-by-one batch, directories after the failing one are not synced);
 * what a failed sync means for the disk is the store's decision.
 */
#ifndef HM_SHARD_DIRSYNC_H
#define HM_SHARD_DIRSYNC_H

#include <stddef.h>

#include "hm_env.h"

typedef struct hm_dirsync hm_dirsync;

/* fs_dir: a directory on the disk, named to sync_fs.  env is borrowed. */
int hm_dirsync_new(hm_dirsync **out, hm_env *env, const char *fs_dir);
void hm_dirsync_free(hm_dirsync *d);

/* Make the entries of each of dirs[0..n) durable (1 <= n <= 8). */
int hm_dirsync_sync(hm_dirsync *d, const char *const *dirs, size_t n);

#endif
