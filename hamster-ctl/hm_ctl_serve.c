/* hm_ctl_serve.c - `hamster serve`: every role in one process.
 *
 * The data directory has the same format as a cluster node's (see
 * docs/adr/0002-serve-is-a-one-node-cluster.md): on first start it is
 * initialised as a one-node cluster with its own CA; later starts reuse it.
 * The roles talk through their in-process API bindings (hm_meta_api_local,
 * hm_shard_api_local), which behave exactly like the RPC bindings the split
 * daemons use, so one object service serves both deployments.
 *
 * Shutdown order on SIGINT/SIGTERM: stop the gateway (no new requests, the
 * in-flight ones finish or are cut), then the metadata node (its commit
 * thread finishes the current batch), then the shard stores. */
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_cluster.h"
#include "hm_ctl.h"
#include "hm_daemon.h"
#include "hm_disk_label.h"
#include "hm_disk_registry.h"
#include "hm_env.h"
#include "hm_limits.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_gw.h"
#include "hm_listen.h"
#include "hm_log.h"
#include "hm_meta_disks.h"
#include "hm_meta_node.h"
#include "hm_rpc.h"
#include "hm_shard_store.h"

#define SERVE_DISKS_MAX 64

typedef struct serve_state {
    hm_env *env;
    hm_meta_node *meta_node;
    hm_meta_api *meta;
    hm_shard_store *stores[SERVE_DISKS_MAX];
    hm_shard_api *shards[SERVE_DISKS_MAX];
    size_t disk_count;
    hm_gw *gw;
    int s3_fd;                      /* bound before anything else; -1 once handed over */
    int metrics_fd;
    int locks[SERVE_DISKS_MAX + 2]; /* data dir, meta dir, each disk */
    size_t lock_count;
    hm_tls *tls;                /* admin RPC: the metadata service */
    hm_rpc_server *admin;
} serve_state;

/* Split a comma-separated list into out[] (pointers into buf). */
static int serve_split(char *buf, char **out, size_t max, size_t *count)
{
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (n == max) return HM_ETOOBIG;
        out[n++] = tok;
    }
    *count = n;
    return 0;
}

static void serve_teardown(serve_state *st)
{
    if (st->gw != NULL) hm_gw_stop(st->gw);
    if (st->admin != NULL) hm_rpc_server_stop(st->admin);
    hm_tls_free(st->tls);
    if (st->meta != NULL) st->meta->ops->free(st->meta);
    if (st->meta_node != NULL) hm_meta_node_close(st->meta_node);
    for (size_t i = 0; i < st->disk_count; i++) {
        if (st->shards[i] != NULL) st->shards[i]->ops->free(st->shards[i]);
        if (st->stores[i] != NULL) hm_shard_store_close(st->stores[i]);
    }
    if (st->env != NULL) hm_env_posix_free(st->env);
    if (st->s3_fd >= 0) close(st->s3_fd);
    if (st->metrics_fd >= 0) close(st->metrics_fd);
    for (size_t i = 0; i < st->lock_count; i++) hm_daemon_unlock(st->locks[i]);
}

/* Lock dir for this process; prints why not. */
static int serve_lock(serve_state *st, const char *dir)
{
    char why[1024];
    int fd = -1;
    int rc = hm_daemon_lock(dir, &fd, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "hamster: %s\n", why);
        return rc;
    }
    st->locks[st->lock_count++] = fd;
    return 0;
}

/* Check dir (creating it when missing), then lock it.  what names it in
 * messages ("data directory", "disk"). */
static int serve_claim_dir(serve_state *st, const char *dir, const char *what)
{
    char why[1024];
    int rc = hm_daemon_check_dir(dir, true, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "hamster: %s: %s\n", what, why);
        return rc;
    }
    rc = st->env->ops->mkdir(st->env, dir);
    if (rc != 0 && rc != HM_EEXIST) {
        fprintf(stderr, "hamster: %s: cannot create %s: %s\n", what, dir, hm_err_msg(rc));
        return rc;
    }
    return serve_lock(st, dir);
}

/* Lock a configured disk if its directory exists.  A missing one is left
 * alone (not created: it is opened as failed); only another process
 * holding the disk stops the start. */
static int serve_claim_disk(serve_state *st, const char *dir, bool *locked)
{
    bool is_dir = false;
    int rc = st->env->ops->exists(st->env, dir, &is_dir);
    if (rc == HM_ENOENT || (rc == 0 && !is_dir)) return 0;
    if (rc != 0) return 0; /* unreachable: refused with its reason at open */
    char why[1024];
    int fd = -1;
    rc = hm_daemon_lock(dir, &fd, why, sizeof why);
    if (rc == HM_EBUSY) {
        fprintf(stderr, "hamster: disk: %s\n", why);
        return rc;
    }
    if (rc != 0) {
        hm_warn("serve", NULL, "disk %s: %s", dir, why);
        return 0;
    }
    st->locks[st->lock_count++] = fd;
    *locked = true;
    return 0;
}

/* The registry's record of every slot (DiskList), or NULL when it cannot
 * be read (then ids of missing disks are unknown; nothing else changes). */
static Hm__MetaResponse *serve_registry_fetch(serve_state *st)
{
    Hm__MetaResponse *reg = NULL;
    int rc = hm_disk_registry_fetch(st->meta, "serve-disks", &reg);
    if (rc != 0) hm_warn("serve", NULL, "disk registry not readable: %s", hm_err_msg(rc));
    return rc == 0 ? reg : NULL;
}

/* Record what this start found on slot in the registry, when it differs
 * from the stored record (compare-and-set on its version; a lost race is
 * only logged: the other writer's record stands, and the gateway's disk
 * watch records what it sees next). */
static void serve_registry_report(serve_state *st, const Hm__DiskRecord *cur, size_t slot,
                                  const char *path, const char *disk_id, uint32_t state,
                                  const char *reason)
{
    int rc = hm_disk_registry_record(st->meta, "serve-disks", cur, slot, path, disk_id, state,
                                     reason, hm_wall_ms(st->env));
    if (rc != 0)
        hm_warn("serve", NULL, "disk registry: slot %zu not recorded: %s", slot,
                hm_err_msg(rc));
}

/* Open every configured disk, checked against this cluster and its slot.
 * A disk that is refused keeps its slot as a failed api (every call
 * HM_EUNAVAIL) and is named in a warning with its path, id (the label's,
 * else the registry's) and reason: the node serves degraded rather than
 * formatting it.  Every slot's state goes to the registry.  Errors only
 * for memory. */
static int serve_open_disks(serve_state *st, char **paths, const char *cluster_id)
{
    size_t bad = 0;
    Hm__MetaResponse *reg = serve_registry_fetch(st);
    for (size_t i = 0; i < st->disk_count; i++) {
        char reason[HM_DISK_REASON_BYTES];
        const Hm__DiskRecord *cur = hm_disk_registry_slot(reg, i);
        int rc = hm_shard_store_open_checked(&st->stores[i], st->env, paths[i], cluster_id,
                                             (uint32_t)i, reason, sizeof reason);
        if (rc == 0) {
            rc = hm_shard_api_local_new(&st->shards[i], st->stores[i]);
            if (rc != 0) goto err;
            serve_registry_report(st, cur, i, paths[i], hm_shard_store_disk_id(st->stores[i]),
                                  HM_DISK_STATE_HEALTHY, "");
            continue;
        }
        st->stores[i] = NULL;
        uint32_t state = rc == HM_ENOENT ? HM_DISK_STATE_MISSING : HM_DISK_STATE_FAILED;
        hm_disk_label lab;
        const char *id = "";
        if (hm_disk_label_read(st->env, paths[i], &lab) == 0) id = lab.disk_id;
        else if (cur != NULL && cur->disk_id != NULL) id = cur->disk_id;
        bad++;
        hm_warn("serve", NULL, "disk %s (slot %zu, id %s) is not served: %s", paths[i], i,
                id[0] != '\0' ? id : "unknown", reason);
        rc = state == HM_DISK_STATE_MISSING ? hm_shard_api_missing_new(&st->shards[i], id, reason)
                                            : hm_shard_api_failed_new(&st->shards[i], id, reason);
        if (rc != 0) goto err;
        /* A replaced slot keeps its registry record until its new disk is
         * found healthy. */
        if (cur == NULL || cur->state != HM_DISK_STATE_REPLACING)
            serve_registry_report(st, cur, i, paths[i], id, state, reason);
    }
    if (bad > 0)
        hm_warn("serve", NULL, "serving degraded: %zu of %zu disk(s) unavailable; nothing was "
                "formatted (see `hamster status`, `hamster disk replace`)", bad,
                st->disk_count);
    if (reg != NULL) hm__meta_response__free_unpacked(reg, NULL);
    return 0;
err:
    if (reg != NULL) hm__meta_response__free_unpacked(reg, NULL);
    return HM_ENOMEM;
}

int hm_ctl_serve(int argc, char **argv)
{
    const char *data_dir = "./data";
    const char *s3_addr = "127.0.0.1:9000";
    const char *metrics_addr = NULL;
    const char *disks = NULL;
    const char *node = NULL;
    const char *listen = "127.0.0.1:7400";
    const char *domain = NULL;
    const char *region = "us-east-1";
    const char *tls_cert = NULL;
    const char *tls_key = NULL;
    int64_t gc_grace_ms = HM_GC_GRACE_MS;
    int64_t mpu_expiry_hours = HM_MPU_EXPIRY_MS / 3600000;
    const hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "data directory (created on first start)"},
        {"s3", HM_FLAG_STR, &s3_addr, "S3 listen address host:port (:port for every interface)"},
        {"metrics", HM_FLAG_STR, &metrics_addr,
         "listen address for Prometheus /metrics and the health paths (default: off)"},
        {"disks", HM_FLAG_STR, &disks,
         "comma-separated shard store directories (default DATA-DIR/disks/disk0)"},
        {"node", HM_FLAG_STR, &node,
         "node name, used on first start (default node1; later: the recorded one)"},
        {"listen", HM_FLAG_STR, &listen, "RPC address recorded on first start"},
        {"domain", HM_FLAG_STR, &domain, "base domain for virtual-hosted-style requests"},
        {"region", HM_FLAG_STR, &region, "region reported to clients"},
        {"tls-cert", HM_FLAG_STR, &tls_cert, "PEM certificate: serve S3 over HTTPS"},
        {"tls-key", HM_FLAG_STR, &tls_key, "PEM private key for -tls-cert"},
        {"gc-grace-ms", HM_FLAG_INT, &gc_grace_ms,
         "read grace (ms) before replaced, deleted or aborted bytes are collected"},
        {"mpu-expiry-hours", HM_FLAG_INT, &mpu_expiry_hours,
         "abort multipart uploads left unfinished this long (0: never)"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    serve_state st;
    char meta_dir[PATH_MAX];
    char meta_log_dir[PATH_MAX];
    char default_disk[PATH_MAX];
    char s3_bound[80], metrics_bound[80] = "";
    char why[1024];
    char *disk_list = NULL;
    char *disk_paths[SERVE_DISKS_MAX];
    const char *ak, *sk;
    bool created = false;
    sigset_t sigs;
    int rc, exit_code = 1;

    memset(&st, 0, sizeof st);
    st.s3_fd = -1;
    st.metrics_fd = -1;
    rc = hm_flags_main("hamster serve",
                       "hamster serve [-data-dir DIR] [-s3 ADDR] [-metrics ADDR] "
                       "[-disks DIR,DIR]",
                       flags, nflags, argc, argv, 0);
    if (rc >= 0) return rc;
    if (gc_grace_ms < 1 || gc_grace_ms > HM_INTENT_TTL_MS) {
        fprintf(stderr, "hamster: -gc-grace-ms must be 1..%lld\n", (long long)HM_INTENT_TTL_MS);
        return 2;
    }
    if (mpu_expiry_hours < 0 || mpu_expiry_hours > 100000) {
        fprintf(stderr, "hamster: -mpu-expiry-hours must be 0..100000\n");
        return 2;
    }
    if ((tls_cert == NULL) != (tls_key == NULL)) {
        fprintf(stderr, "hamster: -tls-cert and -tls-key go together\n");
        return 2;
    }
    if (hm_ctl_root_key(&ak, &sk) != 0) return 1;
    /* Before anything is encoded: a build that codes wrong must not start. */
    if (hm_daemon_ec_selftest("hamster", "serve") != 0) return 1;

    /* Block the stop signals before any thread starts, so every thread
     * inherits the mask and sigwait below is the only receiver. */
    hm_daemon_block_signals(&sigs);

    /* What can fail without touching the data directory fails first: the
     * ports, then the directory's shape. */
    rc = hm_listen(s3_addr, &st.s3_fd, s3_bound, sizeof s3_bound, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "hamster: S3: %s\n", why);
        goto out;
    }
    if (metrics_addr != NULL && metrics_addr[0] != '\0') {
        rc = hm_listen(metrics_addr, &st.metrics_fd, metrics_bound, sizeof metrics_bound,
                          why, sizeof why);
        if (rc != 0) {
            fprintf(stderr, "hamster: metrics: %s\n", why);
            goto out;
        }
    }
    if (disks != NULL) {
        disk_list = strdup(disks);
        if (disk_list == NULL) {
            rc = HM_ENOMEM;
            goto fail;
        }
        rc = serve_split(disk_list, disk_paths, SERVE_DISKS_MAX, &st.disk_count);
        if (rc != 0 || st.disk_count == 0) {
            fprintf(stderr, "hamster: -disks takes 1 to %d directories\n", SERVE_DISKS_MAX);
            goto out;
        }
        /* Before the first start formats them, every disk must be usable;
         * later a bad one is served as failed (serve_open_disks). */
        char cpb[PATH_MAX];
        bool initialised = snprintf(cpb, sizeof cpb, "%s/cluster.pb", data_dir) <
                               (int)sizeof cpb &&
                           access(cpb, F_OK) == 0;
        for (size_t i = 0; !initialised && i < st.disk_count; i++) {
            rc = hm_daemon_check_dir(disk_paths[i], true, why, sizeof why);
            if (rc != 0) {
                fprintf(stderr, "hamster: disk: %s\n", why);
                goto out;
            }
        }
    }
    if (snprintf(meta_dir, sizeof meta_dir, "%s/meta", data_dir) >= (int)sizeof meta_dir ||
        snprintf(meta_log_dir, sizeof meta_log_dir, "%s/meta/log", data_dir) >=
            (int)sizeof meta_log_dir ||
        snprintf(default_disk, sizeof default_disk, "%s/disks/disk0", data_dir) >=
            (int)sizeof default_disk) {
        fprintf(stderr, "hamster: data directory path too long: %s\n", data_dir);
        goto out;
    }

    rc = hm_env_posix_new(&st.env);
    if (rc != 0) goto fail;
    rc = serve_claim_dir(&st, data_dir, "data directory");
    if (rc != 0) goto out;

    /* An initialised directory keeps its node name unless -node says
     * otherwise (and then it must agree). */
    Hm__ClusterIdentity *id = NULL;
    rc = hm_cluster_check(st.env, data_dir, ak, sk, &id);
    if (rc == 0) {
        if (node != NULL && (id->node_name == NULL || strcmp(id->node_name, node) != 0)) {
            fprintf(stderr,
                    "hamster: %s was initialised for node %s; -node %s does not match "
                    "(leave -node out to use the recorded name)\n",
                    data_dir, id->node_name != NULL ? id->node_name : "?", node);
            hm__cluster_identity__free_unpacked(id, NULL);
            goto out;
        }
        rc = hm_cluster_init(st.env, data_dir, id->node_name, listen, ak, sk, &created);
        hm__cluster_identity__free_unpacked(id, NULL);
    } else if (rc == HM_ENOENT) {
        rc = hm_cluster_init(st.env, data_dir, node != NULL ? node : "node1", listen, ak, sk,
                             &created);
    }
    if (rc != 0) {
        hm_daemon_identity_why(data_dir, rc, why, sizeof why);
        fprintf(stderr, "hamster: %s\n", why);
        goto out;
    }
    if (created) hm_info("serve", NULL, "initialised %s as a one-node cluster", data_dir);
    rc = serve_lock(&st, meta_dir);
    if (rc != 0) goto out;

    char cluster_id[HM_DISK_ID_HEX_BYTES + 1];
    {
        Hm__ClusterIdentity *cid = NULL;
        rc = hm_cluster_check(st.env, data_dir, ak, sk, &cid);
        if (rc != 0 || cid->cluster_id == NULL ||
            strlen(cid->cluster_id) != HM_DISK_ID_HEX_BYTES) {
            fprintf(stderr, "hamster: %s/cluster.pb names no usable cluster id\n", data_dir);
            if (cid != NULL) hm__cluster_identity__free_unpacked(cid, NULL);
            goto out;
        }
        memcpy(cluster_id, cid->cluster_id, sizeof cluster_id);
        hm__cluster_identity__free_unpacked(cid, NULL);
    }
    if (disks == NULL) {
        char disks_dir[PATH_MAX];
        snprintf(disks_dir, sizeof disks_dir, "%s/disks", data_dir);
        if (created) {
            rc = st.env->ops->mkdir(st.env, disks_dir);
            if (rc != 0 && rc != HM_EEXIST) {
                fprintf(stderr, "hamster: cannot create %s: %s\n", disks_dir, hm_err_msg(rc));
                goto out;
            }
        }
        disk_paths[0] = default_disk;
        st.disk_count = 1;
    }
    /* Lock the disks that exist before anything is written to them, so a
     * disk another process holds is refused, not formatted. */
    bool locked[SERVE_DISKS_MAX] = {false};
    for (size_t i = 0; i < st.disk_count; i++) {
        rc = serve_claim_disk(&st, disk_paths[i], &locked[i]);
        if (rc != 0) goto out;
    }
    /* Creating the store is formatting its disks, once, on the first
     * start; later starts never format (docs/adr/0011-disk-identity.md). */
    for (size_t i = 0; created && i < st.disk_count; i++) {
        char reason[HM_DISK_REASON_BYTES];
        hm_disk_label lab;
        rc = hm_disk_format(st.env, disk_paths[i], cluster_id, (uint32_t)i, &lab, reason,
                            sizeof reason);
        if (rc != 0) {
            fprintf(stderr, "hamster: disk %s: %s\n", disk_paths[i], reason);
            goto out;
        }
        hm_info("serve", NULL, "formatted disk %s as slot %zu (id %s)", disk_paths[i], i,
                lab.disk_id);
    }
    for (size_t i = 0; i < st.disk_count; i++) {
        if (locked[i]) continue;
        rc = serve_claim_disk(&st, disk_paths[i], &locked[i]);
        if (rc != 0) goto out;
    }

    rc = hm_meta_node_open(&st.meta_node, st.env, meta_dir);
    if (rc != 0) {
        fprintf(stderr, "hamster: metadata in %s: %s\n", meta_dir, hm_err_msg(rc));
        goto out;
    }
    rc = hm_meta_api_local_new(&st.meta, st.meta_node);
    if (rc != 0) goto fail;
    /* The metadata service on the node's recorded RPC address, mTLS against
     * the cluster CA: how `hamster key` reaches a running server
     * (hamster-ctl/hm_ctl_key.c).  Without it S3 still serves; only key
     * administration waits for a restart with a free -listen. */
    {
        Hm__ClusterIdentity *ident = NULL;
        int arc = hm_cluster_check(st.env, data_dir, ak, sk, &ident);
        if (arc == 0) arc = hm_tls_new_from_data_dir(&st.tls, data_dir);
        if (arc == 0)
            arc = hm_rpc_server_start(&st.admin, st.tls, ident->listen, hm_meta_service_handle,
                                      st.meta_node);
        if (arc != 0)
            hm_warn("serve", NULL, "metadata RPC not served on %s: %s; `hamster key` cannot "
                    "reach this server (start it with a free -listen on a new data dir, or "
                    "free that address)", ident != NULL ? ident->listen : "?", hm_err_msg(arc));
        else
            hm_info("serve", NULL, "metadata RPC (mTLS, for hamster key) on %s", ident->listen);
        if (ident != NULL) hm__cluster_identity__free_unpacked(ident, NULL);
    }
    rc = serve_open_disks(&st, disk_paths, cluster_id);
    if (rc != 0) goto fail;

    hm_gw_config cfg = {
        .s3_addr = s3_addr,
        .domain = domain,
        .region = region,
        .access_key_id = ak,
        .secret_key = sk,
        .tls_cert = tls_cert,
        .tls_key = tls_key,
        .env = st.env,
        .meta = st.meta,
        .shards = st.shards,
        .shard_count = st.disk_count,
        .disk_paths = (const char *const *)disk_paths,
        .gc_grace_ms = gc_grace_ms,
        .s3_listen_fd_set = true,
        .s3_listen_fd = st.s3_fd,
        .metrics_listen_fd_set = st.metrics_fd >= 0,
        .metrics_listen_fd = st.metrics_fd,
        .meta_log_dir = meta_log_dir,
        .mpu_expiry_ms = mpu_expiry_hours == 0 ? -1 : mpu_expiry_hours * 3600000,
    };
    st.s3_fd = -1; /* the gateway owns them now, even if it fails */
    st.metrics_fd = -1;
    rc = hm_gw_start(&st.gw, &cfg);
    if (rc != 0) {
        fprintf(stderr, "hamster: cannot serve S3 on %s: %s\n", s3_bound, hm_err_msg(rc));
        goto out;
    }
    if (tls_cert == NULL && !hm_listen_is_loopback(s3_bound))
        hm_warn("serve", NULL,
                "S3 listens on %s, beyond this machine, without TLS: credentials are "
                "signed but requests and data cross the network in the clear; use "
                "-tls-cert/-tls-key or a TLS proxy",
                s3_bound);
    hm_info("serve", NULL, "ready: S3 on %s://%s, data in %s, %zu disk(s)%s%s",
            tls_cert != NULL ? "https" : "http", s3_bound, data_dir, st.disk_count,
            metrics_bound[0] != '\0' ? ", metrics on http://" : "", metrics_bound);

    /* Run-time disk states reach the registry from the gateway's disk
     * watch (hamster-gw/hm_gw_disks.c), as in the split deployment. */
    hm_daemon_wait(&sigs, "serve");
    exit_code = 0;
    goto out;

fail:
    fprintf(stderr, "hamster: %s\n", hm_err_msg(rc));
out:
    serve_teardown(&st);
    free(disk_list);
    if (exit_code == 0) hm_info("serve", NULL, "stopped");
    return exit_code;
}
