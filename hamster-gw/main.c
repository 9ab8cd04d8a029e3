/* main.c - hamster-gw: the S3 gateway as its own daemon, talking to a
 * hamster-meta and one hamster-shard per disk over mTLS.
 *
 *   hamster-gw -data-dir D -s3 ADDR -meta ADDR -shards ADDR[,ADDR...]
 *              [-metrics ADDR] [-domain D] [-region R] [-tls-cert F -tls-key F]
 *
 * The S3 (and -metrics) ports are bound first, so a taken port fails
 * start-up before anything else is read.
 *
 * The root key comes from HAMSTER_ACCESS_KEY_ID / HAMSTER_SECRET_ACCESS_KEY
 * and must match the fingerprint the cluster was initialised with.  Runs
 * until SIGINT or SIGTERM, then drains and exits 0.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_daemon.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_gw.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_rpc.h"

#define GW_MAIN_SHARDS_MAX 256u

int main(int argc, char **argv)
{
    const char *data_dir = NULL, *s3 = "127.0.0.1:9000", *meta_addr = NULL;
    const char *shards_arg = NULL, *domain = NULL, *region = "us-east-1";
    const char *tls_cert = NULL, *tls_key = NULL, *metrics_addr = NULL;
    hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "node data directory (cluster identity, TLS)"},
        {"s3", HM_FLAG_STR, &s3, "S3 listen address host:port (:port for every interface)"},
        {"metrics", HM_FLAG_STR, &metrics_addr,
         "listen address for Prometheus /metrics and the health paths (default: off)"},
        {"meta", HM_FLAG_STR, &meta_addr, "hamster-meta address host:port"},
        {"shards", HM_FLAG_STR, &shards_arg, "hamster-shard addresses, comma-separated"},
        {"domain", HM_FLAG_STR, &domain, "base domain for virtual-hosted-style requests"},
        {"region", HM_FLAG_STR, &region, "region reported to clients"},
        {"tls-cert", HM_FLAG_STR, &tls_cert, "PEM certificate for HTTPS"},
        {"tls-key", HM_FLAG_STR, &tls_key, "PEM private key for HTTPS"},
    };
    size_t nflags = sizeof(flags) / sizeof(flags[0]);
    const char *synopsis = "hamster-gw -data-dir D -s3 ADDR -meta ADDR -shards ADDR[,ADDR...] "
                           "[-metrics ADDR] [-domain D] [-region R] [-tls-cert F -tls-key F]";
    hm_log_init_from_env();
    int code = hm_flags_main("hamster-gw", synopsis, flags, nflags, argc, argv, 1);
    if (code >= 0) return code;
    if (data_dir == NULL || meta_addr == NULL || shards_arg == NULL) {
        fprintf(stderr, "hamster-gw: -data-dir, -meta and -shards are required\n");
        hm_flags_usage(stderr, synopsis, flags, nflags);
        return 2;
    }
    if ((tls_cert == NULL) != (tls_key == NULL)) {
        fprintf(stderr, "hamster-gw: -tls-cert and -tls-key go together\n");
        return 2;
    }
    const char *akid = getenv("HAMSTER_ACCESS_KEY_ID");
    const char *secret = getenv("HAMSTER_SECRET_ACCESS_KEY");
    if (akid == NULL || akid[0] == '\0' || secret == NULL || secret[0] == '\0') {
        fprintf(stderr, "hamster-gw: set HAMSTER_ACCESS_KEY_ID and "
                        "HAMSTER_SECRET_ACCESS_KEY (the cluster's root key) first\n");
        return 2;
    }

    /* Before anything is encoded: a build that codes wrong must not start. */
    if (hm_daemon_ec_selftest("hamster-gw", "gw") != 0) return 1;

    int ret = 1;
    int rc;
    hm_env *env = NULL;
    hm_tls *tls = NULL;
    hm_meta_api *meta = NULL;
    hm_shard_api *shards[GW_MAIN_SHARDS_MAX];
    const char *shard_names[GW_MAIN_SHARDS_MAX];
    size_t nshards = 0;
    hm_gw *gw = NULL;
    char *list = NULL;
    int s3_fd = -1, metrics_fd = -1;
    char bound[80], metrics_bound[80] = "", why[512];

    /* Before any thread starts, so that only hm_daemon_wait sees them. */
    sigset_t set;
    hm_daemon_block_signals(&set);

    /* The ports first: a taken port fails before anything else. */
    rc = hm_gw_listen(s3, &s3_fd, bound, sizeof bound, why, sizeof why);
    if (rc != 0) {
        hm_error("gw", NULL, "S3: %s", why);
        return 1;
    }
    if (metrics_addr != NULL && metrics_addr[0] != '\0') {
        rc = hm_gw_listen(metrics_addr, &metrics_fd, metrics_bound, sizeof metrics_bound, why,
                          sizeof why);
        if (rc != 0) {
            hm_error("gw", NULL, "metrics: %s", why);
            close(s3_fd);
            return 1;
        }
    }
    rc = hm_env_posix_new(&env);
    if (rc != 0) {
        fprintf(stderr, "hamster-gw: environment: %s\n", hm_err_msg(rc));
        goto out;
    }
    if (hm_daemon_identity(env, "gw", data_dir, &tls) != 0) goto out;
    rc = hm_meta_api_rpc_new(&meta, tls, meta_addr);
    if (rc != 0) {
        hm_error("gw", NULL, "metadata client for %s: %s", meta_addr, hm_err_msg(rc));
        goto out;
    }
    list = strdup(shards_arg);
    if (list == NULL) goto out;
    char *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a != NULL; a = strtok_r(NULL, ",", &save)) {
        if (*a == '\0') continue;
        if (nshards == GW_MAIN_SHARDS_MAX) {
            hm_error("gw", NULL, "at most %u shard addresses", GW_MAIN_SHARDS_MAX);
            goto out;
        }
        rc = hm_shard_api_rpc_new(&shards[nshards], tls, a);
        if (rc != 0) {
            hm_error("gw", NULL, "shard client for %s: %s", a, hm_err_msg(rc));
            goto out;
        }
        shard_names[nshards] = a;
        nshards++;
    }
    if (nshards == 0) {
        hm_error("gw", NULL, "-shards names no address");
        goto out;
    }

    hm_gw_config cfg = {
        .s3_addr = s3,
        .domain = domain,
        .region = region,
        .access_key_id = akid,
        .secret_key = secret,
        .tls_cert = tls_cert,
        .tls_key = tls_key,
        .env = env,
        .meta = meta,
        .shards = shards,
        .shard_count = nshards,
        .s3_listen_fd_set = true,
        .s3_listen_fd = s3_fd,
        .metrics_listen_fd_set = metrics_fd >= 0,
        .metrics_listen_fd = metrics_fd,
        .shard_names = shard_names,
        .meta_name = meta_addr,
    };
    s3_fd = metrics_fd = -1; /* the gateway owns them now */
    rc = hm_gw_start(&gw, &cfg);
    if (rc != 0) {
        hm_error("gw", NULL, "cannot serve S3 on %s: %s", bound, hm_err_msg(rc));
        goto out;
    }
    if (tls_cert == NULL && !hm_gw_addr_is_loopback(bound))
        hm_warn("gw", NULL,
                "S3 listens on %s, beyond this machine, without TLS: credentials are "
                "signed but requests and data cross the network in the clear; use "
                "-tls-cert/-tls-key or a TLS proxy",
                bound);
    hm_info("gw", NULL, "ready: S3 on %s://%s, metadata %s, %zu shard store(s)%s%s",
            tls_cert != NULL ? "https" : "http", bound, meta_addr, nshards,
            metrics_bound[0] != '\0' ? ", metrics on http://" : "", metrics_bound);
    hm_daemon_wait(&set, "gw");
    hm_gw_stop(gw);
    ret = 0;

out:
    if (s3_fd >= 0) close(s3_fd);
    if (metrics_fd >= 0) close(metrics_fd);
    for (size_t i = 0; i < nshards; i++) shards[i]->ops->free(shards[i]);
    if (meta != NULL) meta->ops->free(meta);
    hm_tls_free(tls);
    free(list);
    hm_env_posix_free(env);
    return ret;
}
