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

#include "hm_cluster.h"
#include "hm_ctl.h"
#include "hm_env.h"
#include "hm_limits.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_gw.h"
#include "hm_log.h"
#include "hm_meta_node.h"
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
    if (st->meta != NULL) st->meta->ops->free(st->meta);
    if (st->meta_node != NULL) hm_meta_node_close(st->meta_node);
    for (size_t i = 0; i < st->disk_count; i++) {
        if (st->shards[i] != NULL) st->shards[i]->ops->free(st->shards[i]);
        if (st->stores[i] != NULL) hm_shard_store_close(st->stores[i]);
    }
    if (st->env != NULL) hm_env_posix_free(st->env);
}

int hm_ctl_serve(int argc, char **argv)
{
    const char *data_dir = "./data";
    const char *s3_addr = "127.0.0.1:9000";
    const char *disks = NULL;
    const char *node = "node1";
    const char *listen = "127.0.0.1:7400";
    const char *domain = NULL;
    const char *region = "us-east-1";
    const char *tls_cert = NULL;
    const char *tls_key = NULL;
    int64_t gc_grace_ms = HM_GC_GRACE_MS;
    int64_t mpu_expiry_hours = HM_MPU_EXPIRY_MS / 3600000;
    bool help = false;
    const hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "data directory (created on first start)"},
        {"s3", HM_FLAG_STR, &s3_addr, "S3 listen address"},
        {"disks", HM_FLAG_STR, &disks,
         "comma-separated shard store directories (default DATA-DIR/disks/disk0)"},
        {"node", HM_FLAG_STR, &node, "node name, used on first start"},
        {"listen", HM_FLAG_STR, &listen, "RPC address recorded on first start"},
        {"domain", HM_FLAG_STR, &domain, "base domain for virtual-hosted-style requests"},
        {"region", HM_FLAG_STR, &region, "region reported to clients"},
        {"tls-cert", HM_FLAG_STR, &tls_cert, "PEM certificate: serve S3 over HTTPS"},
        {"tls-key", HM_FLAG_STR, &tls_key, "PEM private key for -tls-cert"},
        {"gc-grace-ms", HM_FLAG_INT, &gc_grace_ms,
         "read grace (ms) before replaced, deleted or aborted bytes are collected"},
        {"mpu-expiry-hours", HM_FLAG_INT, &mpu_expiry_hours,
         "abort multipart uploads left unfinished this long (0: never)"},
        {"h", HM_FLAG_BOOL, &help, "show this help"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    serve_state st;
    char meta_dir[PATH_MAX];
    char default_disk[PATH_MAX];
    char *disk_list = NULL;
    char *disk_paths[SERVE_DISKS_MAX];
    const char *ak, *sk;
    bool created = false;
    sigset_t sigs;
    int rest, rc, sig = 0, exit_code = 1;

    memset(&st, 0, sizeof st);
    if (hm_flags_parse(flags, nflags, argc, argv, 0, &rest) != 0 || help ||
        rest != argc) {
        hm_flags_usage(stderr, "hamster serve [-data-dir DIR] [-s3 ADDR] [-disks DIR,DIR]",
                       flags, nflags);
        return help ? 0 : 2;
    }
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

    /* Block the stop signals before any thread starts, so every thread
     * inherits the mask and sigwait below is the only receiver. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = hm_env_posix_new(&st.env);
    if (rc != 0) goto fail;
    rc = hm_cluster_init(st.env, data_dir, node, listen, sk, &created);
    if (rc == HM_EPERM) {
        fprintf(stderr, "hamster: %s belongs to a cluster with a different root key (%s)\n",
                data_dir, HM_ENV_SECRET_KEY);
        goto out;
    }
    if (rc != 0) goto fail;
    if (created) hm_info("serve", NULL, "initialised %s as a one-node cluster", data_dir);

    if (snprintf(meta_dir, sizeof meta_dir, "%s/meta", data_dir) >= (int)sizeof meta_dir ||
        snprintf(default_disk, sizeof default_disk, "%s/disks/disk0", data_dir) >=
            (int)sizeof default_disk) {
        rc = HM_ETOOBIG;
        goto fail;
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
    } else {
        char disks_dir[PATH_MAX];
        snprintf(disks_dir, sizeof disks_dir, "%s/disks", data_dir);
        rc = st.env->ops->mkdir(st.env, disks_dir);
        if (rc != 0 && rc != HM_EEXIST) goto fail;
        disk_paths[0] = default_disk;
        st.disk_count = 1;
    }

    rc = hm_meta_node_open(&st.meta_node, st.env, meta_dir);
    if (rc != 0) goto fail;
    rc = hm_meta_api_local_new(&st.meta, st.meta_node);
    if (rc != 0) goto fail;
    for (size_t i = 0; i < st.disk_count; i++) {
        rc = hm_shard_store_open(&st.stores[i], st.env, disk_paths[i]);
        if (rc != 0) {
            fprintf(stderr, "hamster: disk %s: %s\n", disk_paths[i], hm_err_msg(rc));
            goto out;
        }
        rc = hm_shard_api_local_new(&st.shards[i], st.stores[i]);
        if (rc != 0) goto fail;
    }

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
        .gc_grace_ms = gc_grace_ms,
        .mpu_expiry_ms = mpu_expiry_hours == 0 ? -1 : mpu_expiry_hours * 3600000,
    };
    rc = hm_gw_start(&st.gw, &cfg);
    if (rc != 0) {
        fprintf(stderr, "hamster: cannot serve S3 on %s: %s\n", s3_addr, hm_err_msg(rc));
        goto out;
    }
    hm_info("serve", NULL, "ready: S3 on %s://%s (port %d), data in %s, %zu disk(s)",
            tls_cert != NULL ? "https" : "http", s3_addr, hm_gw_bound_port(st.gw),
            data_dir, st.disk_count);

    while (sigwait(&sigs, &sig) != 0) {
    }
    hm_info("serve", NULL, "signal %d: shutting down", sig);
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
