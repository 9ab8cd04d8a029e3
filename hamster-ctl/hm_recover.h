/* hm_recover.h - rebuild a store's metadata from its shard files.
 *
 * `hamster-ctl recover -from-shards DATA-DIR` (and `hamster recover
 * -from-shards DATA-DIR`) is for the day the meta directory is gone: every
 * shard file describes what it holds (shard format 2, docs/formats.md), so
 * walking the disks gives back the buckets, the objects and their ETags,
 * sizes, content types, metadata, headers, tags and checksums.  What cannot
 * come back, and why, is in docs/adr/0005-self-describing-shards.md: inline
 * objects (<= HM_INLINE_BYTES_MAX, stored only in metadata), empty buckets,
 * bucket settings, tags changed after the PUT, uploads in progress.
 */
#ifndef HM_RECOVER_H
#define HM_RECOVER_H

#include <stdint.h>
#include <stdio.h>

#include "hm_env.h"
#include "hm_meta_api.h"
#include "hm_shard_store.h"

/* What a rebuild found and did. */
typedef struct hm_recover_stats {
    uint64_t shards;             /* shard files seen on all disks */
    uint64_t corrupt;            /* failed a check (CRC, size, ETag, fields): skipped */
    uint64_t superseded;         /* objects of a key a newer shard claims */
    uint64_t incomplete;         /* multipart manifests missing a part */
    uint64_t unused_parts;       /* part shards no rebuilt object names */
    uint64_t buckets;            /* buckets created */
    uint64_t objects;            /* object versions written (multipart included) */
    uint64_t multipart;          /* of which multipart */
    uint64_t bytes;              /* their logical bytes */
    uint64_t repairs;            /* shards no disk holds, queued as repair items */
} hm_recover_stats;

/* Rebuild metadata into meta (an empty store) from stores[0..n): verify
 * every shard file (header, file size, footer, every block's CRC32C, the
 * MD5 of a shard against its sealed ETag), pick for each (bucket, key) the
 * shard or manifest with the newest commit stamp (committed_ms, else
 * created_ms; ties by blob id) whose bytes are all present, and write one
 * bucket per name (owner, region) and one version per key.  Shards that
 * fail a check are reported on report (one line each, with their path) and
 * skipped; nothing from a disk is trusted before it is checked.  Returns 0
 * when the rebuild ran (whatever it skipped), or the first metadata or disk
 * error that stopped it (the metadata is then partial). */
int hm_recover_from_shards(hm_env *env, hm_shard_store *const *stores, size_t n_stores,
                           hm_meta_api *meta, const char *owner, const char *region,
                           FILE *report, hm_recover_stats *out);

/* Rebuild the metadata of data_dir, whose meta directory must be absent,
 * from stores[0..n): into data_dir/meta.recovering first (a fresh metadata
 * node), which is renamed to data_dir/meta only when the rebuild finished,
 * and data_dir is synced after the rename.  Returns 0 once data_dir/meta is
 * complete and durable; on any error, and after a crash or power loss at
 * any point before that, data_dir/meta is absent or complete, never
 * partial (data_dir/meta.recovering may be left: the caller removes it).
 * HM_EEXIST when data_dir/meta or data_dir/meta.recovering exists,
 * HM_ETOOBIG for a path too long, else the first metadata or disk error. */
int hm_recover_into(hm_env *env, const char *data_dir, hm_shard_store *const *stores,
                    size_t n_stores, const char *owner, const char *region, FILE *report,
                    hm_recover_stats *out);

/* The verb: recover -from-shards DATA-DIR [-disks P,P] [-region R].  Refuses
 * while DATA-DIR/meta exists or while any process holds a file under
 * DATA-DIR open; builds the new metadata beside it and renames it into
 * place only when the rebuild finished. */
int hm_ctl_recover(int argc, char **argv);

#endif
