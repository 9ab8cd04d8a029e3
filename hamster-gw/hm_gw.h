/* hm_gw.h - the S3 gateway: HTTP front (libmicrohttpd, thread per
 * connection) over the object service.  Holds no durable state. */
#ifndef HM_GW_H
#define HM_GW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hm_env.h"
#include "hm_meta_api.h"
#include "hm_shard_api.h"

typedef struct hm_gw hm_gw;

typedef struct hm_gw_config {
    const char *s3_addr;        /* "127.0.0.1:9000"; port 0 picks one */
    const char *domain;         /* virtual-hosted-style base domain, or NULL */
    const char *region;         /* "us-east-1" */
    const char *access_key_id;  /* the root key */
    const char *secret_key;
    const char *tls_cert;       /* PEM paths for HTTPS, or NULL for HTTP */
    const char *tls_key;
    hm_env *env;                /* borrowed */
    hm_meta_api *meta;          /* borrowed */
    hm_shard_api **shards;      /* borrowed; one per disk, 1+0 placement */
    size_t shard_count;
    const char *const *disk_paths; /* optional, shard_count paths: named by readiness */
    int64_t gc_grace_ms;        /* read grace before replaced or aborted blobs are
                                 * deleted; 0: HM_GC_GRACE_MS (tests set it small) */
    /* A socket from hm_listen (hm_listen.h) for s3_addr (taken over: closed by stop),
     * when s3_listen_fd_set; otherwise hm_gw_start binds s3_addr itself. */
    bool s3_listen_fd_set;
    int s3_listen_fd;
    /* Prometheus /metrics (and the health paths) on their own listener:
     * metrics_addr, or a socket from hm_listen (hm_listen.h); neither: no listener. */
    const char *metrics_addr;
    bool metrics_listen_fd_set;
    int metrics_listen_fd;
    const char *meta_log_dir;   /* the metadata log directory, for the log
                                 * size gauge; NULL: not exported */
    const char *const *shard_names; /* for logs: each disk's path or shard
                                 * daemon's address; NULL: by index */
    const char *meta_name;      /* for logs: the metadata address; NULL: in process */
    int64_t disk_watch_ms;      /* how often each disk's state is checked and recorded
                                 * in the disk registry; 0: every second; < 0: never */
    int64_t mpu_expiry_ms;      /* abandoned multipart uploads are aborted after
                                 * this; 0: HM_MPU_EXPIRY_MS; < 0: never */
} hm_gw_config;

/* Start serving; returns once the socket listens. */
int hm_gw_start(hm_gw **out, const hm_gw_config *cfg);
int hm_gw_bound_port(const hm_gw *gw);
/* The S3 address actually bound, "host:port" (valid until stop). */
const char *hm_gw_bound_address(const hm_gw *gw);
/* The -metrics listener's port, 0 when there is none. */
int hm_gw_metrics_port(const hm_gw *gw);
/* Stop accepting, finish or cut in-flight requests, free. */
void hm_gw_stop(hm_gw *gw);

#endif
