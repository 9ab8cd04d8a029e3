/* hm_disk_label.h - a disk's label and the one function that writes it.
 *
 * A shard store is formatted once, explicitly, by hm_disk_format: the
 * operator's act of creating the store (first start of a data directory,
 * `hamster-shard -format`, `hamster disk add|replace`).  Nothing else ever
 * creates or labels a disk, so a disk that went missing is never silently
 * re-created empty: hm_disk_check refuses it with a reason and the node
 * serves without it (docs/adr/0011-disk-identity.md).
 *
 * The label is <disk>/hamster-disk, a packed DiskIdentity
 * (proto/hm_shard.proto), pinned by tests/golden/disk_label_v*.bin:
 *   v1  disk id, created time (the labels written at open before v2;
 *       still read: a v1 disk carries no cluster or slot and is accepted
 *       by any node whose cluster it does not contradict);
 *   v2  also the cluster id and the slot (position in the configured disk
 *       list), both required.
 */
#ifndef HM_DISK_LABEL_H
#define HM_DISK_LABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_env.h"

#define HM_DISK_LABEL_FILE "hamster-disk"
#define HM_DISK_LABEL_VERSION_MIN 1u
#define HM_DISK_LABEL_VERSION 2u          /* what hm_disk_format writes */
#define HM_DISK_LABEL_BYTES_MAX 4096u     /* a label file we read at all */
#define HM_DISK_ID_HEX_BYTES 32u          /* disk ids and cluster ids */
#define HM_DISK_SLOT_ANY UINT32_MAX       /* "no slot": v1 labels, unchecked opens */
#define HM_DISK_SLOT_MAX 1023u            /* slots are 0..HM_DISK_SLOT_MAX */
#define HM_DISK_REASON_BYTES 512u         /* room for any reason we write */

typedef struct hm_disk_label {
    uint32_t format_version;                      /* 1 or 2 */
    char disk_id[HM_DISK_ID_HEX_BYTES + 1];       /* lowercase hex */
    char cluster_id[HM_DISK_ID_HEX_BYTES + 1];    /* "" when a v1 label has none */
    uint32_t slot;                                /* HM_DISK_SLOT_ANY in v1 */
    int64_t created_ms;                           /* wall clock at format */
} hm_disk_label;

/* Parse a label file's bytes (hostile: from disk).  0 and *out filled, or
 * HM_ECORRUPT (does not parse, a field missing or malformed: ids must be 32
 * lowercase hex characters, a v2 slot at most HM_DISK_SLOT_MAX) or
 * HM_EVERSION (format_version outside MIN..VERSION).  Never reads past len. */
int hm_disk_label_parse(const void *buf, size_t len, hm_disk_label *out);

/* Pack l into buf (cap bytes); *len gets the size.  HM_ETOOBIG if it does
 * not fit, HM_EINVAL if l would not parse back. */
int hm_disk_label_pack(const hm_disk_label *l, uint8_t *buf, size_t cap, size_t *len);

/* Read and parse <disk_dir>/hamster-disk.  HM_ENOENT when the file (or the
 * directory) is absent; otherwise as hm_disk_label_parse, or disk errors. */
int hm_disk_label_read(hm_env *env, const char *disk_dir, hm_disk_label *out);

/* Is disk_dir a usable disk for slot `slot` of cluster `cluster_id`?
 * cluster_id NULL or slot HM_DISK_SLOT_ANY skip that check.  0 with *out
 * (optional) filled; otherwise the error and a one-line reason in reason
 * (cap bytes, optional) that names what is wrong:
 *   HM_ENOENT    "missing" (no directory), "empty (not formatted)",
 *                "unlabelled (holds files but no hamster-disk label)",
 *                or a labelled disk without its shards/ or tmp/ directory;
 *   HM_EPERM     "foreign: labelled for cluster X, this node is cluster Y",
 *                "wrong slot: labelled for slot N, configured as slot M";
 *   HM_ECORRUPT / HM_EVERSION  the label does not parse or is too new;
 *   disk errors (HM_EIO ...) from reading it.
 * A v1 label is accepted unless it names another cluster. */
int hm_disk_check(hm_env *env, const char *disk_dir, const char *cluster_id, uint32_t slot,
                  hm_disk_label *out, char *reason, size_t cap);

/* Format disk_dir as slot `slot` of cluster `cluster_id` (32 hex), with a
 * fresh random disk id: create the directory if absent (and fsync its
 * parent), refuse one that holds a label (HM_EEXIST, "already formatted as
 * disk ...") or anything but a lock file or lost+found (HM_EEXIST, "not
 * empty"), create shards/ and tmp/, fsync the directory, then write the
 * label durably (temporary file, fsync, rename, fsync the directory), last,
 * so a labelled disk always has its directories.  The only writer of
 * labels.  *out (optional) gets the label written; reason as for
 * hm_disk_check. */
int hm_disk_format(hm_env *env, const char *disk_dir, const char *cluster_id, uint32_t slot,
                   hm_disk_label *out, char *reason, size_t cap);

#endif
