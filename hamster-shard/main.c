/* main.c - hamster-shard: serve one disk's shard store over mutual-TLS RPC.
 *
 *   hamster-shard -data-dir D -disk PATH -listen ADDR [-slot N] [-format] [-metrics ADDR]
 *
 * The disk must have been formatted: -format formats it first (it must be
 * new or empty; the operator's act of creating the store), as slot -slot
 * of the node's cluster.  Without -format a missing, empty, unlabelled,
 * foreign or wrong-slot disk is refused with its reason and the daemon
 * exits: it never formats on its own, and the gateway serves degraded
 * without it.
 *
 * A thin shell: claim its -metrics port, check the node's cluster identity
 * and root key, load its certificates, open the store, serve (and
 * Prometheus text on -metrics) until SIGINT or SIGTERM, stop
 * cleanly.  The signals are blocked before any thread starts and taken with
 * sigwait, so no handler runs on a server thread.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_cluster.h"

#include "hm_daemon.h"
#include "hm_disk_label.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_listen.h"
#include "hm_log.h"
#include "hm_metrics.h"
#include "hm_rpc.h"
#include "hm_shard_store.h"

#define MAIN_COMP "shard"

/* The shard daemon's own families: its disk's state and space, under the
 * same names the gateway uses for each disk it reaches; the syncs and RPC
 * requests are process-wide (hm_metrics_write_process). */
static int main_metrics_render(void *arg, hm_metrics_buf *b)
{
    hm_shard_store *store = arg;
    Hm__ShardInfoResp *info = NULL;
    int rc = hm_shard_store_info(store, &info);
    bool up = rc == 0 && info != NULL && !hm_shard_store_failed(store);
    const char *state = up ? "healthy" : hm_shard_store_missing(store) ? "missing" : "failed";
    char esc[80], labels[112];
    hm_metrics_label_escape(hm_shard_store_disk_id(store), esc, sizeof esc);
    snprintf(labels, sizeof labels, "disk_id=\"%s\"", esc);
    hm_metrics_family(b, "hamster_disk_up", "gauge",
                      "1 when the disk serves writes, 0 when it has failed (a sync failed or "
                      "an I/O error) or is missing (its directory gone).");
    hm_metrics_sample_u64(b, "hamster_disk_up", labels, up ? 1 : 0);
    hm_metrics_family(b, "hamster_disk_state", "gauge",
                      "1 for the state the disk is in (healthy, failed, missing), 0 for the "
                      "others.");
    static const char *const states[] = {"healthy", "failed", "missing"};
    for (size_t i = 0; i < 3; i++) {
        char sl[160];
        snprintf(sl, sizeof sl, "%s,state=\"%s\"", labels, states[i]);
        hm_metrics_sample_u64(b, "hamster_disk_state", sl, strcmp(states[i], state) == 0);
    }
    if (rc == 0 && info != NULL) {
        uint64_t total = info->bytes_total, free_bytes = info->bytes_free;
        hm_metrics_family(b, "hamster_disk_size_bytes", "gauge",
                          "Size of the file system holding the disk.");
        hm_metrics_sample_u64(b, "hamster_disk_size_bytes", labels, total);
        hm_metrics_family(b, "hamster_disk_free_bytes", "gauge",
                          "Bytes free on the file system holding the disk.");
        hm_metrics_sample_u64(b, "hamster_disk_free_bytes", labels, free_bytes);
        hm_metrics_family(b, "hamster_disk_used_bytes", "gauge",
                          "Bytes used on the file system holding the disk.");
        hm_metrics_sample_u64(b, "hamster_disk_used_bytes", labels,
                              total > free_bytes ? total - free_bytes : 0);
    }
    if (info != NULL) hm__shard_info_resp__free_unpacked(info, NULL);
    return b->failed ? HM_ENOMEM : 0;
}

/* Ready while the disk takes writes. */
static bool main_metrics_ready(void *arg) { return !hm_shard_store_failed(arg); }

int main(int argc, char **argv)
{
    const char *data_dir = NULL, *disk = NULL, *listen = NULL, *metrics_addr = NULL;
    int64_t slot = -1;
    bool format = false;
    const hm_flag flags[] = {
        {"slot", HM_FLAG_INT, &slot,
         "the disk's slot (position in the node's disk list); checked against its label"},
        {"format", HM_FLAG_BOOL, &format,
         "format the disk first (new or empty directory only; needs -slot)"},
        {"data-dir", HM_FLAG_STR, &data_dir, "node data directory (from hamster-ctl init)"},
        {"disk", HM_FLAG_STR, &disk, "directory of the disk this daemon serves"},
        {"listen", HM_FLAG_STR, &listen, "RPC address host:port"},
        {"metrics", HM_FLAG_STR, &metrics_addr,
         "serve Prometheus /metrics and the health paths on this address (off when unset)"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    const char *synopsis =
        "hamster-shard -data-dir D -disk PATH -listen ADDR [-slot N] [-format] [-metrics ADDR]";
    hm_env *env = NULL;
    hm_tls *tls = NULL;
    hm_shard_store *store = NULL;
    hm_rpc_server *srv = NULL;
    hm_metrics_server *metrics = NULL;
    int rest = 0, rc, status = 1, lock_fd = -1, metrics_fd = -1;
    char why[1024], metrics_bound[80];

    hm_log_init_from_env();
    int code = hm_flags_main("hamster-shard", synopsis, flags, nflags, argc, argv, 1);
    if (code >= 0) return code;
    if (data_dir == NULL || disk == NULL || listen == NULL) {
        fprintf(stderr, "hamster-shard: -data-dir, -disk and -listen are required\n");
        hm_flags_usage(stderr, synopsis, flags, nflags);
        return 2;
    }
    (void)rest;
    if (slot < -1 || slot > (int64_t)HM_DISK_SLOT_MAX || (format && slot < 0)) {
        fprintf(stderr, "hamster-shard: -slot takes 0..%u, and -format needs it\n",
                HM_DISK_SLOT_MAX);
        return 2;
    }
    /* Ports first: a port in use fails before the disk is touched. */
    if (metrics_addr != NULL && metrics_addr[0] != '\0') {
        rc = hm_listen(metrics_addr, &metrics_fd, metrics_bound, sizeof metrics_bound, why,
                       sizeof why);
        if (rc != 0) {
            hm_error(MAIN_COMP, NULL, "metrics: %s", why);
            return 1;
        }
    }

    sigset_t sigs;
    hm_daemon_block_signals(&sigs);

    rc = hm_env_posix_new(&env);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "environment: %s", hm_err_msg(rc));
        if (metrics_fd >= 0) close(metrics_fd);
        return 1;
    }
    if (hm_daemon_identity(env, MAIN_COMP, data_dir, &tls) != 0) goto out_env;
    char cluster_id[HM_DISK_ID_HEX_BYTES + 1];
    {
        Hm__ClusterIdentity *cid = NULL;
        rc = hm_cluster_check(env, data_dir, getenv("HAMSTER_ACCESS_KEY_ID"),
                              getenv("HAMSTER_SECRET_ACCESS_KEY"), &cid);
        if (rc != 0 || cid->cluster_id == NULL ||
            strlen(cid->cluster_id) != HM_DISK_ID_HEX_BYTES) {
            hm_error(MAIN_COMP, NULL, "%s/cluster.pb names no usable cluster id", data_dir);
            if (cid != NULL) hm__cluster_identity__free_unpacked(cid, NULL);
            goto out_tls;
        }
        memcpy(cluster_id, cid->cluster_id, sizeof cluster_id);
        hm__cluster_identity__free_unpacked(cid, NULL);
    }
    /* One process per disk: format it when asked (which creates it), lock
     * it, open it checked against the cluster and slot. */
    if (format) {
        hm_disk_label lab;
        rc = hm_daemon_check_dir(disk, true, why, sizeof why);
        if (rc == 0)
            rc = hm_disk_format(env, disk, cluster_id, (uint32_t)slot, &lab, why, sizeof why);
        if (rc != 0) {
            hm_error(MAIN_COMP, NULL, "format %s: %s", disk, why);
            goto out_tls;
        }
        hm_info(MAIN_COMP, NULL, "formatted disk %s as slot %lld (id %s)", disk,
                (long long)slot, lab.disk_id);
    }
    bool is_dir = false;
    rc = env->ops->exists(env, disk, &is_dir);
    if (rc == 0 && is_dir) rc = hm_daemon_lock(disk, &lock_fd, why, sizeof why);
    else rc = 0; /* refused below with the reason */
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "disk: %s", why);
        goto out_tls;
    }
    rc = hm_shard_store_open_checked(&store, env, disk, cluster_id,
                                     slot < 0 ? HM_DISK_SLOT_ANY : (uint32_t)slot, why,
                                     sizeof why);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "disk %s refused (not formatted again; -format creates a "
                 "new store): %s", disk, why);
        goto out_tls;
    }
    rc = hm_rpc_server_start(&srv, tls, listen, hm_shard_service_handle, store);
    if (rc != 0) {
        hm_error(MAIN_COMP, NULL, "listen %s: %s", listen, hm_err_msg(rc));
        goto out_store;
    }
    if (metrics_fd >= 0) {
        rc = hm_metrics_server_start(&metrics, metrics_fd, MAIN_COMP, main_metrics_render,
                                     main_metrics_ready, store);
        metrics_fd = -1; /* taken over */
        if (rc != 0) {
            hm_rpc_server_stop(srv);
            goto out_store;
        }
        hm_info(MAIN_COMP, NULL, "metrics on http://%s/metrics", metrics_bound);
    }
    hm_info(MAIN_COMP, NULL, "ready: disk %s (id %s) serving on %s (port %d)", disk,
            hm_shard_store_disk_id(store), listen, hm_rpc_server_bound_port(srv));

    hm_daemon_wait(&sigs, MAIN_COMP);
    hm_metrics_server_stop(metrics);
    hm_rpc_server_stop(srv);
    status = 0;

out_store:
    hm_shard_store_close(store);
out_tls:
    hm_daemon_unlock(lock_fd);
    hm_tls_free(tls);
out_env:
    if (metrics_fd >= 0) close(metrics_fd);
    hm_env_posix_free(env);
    return status;
}
