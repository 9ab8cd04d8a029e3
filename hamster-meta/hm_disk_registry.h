/* hm_disk_registry.h - what a role that reaches disks writes in the disk
 * registry (hm_meta_disks.h), through any metadata binding: `hamster
 * serve` at start, the gateway's disk watch while it serves
 * (hamster-gw/hm_gw_disks.c).
 */
#ifndef HM_DISK_REGISTRY_H
#define HM_DISK_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "hm_meta_api.h"

/* Every slot's record (a DiskList) into *out, freed with
 * hm__meta_response__free_unpacked.  The transport's error, the answer's
 * error, or HM_EPROTO for an answer without a disk list. */
int hm_disk_registry_fetch(hm_meta_api *meta, const char *req_id, Hm__MetaResponse **out);

/* Slot's record in a fetched registry, or NULL. */
const Hm__DiskRecord *hm_disk_registry_slot(const Hm__MetaResponse *reg, size_t slot);

/* Record slot's path, disk id, state and reason unless cur (the fetched
 * record, or NULL) already says so: a compare-and-set on cur's version,
 * so a writer that raced us wins and we get HM_EPRECOND.  since_ms stays
 * cur's while the state is unchanged, else becomes now_ms.  0 when the
 * registry holds the record afterwards. */
int hm_disk_registry_record(hm_meta_api *meta, const char *req_id, const Hm__DiskRecord *cur,
                            size_t slot, const char *path, const char *disk_id, uint32_t state,
                            const char *reason, int64_t now_ms);

#endif
