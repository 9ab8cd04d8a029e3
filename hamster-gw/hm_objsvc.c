/* hm_objsvc.c - the object service; see hm_objsvc.h.
 *
 * Shaping decision: the put is push-style (begin / write* / finish|abort)
 * because the HTTP front receives the body in pieces from libmicrohttpd's
 * upload callback; the service never holds more than one inline object
 * (<= HM_INLINE_BYTES_MAX) or the pieces the caller hands it, and the shard
 * binding buffers at most one block.  The order of commits is the safety
 * argument: intent before shard bytes, shard durable before the version.
 *
 * A large sized put digests its body on a worker thread (hm_hash_pipe.h)
 * while the caller's thread writes the same bytes to the shard, so MD5
 * overlaps the receive and the write instead of adding to them.  At most
 * OBJSVC_HASH_PIPES_MAX puts hold a pipe (two buffers each) at once; the
 * others digest in line, as small and unsized puts always do.
 *
 * Reads never lose their bytes (docs/storage-safety.md, "In-flight reads"): a
 * GET leases every blob of the version it looked up, in a table of this
 * service, from get_open to get_close, and the collector here skips a
 * leased blob (its gc item stays queued and is retried on a later run).
 * The lease is taken, not the shards opened, so a 10,000-part object costs
 * one table entry per part and still one open shard (one descriptor, one
 * stream) at a time, whatever the open-file limit.  The gap between the
 * metadata lookup and the lease is closed by a counter the collector bumps
 * before it checks a lease: a GET that sees it move looks the object up
 * again (see objsvc_get_lookup).
 */
#include "hm_objsvc.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_blob.h"
#include "hm_err.h"
#include "hm_hash_pipe.h"
#include "hm_limits.h"
#include "hm_log.h"

#define OBJSVC_ID_BYTES 16
#define OBJSVC_GC_BATCH 256u
#define OBJSVC_GC_ROUNDS_MAX 64u
/* Hash pipes: buffer size, puts that get one, and how many at once (the
 * memory they may hold: OBJSVC_HASH_PIPES_MAX * HM_HASH_PIPE_BUFS *
 * OBJSVC_HASH_PIPE_BYTES = 8 MiB). */
#define OBJSVC_HASH_PIPE_BYTES (512u << 10)
#define OBJSVC_HASH_PIPE_MIN_BYTES (1u << 20)
#define OBJSVC_HASH_PIPES_MAX 8u
/* Read leases: initial table slots (a power of two; the table doubles at
 * half full), and lookups a GET retries while the collector races it. */
#define OBJSVC_LEASE_SLOTS_MIN 64u
#define OBJSVC_LEASE_TRIES 8u

/* One leased blob: how many open gets hold it; refs 0 is an empty slot. */
typedef struct objsvc_lease {
    uint8_t blob_id[HM_BLOB_ID_BYTES];
    uint32_t refs;
} objsvc_lease;

struct hm_objsvc {
    hm_objsvc_config cfg;
    pthread_mutex_t lock;     /* guards disk_ids */
    char **disk_ids;          /* [shard_count]; NULL until info() answered */
    _Atomic int64_t *avoid_until; /* [shard_count]; monotonic ms: placement
                                   * skips the disk until then */
    atomic_uint hash_pipes;   /* puts holding a hash pipe */
    pthread_mutex_t lease_lock; /* guards the lease table */
    objsvc_lease *leases;     /* open addressing, linear probing */
    size_t lease_slots;       /* 0 or a power of two */
    size_t lease_used;
    atomic_uint_fast64_t gc_checks; /* blobs the collector has checked */
    /* gc (hm_objsvc_gc_run runs on one thread at a time) */
    uint8_t gc_holder[OBJSVC_ID_BYTES]; /* this service's lease holder id */
    bool gc_collector;        /* held the lease at the last run */
    int64_t gc_renew_mono_ms; /* renew the lease from this monotonic time */
};

struct hm_objsvc_put {
    hm_objsvc *svc;
    char req_id[64];
    char *bucket;
    char *key;
    char *content_type;
    uint64_t size;
    uint64_t written;
    bool failed;
    bool has_md5;
    bool has_sha256;
    uint8_t want_md5[16];
    uint8_t want_sha256[32];
    EVP_MD_CTX *md5;
    EVP_MD_CTX *sha256;
    hm_hash_pipe *pipe;       /* NULL: digests in line */
    Hm__KeyValue **meta_kv;   /* meta_count entries, strings owned */
    size_t meta_count;
    Hm__KeyValue **hdr_kv;
    size_t hdr_count;
    Hm__KeyValue **tag_kv;
    size_t tag_count;
    bool if_none_match_any;
    char *if_match_etag;
    const char *cksum_algorithm;  /* static; NULL: no flexible checksum */
    uint8_t cksum_value[HM_OBJSVC_CHECKSUM_BYTES_MAX];
    size_t cksum_len;
    bool cksum_composite;
    uint8_t object_id[OBJSVC_ID_BYTES];
    /* UploadPart (hm_objsvc_mpu.c): always a blob, committed as a part */
    char *upload_id;
    uint32_t part_number;
    /* inline objects */
    uint8_t *inline_buf;
    /* blob objects */
    bool is_blob;
    bool intent_live;
    uint8_t intent_id[OBJSVC_ID_BYTES];
    uint8_t blob_id[HM_BLOB_ID_BYTES];
    const char **disk_ids;    /* [shard_count]: the disks as placed */
    bool *avoid;              /* [shard_count]: avoided at placement */
    hm_blob_disks disks;
    hm_blob_plan plan;
    hm_blob_writer *bw;       /* the shard streams, once open */
    /* hm_objsvc_put_begin_unsized: size is the inline capacity until the
     * body outgrows it, then size_max; the length is known at finish. */
    bool unsized;
    uint64_t size_max;
};

struct hm_objsvc_get {
    hm_objsvc *svc;
    Hm__MetaResponse *resp;   /* owns version */
    const Hm__ObjectVersion *v;
    uint64_t pos;             /* next object offset to return */
    uint64_t end;             /* one past the last */
    bool started;
    bool leased;              /* every blob of v is leased from gc */
    char req_id[64];
    /* the open blob reader, for blob sg_blob, up to sg_left more bytes */
    hm_blob_reader *sg;
    size_t sg_blob;
    uint64_t sg_left;         /* bytes the open reader still owes */
};

/* ---- helpers --------------------------------------------------------------- */

static char *objsvc_strdup(const char *s)
{
    if (s == NULL) return NULL;
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL) memcpy(d, s, n);
    return d;
}

static void objsvc_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* One metadata round trip.  A response carrying an error becomes that error
 * (codes outside the table become HM_EPROTO: the peer is not trusted to
 * speak our numbers correctly). */
static int objsvc_call(hm_objsvc *svc, const char *req_id, Hm__MetaRequest *req,
                       Hm__MetaResponse **out)
{
    Hm__MetaResponse *resp = NULL;
    req->has_format_version = true;
    req->format_version = HM_FORMAT_VERSION;
    req->request_id = (char *)(req_id != NULL ? req_id : "");
    int rc = hm_meta_call(svc->cfg.meta, req, &resp);
    if (rc != 0) {
        hm_warn("objsvc", req_id, "metadata call failed: %s", hm_err_name(rc));
        return rc;
    }
    if (resp->has_err && resp->err != 0) {
        rc = resp->err;
        if (rc > 0 || rc < HM_ERR_LAST) rc = HM_EPROTO;
        hm_debug("objsvc", req_id, "metadata answered %s: %s", hm_err_name(rc),
                 resp->err_msg != NULL ? resp->err_msg : "");
        hm__meta_response__free_unpacked(resp, NULL);
        return rc;
    }
    if (out != NULL) *out = resp;
    else hm__meta_response__free_unpacked(resp, NULL);
    return 0;
}

/* A query whose answer must carry result `expect`: HM_EPROTO (and nothing
 * in *out) when it does not. */
static int objsvc_query(hm_objsvc *svc, const char *req_id, Hm__MetaRequest *req,
                        Hm__MetaResponse__ResultCase expect, Hm__MetaResponse **out)
{
    Hm__MetaResponse *r = NULL;
    int rc = objsvc_call(svc, req_id, req, &r);
    if (rc != 0) return rc;
    if (r->result_case != expect) {
        hm__meta_response__free_unpacked(r, NULL);
        return HM_EPROTO;
    }
    *out = r;
    return 0;
}

/* Send one command through the metadata log. */
static int objsvc_command(hm_objsvc *svc, const char *req_id, Hm__MetaCommand *cmd,
                          Hm__MetaResponse **out)
{
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    cmd->has_format_version = true;
    cmd->format_version = HM_FORMAT_VERSION;
    req.op_case = HM__META_REQUEST__OP_COMMAND;
    req.command = cmd;
    return objsvc_call(svc, req_id, &req, out);
}

/* The disk id of store i, asking it on first use. */
static int objsvc_disk_id(hm_objsvc *svc, size_t i, char **out)
{
    pthread_mutex_lock(&svc->lock);
    char *id = svc->disk_ids[i];
    pthread_mutex_unlock(&svc->lock);
    if (id != NULL) {
        *out = id;
        return 0;
    }
    Hm__ShardInfoResp *info = NULL;
    hm_shard_api *api = svc->cfg.shards[i];
    int rc = api->ops->info(api, &info);
    if (rc != 0) return rc;
    if (info->disk_id == NULL || info->disk_id[0] == '\0') {
        hm__shard_info_resp__free_unpacked(info, NULL);
        return HM_EPROTO;
    }
    char *dup = objsvc_strdup(info->disk_id);
    hm__shard_info_resp__free_unpacked(info, NULL);
    if (dup == NULL) return HM_ENOMEM;
    pthread_mutex_lock(&svc->lock);
    if (svc->disk_ids[i] == NULL) {
        svc->disk_ids[i] = dup;
    } else {
        free(dup); /* another thread got there first; ids never change */
    }
    id = svc->disk_ids[i];
    pthread_mutex_unlock(&svc->lock);
    *out = id;
    return 0;
}

/* The store holding disk_id.  HM_EUNAVAIL when no store we know has it.
 * The ids already known are scanned under one lock; only a store that has
 * not answered yet is asked again. */
static int objsvc_disk_find(hm_objsvc *svc, const char *disk_id, hm_shard_api **out)
{
    if (disk_id == NULL) return HM_EPROTO;
    bool unknown = false;
    pthread_mutex_lock(&svc->lock);
    for (size_t i = 0; i < svc->cfg.shard_count; i++) {
        if (svc->disk_ids[i] == NULL) {
            unknown = true;
        } else if (strcmp(svc->disk_ids[i], disk_id) == 0) {
            pthread_mutex_unlock(&svc->lock);
            *out = svc->cfg.shards[i];
            return 0;
        }
    }
    pthread_mutex_unlock(&svc->lock);
    if (!unknown) return HM_EUNAVAIL;
    for (size_t i = 0; i < svc->cfg.shard_count; i++) {
        char *id = NULL;
        if (objsvc_disk_id(svc, i, &id) != 0) continue;
        if (strcmp(id, disk_id) == 0) {
            *out = svc->cfg.shards[i];
            return 0;
        }
    }
    return HM_EUNAVAIL;
}

int hm_objsvc_disk_api(hm_objsvc *svc, const char *disk_id, hm_shard_api **out)
{
    return objsvc_disk_find(svc, disk_id, out);
}

/* ---- service --------------------------------------------------------------- */

int hm_objsvc_new(hm_objsvc **out, const hm_objsvc_config *cfg)
{
    if (cfg == NULL || cfg->env == NULL || cfg->meta == NULL || cfg->shards == NULL ||
        cfg->shard_count == 0 || cfg->gc_grace_ms < 0)
        return HM_EINVAL;
    hm_objsvc *svc = calloc(1, sizeof(*svc));
    if (svc == NULL) return HM_ENOMEM;
    svc->cfg = *cfg;
    atomic_init(&svc->hash_pipes, 0);
    if (svc->cfg.intent_ttl_ms <= 0) svc->cfg.intent_ttl_ms = HM_INTENT_TTL_MS;
    if (svc->cfg.mpu_expiry_ms == 0) svc->cfg.mpu_expiry_ms = HM_MPU_EXPIRY_MS;
    if (svc->cfg.gc_lease_ms <= 0) svc->cfg.gc_lease_ms = HM_GC_LEASE_MS;
    if (svc->cfg.disk_avoid_ms <= 0) svc->cfg.disk_avoid_ms = HM_DISK_AVOID_MS;
    hm_random(cfg->env, svc->gc_holder, sizeof(svc->gc_holder));
    svc->disk_ids = calloc(cfg->shard_count, sizeof(char *));
    svc->avoid_until = calloc(cfg->shard_count, sizeof(*svc->avoid_until));
    if (svc->disk_ids == NULL || svc->avoid_until == NULL) {
        free(svc->disk_ids);
        free(svc->avoid_until);
        free(svc);
        return HM_ENOMEM;
    }
    for (size_t i = 0; i < cfg->shard_count; i++) atomic_init(&svc->avoid_until[i], 0);
    pthread_mutex_init(&svc->lock, NULL);
    pthread_mutex_init(&svc->lease_lock, NULL);
    atomic_init(&svc->gc_checks, 0);
    for (size_t i = 0; i < cfg->shard_count; i++) {
        char *id = NULL;
        int rc = objsvc_disk_id(svc, i, &id);
        if (rc != 0)
            hm_warn("objsvc", NULL, "disk %zu did not report its id yet: %s", i,
                    hm_err_name(rc));
    }
    *out = svc;
    return 0;
}

void hm_objsvc_free(hm_objsvc *svc)
{
    if (svc == NULL) return;
    for (size_t i = 0; i < svc->cfg.shard_count; i++) free(svc->disk_ids[i]);
    free(svc->disk_ids);
    free(svc->avoid_until);
    pthread_mutex_destroy(&svc->lock);
    free(svc->leases);
    pthread_mutex_destroy(&svc->lease_lock);
    free(svc);
}

/* ---- names ------------------------------------------------------------------ */

static bool objsvc_is_ipv4(const char *s)
{
    int dots = 0, digits = 0;
    for (; *s != '\0'; s++) {
        if (*s == '.') {
            if (digits == 0) return false;
            dots++;
            digits = 0;
        } else if (*s >= '0' && *s <= '9') {
            if (++digits > 3) return false;
        } else {
            return false;
        }
    }
    return dots == 3 && digits > 0;
}

bool hm_objsvc_bucket_name_valid(const char *name)
{
    if (name == NULL) return false;
    size_t n = strnlen(name, HM_BUCKET_NAME_BYTES_MAX + 1);
    if (n < HM_BUCKET_NAME_BYTES_MIN || n > HM_BUCKET_NAME_BYTES_MAX) return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '.' && c != '-') return false;
        if ((i == 0 || i == n - 1) && !alnum) return false;
        if (c == '.' && name[i + 1] == '.') return false;
    }
    return !objsvc_is_ipv4(name);
}

bool hm_objsvc_key_valid(const char *key, size_t len)
{
    if (key == NULL || len == 0 || len > HM_KEY_BYTES_MAX) return false;
    const unsigned char *s = (const unsigned char *)key;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c == 0) return false; /* keys are C strings inside */
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) { need = 1; cp = c & 0x1f; min = 0x80; }
        else if ((c & 0xf0) == 0xe0) { need = 2; cp = c & 0x0f; min = 0x800; }
        else if ((c & 0xf8) == 0xf0) { need = 3; cp = c & 0x07; min = 0x10000; }
        else return false;
        if (len - i - 1 < need) return false;
        for (size_t k = 1; k <= need; k++) {
            unsigned cc = s[i + k];
            if ((cc & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += need + 1;
    }
    return true;
}

/* ---- buckets ---------------------------------------------------------------- */

int hm_objsvc_bucket_create(hm_objsvc *svc, const char *req_id, const char *name,
                            const char *region, const char *owner)
{
    if (!hm_objsvc_bucket_name_valid(name)) return HM_EINVAL;
    Hm__BucketRecord rec = HM__BUCKET_RECORD__INIT;
    rec.has_format_version = true;
    rec.format_version = HM_FORMAT_VERSION;
    rec.name = (char *)name;
    rec.has_created_ms = true;
    rec.created_ms = hm_wall_ms(svc->cfg.env);
    rec.owner = (char *)owner;
    rec.region = (char *)region;
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &rec;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    cmd.bucket_create = &bc;
    return objsvc_command(svc, req_id, &cmd, NULL);
}

int hm_objsvc_bucket_delete(hm_objsvc *svc, const char *req_id, const char *name)
{
    Hm__BucketDelete bd = HM__BUCKET_DELETE__INIT;
    bd.name = (char *)name;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_BUCKET_DELETE;
    cmd.bucket_delete = &bd;
    return objsvc_command(svc, req_id, &cmd, NULL);
}

int hm_objsvc_bucket_get(hm_objsvc *svc, const char *req_id, const char *name,
                         Hm__MetaResponse **resp)
{
    Hm__BucketGet bg = HM__BUCKET_GET__INIT;
    bg.name = (char *)name;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_BUCKET_GET;
    req.bucket_get = &bg;
    return objsvc_query(svc, req_id, &req, HM__META_RESPONSE__RESULT_BUCKET, resp);
}

int hm_objsvc_bucket_list(hm_objsvc *svc, const char *req_id, Hm__MetaResponse **resp)
{
    Hm__BucketList bl = HM__BUCKET_LIST__INIT;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_BUCKET_LIST;
    req.bucket_list = &bl;
    return objsvc_call(svc, req_id, &req, resp);
}

/* ---- put --------------------------------------------------------------------- */

/* Pairs live in one block: n pointers, then n KeyValues they point at. */
static void objsvc_kv_free(Hm__KeyValue **kv, size_t n)
{
    if (kv == NULL) return;
    for (size_t i = 0; i < n; i++) {
        free(kv[i]->key);
        free(kv[i]->value);
    }
    free(kv);
}

/* Copy n pairs into protobuf KeyValues; *bytes accumulates name+value bytes. */
static int objsvc_kv_copy(const hm_objsvc_kv *src, size_t n, Hm__KeyValue ***out,
                          size_t *bytes)
{
    *out = NULL;
    if (n == 0) return 0;
    if (src == NULL || n > HM_USER_META_BYTES_MAX) return HM_EINVAL;
    Hm__KeyValue **kv = calloc(n, sizeof(Hm__KeyValue *) + sizeof(Hm__KeyValue));
    if (kv == NULL) return HM_ENOMEM;
    Hm__KeyValue *cells = (Hm__KeyValue *)(kv + n);
    for (size_t i = 0; i < n; i++) {
        kv[i] = &cells[i];
        hm__key_value__init(kv[i]);
    }
    for (size_t i = 0; i < n; i++) {
        if (src[i].key == NULL || src[i].value == NULL) {
            objsvc_kv_free(kv, n);
            return HM_EINVAL;
        }
        *bytes += strlen(src[i].key) + strlen(src[i].value);
        kv[i]->key = objsvc_strdup(src[i].key);
        kv[i]->value = objsvc_strdup(src[i].value);
        if (kv[i]->key == NULL || kv[i]->value == NULL) {
            objsvc_kv_free(kv, n);
            return HM_ENOMEM;
        }
    }
    *out = kv;
    return 0;
}

static void objsvc_put_free(hm_objsvc_put *p)
{
    free(p->bucket);
    free(p->key);
    free(p->content_type);
    if (p->pipe != NULL) {
        hm_hash_pipe_free(p->pipe); /* first: its worker uses the digests */
        atomic_fetch_sub(&p->svc->hash_pipes, 1);
    }
    EVP_MD_CTX_free(p->md5);
    EVP_MD_CTX_free(p->sha256);
    objsvc_kv_free(p->meta_kv, p->meta_count);
    objsvc_kv_free(p->hdr_kv, p->hdr_count);
    objsvc_kv_free(p->tag_kv, p->tag_count);
    free(p->if_match_etag);
    free(p->upload_id);
    free(p->inline_buf);
    free(p->disk_ids);
    free(p->avoid);
    free(p);
}

/* A disk was dropped from a write.  When the disk is at fault (gone,
 * failed, full, too slow, its daemon unreachable), later writes are placed
 * on the others for cfg.disk_avoid_ms: with a spare disk a dead one costs
 * one write its shard, not every write that would have been placed on it.
 * Without a spare it is still written; reads still ask it. */
static void objsvc_disk_dropped(void *ctx, size_t disk, int rc)
{
    hm_objsvc *svc = ctx;
    switch (rc) {
    case HM_EUNAVAIL: case HM_EIO: case HM_ENOSPC: case HM_ETIMEDOUT: case HM_ECONN:
    case HM_ETLS: case HM_ECLOSED: case HM_EPERM: case HM_EPOISONED: case HM_EPROTO:
        break;
    default:
        return; /* out of memory, canceled: not the disk */
    }
    if (disk >= svc->cfg.shard_count) return;
    int64_t until = hm_mono_ms(svc->cfg.env) + svc->cfg.disk_avoid_ms;
    atomic_store_explicit(&svc->avoid_until[disk], until, memory_order_relaxed);
}

/* Ask every disk for its id (a disk that does not answer is unavailable;
 * one dropped from a recent write is placed after the others) and place the
 * blob's shards over them. */
static int objsvc_put_place(hm_objsvc_put *p)
{
    hm_objsvc *svc = p->svc;
    size_t n = svc->cfg.shard_count;
    p->disk_ids = calloc(n, sizeof(*p->disk_ids));
    p->avoid = calloc(n, sizeof(*p->avoid));
    if (p->disk_ids == NULL || p->avoid == NULL) return HM_ENOMEM;
    int64_t now = hm_mono_ms(svc->cfg.env);
    for (size_t i = 0; i < n; i++) {
        char *id = NULL;
        if (objsvc_disk_id(svc, i, &id) == 0) p->disk_ids[i] = id;
        p->avoid[i] = now < atomic_load_explicit(&svc->avoid_until[i], memory_order_relaxed);
    }
    p->disks.apis = svc->cfg.shards;
    p->disks.disk_ids = p->disk_ids;
    p->disks.avoid = p->avoid;
    p->disks.count = n;
    p->disks.dropped = objsvc_disk_dropped;
    p->disks.dropped_ctx = svc;
    return hm_blob_plan_make(&p->disks, p->blob_id, &p->plan);
}

/* Record p's blob under p->intent_id, to expire ttl_ms from now in the
 * metadata's committed clock (deadline_ms, from the wall clock, is what a
 * node without that clock goes by). */
static int objsvc_intent_put(hm_objsvc_put *p, int64_t ttl_ms)
{
    hm_objsvc *svc = p->svc;
    Hm__Blob blob;
    Hm__ShardRef refs[HM_EC_SHARDS_MAX];
    Hm__ShardRef *ref_ptrs[HM_EC_SHARDS_MAX];
    hm_blob_plan_blob(&p->plan, &p->disks, p->blob_id, p->size, &blob, refs, ref_ptrs);
    Hm__Blob *blobs[1] = {&blob};
    Hm__Intent in = HM__INTENT__INIT;
    in.has_format_version = true;
    in.format_version = HM_FORMAT_VERSION;
    in.has_intent_id = true;
    in.intent_id.data = p->intent_id;
    in.intent_id.len = OBJSVC_ID_BYTES;
    in.n_blobs = 1;
    in.blobs = blobs;
    in.has_deadline_ms = true;
    in.deadline_ms = hm_wall_ms(svc->cfg.env) + ttl_ms;
    in.has_ttl_ms = true;
    in.ttl_ms = ttl_ms;
    Hm__IntentPut ip = HM__INTENT_PUT__INIT;
    ip.intent = &in;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_INTENT_PUT;
    cmd.intent_put = &ip;
    return objsvc_command(svc, p->req_id, &cmd, NULL);
}

/* Retire the intent without a version: its blobs become garbage.  When the
 * delete is lost, hm_objsvc_gc_run expires the intent once its deadline has
 * passed (IntentScan, IntentDelete) and collects the blobs then. */
static void objsvc_intent_delete(hm_objsvc_put *p)
{
    Hm__IntentDelete id = HM__INTENT_DELETE__INIT;
    id.has_intent_id = true;
    id.intent_id.data = p->intent_id;
    id.intent_id.len = OBJSVC_ID_BYTES;
    id.has_now_ms = true;
    id.now_ms = hm_wall_ms(p->svc->cfg.env);
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_INTENT_DELETE;
    cmd.intent_delete = &id;
    int rc = objsvc_command(p->svc, p->req_id, &cmd, NULL);
    if (rc != 0 && rc != HM_ENOENT)
        hm_warn("objsvc", p->req_id,
                "intent delete failed (%s); gc expires it after its deadline",
                hm_err_name(rc));
    p->intent_live = false;
}

/* The retiring write of a committed shard got HM_EINTENT: gc expired the
 * intent while the body was arriving, so no version or part will name the
 * blob and gc may already have passed over it.  Delete the shard; when that
 * fails, record the blob again under an intent already past its deadline,
 * which put_abort's IntentDelete (or, that lost, the next gc run) hands to
 * gc. */
static void objsvc_put_orphaned(hm_objsvc_put *p)
{
    int rc = 0;
    for (uint32_t i = 0; i < p->plan.n; i++) {
        if (p->disk_ids[p->plan.disk[i]] == NULL) continue; /* never opened */
        hm_shard_api *api = p->svc->cfg.shards[p->plan.disk[i]];
        int r = api->ops->del(api, p->blob_id, i);
        if (r != 0 && r != HM_ENOENT && rc == 0) rc = r;
    }
    p->intent_live = false;
    if (rc == 0) return;
    hm_warn("objsvc", p->req_id, "shard of an expired intent not deleted (%s); requeued",
            hm_err_name(rc));
    rc = objsvc_intent_put(p, 0);
    if (rc == 0) p->intent_live = true;
    else hm_error("objsvc", p->req_id, "shard of an expired intent left behind: %s",
                  hm_err_name(rc));
}

static int objsvc_shard_open(hm_objsvc_put *p)
{
    hm_objsvc *svc = p->svc;
    Hm__ShardHeader h = HM__SHARD_HEADER__INIT;
    h.has_format_version = true;
    h.format_version = HM_FORMAT_VERSION;
    h.has_blob_id = true;
    h.blob_id.data = p->blob_id;
    h.blob_id.len = HM_BLOB_ID_BYTES;
    h.has_block_bytes = true;
    h.block_bytes = HM_SHARD_BLOCK_BYTES;
    h.has_blob_size = !p->unsized; /* unsized: not known before commit */
    h.blob_size = p->size;
    h.has_object_id = true;
    h.object_id.data = p->object_id;
    h.object_id.len = OBJSVC_ID_BYTES;
    h.version_id = "null";
    h.bucket = p->bucket;
    h.key = p->key;
    h.has_part_number = true;
    h.part_number = p->part_number;
    /* What a rebuild from shards needs (docs/adr/0005-self-describing-shards.md);
     * the ETag and checksums are sealed at finish. */
    h.has_role = true;
    h.role = p->upload_id != NULL ? HM__SHARD_ROLE__SHARD_ROLE_PART
                                  : HM__SHARD_ROLE__SHARD_ROLE_OBJECT;
    h.upload_id = p->upload_id;
    h.content_type = p->content_type;
    h.n_user_meta = p->meta_count;
    h.user_meta = p->meta_kv;
    h.n_headers = p->hdr_count;
    h.headers = p->hdr_kv;
    h.n_tags = p->tag_count;
    h.tags = p->tag_kv;
    h.has_created_ms = true;
    h.created_ms = hm_wall_ms(svc->cfg.env);
    hm_blob_write_args a = {
        .disks = &p->disks,
        .plan = &p->plan,
        .tmpl = &h,
        .deadline_ms = svc->cfg.shard_deadline_ms,
        /* an unsized put's size is an upper bound only */
        .size_known = !p->unsized,
        .size = p->size,
        .serial = svc->cfg.serial_shards,
        .req_id = p->req_id,
    };
    return hm_blob_writer_open(&a, &p->bw);
}

/* The hash pipe's sink: the shard write, on the caller's thread. */
static int objsvc_pipe_sink(void *ctx, const void *buf, size_t len)
{
    hm_objsvc_put *p = ctx;
    return hm_blob_writer_write(p->bw, buf, len);
}

/* Give a large blob put a hash pipe if one is free; without one (or on any
 * failure to start it) the put digests in line, which is only slower. */
static void objsvc_pipe_open(hm_objsvc_put *p)
{
    if (p->size < OBJSVC_HASH_PIPE_MIN_BYTES) return;
    hm_objsvc *svc = p->svc;
    if (atomic_fetch_add(&svc->hash_pipes, 1) >= OBJSVC_HASH_PIPES_MAX) {
        atomic_fetch_sub(&svc->hash_pipes, 1);
        return;
    }
    EVP_MD_CTX *mds[2] = {p->md5, p->sha256};
    if (hm_hash_pipe_new(&p->pipe, mds, p->sha256 != NULL ? 2 : 1, OBJSVC_HASH_PIPE_BYTES,
                         objsvc_pipe_sink, p) != 0) {
        p->pipe = NULL;
        atomic_fetch_sub(&svc->hash_pipes, 1);
    }
}

/* put_begin, or with upload_id != NULL the begin of one part of that
 * upload (hm_objsvc_put_begin_part). */
static int objsvc_put_begin(hm_objsvc *svc, const char *req_id, const hm_objsvc_put_args *args,
                            const char *upload_id, uint32_t part_number, hm_objsvc_put **out)
{
    if (args == NULL || args->bucket == NULL || args->key == NULL) return HM_EINVAL;
    if (!hm_objsvc_key_valid(args->key, strlen(args->key))) return HM_EINVAL;
    if (args->size > HM_PUT_BYTES_MAX) return HM_ETOOBIG;
    int rc;
    hm_objsvc_put *p = calloc(1, sizeof(*p));
    if (p == NULL) return HM_ENOMEM;
    p->svc = svc;
    if (req_id != NULL) snprintf(p->req_id, sizeof(p->req_id), "%s", req_id);
    if (upload_id != NULL) {
        p->upload_id = objsvc_strdup(upload_id);
        p->part_number = part_number;
        if (p->upload_id == NULL) {
            rc = HM_ENOMEM;
            goto err_free;
        }
    }
    p->size = args->size;
    p->bucket = objsvc_strdup(args->bucket);
    p->key = objsvc_strdup(args->key);
    p->content_type = objsvc_strdup(args->content_type);
    if (p->bucket == NULL || p->key == NULL ||
        (args->content_type != NULL && p->content_type == NULL)) {
        rc = HM_ENOMEM;
        goto err_free;
    }
    size_t meta_bytes = 0;
    rc = objsvc_kv_copy(args->user_meta, args->user_meta_count, &p->meta_kv, &meta_bytes);
    if (rc != 0) goto err_free;
    p->meta_count = args->user_meta_count;
    if (meta_bytes > HM_USER_META_BYTES_MAX) {
        rc = HM_ETOOBIG;
        goto err_free;
    }
    size_t hdr_bytes = 0;
    rc = objsvc_kv_copy(args->headers, args->header_count, &p->hdr_kv, &hdr_bytes);
    if (rc != 0) goto err_free;
    p->hdr_count = args->header_count;
    if (hdr_bytes > HM_HTTP_HEADERS_BYTES_MAX) {
        rc = HM_ETOOBIG;
        goto err_free;
    }
    if (args->tag_count > HM_TAGS_MAX) {
        rc = HM_EINVAL;
        goto err_free;
    }
    size_t tag_bytes = 0;
    rc = objsvc_kv_copy(args->tags, args->tag_count, &p->tag_kv, &tag_bytes);
    if (rc != 0) goto err_free;
    p->tag_count = args->tag_count;
    p->if_none_match_any = args->if_none_match_any;
    if (args->if_match_etag != NULL) {
        p->if_match_etag = objsvc_strdup(args->if_match_etag);
        if (p->if_match_etag == NULL) {
            rc = HM_ENOMEM;
            goto err_free;
        }
    }
    if (args->content_md5 != NULL) {
        p->has_md5 = true;
        memcpy(p->want_md5, args->content_md5, 16);
    }
    p->md5 = EVP_MD_CTX_new();
    if (p->md5 == NULL || EVP_DigestInit_ex(p->md5, EVP_md5(), NULL) != 1) {
        rc = HM_ENOMEM;
        goto err_free;
    }
    if (args->sha256 != NULL) {
        p->has_sha256 = true;
        memcpy(p->want_sha256, args->sha256, 32);
        p->sha256 = EVP_MD_CTX_new();
        if (p->sha256 == NULL || EVP_DigestInit_ex(p->sha256, EVP_sha256(), NULL) != 1) {
            rc = HM_ENOMEM;
            goto err_free;
        }
    }
    hm_random(svc->cfg.env, p->object_id, sizeof(p->object_id));

    if (p->size <= HM_INLINE_BYTES_MAX && p->upload_id == NULL) {
        if (p->size > 0) {
            p->inline_buf = malloc((size_t)p->size);
            if (p->inline_buf == NULL) {
                rc = HM_ENOMEM;
                goto err_free;
            }
        }
        *out = p;
        return 0;
    }

    /* A blob: fail early on a missing bucket, before any body is read (a
     * part's caller has checked its upload instead). */
    if (p->upload_id == NULL) {
        Hm__MetaResponse *br = NULL;
        rc = hm_objsvc_bucket_get(svc, p->req_id, p->bucket, &br);
        if (rc != 0) goto err_free;
        hm__meta_response__free_unpacked(br, NULL);
    }

    p->is_blob = true;
    hm_random(svc->cfg.env, p->intent_id, sizeof(p->intent_id));
    hm_random(svc->cfg.env, p->blob_id, sizeof(p->blob_id));
    rc = objsvc_put_place(p);
    if (rc != 0) goto err_free;
    if (!svc->cfg.plant_intent_after_shard) {
        rc = objsvc_intent_put(p, svc->cfg.intent_ttl_ms);
        if (rc != 0) goto err_free;
        p->intent_live = true;
    }
    rc = objsvc_shard_open(p);
    if (rc != 0) goto err_intent;
    objsvc_pipe_open(p);
    *out = p;
    return 0;

err_intent:
    objsvc_intent_delete(p);
err_free:
    objsvc_put_free(p);
    return rc;
}

int hm_objsvc_put_begin(hm_objsvc *svc, const char *req_id,
                        const hm_objsvc_put_args *args, hm_objsvc_put **out)
{
    return objsvc_put_begin(svc, req_id, args, NULL, 0, out);
}

int hm_objsvc_put_begin_part(hm_objsvc *svc, const char *req_id,
                             const hm_objsvc_put_args *args, const char *upload_id,
                             uint32_t part_number, hm_objsvc_put **out)
{
    if (upload_id == NULL || part_number < 1 || part_number > HM_PARTS_MAX) return HM_EINVAL;
    return objsvc_put_begin(svc, req_id, args, upload_id, part_number, out);
}

int hm_objsvc_meta_call(hm_objsvc *svc, const char *req_id, Hm__MetaRequest *req,
                        Hm__MetaResponse **out)
{
    return objsvc_call(svc, req_id, req, out);
}

int hm_objsvc_meta_query(hm_objsvc *svc, const char *req_id, Hm__MetaRequest *req,
                         Hm__MetaResponse__ResultCase expect, Hm__MetaResponse **out)
{
    return objsvc_query(svc, req_id, req, expect, out);
}

const hm_objsvc_config *hm_objsvc_get_config(const hm_objsvc *svc) { return &svc->cfg; }

/* ---- puts of unknown length (hm_objsvc_put_begin_unsized) ---------------- */

int hm_objsvc_put_begin_unsized(hm_objsvc *svc, const char *req_id,
                                const hm_objsvc_put_args *args, hm_objsvc_put **out)
{
    if (args == NULL) return HM_EINVAL;
    if (args->size > HM_PUT_BYTES_MAX) return HM_ETOOBIG;
    /* Start as an inline put as large as the body may be, up to the inline
     * limit; objsvc_put_unsized_grow turns it into a blob put when the body
     * outgrows that. */
    hm_objsvc_put_args a = *args;
    a.size = args->size < HM_INLINE_BYTES_MAX ? args->size : HM_INLINE_BYTES_MAX;
    hm_objsvc_put *p = NULL;
    int rc = hm_objsvc_put_begin(svc, req_id, &a, &p);
    if (rc != 0) return rc;
    p->unsized = true;
    p->size_max = args->size;
    *out = p;
    return 0;
}

/* Before len more bytes of an unsized put: refuse past size_max; on the
 * first write past the inline buffer, become a blob put (bucket check,
 * intent, shard stream, as put_begin does for a large body) and move the
 * buffered bytes (already digested) into the shard. */
static int objsvc_put_unsized_grow(hm_objsvc_put *p, size_t len)
{
    if (len > p->size_max - p->written) return HM_ETOOBIG;
    if (p->is_blob || len <= p->size - p->written) return 0;
    hm_objsvc *svc = p->svc;
    Hm__MetaResponse *br = NULL;
    int rc = hm_objsvc_bucket_get(svc, p->req_id, p->bucket, &br);
    if (rc != 0) return rc;
    hm__meta_response__free_unpacked(br, NULL);
    p->size = p->size_max; /* the intent's blob size: an upper bound */
    hm_random(svc->cfg.env, p->intent_id, sizeof(p->intent_id));
    hm_random(svc->cfg.env, p->blob_id, sizeof(p->blob_id));
    rc = objsvc_put_place(p);
    if (rc != 0) return rc;
    if (!svc->cfg.plant_intent_after_shard) {
        rc = objsvc_intent_put(p, svc->cfg.intent_ttl_ms);
        if (rc != 0) return rc;
        p->intent_live = true;
    }
    rc = objsvc_shard_open(p);
    if (rc != 0) return rc; /* put_abort deletes the intent */
    p->is_blob = true;
    if (p->written > 0) {
        rc = hm_blob_writer_write(p->bw, p->inline_buf, (size_t)p->written);
        if (rc != 0) return rc;
    }
    free(p->inline_buf);
    p->inline_buf = NULL;
    return 0;
}

int hm_objsvc_put_write(hm_objsvc_put *p, const void *buf, size_t len)
{
    if (p->failed) return HM_ECANCELED;
    if (len == 0) return 0;
    if (p->unsized) {
        int rc = objsvc_put_unsized_grow(p, len);
        if (rc != 0) {
            p->failed = true;
            return rc;
        }
    }
    if (len > p->size - p->written) {
        p->failed = true;
        return HM_ETOOBIG;
    }
    if (p->pipe != NULL) {
        int rc = hm_hash_pipe_write(p->pipe, buf, len);
        if (rc != 0) {
            p->failed = true;
            return rc;
        }
        p->written += len;
        return 0;
    }
    if (EVP_DigestUpdate(p->md5, buf, len) != 1 ||
        (p->sha256 != NULL && EVP_DigestUpdate(p->sha256, buf, len) != 1)) {
        p->failed = true;
        return HM_EINTERNAL;
    }
    if (p->is_blob) {
        int rc = hm_blob_writer_write(p->bw, buf, len);
        if (rc != 0) {
            p->failed = true;
            return rc;
        }
    } else {
        memcpy(p->inline_buf + p->written, buf, len);
    }
    p->written += len;
    return 0;
}

int hm_objsvc_put_set_checksum(hm_objsvc_put *p, const char *algorithm, const uint8_t *value,
                               size_t len, bool composite)
{
    if (algorithm == NULL || value == NULL || len == 0 || len > HM_OBJSVC_CHECKSUM_BYTES_MAX)
        return HM_EINVAL;
    p->cksum_algorithm = algorithm;
    memcpy(p->cksum_value, value, len);
    p->cksum_len = len;
    p->cksum_composite = composite;
    return 0;
}

void hm_objsvc_put_abort(hm_objsvc_put *p)
{
    if (p == NULL) return;
    if (p->bw != NULL) {
        hm_blob_writer_abort(p->bw);
        p->bw = NULL;
    }
    if (p->intent_live) objsvc_intent_delete(p);
    objsvc_put_free(p);
}


/* The repair work of a degraded write: one RepairItem per shard of r that
 * did not become durable, in items[] (HM_EC_SHARDS_MAX), pointed to by
 * ptrs[]; borrows r.  The state machine fills in the profile and the
 * committed clock.  Returns the count (0 for a write with every shard). */
static size_t objsvc_repair_items(hm_blob_result *r, Hm__RepairItem *items,
                                  Hm__RepairItem **ptrs)
{
    for (size_t i = 0; i < r->n_missing; i++) {
        hm__repair_item__init(&items[i]);
        items[i].has_blob_id = true;
        items[i].blob_id = r->blob.blob_id;
        items[i].has_shard_index = true;
        items[i].shard_index = r->missing[i];
        items[i].disk_id = (char *)(r->missing_disk[i] != NULL ? r->missing_disk[i] : "");
        ptrs[i] = &items[i];
    }
    return r->n_missing;
}

/* Compare the body's digests against what the client declared. */
static int objsvc_put_check(hm_objsvc_put *p, char etag[HM_OBJSVC_ETAG_HEX_BYTES + 1],
                            enum hm_objsvc_fault *fault)
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    if (p->written != p->size) {
        *fault = HM_OBJSVC_FAULT_INCOMPLETE_BODY;
        return HM_EPROTO;
    }
    if (EVP_DigestFinal_ex(p->md5, md, &mdlen) != 1 || mdlen != 16) return HM_EINTERNAL;
    objsvc_hex(md, 16, etag);
    if (p->has_md5 && memcmp(md, p->want_md5, 16) != 0) {
        *fault = HM_OBJSVC_FAULT_BAD_DIGEST;
        return HM_ECORRUPT;
    }
    if (p->sha256 != NULL) {
        if (EVP_DigestFinal_ex(p->sha256, md, &mdlen) != 1 || mdlen != 32)
            return HM_EINTERNAL;
        if (memcmp(md, p->want_sha256, 32) != 0) {
            *fault = HM_OBJSVC_FAULT_SHA256_MISMATCH;
            return HM_ECORRUPT;
        }
    }
    return 0;
}

int hm_objsvc_put_finish(hm_objsvc_put *p, char *etag_out, enum hm_objsvc_fault *fault_out)
{
    hm_objsvc *svc = p->svc;
    enum hm_objsvc_fault fault = HM_OBJSVC_FAULT_NONE;
    char etag[HM_OBJSVC_ETAG_HEX_BYTES + 1];
    int rc;
    if (p->failed) {
        rc = HM_ECANCELED;
        goto err_abort;
    }
    if (p->unsized) p->size = p->written;
    if (p->pipe != NULL) {
        /* the last bytes reach the shard, the digests every byte */
        rc = hm_hash_pipe_finish(p->pipe);
        if (rc != 0) goto err_abort;
    }
    rc = objsvc_put_check(p, etag, &fault);
    if (rc != 0) goto err_abort;

    hm_blob_result res; /* owns the blob id: outlives the writer */
    Hm__Blob *blobs[1] = {&res.blob};
    Hm__RepairItem repair[HM_EC_SHARDS_MAX];
    Hm__RepairItem *repair_ptrs[HM_EC_SHARDS_MAX];
    size_t n_repair = 0;

    Hm__ObjectVersion v = HM__OBJECT_VERSION__INIT;
    v.has_format_version = true;
    v.format_version = HM_FORMAT_VERSION;
    v.has_object_id = true;
    v.object_id.data = p->object_id;
    v.object_id.len = OBJSVC_ID_BYTES;
    v.version_id = "null";
    v.has_size = true;
    v.size = p->size;
    v.etag = etag;
    v.content_type = p->content_type;
    v.n_user_meta = p->meta_count;
    v.user_meta = p->meta_kv;
    v.n_headers = p->hdr_count;
    v.headers = p->hdr_kv;
    v.n_tags = p->tag_count;
    v.tags = p->tag_kv;
    Hm__Checksum cks = HM__CHECKSUM__INIT;
    Hm__Checksum *cksp[1] = {&cks};
    if (p->cksum_algorithm != NULL) {
        cks.algorithm = (char *)p->cksum_algorithm;
        cks.has_value = true;
        cks.value.data = p->cksum_value;
        cks.value.len = p->cksum_len;
        cks.has_composite = p->cksum_composite;
        cks.composite = p->cksum_composite;
        v.n_checksums = 1;
        v.checksums = cksp;
    }
    v.has_mtime_ms = true;
    v.mtime_ms = hm_wall_ms(svc->cfg.env);
    v.key = p->key;

    Hm__ObjectPut op = HM__OBJECT_PUT__INIT;
    op.bucket = p->bucket;
    op.key = p->key;
    op.version = &v;
    op.has_gc_grace_ms = true;
    op.gc_grace_ms = svc->cfg.gc_grace_ms;
    Hm__WriteCondition cond = HM__WRITE_CONDITION__INIT;
    if (p->if_none_match_any || p->if_match_etag != NULL) {
        cond.has_if_none_match_any = p->if_none_match_any;
        cond.if_none_match_any = p->if_none_match_any;
        cond.if_match_etag = p->if_match_etag;
        op.cond = &cond;
    }

    if (p->is_blob) {
        hm_blob_writer *bw = p->bw;
        p->bw = NULL;
        Hm__ShardHeader seal = HM__SHARD_HEADER__INIT;
        seal.etag = etag;
        seal.n_checksums = v.n_checksums;
        seal.checksums = v.checksums;
        seal.has_committed_ms = true;
        seal.committed_ms = v.mtime_ms;
        rc = hm_blob_writer_finish(bw, &seal);
        if (rc == 0 && hm_blob_writer_size(bw) != p->size) rc = HM_EINTERNAL;
        if (rc == 0) hm_blob_writer_result(bw, &res);
        hm_blob_writer_free(bw);
        if (rc != 0) goto err_abort;
        n_repair = objsvc_repair_items(&res, repair, repair_ptrs);
        op.n_repairs = n_repair;
        op.repairs = repair_ptrs;
        if (svc->cfg.plant_intent_after_shard) {
            rc = objsvc_intent_put(p, svc->cfg.intent_ttl_ms);
            if (rc != 0) goto err_abort;
            p->intent_live = true;
        }
        v.n_blobs = 1;
        v.blobs = blobs;
        op.has_intent_id = true;
        op.intent_id.data = p->intent_id;
        op.intent_id.len = OBJSVC_ID_BYTES;
    } else {
        v.has_inline_data = true;
        v.inline_data.data = p->inline_buf;
        v.inline_data.len = (size_t)p->size;
    }

    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_OBJECT_PUT;
    cmd.object_put = &op;
    /* A part commits as a PartRecord of its upload instead of a version. */
    Hm__PartRecord part = HM__PART_RECORD__INIT;
    Hm__UploadPartPut pp = HM__UPLOAD_PART_PUT__INIT;
    if (p->upload_id != NULL) {
        part.has_format_version = true;
        part.format_version = HM_FORMAT_VERSION;
        part.has_part_number = true;
        part.part_number = p->part_number;
        part.has_size = true;
        part.size = p->size;
        part.etag = etag;
        part.has_mtime_ms = true;
        part.mtime_ms = v.mtime_ms;
        part.blob = &res.blob;
        part.n_checksums = v.n_checksums;
        part.checksums = v.checksums;
        pp.bucket = p->bucket;
        pp.upload_id = p->upload_id;
        pp.part = &part;
        pp.intent_id = op.intent_id;
        pp.has_intent_id = op.has_intent_id;
        pp.has_gc_grace_ms = true;
        pp.gc_grace_ms = svc->cfg.gc_grace_ms;
        pp.n_repairs = op.n_repairs;
        pp.repairs = op.repairs;
        cmd.op_case = HM__META_COMMAND__OP_UPLOAD_PART_PUT;
        cmd.upload_part_put = &pp;
    }
    rc = objsvc_command(svc, p->req_id, &cmd, NULL);
    if (rc == HM_EINTENT && p->is_blob) objsvc_put_orphaned(p);
    if (rc != 0) goto err_abort;
    p->intent_live = false;
    if (etag_out != NULL) memcpy(etag_out, etag, sizeof(etag));
    if (fault_out != NULL) *fault_out = HM_OBJSVC_FAULT_NONE;
    objsvc_put_free(p);
    return 0;

err_abort:
    if (fault_out != NULL) *fault_out = fault;
    hm_objsvc_put_abort(p);
    return rc;
}

/* ---- ranges ------------------------------------------------------------------ */

/* Parse a run of decimal digits; false on none or overflow. */
static bool objsvc_parse_u64(const char **s, uint64_t *out)
{
    const char *p = *s;
    uint64_t v = 0;
    if (*p < '0' || *p > '9') return false;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *s = p;
    *out = v;
    return true;
}

int hm_objsvc_range_parse(const char *value, hm_objsvc_range *out)
{
    hm_objsvc_range r = {0};
    if (value == NULL) return HM_EINVAL;
    const char *s = value;
    while (*s == ' ' || *s == '\t') s++;
    if (strncmp(s, "bytes=", 6) != 0) return HM_EINVAL;
    s += 6;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '-') {
        s++;
        if (!objsvc_parse_u64(&s, &r.suffix)) return HM_EINVAL;
    } else {
        if (!objsvc_parse_u64(&s, &r.first)) return HM_EINVAL;
        r.has_first = true;
        if (*s++ != '-') return HM_EINVAL;
        if (*s >= '0' && *s <= '9') {
            if (!objsvc_parse_u64(&s, &r.last)) return HM_EINVAL;
            r.has_last = true;
            if (r.last < r.first) return HM_EINVAL;
        }
    }
    while (*s == ' ' || *s == '\t') s++;
    if (*s != '\0') return HM_EINVAL; /* a list of ranges, or junk */
    *out = r;
    return 0;
}

int hm_objsvc_range_resolve(const hm_objsvc_range *r, uint64_t size, uint64_t *off,
                            uint64_t *len)
{
    if (size == 0) return HM_EINVAL;
    if (!r->has_first) {
        if (r->suffix == 0) return HM_EINVAL;
        uint64_t n = r->suffix < size ? r->suffix : size;
        *off = size - n;
        *len = n;
        return 0;
    }
    if (r->first >= size) return HM_EINVAL;
    uint64_t last = (r->has_last && r->last < size) ? r->last : size - 1;
    *off = r->first;
    *len = last - r->first + 1;
    return 0;
}

/* ---- read leases ----------------------------------------------------------- */

static size_t objsvc_lease_home(const uint8_t id[HM_BLOB_ID_BYTES], size_t slots)
{
    uint64_t h = 0;
    memcpy(&h, id, sizeof h);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull; /* blob ids are random; this only spreads */
    h ^= h >> 32;
    return (size_t)h & (slots - 1);
}

/* The slot holding id, or the empty slot where it would go.  Under
 * lease_lock; the table is never full (at most half). */
static size_t objsvc_lease_slot(const hm_objsvc *svc, const uint8_t id[HM_BLOB_ID_BYTES])
{
    size_t mask = svc->lease_slots - 1;
    size_t i = objsvc_lease_home(id, svc->lease_slots);
    while (svc->leases[i].refs != 0 &&
           memcmp(svc->leases[i].blob_id, id, HM_BLOB_ID_BYTES) != 0)
        i = (i + 1) & mask;
    return i;
}

/* Make room for `more` new entries at most half full.  Under lease_lock.
 * HM_ENOMEM leaves the table as it was. */
static int objsvc_lease_reserve(hm_objsvc *svc, size_t more)
{
    if (more > SIZE_MAX / 4 - svc->lease_used) return HM_ENOMEM;
    size_t need = 2 * (svc->lease_used + more);
    if (svc->lease_slots >= need && svc->lease_slots > 0) return 0;
    size_t slots = svc->lease_slots > 0 ? svc->lease_slots : OBJSVC_LEASE_SLOTS_MIN;
    while (slots < need) slots *= 2;
    objsvc_lease *t = calloc(slots, sizeof(*t));
    if (t == NULL) return HM_ENOMEM;
    objsvc_lease *old = svc->leases;
    size_t old_slots = svc->lease_slots;
    svc->leases = t;
    svc->lease_slots = slots;
    for (size_t i = 0; i < old_slots; i++)
        if (old[i].refs != 0) t[objsvc_lease_slot(svc, old[i].blob_id)] = old[i];
    free(old);
    return 0;
}

/* Drop one reference to id; an entry whose last reference goes is removed
 * by shifting its probe run back (no tombstones).  Under lease_lock. */
static void objsvc_lease_put(hm_objsvc *svc, const uint8_t id[HM_BLOB_ID_BYTES])
{
    size_t mask = svc->lease_slots - 1;
    size_t i = objsvc_lease_slot(svc, id);
    if (svc->leases[i].refs == 0) return; /* not leased: nothing to drop */
    if (--svc->leases[i].refs > 0) return;
    svc->lease_used--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (svc->leases[j].refs == 0) break;
        size_t home = objsvc_lease_home(svc->leases[j].blob_id, svc->lease_slots);
        /* Move j back into the hole at i unless its home lies in (i, j]. */
        bool stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
        if (stays) continue;
        svc->leases[i] = svc->leases[j];
        svc->leases[j].refs = 0;
        i = j;
    }
    svc->leases[i].refs = 0;
}

/* Lease every blob of g's version.  HM_ENOMEM takes none. */
static int objsvc_lease_take(hm_objsvc_get *g)
{
    hm_objsvc *svc = g->svc;
    const Hm__ObjectVersion *v = g->v;
    if (v->n_blobs == 0) return 0;
    pthread_mutex_lock(&svc->lease_lock);
    int rc = objsvc_lease_reserve(svc, v->n_blobs);
    if (rc == 0) {
        for (size_t b = 0; b < v->n_blobs; b++) {
            const uint8_t *id = v->blobs[b]->blob_id.data;
            size_t i = objsvc_lease_slot(svc, id);
            if (svc->leases[i].refs == 0) {
                memcpy(svc->leases[i].blob_id, id, HM_BLOB_ID_BYTES);
                svc->lease_used++;
            }
            svc->leases[i].refs++;
        }
        g->leased = true;
    }
    pthread_mutex_unlock(&svc->lease_lock);
    return rc;
}

static void objsvc_lease_drop(hm_objsvc_get *g)
{
    if (!g->leased) return;
    hm_objsvc *svc = g->svc;
    pthread_mutex_lock(&svc->lease_lock);
    for (size_t b = 0; b < g->v->n_blobs; b++) objsvc_lease_put(svc, g->v->blobs[b]->blob_id.data);
    pthread_mutex_unlock(&svc->lease_lock);
    g->leased = false;
}

/* Is blob id leased by an open get?  Called by the collector before it
 * deletes a blob's shards; the counter bump comes first (see
 * objsvc_get_lookup for why). */
static bool objsvc_lease_held(hm_objsvc *svc, const uint8_t id[HM_BLOB_ID_BYTES])
{
    atomic_fetch_add(&svc->gc_checks, 1);
    pthread_mutex_lock(&svc->lease_lock);
    bool held = svc->lease_slots > 0 && svc->leases[objsvc_lease_slot(svc, id)].refs != 0;
    pthread_mutex_unlock(&svc->lease_lock);
    return held;
}

size_t hm_objsvc_leases(hm_objsvc *svc)
{
    pthread_mutex_lock(&svc->lease_lock);
    size_t n = svc->lease_used;
    pthread_mutex_unlock(&svc->lease_lock);
    return n;
}

/* ---- get --------------------------------------------------------------------- */

/* Check a manifest before trusting it to size reads: blob sizes add up,
 * every blob's profile and shard refs are sound (hm_blob_check). */
static int objsvc_check_manifest(const Hm__ObjectVersion *v)
{
    if (v->has_inline_data) return v->inline_data.len == v->size ? 0 : HM_ECORRUPT;
    uint64_t sum = 0;
    for (size_t i = 0; i < v->n_blobs; i++) {
        const Hm__Blob *b = v->blobs[i];
        int rc = hm_blob_check(b);
        if (rc != 0) return rc;
        if (b->size > UINT64_MAX - sum) return HM_ECORRUPT;
        sum += b->size;
    }
    return sum == v->size ? 0 : HM_ECORRUPT;
}

/* Look the object up and lease its blobs.  The race this closes: the
 * lookup returns version V, then V is overwritten, its grace ends and the
 * collector deletes V's blobs, all before the lease is taken.  The
 * collector bumps gc_checks before it checks a lease, and we read it
 * before the lookup and again after taking the lease.  If it did not move,
 * every check came either before the lookup (then V was already
 * overwritten when the collector scanned it, and a linearizable lookup
 * could not have returned V) or after the lease (and saw it).  If it
 * moved, a collector check overlapped us: look up again.  After
 * OBJSVC_LEASE_TRIES overlaps in a row the grace period is what remains
 * between the lookup and the lease (microseconds against >= 1 ms). */
static int objsvc_get_lookup(hm_objsvc_get *g, const char *req_id, const char *bucket,
                             const char *key)
{
    hm_objsvc *svc = g->svc;
    for (unsigned attempt = 0;; attempt++) {
        uint_fast64_t before = atomic_load(&svc->gc_checks);
        Hm__ObjectGet og = HM__OBJECT_GET__INIT;
        og.bucket = (char *)bucket;
        og.key = (char *)key;
        Hm__MetaRequest req = HM__META_REQUEST__INIT;
        req.op_case = HM__META_REQUEST__OP_OBJECT_GET;
        req.object_get = &og;
        Hm__MetaResponse *resp = NULL;
        int rc = objsvc_query(svc, req_id, &req, HM__META_RESPONSE__RESULT_VERSION, &resp);
        if (rc != 0) return rc;
        if (resp->version->delete_marker) {
            hm__meta_response__free_unpacked(resp, NULL);
            return HM_ENOKEY;
        }
        rc = objsvc_check_manifest(resp->version);
        if (rc != 0) {
            hm_error("objsvc", req_id, "unreadable manifest for %s/%s: %s", bucket, key,
                     hm_err_name(rc));
            hm__meta_response__free_unpacked(resp, NULL);
            return rc;
        }
        g->resp = resp;
        g->v = resp->version;
        rc = objsvc_lease_take(g);
        if (rc != 0) {
            g->resp = NULL;
            g->v = NULL;
            hm__meta_response__free_unpacked(resp, NULL);
            return rc;
        }
        if (atomic_load(&svc->gc_checks) == before || attempt + 1 >= OBJSVC_LEASE_TRIES)
            return 0;
        objsvc_lease_drop(g);
        g->resp = NULL;
        g->v = NULL;
        hm__meta_response__free_unpacked(resp, NULL);
    }
}

int hm_objsvc_get_open(hm_objsvc *svc, const char *req_id, const char *bucket,
                       const char *key, hm_objsvc_get **out)
{
    hm_objsvc_get *g = calloc(1, sizeof(*g));
    if (g == NULL) return HM_ENOMEM;
    g->svc = svc;
    if (req_id != NULL) snprintf(g->req_id, sizeof(g->req_id), "%s", req_id);
    int rc = objsvc_get_lookup(g, req_id, bucket, key);
    if (rc != 0) {
        free(g);
        return rc;
    }
    g->pos = 0;
    g->end = g->v->size;
    *out = g;
    return 0;
}

const Hm__ObjectVersion *hm_objsvc_get_version(const hm_objsvc_get *g) { return g->v; }

int hm_objsvc_get_set_span(hm_objsvc_get *g, uint64_t off, uint64_t len)
{
    if (g->started || off > g->v->size || len > g->v->size - off) return HM_EINVAL;
    g->pos = off;
    g->end = off + len;
    return 0;
}

static void objsvc_get_close_shard(hm_objsvc_get *g)
{
    if (g->sg == NULL) return;
    hm_blob_reader_close(g->sg);
    g->sg = NULL;
}

static int objsvc_find_cb(void *ctx, const char *disk_id, hm_shard_api **out)
{
    return objsvc_disk_find(ctx, disk_id, out);
}

/* Open a reader on the blob holding object offset g->pos, up to g->end. */
static int objsvc_get_open_shard(hm_objsvc_get *g)
{
    uint64_t start = 0;
    size_t i = 0;
    for (; i < g->v->n_blobs; i++) {
        if (g->pos < start + g->v->blobs[i]->size) break;
        start += g->v->blobs[i]->size;
    }
    if (i == g->v->n_blobs) return HM_ECORRUPT;
    const Hm__Blob *b = g->v->blobs[i];
    uint64_t off = g->pos - start;
    uint64_t len = b->size - off;
    if (len > g->end - g->pos) len = g->end - g->pos;
    int rc = hm_blob_reader_open(b, off, len, objsvc_find_cb, g->svc, g->req_id, &g->sg);
    if (rc != 0) {
        g->sg = NULL;
        return rc;
    }
    g->sg_blob = i;
    g->sg_left = len;
    return 0;
}

int hm_objsvc_get_prepare(hm_objsvc_get *g)
{
    if (g->v->has_inline_data || g->sg != NULL || g->pos >= g->end) return 0;
    int rc = objsvc_get_open_shard(g);
    if (rc == 0) g->started = true;
    return rc;
}

int hm_objsvc_get_read(hm_objsvc_get *g, void *buf, size_t cap, size_t *got)
{
    g->started = true;
    *got = 0;
    if (g->pos >= g->end || cap == 0) return 0;
    uint64_t want = g->end - g->pos;
    if (cap > want) cap = (size_t)want;
    if (g->v->has_inline_data) {
        memcpy(buf, g->v->inline_data.data + g->pos, cap);
        g->pos += cap;
        *got = cap;
        return 0;
    }
    int rc;
    if (g->sg == NULL) {
        rc = objsvc_get_open_shard(g);
        if (rc != 0) return rc;
    }
    if (cap > g->sg_left) cap = (size_t)g->sg_left;
    size_t n = 0;
    rc = hm_blob_reader_read(g->sg, buf, cap, &n);
    if (rc != 0) return rc;
    if (n == 0 || n > cap) return HM_ECORRUPT; /* the shard ended early */
    g->sg_left -= n;
    g->pos += n;
    if (g->sg_left == 0) objsvc_get_close_shard(g);
    *got = n;
    return 0;
}

void hm_objsvc_get_close(hm_objsvc_get *g)
{
    if (g == NULL) return;
    objsvc_get_close_shard(g);
    objsvc_lease_drop(g);
    hm__meta_response__free_unpacked(g->resp, NULL);
    free(g);
}

/* ---- delete and list ------------------------------------------------------- */

int hm_objsvc_delete(hm_objsvc *svc, const char *req_id, const char *bucket,
                     const char *key)
{
    Hm__ObjectDelete od = HM__OBJECT_DELETE__INIT;
    od.bucket = (char *)bucket;
    od.key = (char *)key;
    od.has_now_ms = true;
    od.now_ms = hm_wall_ms(svc->cfg.env);
    od.has_gc_grace_ms = true;
    od.gc_grace_ms = svc->cfg.gc_grace_ms;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_OBJECT_DELETE;
    cmd.object_delete = &od;
    int rc = objsvc_command(svc, req_id, &cmd, NULL);
    return rc == HM_ENOKEY ? 0 : rc;
}

int hm_objsvc_list(hm_objsvc *svc, const char *req_id, const hm_objsvc_list_args *args,
                   Hm__MetaResponse **resp)
{
    if (args == NULL || args->bucket == NULL || args->max_keys > HM_LIST_KEYS_MAX)
        return HM_EINVAL;
    Hm__ObjectList ol = HM__OBJECT_LIST__INIT;
    ol.bucket = (char *)args->bucket;
    ol.prefix = (char *)args->prefix;
    ol.delimiter = (char *)args->delimiter;
    ol.start_after = (char *)args->start_after;
    ol.has_max_keys = true;
    ol.max_keys = args->max_keys;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_OBJECT_LIST;
    req.object_list = &ol;
    return objsvc_query(svc, req_id, &req, HM__META_RESPONSE__RESULT_LIST, resp);
}

/* ---- tagging and bucket CORS ------------------------------------------------- */

int hm_objsvc_set_tags(hm_objsvc *svc, const char *req_id, const char *bucket,
                       const char *key, const hm_objsvc_kv *tags, size_t count)
{
    if (bucket == NULL || key == NULL || count > HM_TAGS_MAX) return HM_EINVAL;
    Hm__KeyValue **kv = NULL;
    size_t bytes = 0;
    int rc = objsvc_kv_copy(tags, count, &kv, &bytes);
    if (rc != 0) return rc;
    Hm__ObjectSetTags st = HM__OBJECT_SET_TAGS__INIT;
    st.bucket = (char *)bucket;
    st.key = (char *)key;
    st.version_id = "null";
    st.n_tags = count;
    st.tags = kv;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_OBJECT_SET_TAGS;
    cmd.object_set_tags = &st;
    rc = objsvc_command(svc, req_id, &cmd, NULL);
    objsvc_kv_free(kv, count);
    return rc;
}

int hm_objsvc_bucket_set_cors(hm_objsvc *svc, const char *req_id, const char *bucket,
                              const char *cors_xml)
{
    if (bucket == NULL) return HM_EINVAL;
    if (cors_xml != NULL && strlen(cors_xml) > HM_HTTP_XML_BODY_BYTES_MAX) return HM_ETOOBIG;
    Hm__BucketSetCors sc = HM__BUCKET_SET_CORS__INIT;
    sc.name = (char *)bucket;
    sc.cors_xml = (char *)(cors_xml != NULL ? cors_xml : "");
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_BUCKET_SET_CORS;
    cmd.bucket_set_cors = &sc;
    return objsvc_command(svc, req_id, &cmd, NULL);
}

/* ---- garbage collection ---------------------------------------------------- */

/* Delete every shard of one gc item; true when all are gone. */
static bool objsvc_gc_item(hm_objsvc *svc, const Hm__GcItem *item, size_t *deleted)
{
    bool all = true;
    for (size_t b = 0; b < item->n_blobs; b++) {
        const Hm__Blob *blob = item->blobs[b];
        if (blob->blob_id.len != HM_BLOB_ID_BYTES) continue; /* nothing to delete */
        if (!svc->cfg.plant_gc_ignores_leases && objsvc_lease_held(svc, blob->blob_id.data)) {
            /* An open GET reads this blob: keep it, and the item, for a
             * later run. */
            hm_debug("objsvc", NULL, "gc: blob still being read, deferred");
            all = false;
            continue;
        }
        bool blob_done = true;
        for (size_t s = 0; s < blob->n_shards; s++) {
            const Hm__ShardRef *ref = blob->shards[s];
            hm_shard_api *api = NULL;
            int rc = objsvc_disk_find(svc, ref->disk_id, &api);
            if (rc == 0) rc = api->ops->del(api, blob->blob_id.data, ref->index);
            if (rc != 0 && rc != HM_ENOENT) {
                hm_warn("objsvc", NULL, "gc: shard %u on %s not deleted: %s", ref->index,
                        ref->disk_id != NULL ? ref->disk_id : "?", hm_err_name(rc));
                blob_done = false;
            }
        }
        if (blob_done) (*deleted)++;
        else all = false;
    }
    return all;
}

/* Expire the intents past their deadline: a write that crashed between its
 * IntentPut and the command retiring it, or whose IntentDelete was lost,
 * left one behind.  Each IntentDelete queues the intent's blobs for gc; a
 * write still in flight then gets HM_EINTENT and drops its shard.  Returns
 * the first metadata error, else 0. */
static int objsvc_gc_intents(hm_objsvc *svc)
{
    int rc = 0;
    for (unsigned round = 0; round < OBJSVC_GC_ROUNDS_MAX; round++) {
        int64_t now = hm_wall_ms(svc->cfg.env); /* a node with a committed clock uses that */
        Hm__IntentScan scan = HM__INTENT_SCAN__INIT;
        scan.has_now_ms = true;
        scan.now_ms = now;
        scan.has_max = true;
        scan.max = OBJSVC_GC_BATCH;
        Hm__MetaRequest req = HM__META_REQUEST__INIT;
        req.op_case = HM__META_REQUEST__OP_INTENT_SCAN;
        req.intent_scan = &scan;
        Hm__MetaResponse *resp = NULL;
        rc = objsvc_call(svc, NULL, &req, &resp);
        if (rc != 0) break;
        const Hm__IntentScanResult *is =
            resp->result_case == HM__META_RESPONSE__RESULT_INTENTS ? resp->intents : NULL;
        size_t n = is != NULL ? is->n_intent_ids : 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            Hm__IntentDelete id = HM__INTENT_DELETE__INIT;
            id.has_intent_id = true;
            id.intent_id = is->intent_ids[i];
            id.has_now_ms = true;
            id.now_ms = now;
            Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
            cmd.op_case = HM__META_COMMAND__OP_INTENT_DELETE;
            cmd.intent_delete = &id;
            rc = objsvc_command(svc, NULL, &cmd, NULL);
        }
        hm__meta_response__free_unpacked(resp, NULL);
        if (rc != 0) {
            hm_warn("objsvc", NULL, "gc: expiring intents: %s", hm_err_name(rc));
            break;
        }
        if (n < OBJSVC_GC_BATCH) break;
    }
    return rc;
}

/* Abort the multipart uploads older than mpu_expiry_ms (committed time):
 * each UploadAbort queues its parts' blobs for gc.  An upload completed or
 * aborted meanwhile answers HM_ENOUPLOAD, which is fine. */
static int objsvc_gc_uploads(hm_objsvc *svc)
{
    if (svc->cfg.mpu_expiry_ms < 0) return 0;
    int rc = 0;
    for (unsigned round = 0; round < OBJSVC_GC_ROUNDS_MAX; round++) {
        Hm__UploadExpiryScan scan = HM__UPLOAD_EXPIRY_SCAN__INIT;
        scan.has_now_ms = true;
        scan.now_ms = hm_wall_ms(svc->cfg.env); /* the node uses its committed clock */
        scan.has_older_than_ms = true;
        scan.older_than_ms = svc->cfg.mpu_expiry_ms;
        scan.has_max = true;
        scan.max = OBJSVC_GC_BATCH;
        Hm__MetaRequest req = HM__META_REQUEST__INIT;
        req.op_case = HM__META_REQUEST__OP_UPLOAD_EXPIRY_SCAN;
        req.upload_expiry_scan = &scan;
        Hm__MetaResponse *resp = NULL;
        rc = objsvc_query(svc, NULL, &req, HM__META_RESPONSE__RESULT_UPLOADS, &resp);
        if (rc != 0) break;
        const Hm__UploadListResult *ul = resp->uploads;
        size_t n = ul != NULL ? ul->n_uploads : 0;
        for (size_t i = 0; i < n && rc == 0; i++) {
            const Hm__UploadRecord *u = ul->uploads[i];
            Hm__UploadAbort a = HM__UPLOAD_ABORT__INIT;
            a.bucket = u->bucket;
            a.upload_id = u->upload_id;
            a.has_now_ms = true;
            a.now_ms = hm_wall_ms(svc->cfg.env);
            a.has_gc_grace_ms = true;
            a.gc_grace_ms = svc->cfg.gc_grace_ms;
            Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
            cmd.op_case = HM__META_COMMAND__OP_UPLOAD_ABORT;
            cmd.upload_abort = &a;
            rc = objsvc_command(svc, NULL, &cmd, NULL);
            if (rc == HM_ENOUPLOAD || rc == HM_ENOBUCKET) rc = 0;
            if (rc == 0)
                hm_info("objsvc", NULL, "gc: multipart upload %s of %s/%s expired",
                        u->upload_id != NULL ? u->upload_id : "?",
                        u->bucket != NULL ? u->bucket : "?", u->key != NULL ? u->key : "?");
        }
        hm__meta_response__free_unpacked(resp, NULL);
        if (rc != 0) {
            hm_warn("objsvc", NULL, "gc: expiring multipart uploads: %s", hm_err_name(rc));
            break;
        }
        if (n < OBJSVC_GC_BATCH) break;
    }
    return rc;
}

/* Take or renew the gc lease (one collector per store).  Renewed once half
 * of it has run, by this process's monotonic clock; the lease itself runs
 * in the metadata's committed clock, so a wall clock jump moves neither.
 * Two collectors for a moment (a renewal racing an expiry) are harmless:
 * every gc step is idempotent; the lease only keeps N gateways from doing
 * the same work N times. */
static int objsvc_gc_lease(hm_objsvc *svc)
{
    int64_t now = hm_mono_ms(svc->cfg.env);
    if (svc->gc_collector && now < svc->gc_renew_mono_ms) return 0;
    Hm__GcLease gl = HM__GC_LEASE__INIT;
    gl.has_holder = true;
    gl.holder.data = svc->gc_holder;
    gl.holder.len = sizeof(svc->gc_holder);
    gl.has_ttl_ms = true;
    gl.ttl_ms = svc->cfg.gc_lease_ms;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_GC_LEASE;
    cmd.gc_lease = &gl;
    int rc = objsvc_command(svc, NULL, &cmd, NULL);
    svc->gc_collector = rc == 0;
    if (rc == 0) svc->gc_renew_mono_ms = now + svc->cfg.gc_lease_ms / 2;
    return rc;
}

bool hm_objsvc_gc_is_collector(const hm_objsvc *svc) { return svc->gc_collector; }

static int objsvc_gc_run(hm_objsvc *svc, bool urgent, size_t *blobs_deleted);

int hm_objsvc_gc_run(hm_objsvc *svc, size_t *blobs_deleted)
{
    return objsvc_gc_run(svc, false, blobs_deleted);
}

int hm_objsvc_gc_run_urgent(hm_objsvc *svc, size_t *blobs_deleted)
{
    return objsvc_gc_run(svc, true, blobs_deleted);
}

/* urgent: take every queued blob, due or not (the scan's clock set past
 * every not_before). */
static int objsvc_gc_run(hm_objsvc *svc, bool urgent, size_t *blobs_deleted)
{
    size_t deleted = 0;
    if (blobs_deleted != NULL) *blobs_deleted = 0;
    int lease_rc = objsvc_gc_lease(svc);
    if (lease_rc == HM_EBUSY) return 0; /* another process collects */
    if (lease_rc != 0) return lease_rc;
    /* A failure here still lets the queued blobs be collected below. */
    int intents_rc = objsvc_gc_intents(svc);
    int uploads_rc = objsvc_gc_uploads(svc);
    if (intents_rc == 0) intents_rc = uploads_rc;
    int rc = 0;
    for (unsigned round = 0; round < OBJSVC_GC_ROUNDS_MAX; round++) {
        Hm__GcScan scan = HM__GC_SCAN__INIT;
        scan.has_now_ms = true;
        scan.now_ms = hm_wall_ms(svc->cfg.env);
        scan.has_all = urgent; /* short of space: due or not */
        scan.all = urgent;
        scan.has_max = true;
        scan.max = OBJSVC_GC_BATCH;
        Hm__MetaRequest req = HM__META_REQUEST__INIT;
        req.op_case = HM__META_REQUEST__OP_GC_SCAN;
        req.gc_scan = &scan;
        Hm__MetaResponse *resp = NULL;
        rc = objsvc_call(svc, NULL, &req, &resp);
        if (rc != 0) break;
        const Hm__GcScanResult *gc =
            resp->result_case == HM__META_RESPONSE__RESULT_GC ? resp->gc : NULL;
        if (gc == NULL || gc->n_gc_keys == 0 || gc->n_gc_keys != gc->n_items) {
            if (gc != NULL && gc->n_gc_keys != gc->n_items) rc = HM_EPROTO;
            hm__meta_response__free_unpacked(resp, NULL);
            break;
        }
        size_t n = gc->n_gc_keys;
        ProtobufCBinaryData *done = calloc(n, sizeof(*done));
        if (done == NULL) {
            hm__meta_response__free_unpacked(resp, NULL);
            rc = HM_ENOMEM;
            break;
        }
        size_t n_done = 0;
        for (size_t i = 0; i < n; i++)
            if (objsvc_gc_item(svc, gc->items[i], &deleted)) done[n_done++] = gc->gc_keys[i];
        if (n_done > 0) {
            Hm__GcDone gd = HM__GC_DONE__INIT;
            gd.n_gc_keys = n_done;
            gd.gc_keys = done;
            Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
            cmd.op_case = HM__META_COMMAND__OP_GC_DONE;
            cmd.gc_done = &gd;
            rc = objsvc_command(svc, NULL, &cmd, NULL);
        }
        free(done);
        hm__meta_response__free_unpacked(resp, NULL);
        /* Another round only when this one was full and fully done: items
         * that failed would come back and spin. */
        if (rc != 0 || n < OBJSVC_GC_BATCH || n_done < n) break;
    }
    if (blobs_deleted != NULL) *blobs_deleted = deleted;
    return intents_rc != 0 ? intents_rc : rc;
}
