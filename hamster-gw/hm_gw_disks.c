/* hm_gw_disks.c - the disk registry kept current while the gateway serves.
 *
 * The gateway reaches every disk of the node, in process (`hamster serve`)
 * or through a hamster-shard daemon (the split deployment), so it is the
 * one role that sees a disk go missing, fail or come back in both
 * deployments.  Once a second it asks each disk for its info and, when the
 * answer's state differs from what it last recorded, writes the slot's
 * record (hm_meta_disks.h: compare-and-set on its version) so that
 * `hamster disk list`, `hamster status` and the self-healing work read the
 * same states as the readiness answer and the metrics.
 *
 * Decisions:
 * - A state is recorded when it changes, and once after start: the first
 *   pass records what the registry does not know yet (a split node's disks
 *   are first recorded here) and writes nothing when it agrees.
 * - An unanswered write (metadata unreachable, a lost race) is tried again
 *   at the next pass; nothing is remembered as recorded until it is.
 * - A record in the replacing state is left alone until its slot answers
 *   healthy: the operator's replacement stands until the new disk serves.
 * - A disk refused at start (a failed api, hm_shard_api.h) was recorded by
 *   whoever refused it, with its reason; it is not rewritten here.
 * - A shard daemon that does not answer is recorded failed with the reason
 *   "does not answer"; it is recorded healthy again when it answers.  Its
 *   path is the one its daemon last reported (ShardInfoResp.path), kept
 *   from the registry while it is down.
 */
#include "hm_gw_int.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hm_disk_registry.h"
#include "hm_err.h"
#include "hm_log.h"
#include "hm_meta_disks.h"

/* What disk i answers now: its state, id, path and reason (into the
 * caller's buffers).  False for a disk refused at start. */
static bool gw_disks_probe(hm_gw *gw, size_t i, uint32_t *state, char *id, size_t id_cap,
                           char *path, size_t path_cap, char *reason, size_t reason_cap)
{
    if (hm_shard_api_failed_info(gw->cfg.shards[i], NULL, NULL)) return false;
    /* The inner binding: the counting wrapper would log every pass of a
     * dead disk; this file logs state changes only. */
    Hm__ShardInfoResp *info = NULL;
    int rc = gw->cfg.shards[i]->ops->info(gw->cfg.shards[i], &info);
    path[0] = '\0';
    reason[0] = '\0';
    if (gw->cfg.disk_paths != NULL) snprintf(path, path_cap, "%s", gw->cfg.disk_paths[i]);
    else if (rc == 0 && info != NULL && info->path != NULL)
        snprintf(path, path_cap, "%s", info->path);
    if (rc == 0 && info != NULL && info->disk_id != NULL) snprintf(id, id_cap, "%s", info->disk_id);
    else gw_shard_disk_id(gw, i, id, id_cap);
    if (info != NULL) hm__shard_info_resp__free_unpacked(info, NULL);
    const char *name = gw->cfg.shard_names != NULL ? gw->cfg.shard_names[i] : NULL;
    if (rc == 0) {
        *state = HM_DISK_STATE_HEALTHY;
    } else if (rc == HM_ENOENT) {
        *state = HM_DISK_STATE_MISSING;
        snprintf(reason, reason_cap, "directory gone or emptied while serving; the node serves "
                 "degraded until the disk is back or replaced");
    } else {
        *state = HM_DISK_STATE_FAILED;
        if (gw->cfg.disk_paths == NULL && name != NULL && rc != HM_EUNAVAIL)
            snprintf(reason, reason_cap, "shard daemon %s does not answer (%s)", name,
                     hm_err_name(rc));
        else
            snprintf(reason, reason_cap, "I/O error or failed sync while serving; writes "
                     "refused until restart");
    }
    return true;
}

/* One pass over the disks; last[i] is the state last recorded for slot i
 * (0: none yet). */
static void gw_disks_pass(hm_gw *gw, uint32_t *last)
{
    Hm__MetaResponse *reg = NULL;
    for (size_t i = 0; i < gw->cfg.shard_count; i++) {
        uint32_t now;
        char id[40], path[HM_DISK_PATH_BYTES_MAX], reason[256];
        if (!gw_disks_probe(gw, i, &now, id, sizeof id, path, sizeof path, reason,
                            sizeof reason))
            continue;
        if (now == last[i]) continue;
        if (reg == NULL && hm_disk_registry_fetch(gw->meta, "gw-disks", &reg) != 0)
            break; /* metadata unreachable: the next pass tries again */
        const Hm__DiskRecord *cur = hm_disk_registry_slot(reg, i);
        if (cur != NULL && cur->state == HM_DISK_STATE_REPLACING && now != HM_DISK_STATE_HEALTHY)
            continue;
        if (path[0] == '\0')
            snprintf(path, sizeof path, "%s",
                     cur != NULL && cur->path != NULL && cur->path[0] != '\0' ? cur->path
                     : gw->cfg.shard_names != NULL                           ? gw->cfg.shard_names[i]
                                                                             : "");
        if (id[0] == '\0' && cur != NULL && cur->disk_id != NULL)
            snprintf(id, sizeof id, "%s", cur->disk_id);
        int rc = hm_disk_registry_record(gw->meta, "gw-disks", cur, i, path, id, now, reason,
                                         hm_wall_ms(gw->cfg.env));
        if (rc != 0) {
            hm_warn("gw", NULL, "disk registry: slot %zu not recorded: %s", i, hm_err_msg(rc));
            continue;
        }
        if (now == HM_DISK_STATE_HEALTHY && last[i] != 0)
            hm_warn("gw", NULL, "disk %s (slot %zu, id %s) is back: healthy", path, i, id);
        else if (now != HM_DISK_STATE_HEALTHY)
            hm_warn("gw", NULL, "disk %s (slot %zu, id %s) is %s: %s", path, i,
                    id[0] != '\0' ? id : "unknown", hm_disk_state_name(now), reason);
        last[i] = now;
    }
    if (reg != NULL) hm__meta_response__free_unpacked(reg, NULL);
}

void *gw_disks_main(void *arg)
{
    hm_gw *gw = arg;
    uint32_t *last = calloc(gw->cfg.shard_count > 0 ? gw->cfg.shard_count : 1, sizeof *last);
    if (last == NULL) {
        hm_error("gw", NULL, "disk watch: out of memory; disk states are not recorded");
        return NULL;
    }
    int64_t every = gw->cfg.disk_watch_ms > 0 ? gw->cfg.disk_watch_ms : GW_DISK_WATCH_MS;
    pthread_mutex_lock(&gw->gc_lock);
    while (!gw->gc_stop) {
        pthread_mutex_unlock(&gw->gc_lock);
        gw_disks_pass(gw, last);
        pthread_mutex_lock(&gw->gc_lock);
        struct timespec ts = gw_deadline_after_ms(every);
        while (!gw->gc_stop &&
               pthread_cond_timedwait(&gw->disks_cond, &gw->gc_lock, &ts) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&gw->gc_lock);
    free(last);
    return NULL;
}
