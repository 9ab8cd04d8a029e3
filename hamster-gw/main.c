/* main.c - hamster-gw: the S3 gateway as its own daemon, talking to a
 * hamster-meta and one hamster-shard per disk over mTLS.
 *
 *   hamster-gw -data-dir D -s3 ADDR -meta ADDR -shards ADDR[,ADDR...]
 *              [-domain D] [-region R] [-tls-cert F -tls-key F]
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

#include "hm_daemon.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_gw.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_rpc.h"

#define GW_MAIN_SHARDS_MAX 256u

static void usage(const hm_flag *flags, size_t n)
{
    hm_flags_usage(stderr,
                   "hamster-gw -data-dir D -s3 ADDR -meta ADDR -shards ADDR[,ADDR...] "
                   "[-domain D] [-region R] [-tls-cert F -tls-key F]",
                   flags, n);
}

int main(int argc, char **argv)
{
    const char *data_dir = NULL, *s3 = "127.0.0.1:9000", *meta_addr = NULL;
    const char *shards_arg = NULL, *domain = NULL, *region = "us-east-1";
    const char *tls_cert = NULL, *tls_key = NULL;
    bool help = false;
    hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "node data directory (cluster identity, TLS)"},
        {"s3", HM_FLAG_STR, &s3, "S3 listen address host:port"},
        {"meta", HM_FLAG_STR, &meta_addr, "hamster-meta address host:port"},
        {"shards", HM_FLAG_STR, &shards_arg, "hamster-shard addresses, comma-separated"},
        {"domain", HM_FLAG_STR, &domain, "base domain for virtual-hosted-style requests"},
        {"region", HM_FLAG_STR, &region, "region reported to clients"},
        {"tls-cert", HM_FLAG_STR, &tls_cert, "PEM certificate for HTTPS"},
        {"tls-key", HM_FLAG_STR, &tls_key, "PEM private key for HTTPS"},
        {"help", HM_FLAG_BOOL, &help, "print this help"},
    };
    size_t nflags = sizeof(flags) / sizeof(flags[0]);
    int rest = 0;
    hm_log_init_from_env();
    if (hm_flags_parse(flags, nflags, argc, argv, 1, &rest) != 0 || rest != argc) {
        usage(flags, nflags);
        return 2;
    }
    if (help) {
        usage(flags, nflags);
        return 0;
    }
    if (data_dir == NULL || meta_addr == NULL || shards_arg == NULL) {
        fprintf(stderr, "hamster-gw: -data-dir, -meta and -shards are required\n");
        usage(flags, nflags);
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

    int ret = 1;
    int rc;
    hm_env *env = NULL;
    hm_tls *tls = NULL;
    hm_meta_api *meta = NULL;
    hm_shard_api *shards[GW_MAIN_SHARDS_MAX];
    size_t nshards = 0;
    hm_gw *gw = NULL;
    char *list = NULL;

    rc = hm_env_posix_new(&env);
    if (rc != 0) {
        fprintf(stderr, "hamster-gw: environment: %s\n", hm_err_msg(rc));
        return 1;
    }
    if (hm_daemon_identity(env, "gw", data_dir, &tls) != 0) goto out;
    rc = hm_meta_api_rpc_new(&meta, tls, meta_addr);
    if (rc != 0) {
        fprintf(stderr, "hamster-gw: metadata client for %s: %s\n", meta_addr,
                hm_err_msg(rc));
        goto out;
    }
    list = strdup(shards_arg);
    if (list == NULL) goto out;
    char *save = NULL;
    for (char *a = strtok_r(list, ",", &save); a != NULL; a = strtok_r(NULL, ",", &save)) {
        if (*a == '\0') continue;
        if (nshards == GW_MAIN_SHARDS_MAX) {
            fprintf(stderr, "hamster-gw: at most %u shard addresses\n", GW_MAIN_SHARDS_MAX);
            goto out;
        }
        rc = hm_shard_api_rpc_new(&shards[nshards], tls, a);
        if (rc != 0) {
            fprintf(stderr, "hamster-gw: shard client for %s: %s\n", a, hm_err_msg(rc));
            goto out;
        }
        nshards++;
    }
    if (nshards == 0) {
        fprintf(stderr, "hamster-gw: -shards names no address\n");
        goto out;
    }

    /* Before any thread starts, so that only hm_daemon_wait sees them. */
    sigset_t set;
    hm_daemon_block_signals(&set);

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
    };
    rc = hm_gw_start(&gw, &cfg);
    if (rc != 0) {
        fprintf(stderr, "hamster-gw: cannot start on %s: %s\n", s3, hm_err_msg(rc));
        goto out;
    }
    hm_info("gw", NULL, "ready: S3 on port %d (%s), metadata %s, %zu shard store(s)",
            hm_gw_bound_port(gw), tls_cert != NULL ? "https" : "http", meta_addr, nshards);
    hm_daemon_wait(&set, "gw");
    hm_gw_stop(gw);
    ret = 0;

out:
    for (size_t i = 0; i < nshards; i++) shards[i]->ops->free(shards[i]);
    if (meta != NULL) meta->ops->free(meta);
    hm_tls_free(tls);
    free(list);
    hm_env_posix_free(env);
    return ret;
}
