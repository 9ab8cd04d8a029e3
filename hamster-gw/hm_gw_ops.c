/* hm_gw_ops.c - what an operator sees of the gateway: the S3 operation
 * name of each request, the access log line, health probes and the
 * Prometheus /metrics page.
 *
 * Decisions:
 * - /metrics lives on its own listener (-metrics ADDR, off by default), not
 *   on the S3 port: a scrape needs no S3 credentials, and the address can be
 *   kept on a management network or loopback (docs/deploy.md).
 * - Health probes are answered on the S3 port without credentials (load
 *   balancers and Kubernetes probes carry none) and say nothing but the
 *   status: no body, no version, no disk names.  A probe path with
 *   credentials is an ordinary S3 request (bucket "health" or "minio").
 * - Request metrics are lock-free: one relaxed atomic add per counter, a
 *   status table per operation indexed by the status code.
 */
#include "hm_gw_int.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "hm_blob.h"
#include "hm_ec.h"
#include "hm_err.h"
#include "hm_log.h"
#include "hm_listen.h"
#include "hm_metrics.h"
#include "hm_version.h"

/* ---- operation names -------------------------------------------------------- */

#define GW_OPS(X)                                                                  \
    X(OTHER, "Other") X(LIST_BUCKETS, "ListBuckets") X(CREATE_BUCKET, "CreateBucket") \
    X(DELETE_BUCKET, "DeleteBucket") X(HEAD_BUCKET, "HeadBucket")                  \
    X(LIST_OBJECTS, "ListObjects") X(LIST_OBJECTS_V2, "ListObjectsV2")             \
    X(GET_BUCKET_LOCATION, "GetBucketLocation") X(GET_BUCKET_CORS, "GetBucketCors") \
    X(PUT_BUCKET_CORS, "PutBucketCors") X(DELETE_BUCKET_CORS, "DeleteBucketCors")  \
    X(DELETE_OBJECTS, "DeleteObjects") X(LIST_UPLOADS, "ListMultipartUploads")     \
    X(GET_OBJECT, "GetObject") X(HEAD_OBJECT, "HeadObject") X(PUT_OBJECT, "PutObject") \
    X(COPY_OBJECT, "CopyObject") X(DELETE_OBJECT, "DeleteObject")                  \
    X(GET_TAGGING, "GetObjectTagging") X(PUT_TAGGING, "PutObjectTagging")          \
    X(DELETE_TAGGING, "DeleteObjectTagging") X(GET_ATTRIBUTES, "GetObjectAttributes") \
    X(CREATE_UPLOAD, "CreateMultipartUpload") X(UPLOAD_PART, "UploadPart")         \
    X(UPLOAD_PART_COPY, "UploadPartCopy") X(COMPLETE_UPLOAD, "CompleteMultipartUpload") \
    X(ABORT_UPLOAD, "AbortMultipartUpload") X(LIST_PARTS, "ListParts")             \
    X(POST_OBJECT, "PostObject") X(PREFLIGHT, "OptionsPreflight") X(HEALTH, "Health")

enum gw_opn {
#define GW_OP_ENUM(id, name) GW_OPN_##id,
    GW_OPS(GW_OP_ENUM)
#undef GW_OP_ENUM
    GW_OPN_COUNT
};

static const char *const gw_op_names[GW_OPN_COUNT] = {
#define GW_OP_NAME(id, name) name,
    GW_OPS(GW_OP_NAME)
#undef GW_OP_NAME
};

static bool gw_is(const gw_req *r, const char *m)
{
    return r->method != NULL && strcmp(r->method, m) == 0;
}

/* Mirrors gw_route's dispatch (hm_gw.c), for naming only. */
static enum gw_opn gw_op_classify(const gw_req *r)
{
    bool get = gw_is(r, "GET"), put = gw_is(r, "PUT"), head = gw_is(r, "HEAD");
    bool del = gw_is(r, "DELETE"), post = gw_is(r, "POST");
    if (r->health) return GW_OPN_HEALTH;
    if (gw_is(r, "OPTIONS")) return GW_OPN_PREFLIGHT;
    if (r->bucket == NULL) return get ? GW_OPN_LIST_BUCKETS : GW_OPN_OTHER;
    if (r->key == NULL) {
        if (gw_param_get(r, "location") != NULL) return GW_OPN_GET_BUCKET_LOCATION;
        if (gw_param_get(r, "cors") != NULL)
            return get ? GW_OPN_GET_BUCKET_CORS
                       : put ? GW_OPN_PUT_BUCKET_CORS
                             : del ? GW_OPN_DELETE_BUCKET_CORS : GW_OPN_OTHER;
        if (gw_param_get(r, "delete") != NULL) return GW_OPN_DELETE_OBJECTS;
        if (gw_param_get(r, "uploads") != NULL) return GW_OPN_LIST_UPLOADS;
        if (post) return GW_OPN_POST_OBJECT;
        if (get) {
            const char *lt = gw_param_get(r, "list-type");
            return lt != NULL ? GW_OPN_LIST_OBJECTS_V2 : GW_OPN_LIST_OBJECTS;
        }
        if (put) return GW_OPN_CREATE_BUCKET;
        if (head) return GW_OPN_HEAD_BUCKET;
        if (del) return GW_OPN_DELETE_BUCKET;
        return GW_OPN_OTHER;
    }
    if (gw_param_get(r, "tagging") != NULL)
        return get ? GW_OPN_GET_TAGGING
                   : put ? GW_OPN_PUT_TAGGING : del ? GW_OPN_DELETE_TAGGING : GW_OPN_OTHER;
    if (gw_param_get(r, "attributes") != NULL) return GW_OPN_GET_ATTRIBUTES;
    if (gw_param_get(r, "uploads") != NULL) return GW_OPN_CREATE_UPLOAD;
    if (gw_param_get(r, "uploadId") != NULL) {
        if (put)
            return gw_header((gw_req *)r, "x-amz-copy-source") != NULL ? GW_OPN_UPLOAD_PART_COPY
                                                                       : GW_OPN_UPLOAD_PART;
        if (post) return GW_OPN_COMPLETE_UPLOAD;
        if (del) return GW_OPN_ABORT_UPLOAD;
        if (get) return GW_OPN_LIST_PARTS;
        return GW_OPN_OTHER;
    }
    if (get) return GW_OPN_GET_OBJECT;
    if (head) return GW_OPN_HEAD_OBJECT;
    if (put)
        return gw_header((gw_req *)r, "x-amz-copy-source") != NULL ? GW_OPN_COPY_OBJECT
                                                                   : GW_OPN_PUT_OBJECT;
    if (del) return GW_OPN_DELETE_OBJECT;
    return GW_OPN_OTHER;
}

const char *gw_op_name(const gw_req *r) { return gw_op_names[gw_op_classify(r)]; }

/* ---- counters --------------------------------------------------------------- */

#define GW_STATUS_MIN 100u
#define GW_STATUS_SLOTS 500u /* 100..599; anything else counts as 0 */

/* Request latency bounds in microseconds: 1 ms .. 30 s. */
static const uint64_t gw_latency_bounds_us[] = {
    1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000, 30000000,
};

typedef struct gw_op_stats {
    _Atomic uint64_t by_status[GW_STATUS_SLOTS + 1]; /* last: no status */
    _Atomic uint64_t bytes_in;
    _Atomic uint64_t bytes_out;
    hm_metrics_hist latency;
} gw_op_stats;

struct gw_stats {
    gw_op_stats ops[GW_OPN_COUNT];
    _Atomic uint64_t connections_open;
    _Atomic uint64_t connections_total;
    _Atomic uint64_t shard_read_errors;
    _Atomic uint64_t shard_corruptions;
    _Atomic uint64_t gc_blobs_deleted;
    _Atomic uint64_t gc_urgent_runs;
};

/* ---- counting shard wrappers ------------------------------------------------ */

/* Each wrapper copies its inner binding's ops and takes over every op that
 * takes the api itself (info, put_open, get_open, del, stat, free: each
 * must reach the inner binding with the inner api, never the wrapper) and
 * the reads, so every read error and every corruption found is counted,
 * whichever binding (in-process or RPC) is underneath.  The put stream ops
 * go straight through: their handles are the inner ones.  A disk that
 * fails or disappears at run time answers every op with an error (the
 * store marks it, hamster-shard/hm_shard_store.h): the wrapper only counts
 * and logs. */
typedef struct gw_wrap {
    hm_shard_api api;
    struct hm_shard_api_ops ops;
    hm_shard_api *inner;
    struct gw_stats *stats;
    hm_env *env;
    char name[256];             /* the disk's path or the shard daemon's address */
    _Atomic int64_t logged_ms;  /* last "unreachable" line, to keep it to one a second */
    pthread_mutex_t id_mu;
    char disk_id[40];           /* from the last info that answered, under id_mu */
} gw_wrap;

/* A transport failure: the peer is down, unreachable or too slow. */
static bool gw_unreachable(int rc)
{
    return rc == HM_ECONN || rc == HM_EUNAVAIL || rc == HM_ETIMEDOUT || rc == HM_ETLS ||
           rc == HM_ECLOSED || rc == HM_EIO;
}

/* Log "what NAME failed: why" at most once a second per peer, so a dead
 * disk under load names itself without flooding the log. */
static void gw_peer_log(hm_env *env, _Atomic int64_t *last, const char *what, const char *name,
                        const char *op, int rc)
{
    int64_t now = hm_mono_ms(env), prev = atomic_load_explicit(last, memory_order_relaxed);
    if (prev != 0 && now - prev < 1000) return;
    if (!atomic_compare_exchange_strong(last, &prev, now)) return;
    hm_warn("gw", NULL, "%s %s: %s failed: %s (%s)", what, name, op, hm_err_msg(rc),
            hm_err_name(rc));
}

typedef struct gw_wrap_get {
    hm_shard_get *inner;
    gw_wrap *w;
} gw_wrap_get;

static int gw_wrap_info(hm_shard_api *api, Hm__ShardInfoResp **out)
{
    gw_wrap *w = api->impl;
    int rc = w->inner->ops->info(w->inner, out);
    if (rc != 0) gw_peer_log(w->env, &w->logged_ms, "shard store", w->name, "info", rc);
    else if (*out != NULL && (*out)->disk_id != NULL) {
        pthread_mutex_lock(&w->id_mu);
        snprintf(w->disk_id, sizeof w->disk_id, "%s", (*out)->disk_id);
        pthread_mutex_unlock(&w->id_mu);
    }
    return rc;
}

void gw_shard_disk_id(hm_gw *gw, size_t i, char *out, size_t cap)
{
    const char *fid = NULL;
    if (cap == 0) return;
    out[0] = '\0';
    if (hm_shard_api_failed_info(gw->cfg.shards[i], &fid, NULL)) {
        snprintf(out, cap, "%s", fid);
        return;
    }
    gw_wrap *w = gw->shards[i]->impl;
    pthread_mutex_lock(&w->id_mu);
    snprintf(out, cap, "%s", w->disk_id);
    pthread_mutex_unlock(&w->id_mu);
}

static int gw_wrap_put_open(hm_shard_api *api, const Hm__ShardHeader *hdr, hm_shard_put **out)
{
    gw_wrap *w = api->impl;
    int rc = w->inner->ops->put_open(w->inner, hdr, out);
    if (gw_unreachable(rc))
        gw_peer_log(w->env, &w->logged_ms, "shard store", w->name, "write", rc);
    return rc;
}

static int gw_wrap_del(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                       uint32_t shard_index)
{
    gw_wrap *w = api->impl;
    int rc = w->inner->ops->del(w->inner, blob_id, shard_index);
    if (gw_unreachable(rc))
        gw_peer_log(w->env, &w->logged_ms, "shard store", w->name, "delete", rc);
    return rc;
}

static int gw_wrap_stat(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                        uint32_t shard_index, Hm__ShardHeader **out)
{
    gw_wrap *w = api->impl;
    int rc = w->inner->ops->stat(w->inner, blob_id, shard_index, out);
    if (rc == HM_ECORRUPT)
        atomic_fetch_add_explicit(&w->stats->shard_corruptions, 1, memory_order_relaxed);
    if (rc == HM_ECORRUPT || gw_unreachable(rc))
        gw_peer_log(w->env, &w->logged_ms, "shard store", w->name, "stat", rc);
    return rc;
}

/* The metadata binding, wrapped only to name it when it cannot be reached. */
typedef struct gw_meta_wrap {
    hm_meta_api api;
    hm_meta_api *inner;
    hm_env *env;
    char name[256];
    _Atomic int64_t logged_ms;
} gw_meta_wrap;

static int gw_meta_wrap_call(hm_meta_api *api, const Hm__MetaRequest *req,
                             Hm__MetaResponse **resp)
{
    gw_meta_wrap *w = api->impl;
    int rc = w->inner->ops->call(w->inner, req, resp);
    if (rc != 0) gw_peer_log(w->env, &w->logged_ms, "metadata service", w->name, "call", rc);
    return rc;
}

static void gw_meta_wrap_free(hm_meta_api *api) { free(api->impl); }

static const struct hm_meta_api_ops gw_meta_wrap_ops = {
    .call = gw_meta_wrap_call,
    .free = gw_meta_wrap_free,
};

static int gw_wrap_get_open(hm_shard_api *api, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                            uint32_t shard_index, uint64_t offset, uint64_t len,
                            hm_shard_get **out, uint64_t *total, Hm__ShardHeader **hdr)
{
    gw_wrap *w = api->impl;
    gw_wrap_get *g = malloc(sizeof *g);
    if (g == NULL) return HM_ENOMEM;
    int rc = w->inner->ops->get_open(w->inner, blob_id, shard_index, offset, len, &g->inner,
                                     total, hdr);
    if (rc != 0) {
        free(g);
        if (rc == HM_ECORRUPT)
            atomic_fetch_add_explicit(&w->stats->shard_corruptions, 1, memory_order_relaxed);
        else if (rc != HM_ENOENT)
            atomic_fetch_add_explicit(&w->stats->shard_read_errors, 1, memory_order_relaxed);
        if (gw_unreachable(rc))
            gw_peer_log(w->env, &w->logged_ms, "shard store", w->name, "read", rc);
        return rc;
    }
    g->w = w;
    *out = (hm_shard_get *)g;
    return 0;
}

static int gw_wrap_get_read(hm_shard_get *hg, void *buf, size_t cap, size_t *got)
{
    gw_wrap_get *g = (gw_wrap_get *)hg;
    int rc = g->w->inner->ops->get_read(g->inner, buf, cap, got);
    if (rc == HM_ECORRUPT)
        atomic_fetch_add_explicit(&g->w->stats->shard_corruptions, 1, memory_order_relaxed);
    else if (rc != 0)
        atomic_fetch_add_explicit(&g->w->stats->shard_read_errors, 1, memory_order_relaxed);
    if (rc == HM_ECORRUPT || gw_unreachable(rc))
        gw_peer_log(g->w->env, &g->w->logged_ms, "shard store", g->w->name, "read", rc);
    return rc;
}

static void gw_wrap_get_close(hm_shard_get *hg)
{
    gw_wrap_get *g = (gw_wrap_get *)hg;
    if (g == NULL) return;
    g->w->inner->ops->get_close(g->inner);
    free(g);
}

static void gw_wrap_free(hm_shard_api *api)
{
    gw_wrap *w = api->impl;
    pthread_mutex_destroy(&w->id_mu);
    free(w); /* the inner api belongs to the caller */
}

int gw_stats_new(hm_gw *gw)
{
    gw->stats = calloc(1, sizeof *gw->stats);
    gw->shards = calloc(gw->cfg.shard_count, sizeof *gw->shards);
    if (gw->stats == NULL || gw->shards == NULL) return HM_ENOMEM;
    for (size_t i = 0; i < GW_OPN_COUNT; i++)
        hm_metrics_hist_init(&gw->stats->ops[i].latency, gw_latency_bounds_us,
                             sizeof gw_latency_bounds_us / sizeof gw_latency_bounds_us[0],
                             1e-6);
    for (size_t i = 0; i < gw->cfg.shard_count; i++) {
        gw_wrap *w = calloc(1, sizeof *w);
        if (w == NULL) return HM_ENOMEM;
        if (pthread_mutex_init(&w->id_mu, NULL) != 0) {
            free(w);
            return HM_ENOMEM;
        }
        w->inner = gw->cfg.shards[i];
        w->stats = gw->stats;
        w->env = gw->cfg.env;
        if (gw->cfg.shard_names != NULL && gw->cfg.shard_names[i] != NULL)
            snprintf(w->name, sizeof w->name, "%s", gw->cfg.shard_names[i]);
        else snprintf(w->name, sizeof w->name, "#%zu", i);
        w->ops = *w->inner->ops;
        w->ops.info = gw_wrap_info;
        w->ops.put_open = gw_wrap_put_open;
        w->ops.del = gw_wrap_del;
        w->ops.stat = gw_wrap_stat;
        w->ops.get_open = gw_wrap_get_open;
        w->ops.get_read = gw_wrap_get_read;
        w->ops.get_close = gw_wrap_get_close;
        w->ops.free = gw_wrap_free;
        w->api.ops = &w->ops;
        w->api.impl = w;
        gw->shards[i] = &w->api;
        /* Learn the disk id now, so a disk that dies before the first probe
         * is still named by it (a refused one has no id to learn). */
        Hm__ShardInfoResp *info = NULL;
        if (w->inner->ops->info(w->inner, &info) == 0 && info != NULL && info->disk_id != NULL)
            snprintf(w->disk_id, sizeof w->disk_id, "%s", info->disk_id);
        if (info != NULL) hm__shard_info_resp__free_unpacked(info, NULL);
    }
    gw_meta_wrap *m = calloc(1, sizeof *m);
    if (m == NULL) return HM_ENOMEM;
    m->inner = gw->cfg.meta;
    m->env = gw->cfg.env;
    snprintf(m->name, sizeof m->name, "%s",
             gw->cfg.meta_name != NULL ? gw->cfg.meta_name : "(in process)");
    m->api.ops = &gw_meta_wrap_ops;
    m->api.impl = m;
    gw->meta = &m->api;
    return 0;
}

void gw_stats_free(hm_gw *gw)
{
    for (size_t i = 0; gw->shards != NULL && i < gw->cfg.shard_count; i++)
        if (gw->shards[i] != NULL) gw->shards[i]->ops->free(gw->shards[i]);
    free(gw->shards);
    free(gw->stats);
    if (gw->meta != NULL) gw->meta->ops->free(gw->meta);
    gw->meta = NULL;
    gw->shards = NULL;
    gw->stats = NULL;
}

void gw_stats_connection(hm_gw *gw, int delta)
{
    if (gw->stats == NULL) return;
    if (delta > 0) {
        atomic_fetch_add_explicit(&gw->stats->connections_open, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&gw->stats->connections_total, 1, memory_order_relaxed);
    } else {
        atomic_fetch_sub_explicit(&gw->stats->connections_open, 1, memory_order_relaxed);
    }
}

void gw_stats_gc(hm_gw *gw, size_t blobs, bool urgent)
{
    atomic_fetch_add_explicit(&gw->stats->gc_blobs_deleted, blobs, memory_order_relaxed);
    if (urgent) atomic_fetch_add_explicit(&gw->stats->gc_urgent_runs, 1, memory_order_relaxed);
}

/* "ip:port" of the client into out ("-" when unknown). */
static void gw_client_addr(gw_req *r, char *out, size_t cap)
{
    snprintf(out, cap, "-");
    const union MHD_ConnectionInfo *ci =
        r->conn != NULL
            ? MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS)
            : NULL;
    if (ci == NULL || ci->client_addr == NULL) return;
    const struct sockaddr *sa = ci->client_addr;
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof host) != NULL)
            snprintf(out, cap, "%s:%u", host, (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host) != NULL)
            snprintf(out, cap, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
    }
}

/* The access log line never carries the query string or any header: the
 * query of a presigned URL holds X-Amz-Credential and X-Amz-Signature, and
 * headers hold Authorization.  Bucket and key are logged as decoded (the
 * logger JSON-escapes them). */
void gw_stats_request(gw_req *r, bool cut)
{
    hm_gw *gw = r->gw;
    enum gw_opn op = gw_op_classify(r);
    int64_t us = (gw->cfg.env->ops->mono_ns(gw->cfg.env) - r->start_mono_ns) / 1000;
    if (us < 0) us = 0;
    if (gw->stats != NULL) {
        gw_op_stats *s = &gw->stats->ops[op];
        unsigned st = r->responded ? r->status : 0;
        size_t slot = st >= GW_STATUS_MIN && st < GW_STATUS_MIN + GW_STATUS_SLOTS
                          ? st - GW_STATUS_MIN
                          : GW_STATUS_SLOTS;
        atomic_fetch_add_explicit(&s->by_status[slot], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->bytes_in, r->bytes_in, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->bytes_out, r->bytes_out, memory_order_relaxed);
        hm_metrics_hist_observe(&s->latency, (uint64_t)us);
    }
    if (op == GW_OPN_HEALTH) return; /* probes every few seconds: not logged */
    char client[INET6_ADDRSTRLEN + 16];
    gw_client_addr(r, client, sizeof client);
    hm_info("gw", r->id,
            "access client=%s op=%s bucket=%s key=%s%s%s status=%u in=%llu out=%llu "
            "duration_ms=%.3f%s",
            client, gw_op_names[op], r->bucket != NULL ? r->bucket : "-",
            r->key != NULL ? "\"" : "", r->key != NULL ? r->key : "-",
            r->key != NULL ? "\"" : "", r->responded ? r->status : 0,
            (unsigned long long)r->bytes_in, (unsigned long long)r->bytes_out,
            (double)us / 1000.0, cut ? " (connection cut)" : "");
}

/* ---- health ------------------------------------------------------------------ */

const char *gw_disk_state_name(int info_rc)
{
    return info_rc == 0 ? "healthy" : info_rc == HM_ENOENT ? "missing" : "failed";
}

bool gw_ready_report(hm_gw *gw, char *body, size_t cap, size_t *len)
{
    size_t healthy = 0, n = gw->cfg.shard_count, used = 0;
    if (body != NULL && cap > 0) body[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        Hm__ShardInfoResp *info = NULL;
        int rc = gw->shards[i]->ops->info(gw->shards[i], &info);
        if (info != NULL) hm__shard_info_resp__free_unpacked(info, NULL);
        if (rc == 0) {
            healthy++;
            continue;
        }
        char id[40];
        gw_shard_disk_id(gw, i, id, sizeof id);
        const char *why = NULL;
        (void)hm_shard_api_failed_info(gw->cfg.shards[i], NULL, &why);
        if (body == NULL || used + 1 >= cap) continue;
        /* A disk lost at run time has no failed api: say what its store
         * answered (the log names the path and the first error). */
        if (why == NULL)
            why = rc == HM_ENOENT    ? "directory gone or emptied at run time"
                  : rc == HM_EUNAVAIL ? "I/O error or failed sync; writes refused until restart"
                                      : hm_err_msg(rc);
        int w = snprintf(body + used, cap - used, "degraded: disk %zu path %s id %s: %s: %s\n",
                         i, gw->cfg.disk_paths != NULL ? gw->cfg.disk_paths[i] : "-",
                         id[0] != '\0' ? id : "unknown", gw_disk_state_name(rc), why);
        if (w > 0) used = (size_t)w < cap - used ? used + (size_t)w : cap - 1;
    }
    if (len != NULL) *len = used;
    /* The node reads while k of its disks answer (docs/adr/0011). */
    return n == 0 || healthy >= hm_ec_profile_for_domains(n).k;
}

bool gw_ready(hm_gw *gw) { return gw_ready_report(gw, NULL, 0, NULL); }

static bool gw_has_credentials(gw_req *r)
{
    if (gw_header(r, "Authorization") != NULL) return true;
    return gw_param_get(r, "X-Amz-Credential") != NULL ||
           gw_param_get(r, "X-Amz-Signature") != NULL ||
           gw_param_get(r, "AWSAccessKeyId") != NULL || gw_param_get(r, "Signature") != NULL;
}

enum MHD_Result gw_health_maybe(gw_req *r, bool *handled)
{
    *handled = false;
    int kind = hm_listen_health_kind(r->path);
    if (kind == 0 || !(gw_is(r, "GET") || gw_is(r, "HEAD")) || gw_has_credentials(r))
        return MHD_YES;
    *handled = true;
    r->health = true;
    char body[4096];
    size_t blen = 0;
    unsigned status = kind == 1 || gw_ready_report(r->gw, body, sizeof body, &blen)
                          ? MHD_HTTP_OK
                          : MHD_HTTP_SERVICE_UNAVAILABLE;
    if (kind == 1) blen = 0;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(blen, blen > 0 ? body : (void *)"",
                                        blen > 0 ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
    if (resp == NULL) return MHD_NO;
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    return gw_send(r, status, resp);
}

/* ---- /metrics ------------------------------------------------------------------ */

static void gw_metrics_requests(hm_metrics_buf *b, struct gw_stats *st)
{
    char labels[160];
    hm_metrics_family(b, "hamster_s3_requests_total", "counter",
                      "S3 requests answered, by operation and HTTP status (0: none sent).");
    for (size_t op = 0; op < GW_OPN_COUNT; op++) {
        for (size_t slot = 0; slot <= GW_STATUS_SLOTS; slot++) {
            uint64_t n = atomic_load_explicit(&st->ops[op].by_status[slot], memory_order_relaxed);
            if (n == 0) continue;
            unsigned status = slot < GW_STATUS_SLOTS ? (unsigned)(slot + GW_STATUS_MIN) : 0;
            snprintf(labels, sizeof labels, "op=\"%s\",status=\"%u\"", gw_op_names[op], status);
            hm_metrics_sample_u64(b, "hamster_s3_requests_total", labels, n);
        }
    }
    hm_metrics_family(b, "hamster_s3_request_duration_seconds", "histogram",
                      "Time from the first byte of a request to its completion, by operation.");
    for (size_t op = 0; op < GW_OPN_COUNT; op++) {
        if (atomic_load_explicit(&st->ops[op].latency.count, memory_order_relaxed) == 0) continue;
        snprintf(labels, sizeof labels, "op=\"%s\"", gw_op_names[op]);
        hm_metrics_hist_write(b, "hamster_s3_request_duration_seconds", labels,
                              &st->ops[op].latency);
    }
    static const struct {
        const char *name, *help;
        size_t off;
    } bytes[] = {
        {"hamster_s3_received_bytes_total", "Request body bytes received, by operation.",
         offsetof(gw_op_stats, bytes_in)},
        {"hamster_s3_sent_bytes_total", "Response body bytes sent, by operation.",
         offsetof(gw_op_stats, bytes_out)},
    };
    for (size_t k = 0; k < 2; k++) {
        hm_metrics_family(b, bytes[k].name, "counter", bytes[k].help);
        for (size_t op = 0; op < GW_OPN_COUNT; op++) {
            _Atomic uint64_t *p = (_Atomic uint64_t *)((char *)&st->ops[op] + bytes[k].off);
            uint64_t n = atomic_load_explicit(p, memory_order_relaxed);
            if (n == 0) continue;
            snprintf(labels, sizeof labels, "op=\"%s\"", gw_op_names[op]);
            hm_metrics_sample_u64(b, bytes[k].name, labels, n);
        }
    }
    hm_metrics_family(b, "hamster_s3_connections", "gauge", "S3 connections open now.");
    hm_metrics_sample_u64(b, "hamster_s3_connections", "",
                          atomic_load_explicit(&st->connections_open, memory_order_relaxed));
    hm_metrics_family(b, "hamster_s3_connections_total", "counter", "S3 connections accepted.");
    hm_metrics_sample_u64(b, "hamster_s3_connections_total", "",
                          atomic_load_explicit(&st->connections_total, memory_order_relaxed));
}

static void gw_metrics_disks(hm_metrics_buf *b, hm_gw *gw)
{
    struct {
        const char *id;
        uint64_t total, free;
        bool up;
        int rc;
    } d[64];
    char ids[64][40];
    size_t n = gw->cfg.shard_count < 64 ? gw->cfg.shard_count : 64;
    Hm__ShardInfoResp *infos[64] = {0};
    for (size_t i = 0; i < n; i++) {
        int rc = gw->shards[i]->ops->info(gw->shards[i], &infos[i]);
        d[i].up = rc == 0 && infos[i] != NULL;
        d[i].rc = d[i].up ? 0 : rc != 0 ? rc : HM_EUNAVAIL;
        d[i].id = d[i].up && infos[i]->disk_id != NULL ? infos[i]->disk_id : NULL;
        d[i].total = d[i].up ? infos[i]->bytes_total : 0;
        d[i].free = d[i].up ? infos[i]->bytes_free : 0;
    }
    char labels[128], esc[80], idx[24];
    static const char *const names[] = {"hamster_disk_up", "hamster_disk_size_bytes",
                                        "hamster_disk_free_bytes", "hamster_disk_used_bytes"};
    static const char *const helps[] = {
        "1 when the disk answers, 0 when it is failed or unreachable.",
        "Size of the file system holding the disk.",
        "Bytes free on the file system holding the disk.",
        "Bytes used on the file system holding the disk."};
    for (size_t k = 0; k < 4; k++) {
        hm_metrics_family(b, names[k], "gauge", helps[k]);
        for (size_t i = 0; i < n; i++) {
            if (k > 0 && !d[i].up) continue;
            snprintf(idx, sizeof idx, "%zu", i);
            hm_metrics_label_escape(d[i].id != NULL ? d[i].id : "", esc, sizeof esc);
            snprintf(labels, sizeof labels, "disk=\"%s\",disk_id=\"%s\"", idx, esc);
            uint64_t v = k == 0 ? (uint64_t)d[i].up
                         : k == 1 ? d[i].total
                         : k == 2 ? d[i].free
                                  : (d[i].total > d[i].free ? d[i].total - d[i].free : 0);
            hm_metrics_sample_u64(b, names[k], labels, v);
        }
    }
    hm_metrics_family(b, "hamster_disk_state", "gauge",
                      "1 for the state each disk is in (healthy, failed, missing), 0 for the "
                      "others.");
    for (size_t i = 0; i < n; i++) {
        static const char *const states[] = {"healthy", "failed", "missing"};
        if (d[i].id == NULL) {
            gw_shard_disk_id(gw, i, ids[i], sizeof ids[i]);
            d[i].id = ids[i];
        }
        hm_metrics_label_escape(d[i].id, esc, sizeof esc);
        const char *now = gw_disk_state_name(d[i].rc);
        for (size_t s = 0; s < 3; s++) {
            snprintf(labels, sizeof labels, "disk=\"%zu\",disk_id=\"%s\",state=\"%s\"", i, esc,
                     states[s]);
            hm_metrics_sample_u64(b, "hamster_disk_state", labels, strcmp(states[s], now) == 0);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (infos[i] != NULL) hm__shard_info_resp__free_unpacked(infos[i], NULL);
}

/* Entries a metadata scan finds, up to HM_LIST_KEYS_MAX; -1 when it fails. */
static int64_t gw_metrics_scan(hm_gw *gw, bool intents)
{
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    Hm__GcScan gs = HM__GC_SCAN__INIT;
    Hm__IntentScan is = HM__INTENT_SCAN__INIT;
    if (intents) {
        is.has_all = true;
        is.all = true;
        is.has_max = true;
        is.max = HM_LIST_KEYS_MAX;
        req.op_case = HM__META_REQUEST__OP_INTENT_SCAN;
        req.intent_scan = &is;
    } else {
        gs.has_all = true;
        gs.all = true;
        gs.has_max = true;
        gs.max = HM_LIST_KEYS_MAX;
        req.op_case = HM__META_REQUEST__OP_GC_SCAN;
        req.gc_scan = &gs;
    }
    Hm__MetaResponse *resp = NULL;
    int rc = hm_meta_call(gw->meta, &req, &resp);
    if (rc != 0) return -1;
    int64_t n = -1;
    if (resp->err == 0) {
        if (intents && resp->result_case == HM__META_RESPONSE__RESULT_INTENTS)
            n = (int64_t)resp->intents->n_intent_ids;
        else if (!intents && resp->result_case == HM__META_RESPONSE__RESULT_GC)
            n = (int64_t)resp->gc->n_items;
    }
    hm__meta_response__free_unpacked(resp, NULL);
    return n;
}

/* hamster_repair_items: the repair items queued (shards of acknowledged
 * degraded writes still to re-create), in all and per disk, from the
 * disk registry's counts; -1 when the metadata cannot be reached. */
static void gw_metrics_repairs(hm_metrics_buf *b, hm_gw *gw)
{
    Hm__DiskList dl = HM__DISK_LIST__INIT;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_DISK_LIST;
    req.disk_list = &dl;
    Hm__MetaResponse *resp = NULL;
    hm_metrics_family(b, "hamster_repair_items", "gauge",
                      "Shards of acknowledged degraded writes still to re-create (repair "
                      "items), in all (no label) and by the disk they were placed on; -1: "
                      "metadata unreachable.");
    int rc = hm_meta_call(gw->meta, &req, &resp);
    if (rc != 0 || resp->err != 0 || resp->result_case != HM__META_RESPONSE__RESULT_DISKS) {
        hm_metrics_sample(b, "hamster_repair_items", "", -1.0);
        if (rc == 0) hm__meta_response__free_unpacked(resp, NULL);
        return;
    }
    hm_metrics_sample_u64(b, "hamster_repair_items", "", resp->disks->repair_total);
    char labels[128], esc[80];
    for (size_t i = 0; i < resp->disks->n_repair_counts; i++) {
        const Hm__RepairCount *c = resp->disks->repair_counts[i];
        hm_metrics_label_escape(c->disk_id != NULL ? c->disk_id : "", esc, sizeof esc);
        snprintf(labels, sizeof labels, "disk_id=\"%s\"", esc);
        hm_metrics_sample_u64(b, "hamster_repair_items", labels, c->count);
    }
    hm__meta_response__free_unpacked(resp, NULL);
}

/* hamster_ec_encode_*: the Reed-Solomon encode work of this process's
 * PUTs per profile, so encode GB/s in the data path can be held against
 * hamster-micro's raw figure (tests/bench/ec-bench.sh reads both). */
static void gw_metrics_encode(hm_metrics_buf *b)
{
    hm_blob_encode_stat st[HM_EC_K_MAX * HM_EC_M_MAX];
    size_t n = hm_blob_encode_stats(st, sizeof st / sizeof st[0]);
    if (n > sizeof st / sizeof st[0]) n = sizeof st / sizeof st[0];
    hm_metrics_family(b, "hamster_ec_encode_seconds_total", "counter",
                      "Time spent computing Reed-Solomon parity in PUTs, by profile k+m.");
    for (size_t i = 0; i < n; i++) {
        char labels[48];
        snprintf(labels, sizeof labels, "profile=\"%u+%u\"", st[i].k, st[i].m);
        hm_metrics_sample(b, "hamster_ec_encode_seconds_total", labels, (double)st[i].ns / 1e9);
    }
    hm_metrics_family(b, "hamster_ec_encode_bytes_total", "counter",
                      "Data bytes whose Reed-Solomon parity PUTs computed, by profile k+m.");
    for (size_t i = 0; i < n; i++) {
        char labels[48];
        snprintf(labels, sizeof labels, "profile=\"%u+%u\"", st[i].k, st[i].m);
        hm_metrics_sample_u64(b, "hamster_ec_encode_bytes_total", labels, st[i].bytes);
    }
}

int gw_metrics_render(void *arg, hm_metrics_buf *b)
{
    hm_gw *gw = arg;
    struct gw_stats *st = gw->stats;
    gw_metrics_requests(b, st);
    gw_metrics_disks(b, gw);
    hm_metrics_family(b, "hamster_shard_read_errors_total", "counter",
                      "Shard reads that failed (not counting absent shards or corruption).");
    hm_metrics_sample_u64(b, "hamster_shard_read_errors_total", "",
                          atomic_load_explicit(&st->shard_read_errors, memory_order_relaxed));
    hm_metrics_family(b, "hamster_shard_corruptions_total", "counter",
                      "Shard blocks found corrupt (CRC32C mismatch) when read.");
    hm_metrics_sample_u64(b, "hamster_shard_corruptions_total", "",
                          atomic_load_explicit(&st->shard_corruptions, memory_order_relaxed));
    int64_t gc = gw_metrics_scan(gw, false), intents = gw_metrics_scan(gw, true);
    hm_metrics_family(b, "hamster_gc_backlog_blobs", "gauge",
                      "Blobs queued for deletion, due or still in their read grace (counted "
                      "up to 1000; -1: metadata unreachable).");
    hm_metrics_sample(b, "hamster_gc_backlog_blobs", "", (double)gc);
    hm_metrics_family(b, "hamster_gc_deleted_blobs_total", "counter",
                      "Blobs whose shards the GC deleted.");
    hm_metrics_sample_u64(b, "hamster_gc_deleted_blobs_total", "",
                          atomic_load_explicit(&st->gc_blobs_deleted, memory_order_relaxed));
    hm_metrics_family(b, "hamster_gc_urgent_runs_total", "counter",
                      "GC runs that skipped the read grace because a disk was short of space.");
    hm_metrics_sample_u64(b, "hamster_gc_urgent_runs_total", "",
                          atomic_load_explicit(&st->gc_urgent_runs, memory_order_relaxed));
    hm_metrics_family(b, "hamster_intents_live", "gauge",
                      "Write intents in the metadata (uploads in flight or expired, counted "
                      "up to 1000; -1: metadata unreachable).");
    hm_metrics_sample(b, "hamster_intents_live", "", (double)intents);
    gw_metrics_repairs(b, gw);
    gw_metrics_encode(b);
    if (gw->cfg.meta_log_dir != NULL) { /* the metadata node runs in this process */
        hm_metrics_write_meta(b);
        hm_metrics_write_meta_log(b, gw->cfg.env, gw->cfg.meta_log_dir);
    }
    return b->failed ? HM_ENOMEM : 0;
}

bool gw_metrics_ready(void *arg) { return gw_ready(arg); }
