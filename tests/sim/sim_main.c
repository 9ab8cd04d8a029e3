/* sim_main.c - hamster-sim: the seeded single-node simulation.
 *
 * One seed drives everything: the workload, the fault schedule, the
 * network's losses, the env's random bytes and the crash choices, each
 * from its own stream of the seed (so a run of M steps is a prefix of the
 * run of M + 1 steps, which is what shrinking relies on).  The metadata
 * node, one or two shard stores and the object service run on sim_env
 * behind sim_net; a reference model of what was acknowledged is checked
 * after every step, after every restart and at the end, after a final
 * power loss.
 *
 * The decision that shaped it: the model never guesses.  An outcome the
 * client cannot know (a lost reply, a disk error in the middle of a
 * commit) becomes a set of candidate states for the key or bucket, and
 * the simulator asks the store itself, over a fault-free path, which one
 * it holds; any answer outside the set is a failure.  A disk or internal
 * error leaves its candidate as a "phantom" that may still surface after
 * the next crash (a log record whose fsync failed may survive), and the
 * sweep after every restart settles it.
 *
 * Concurrency: up to SIM_INFLIGHT_MAX client operations are in flight; each
 * is a small state machine over object-service calls (a PUT is begin,
 * write*, finish; a GET is open, read*, close) and the scheduler picks which
 * one takes its next call.  Each call runs to completion (the roles'
 * internals are not interleaved); see docs/simulation.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_meta_node.h"
#include "hm_objsvc.h"
#include "hm_shard_store.h"
#include "sim_env.h"
#include "sim_net.h"

#define SIM_BUCKETS 3
#define SIM_KEYS 12
#define SIM_CANDS_MAX 12
#define SIM_INFLIGHT_MAX 3
#define SIM_DISKS_MAX 2
#define SIM_ROTTED_MAX 256
#define SIM_MSG_BYTES 512
#define SIM_CHUNK_BYTES_MAX (256u << 10)
#define SIM_STEPS_MAX 1000000u
#define SIM_SEEDS_MAX 64
#define SIM_GC_GRACE_MS (10ll * 60 * 1000)
#define SIM_INTENT_TTL_MS (60ll * 60 * 1000)

static const char *const sim_bucket_names[SIM_BUCKETS] = {"sim-a", "sim-b", "sim-c"};
static const char *const sim_keys[SIM_KEYS] = {
    "a", "a/b", "a/c/d", "a/c/e", "b", "b/x", "dir/1", "dir/2", "dir/sub/3",
    "k\xc3\xa9", "z", "z/",
};
static const char *const sim_prefixes[] = {"", "a", "a/", "a/c/", "b", "dir/", "dir/sub", "k", "z", "q"};
static const uint64_t sim_sizes[] = {
    0, 1, 100, HM_INLINE_BYTES_MAX, HM_INLINE_BYTES_MAX + 1, HM_SHARD_BLOCK_BYTES - 1,
    HM_SHARD_BLOCK_BYTES, HM_SHARD_BLOCK_BYTES + 1, 300000, HM_STRIPE_BYTES,
    HM_STRIPE_BYTES + 1, 3 * HM_STRIPE_BYTES + 5,
};
#define SIM_NSIZES (sizeof(sim_sizes) / sizeof(sim_sizes[0]))

/* ---- options --------------------------------------------------------------- */

enum sim_level { SIM_FAULTS_NONE, SIM_FAULTS_LIGHT, SIM_FAULTS_HEAVY };

typedef struct sim_opts {
    uint64_t seed;
    uint32_t steps;
    enum sim_level faults;
    bool plant_ack_before_sync;
    bool trace;
    bool quiet; /* no per-run summary (shrinking reruns) */
    size_t disks;
} sim_opts;

/* ---- reference model ------------------------------------------------------ */

/* One possible state of a key (or of a bucket: present or not). */
typedef struct sim_ver {
    bool present;
    bool phantom;   /* may surface after the next crash only */
    char etag[HM_OBJSVC_ETAG_HEX_BYTES + 1];
    uint64_t size;
    uint32_t tag;   /* user metadata "t" */
} sim_ver;

typedef struct sim_cands {
    sim_ver v[SIM_CANDS_MAX];
    size_t n;
} sim_cands;

typedef struct sim_model {
    sim_cands bucket[SIM_BUCKETS];
    sim_cands key[SIM_BUCKETS][SIM_KEYS];
} sim_model;

/* ---- in-flight client operations -------------------------------------------- */

enum sim_op_kind { SIM_OP_PUT, SIM_OP_GET };

typedef struct sim_op {
    bool live;
    enum sim_op_kind kind;
    int b, k;
    uint64_t id;
    /* put */
    hm_objsvc_put *put;
    uint64_t size, written, content_seed;
    sim_ver ver;
    bool bad_md5, short_body;
    /* get */
    hm_objsvc_get *get;
    uint64_t read;
    char want_etag[HM_OBJSVC_ETAG_HEX_BYTES + 1];
    uint64_t want_size;
    bool rotted;
    EVP_MD_CTX *md5;
} sim_op;

/* ---- one run ---------------------------------------------------------------- */

typedef struct sim_run {
    sim_opts o;
    sim_world *w;
    hm_env *env;
    sim_net *net;
    sim_rng rng_work;  /* workload */
    sim_rng rng_fault; /* fault schedule */
    hm_meta_node *meta;
    hm_meta_api *meta_local;
    hm_shard_store *disk[SIM_DISKS_MAX];
    hm_shard_api *disk_local[SIM_DISKS_MAX];
    hm_shard_api *wrapped[SIM_DISKS_MAX]; /* the services borrow these arrays */
    hm_shard_api *direct[SIM_DISKS_MAX];
    hm_objsvc *svc;   /* the client's: through the network */
    hm_objsvc *check; /* the checker's: straight to the roles */
    sim_model m;
    sim_op ops[SIM_INFLIGHT_MAX];
    uint64_t next_op_id;
    char rotted[SIM_ROTTED_MAX][2 * HM_BLOB_ID_BYTES + 1];
    size_t nrotted;
    uint64_t faults_seen;
    uint32_t restart_due; /* step at which a poisoned node restarts; 0 none */
    uint32_t heal_due[1 + SIM_DISKS_MAX];
    uint64_t hash;
    uint32_t step;
    bool failed;
    char msg[SIM_MSG_BYTES];
    uint8_t *buf;     /* SIM_CHUNK_BYTES_MAX scratch */
    struct {
        uint64_t puts_ok, puts_err, gets_ok, gets_err, deletes, lists, restarts,
            flips, ambiguous, resolved, sweeps;
    } st;
} sim_run;

static void sim_fail(sim_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sim_fail(sim_run *r, const char *fmt, ...)
{
    if (r->failed) return;
    r->failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
    va_end(ap);
}

static void sim_hash(sim_run *r, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        r->hash ^= b[i];
        r->hash *= 0x100000001b3ull;
    }
}

/* Record one event: what, on which bucket/key, its result, the time. */
static void sim_event(sim_run *r, const char *what, int b, int k, int64_t a, int rc)
{
    int64_t now = sim_world_now_ms(r->w);
    sim_hash(r, what, strlen(what));
    int64_t v[5] = {b, k, a, rc, now};
    sim_hash(r, v, sizeof(v));
    if (r->o.trace)
        printf("[%6u t=%" PRId64 "] %-14s b=%d k=%d a=%" PRId64 " rc=%s\n", r->step, now, what,
               b, k, a, rc == 0 ? "ok" : hm_err_name(rc));
}

/* ---- content ---------------------------------------------------------------- */

/* Byte i of an object is a pure function of (seed, i), so any chunking of
 * the body gives the same bytes. */
static void sim_content(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint64_t pos = off + i;
        uint64_t x = seed ^ ((pos >> 3) * 0x9e3779b97f4a7c15ull);
        x ^= x >> 31;
        x *= 0xbf58476d1ce4e5b9ull;
        x ^= x >> 29;
        buf[i] = (uint8_t)(x >> (8 * (pos & 7)));
    }
}

static void sim_hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static void sim_content_md5(sim_run *r, uint64_t seed, uint64_t size, uint8_t md5[16])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_md5(), NULL);
    for (uint64_t off = 0; off < size;) {
        size_t n = size - off < SIM_CHUNK_BYTES_MAX ? (size_t)(size - off) : SIM_CHUNK_BYTES_MAX;
        sim_content(seed, off, r->buf, n);
        EVP_DigestUpdate(c, r->buf, n);
        off += n;
    }
    unsigned int len = 16;
    EVP_DigestFinal_ex(c, md5, &len);
    EVP_MD_CTX_free(c);
}

/* ---- candidate sets ------------------------------------------------------------ */

static bool sim_ver_eq(const sim_ver *a, const sim_ver *b)
{
    if (a->present != b->present) return false;
    if (!a->present) return true;
    return a->size == b->size && a->tag == b->tag && strcmp(a->etag, b->etag) == 0;
}

static void sim_ver_str(const sim_ver *v, char *out, size_t cap)
{
    if (!v->present) snprintf(out, cap, "absent");
    else if (v->etag[0] == '\0') snprintf(out, cap, "present");
    else snprintf(out, cap, "etag=%.8s size=%" PRIu64 " t=%u%s", v->etag, v->size, v->tag,
                  v->phantom ? " (phantom)" : "");
}

static void sim_cands_str(const sim_cands *c, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < c->n && len + 1 < cap; i++) {
        char one[96];
        sim_ver_str(&c->v[i], one, sizeof(one));
        len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? " | " : "{", one);
    }
    if (len + 2 < cap) snprintf(out + len, cap - len, "}");
}

/* The outcome is known: exactly v. */
static void sim_cands_set(sim_cands *c, const sim_ver *v)
{
    c->v[0] = *v;
    c->v[0].phantom = false;
    c->n = 1;
}

/* The outcome is unknown: v may hold as well (phantom: only after a crash). */
static void sim_cands_add(sim_run *r, sim_cands *c, const sim_ver *v, bool phantom)
{
    for (size_t i = 0; i < c->n; i++) {
        if (sim_ver_eq(&c->v[i], v)) {
            if (!phantom) c->v[i].phantom = false;
            return;
        }
    }
    if (c->n == SIM_CANDS_MAX) {
        sim_fail(r, "model: more than %d unresolved outcomes for one name", SIM_CANDS_MAX);
        return;
    }
    c->v[c->n] = *v;
    c->v[c->n].phantom = phantom;
    c->n++;
}

/* The store showed v (after_crash: phantoms may show too, and are settled).
 * Fails the run when v is not a candidate. */
static bool sim_cands_observe(sim_run *r, sim_cands *c, const sim_ver *v, bool after_crash,
                              const char *what)
{
    size_t hit = SIZE_MAX;
    for (size_t i = 0; i < c->n; i++) {
        if (!sim_ver_eq(&c->v[i], v)) continue;
        if (c->v[i].phantom && !after_crash) continue;
        hit = i;
        break;
    }
    if (hit == SIZE_MAX) {
        char got[96], want[SIM_MSG_BYTES / 2];
        sim_ver_str(v, got, sizeof(got));
        sim_cands_str(c, want, sizeof(want));
        sim_fail(r, "%s: store shows %s, model allows %s", what, got, want);
        return false;
    }
    sim_ver keep[SIM_CANDS_MAX];
    size_t n = 0;
    keep[n] = c->v[hit];
    keep[n++].phantom = false;
    if (!after_crash)
        for (size_t i = 0; i < c->n; i++)
            if (i != hit && c->v[i].phantom) keep[n++] = c->v[i];
    memcpy(c->v, keep, n * sizeof(keep[0]));
    c->n = n;
    return true;
}

/* Present for sure / possibly (ignoring phantoms unless after a crash). */
static bool sim_cands_surely(const sim_cands *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (!c->v[i].phantom && !c->v[i].present) return false;
    return c->n > 0;
}

static bool sim_cands_maybe(const sim_cands *c)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].present && !c->v[i].phantom) return true;
    return false;
}

static const sim_ver sim_absent = {false, false, "", 0, 0};
static const sim_ver sim_present_bucket = {true, false, "", 0, 0};

enum sim_outcome { SIM_OUT_OK, SIM_OUT_NO, SIM_OUT_MAYBE, SIM_OUT_PHANTOM };

/* What an error tells the client about whether its mutation was applied. */
static enum sim_outcome sim_classify(int rc)
{
    switch (rc) {
    case 0: return SIM_OUT_OK;
    case HM_ETIMEDOUT: case HM_ECONN: return SIM_OUT_MAYBE;
    case HM_EIO: case HM_ENOSPC: case HM_EPOISONED: case HM_EINTERNAL: case HM_EUNAVAIL:
    case HM_ECLOSED: case HM_ENOMEM:
        return SIM_OUT_PHANTOM;
    default: return SIM_OUT_NO;
    }
}

/* A bucket's absence settles its keys: all gone. */
static void sim_bucket_gone(sim_run *r, int b)
{
    for (int k = 0; k < SIM_KEYS; k++) sim_cands_set(&r->m.key[b][k], &sim_absent);
}

/* ---- roles ------------------------------------------------------------------ */

static void sim_disk_dir(size_t i, char *out, size_t cap) { snprintf(out, cap, "/sim/disk%zu", i); }

static int sim_roles_open(sim_run *r)
{
    int rc = hm_meta_node_open(&r->meta, r->env, "/sim/meta");
    if (rc != 0) return rc;
    rc = hm_meta_api_local_new(&r->meta_local, r->meta);
    if (rc != 0) return rc;
    sim_net_attach_meta(r->net, r->meta_local);
    hm_shard_api **wrapped = r->wrapped, **direct = r->direct;
    for (size_t i = 0; i < r->o.disks; i++) {
        char dir[64];
        sim_disk_dir(i, dir, sizeof(dir));
        rc = hm_shard_store_open(&r->disk[i], r->env, dir);
        if (rc != 0) return rc;
        rc = hm_shard_api_local_new(&r->disk_local[i], r->disk[i]);
        if (rc != 0) return rc;
        sim_net_attach_shard(r->net, i, r->disk_local[i]);
        wrapped[i] = sim_net_shard(r->net, i);
        direct[i] = r->disk_local[i];
    }
    hm_objsvc_config cfg = {
        .env = r->env,
        .meta = sim_net_meta(r->net),
        .shards = wrapped,
        .shard_count = r->o.disks,
        .gc_grace_ms = SIM_GC_GRACE_MS,
        .intent_ttl_ms = SIM_INTENT_TTL_MS,
    };
    rc = hm_objsvc_new(&r->svc, &cfg);
    if (rc != 0) return rc;
    cfg.meta = r->meta_local;
    cfg.shards = direct;
    return hm_objsvc_new(&r->check, &cfg);
}

static void sim_op_drop(sim_op *op)
{
    if (op->put != NULL) hm_objsvc_put_abort(op->put);
    if (op->get != NULL) hm_objsvc_get_close(op->get);
    if (op->md5 != NULL) EVP_MD_CTX_free(op->md5);
    memset(op, 0, sizeof(*op));
}

/* Close everything.  With the world frozen first this is a crash: the
 * roles' last writes are refused and only memory is reclaimed. */
static void sim_roles_close(sim_run *r)
{
    for (size_t e = 0; e <= r->o.disks; e++) sim_net_detach(r->net, e);
    for (int i = 0; i < SIM_INFLIGHT_MAX; i++)
        if (r->ops[i].live) sim_op_drop(&r->ops[i]);
    hm_objsvc_free(r->svc);
    hm_objsvc_free(r->check);
    r->svc = r->check = NULL;
    for (size_t i = 0; i < r->o.disks; i++) {
        if (r->disk_local[i] != NULL) r->disk_local[i]->ops->free(r->disk_local[i]);
        if (r->disk[i] != NULL) hm_shard_store_close(r->disk[i]);
        r->disk_local[i] = NULL;
        r->disk[i] = NULL;
    }
    if (r->meta_local != NULL) r->meta_local->ops->free(r->meta_local);
    if (r->meta != NULL) hm_meta_node_close(r->meta);
    r->meta_local = NULL;
    r->meta = NULL;
}

static void sim_sweep(sim_run *r, bool after_crash);

enum sim_crash_kind { SIM_KILL = 0, SIM_POWER_CLEAN, SIM_POWER_TORN };

/* Crash the node (every role and the gateway: one process, one machine)
 * and start it again on the same disk. */
static void sim_restart(sim_run *r, enum sim_crash_kind kind)
{
    static const char *const names[] = {"kill", "power-loss", "power-loss-torn"};
    sim_event(r, names[kind], -1, -1, 0, 0);
    r->st.restarts++;
    sim_world_freeze(r->w);
    sim_roles_close(r);
    /* A killed process leaves its unsynced writes to the page cache; a
     * power loss takes them. */
    if (kind == SIM_KILL) sim_world_thaw(r->w);
    else sim_world_crash(r->w, kind == SIM_POWER_TORN ? SIM_CRASH_TORN : SIM_CRASH_CLEAN);
    for (size_t e = 0; e <= r->o.disks; e++) {
        sim_net_partition(r->net, e, false);
        r->heal_due[e] = 0;
    }
    r->restart_due = 0;
    r->faults_seen = sim_fault_fired(r->w);
    int rc = sim_roles_open(r);
    if (rc != 0) {
        sim_fail(r, "restart after %s: a role failed to open: %s", names[kind], hm_err_name(rc));
        return;
    }
    sim_sweep(r, true);
}

/* ---- reading through the checker --------------------------------------------- */

static bool sim_is_rotted(sim_run *r, const Hm__ObjectVersion *v)
{
    for (size_t i = 0; i < v->n_blobs; i++) {
        const Hm__Blob *b = v->blobs[i];
        if (b->blob_id.len != HM_BLOB_ID_BYTES) continue;
        char hex[2 * HM_BLOB_ID_BYTES + 1];
        sim_hex(b->blob_id.data, HM_BLOB_ID_BYTES, hex);
        for (size_t j = 0; j < r->nrotted; j++)
            if (strcmp(r->rotted[j], hex) == 0) return true;
    }
    return false;
}

static void sim_ver_from(const Hm__ObjectVersion *v, sim_ver *out)
{
    memset(out, 0, sizeof(*out));
    out->present = true;
    out->size = v->size;
    snprintf(out->etag, sizeof(out->etag), "%s", v->etag != NULL ? v->etag : "");
    for (size_t i = 0; i < v->n_user_meta; i++)
        if (v->user_meta[i]->key != NULL && strcmp(v->user_meta[i]->key, "t") == 0 &&
            v->user_meta[i]->value != NULL)
            out->tag = (uint32_t)strtoul(v->user_meta[i]->value, NULL, 10);
}

/* Read the rest of g into md5, checking the length; 0, or the read error. */
static int sim_drain(sim_run *r, hm_objsvc_get *g, EVP_MD_CTX *md5, uint64_t *total)
{
    for (;;) {
        size_t got = 0;
        int rc = hm_objsvc_get_read(g, r->buf, SIM_CHUNK_BYTES_MAX, &got);
        if (rc != 0) return rc;
        if (got == 0) return 0;
        EVP_DigestUpdate(md5, r->buf, got);
        *total += got;
    }
}

/* Ask the store (fault-free path) what key k of bucket b holds, compare
 * with the model and settle it.  full: read and hash the bytes too.
 * Returns false when the store could not answer (the key stays open). */
static bool sim_probe_key(sim_run *r, int b, int k, bool full, bool after_crash)
{
    hm_objsvc_get *g = NULL;
    char what[160];
    snprintf(what, sizeof(what), "%s/%s", sim_bucket_names[b], sim_keys[k]);
    int rc = hm_objsvc_get_open(r->check, "sim-check", sim_bucket_names[b], sim_keys[k], &g);
    if (rc == HM_ENOKEY || rc == HM_ENOBUCKET) {
        if (rc == HM_ENOBUCKET &&
            !sim_cands_observe(r, &r->m.bucket[b], &sim_absent, after_crash, sim_bucket_names[b]))
            return true;
        return sim_cands_observe(r, &r->m.key[b][k], &sim_absent, after_crash, what), true;
    }
    if (rc != 0) return false;
    sim_ver v;
    const Hm__ObjectVersion *ov = hm_objsvc_get_version(g);
    sim_ver_from(ov, &v);
    bool ok = sim_cands_observe(r, &r->m.key[b][k], &v, after_crash, what);
    (void)sim_cands_observe(r, &r->m.bucket[b], &sim_present_bucket, after_crash,
                            sim_bucket_names[b]);
    if (ok && full) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        EVP_DigestInit_ex(c, EVP_md5(), NULL);
        uint64_t total = 0;
        rc = sim_drain(r, g, c, &total);
        uint8_t md[16];
        unsigned int len = 16;
        EVP_DigestFinal_ex(c, md, &len);
        EVP_MD_CTX_free(c);
        char hex[33];
        sim_hex(md, 16, hex);
        if (rc == HM_ECORRUPT && sim_is_rotted(r, ov)) {
            /* 1+0: rot at rest is detected, not repairable: a clean error. */
        } else if (rc != 0) {
            sim_fail(r, "%s: read of an acknowledged object failed: %s", what, hm_err_name(rc));
        } else if (total != v.size || strcmp(hex, v.etag) != 0) {
            sim_fail(r, "%s: read %" PRIu64 " bytes md5 %s, version says %" PRIu64 " bytes %s",
                     what, total, hex, v.size, v.etag);
        }
    }
    hm_objsvc_get_close(g);
    return true;
}

static bool sim_probe_bucket(sim_run *r, int b, bool after_crash)
{
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_bucket_get(r->check, "sim-check", sim_bucket_names[b], &resp);
    if (rc == 0) {
        hm__meta_response__free_unpacked(resp, NULL);
        sim_cands_observe(r, &r->m.bucket[b], &sim_present_bucket, after_crash,
                          sim_bucket_names[b]);
        return true;
    }
    if (rc == HM_ENOBUCKET) {
        if (sim_cands_observe(r, &r->m.bucket[b], &sim_absent, after_crash, sim_bucket_names[b]))
            sim_bucket_gone(r, b);
        return true;
    }
    return false;
}

static int sim_key_index(const char *key)
{
    for (int k = 0; k < SIM_KEYS; k++)
        if (strcmp(sim_keys[k], key) == 0) return k;
    return -1;
}

/* Every bucket and key, with the bytes: the store must equal the model. */
static void sim_sweep(sim_run *r, bool after_crash)
{
    r->st.sweeps++;
    for (int b = 0; b < SIM_BUCKETS && !r->failed; b++) {
        if (!sim_probe_bucket(r, b, after_crash)) {
            /* A fresh node must answer; a running one may be down for a
             * disk fault it has not been restarted for yet. */
            if (after_crash)
                sim_fail(r, "sweep: bucket %s: the store did not answer", sim_bucket_names[b]);
            sim_event(r, "sweep_skipped", b, -1, 0, 0);
            return;
        }
        if (!sim_cands_surely(&r->m.bucket[b])) continue;
        /* Nothing may be listed that the model does not know. */
        hm_objsvc_list_args la = {.bucket = sim_bucket_names[b], .max_keys = HM_LIST_KEYS_MAX};
        Hm__MetaResponse *resp = NULL;
        int rc = hm_objsvc_list(r->check, "sim-check", &la, &resp);
        if (rc != 0 && !after_crash && sim_classify(rc) != SIM_OUT_NO) return;
        if (rc != 0) {
            sim_fail(r, "sweep: list %s: %s", sim_bucket_names[b], hm_err_name(rc));
            return;
        }
        for (size_t i = 0; i < resp->list->n_entries; i++) {
            const char *key = resp->list->entries[i]->key;
            if (key == NULL || sim_key_index(key) < 0)
                sim_fail(r, "sweep: %s lists unknown key '%s'", sim_bucket_names[b],
                         key != NULL ? key : "(null)");
        }
        hm__meta_response__free_unpacked(resp, NULL);
        for (int k = 0; k < SIM_KEYS && !r->failed; k++)
            if (!sim_probe_key(r, b, k, true, after_crash) && after_crash)
                sim_fail(r, "sweep: %s/%s: the store did not answer", sim_bucket_names[b],
                         sim_keys[k]);
    }
    sim_event(r, "sweep", -1, -1, after_crash, r->failed ? -1 : 0);
}

/* ---- workload ------------------------------------------------------------------ */

/* Mostly a bucket the model knows exists, so most work reaches objects;
 * sometimes any bucket, so missing buckets are exercised too. */
static int sim_pick_bucket(sim_run *r)
{
    int have[SIM_BUCKETS], n = 0;
    for (int b = 0; b < SIM_BUCKETS; b++)
        if (sim_cands_surely(&r->m.bucket[b])) have[n++] = b;
    if (n > 0 && sim_rng_chance(&r->rng_work, 900))
        return have[sim_rng_below(&r->rng_work, (uint64_t)n)];
    return (int)sim_rng_below(&r->rng_work, SIM_BUCKETS);
}

static sim_op *sim_op_slot(sim_run *r)
{
    for (int i = 0; i < SIM_INFLIGHT_MAX; i++)
        if (!r->ops[i].live) return &r->ops[i];
    return NULL;
}

/* A mutation with outcome out on key (b, k) that would make it v. */
static void sim_key_outcome(sim_run *r, int b, int k, const sim_ver *v, int rc)
{
    sim_cands *c = &r->m.key[b][k];
    switch (sim_classify(rc)) {
    case SIM_OUT_OK:
        sim_cands_set(c, v);
        sim_cands_set(&r->m.bucket[b], &sim_present_bucket);
        break;
    case SIM_OUT_NO:
        break;
    case SIM_OUT_MAYBE:
    case SIM_OUT_PHANTOM:
        r->st.ambiguous++;
        sim_cands_add(r, c, v, sim_classify(rc) == SIM_OUT_PHANTOM);
        if (sim_probe_key(r, b, k, false, false)) r->st.resolved++;
        break;
    }
}

static void sim_put_start(sim_run *r, sim_op *op)
{
    op->kind = SIM_OP_PUT;
    op->id = r->next_op_id++;
    op->b = sim_pick_bucket(r);
    op->k = (int)sim_rng_below(&r->rng_work, SIM_KEYS);
    op->size = sim_sizes[sim_rng_below(&r->rng_work, SIM_NSIZES)];
    op->content_seed = sim_rng_next(&r->rng_work);
    op->bad_md5 = sim_rng_chance(&r->rng_work, 20);
    op->short_body = !op->bad_md5 && op->size > 0 && sim_rng_chance(&r->rng_work, 10);
    op->ver.present = true;
    op->ver.size = op->size;
    op->ver.tag = (uint32_t)sim_rng_below(&r->rng_work, 1000000);
    uint8_t md5[16];
    sim_content_md5(r, op->content_seed, op->size, md5);
    sim_hex(md5, 16, op->ver.etag);
    if (op->bad_md5) md5[0] ^= 1;
    char tag[16];
    snprintf(tag, sizeof(tag), "%u", op->ver.tag);
    hm_objsvc_kv meta = {"t", tag};
    hm_objsvc_put_args a = {
        .bucket = sim_bucket_names[op->b],
        .key = sim_keys[op->k],
        .size = op->size,
        .content_type = "application/octet-stream",
        .user_meta = &meta,
        .user_meta_count = 1,
        .content_md5 = (op->bad_md5 || sim_rng_chance(&r->rng_work, 300)) ? md5 : NULL,
    };
    int rc = hm_objsvc_put_begin(r->svc, NULL, &a, &op->put);
    sim_event(r, "put_begin", op->b, op->k, (int64_t)op->size, rc);
    if (rc != 0) {
        op->put = NULL;
        r->st.puts_err++;
        /* begin may have committed an intent, never a version. */
        return;
    }
    op->live = true;
}

static void sim_put_step(sim_run *r, sim_op *op)
{
    uint64_t body = op->short_body ? op->size - 1 : op->size;
    if (op->written < body) {
        uint64_t left = body - op->written;
        size_t n = 1 + (size_t)sim_rng_below(&r->rng_work, SIM_CHUNK_BYTES_MAX);
        if (n > left) n = (size_t)left;
        sim_content(op->content_seed, op->written, r->buf, n);
        int rc = hm_objsvc_put_write(op->put, r->buf, n);
        sim_event(r, "put_write", op->b, op->k, (int64_t)n, rc);
        op->written += n;
        if (rc != 0) {
            hm_objsvc_put_abort(op->put);
            op->put = NULL;
            r->st.puts_err++;
            sim_op_drop(op);
        }
        return;
    }
    char etag[HM_OBJSVC_ETAG_HEX_BYTES + 1] = "";
    enum hm_objsvc_fault fault = HM_OBJSVC_FAULT_NONE;
    int rc = hm_objsvc_put_finish(op->put, etag, &fault);
    op->put = NULL;
    sim_event(r, "put_finish", op->b, op->k, (int64_t)op->size, rc);
    if (op->bad_md5 && rc == 0)
        sim_fail(r, "put %s/%s with a wrong Content-MD5 was acknowledged",
                 sim_bucket_names[op->b], sim_keys[op->k]);
    else if (op->short_body && rc == 0)
        sim_fail(r, "put %s/%s with a short body was acknowledged", sim_bucket_names[op->b],
                 sim_keys[op->k]);
    else if (rc == 0 && strcmp(etag, op->ver.etag) != 0)
        sim_fail(r, "put %s/%s: etag %s, body md5 %s", sim_bucket_names[op->b],
                 sim_keys[op->k], etag, op->ver.etag);
    if (rc == 0) r->st.puts_ok++;
    else r->st.puts_err++;
    if (!op->bad_md5 && !op->short_body) sim_key_outcome(r, op->b, op->k, &op->ver, rc);
    else if (rc != 0 && sim_probe_key(r, op->b, op->k, false, false)) r->st.resolved++;
    sim_op_drop(op);
}

static void sim_get_start(sim_run *r, sim_op *op)
{
    op->kind = SIM_OP_GET;
    op->id = r->next_op_id++;
    op->b = sim_pick_bucket(r);
    op->k = (int)sim_rng_below(&r->rng_work, SIM_KEYS);
    char what[160];
    snprintf(what, sizeof(what), "get %s/%s", sim_bucket_names[op->b], sim_keys[op->k]);
    int rc = hm_objsvc_get_open(r->svc, NULL, sim_bucket_names[op->b], sim_keys[op->k], &op->get);
    sim_event(r, "get_open", op->b, op->k, 0, rc);
    if (rc == HM_ENOKEY) {
        sim_cands_observe(r, &r->m.key[op->b][op->k], &sim_absent, false, what);
        return;
    }
    if (rc == HM_ENOBUCKET) {
        if (sim_cands_observe(r, &r->m.bucket[op->b], &sim_absent, false, what))
            sim_bucket_gone(r, op->b);
        return;
    }
    if (rc != 0) {
        op->get = NULL;
        r->st.gets_err++;
        if (sim_classify(rc) == SIM_OUT_NO)
            sim_fail(r, "%s: open failed: %s", what, hm_err_name(rc));
        return;
    }
    const Hm__ObjectVersion *ov = hm_objsvc_get_version(op->get);
    sim_ver v;
    sim_ver_from(ov, &v);
    sim_cands_observe(r, &r->m.key[op->b][op->k], &v, false, what);
    snprintf(op->want_etag, sizeof(op->want_etag), "%s", v.etag);
    op->want_size = v.size;
    op->md5 = EVP_MD_CTX_new();
    EVP_DigestInit_ex(op->md5, EVP_md5(), NULL);
    op->live = true;
}

static void sim_get_step(sim_run *r, sim_op *op)
{
    size_t cap = 1 + (size_t)sim_rng_below(&r->rng_work, SIM_CHUNK_BYTES_MAX);
    size_t got = 0;
    int rc = hm_objsvc_get_read(op->get, r->buf, cap, &got);
    sim_event(r, "get_read", op->b, op->k, (int64_t)got, rc);
    char what[160];
    snprintf(what, sizeof(what), "get %s/%s", sim_bucket_names[op->b], sim_keys[op->k]);
    if (rc != 0) {
        r->st.gets_err++;
        const Hm__ObjectVersion *ov = hm_objsvc_get_version(op->get);
        bool clean = sim_classify(rc) != SIM_OUT_NO ||
                     (rc == HM_ECORRUPT && sim_is_rotted(r, ov));
        if (!clean)
            sim_fail(r, "%s: read at %" PRIu64 " failed: %s", what, op->read, hm_err_name(rc));
        sim_op_drop(op);
        return;
    }
    if (got > 0) {
        EVP_DigestUpdate(op->md5, r->buf, got);
        op->read += got;
        if (op->read > op->want_size) sim_fail(r, "%s: more bytes than the version holds", what);
        return;
    }
    uint8_t md[16];
    unsigned int len = 16;
    EVP_DigestFinal_ex(op->md5, md, &len);
    char hex[33];
    sim_hex(md, 16, hex);
    if (op->read != op->want_size || strcmp(hex, op->want_etag) != 0)
        sim_fail(r, "%s: got %" PRIu64 " bytes md5 %s, want %" PRIu64 " bytes %s", what,
                 op->read, hex, op->want_size, op->want_etag);
    r->st.gets_ok++;
    sim_op_drop(op);
}

/* A listing with random prefix, delimiter and max_keys must agree with the
 * model: nothing that cannot exist, nothing skipped that surely exists. */
static void sim_list(sim_run *r)
{
    int b = sim_pick_bucket(r);
    const char *prefix = sim_prefixes[sim_rng_below(&r->rng_work, sizeof(sim_prefixes) / sizeof(sim_prefixes[0]))];
    const char *delim = sim_rng_chance(&r->rng_work, 500) ? "/" : NULL;
    uint32_t max_keys = (uint32_t)sim_rng_below(&r->rng_work, 6);
    if (sim_rng_chance(&r->rng_work, 300)) max_keys = HM_LIST_KEYS_MAX;
    hm_objsvc_list_args la = {.bucket = sim_bucket_names[b], .prefix = prefix[0] ? prefix : NULL,
                              .delimiter = delim, .max_keys = max_keys};
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_list(r->svc, NULL, &la, &resp);
    sim_event(r, "list", b, -1, max_keys, rc);
    r->st.lists++;
    char what[200];
    snprintf(what, sizeof(what), "list %s prefix='%s' delim=%s max=%u", sim_bucket_names[b],
             prefix, delim ? "/" : "none", max_keys);
    if (rc == HM_ENOBUCKET) {
        if (sim_cands_observe(r, &r->m.bucket[b], &sim_absent, false, what)) sim_bucket_gone(r, b);
        return;
    }
    if (rc != 0) {
        if (sim_classify(rc) == SIM_OUT_NO) sim_fail(r, "%s: %s", what, hm_err_name(rc));
        return;
    }
    sim_cands_observe(r, &r->m.bucket[b], &sim_present_bucket, false, what);
    /* Expected entries: each key under prefix, rolled up at the delimiter. */
    char ent[SIM_KEYS][64];
    bool sure[SIM_KEYS], maybe[SIM_KEYS];
    size_t nent = 0;
    size_t plen = strlen(prefix);
    for (int k = 0; k < SIM_KEYS; k++) {
        const char *key = sim_keys[k];
        if (strncmp(key, prefix, plen) != 0) continue;
        char e[64];
        snprintf(e, sizeof(e), "%s", key);
        if (delim != NULL) {
            const char *d = strstr(key + plen, delim);
            if (d != NULL) snprintf(e, sizeof(e), "%.*s", (int)(d - key + 1), key);
        }
        const sim_cands *c = &r->m.key[b][k];
        size_t j;
        for (j = 0; j < nent && strcmp(ent[j], e) != 0; j++) {
        }
        if (j == nent) {
            snprintf(ent[nent], sizeof(ent[nent]), "%s", e);
            sure[nent] = maybe[nent] = false;
            nent++;
        }
        sure[j] = sure[j] || sim_cands_surely(c);
        maybe[j] = maybe[j] || sim_cands_maybe(c);
    }
    const Hm__ObjectListResult *l = resp->list;
    if (l->n_entries > max_keys) sim_fail(r, "%s: %zu entries", what, l->n_entries);
    const char *prev = NULL;
    for (size_t i = 0; i < l->n_entries && !r->failed; i++) {
        const char *key = l->entries[i]->key != NULL ? l->entries[i]->key : "";
        if (prev != NULL && strcmp(prev, key) >= 0)
            sim_fail(r, "%s: '%s' after '%s': not in order", what, key, prev);
        size_t j;
        for (j = 0; j < nent && strcmp(ent[j], key) != 0; j++) {
        }
        if (j == nent || !maybe[j])
            sim_fail(r, "%s: lists '%s', which the model says cannot exist", what, key);
        bool is_prefix = l->entries[i]->has_is_prefix && l->entries[i]->is_prefix;
        size_t kl = strlen(key);
        bool looks_prefix = delim != NULL && kl > plen && key[kl - 1] == '/' && sim_key_index(key) < 0;
        if (is_prefix != looks_prefix && !(delim != NULL && is_prefix && kl > 0 && key[kl - 1] == '/'))
            sim_fail(r, "%s: '%s' is_prefix=%d", what, key, is_prefix);
        prev = key;
    }
    bool truncated = l->has_truncated && l->truncated;
    for (size_t j = 0; j < nent && !r->failed; j++) {
        if (!sure[j]) continue;
        bool covered = !truncated || (prev != NULL && strcmp(ent[j], prev) <= 0);
        if (!covered) continue;
        bool found = false;
        for (size_t i = 0; i < l->n_entries; i++)
            if (l->entries[i]->key != NULL && strcmp(l->entries[i]->key, ent[j]) == 0) found = true;
        if (!found && (max_keys > 0 || truncated))
            sim_fail(r, "%s: '%s' surely exists but is missing", what, ent[j]);
    }
    if (!truncated && max_keys > 0 && l->n_entries == 0) {
        for (size_t j = 0; j < nent; j++)
            if (sure[j]) sim_fail(r, "%s: empty, but '%s' surely exists", what, ent[j]);
    }
    hm__meta_response__free_unpacked(resp, NULL);
}

static void sim_delete(sim_run *r)
{
    int b = sim_pick_bucket(r);
    int k = (int)sim_rng_below(&r->rng_work, SIM_KEYS);
    int rc = hm_objsvc_delete(r->svc, NULL, sim_bucket_names[b], sim_keys[k]);
    sim_event(r, "delete", b, k, 0, rc);
    r->st.deletes++;
    if (rc == HM_ENOBUCKET) {
        char what[160];
        snprintf(what, sizeof(what), "delete %s/%s", sim_bucket_names[b], sim_keys[k]);
        if (sim_cands_observe(r, &r->m.bucket[b], &sim_absent, false, what)) sim_bucket_gone(r, b);
        return;
    }
    sim_key_outcome(r, b, k, &sim_absent, rc);
}

static void sim_bucket_op(sim_run *r, bool create)
{
    int b = (int)sim_rng_below(&r->rng_work, SIM_BUCKETS);
    const char *name = sim_bucket_names[b];
    sim_cands *c = &r->m.bucket[b];
    int rc = create ? hm_objsvc_bucket_create(r->svc, NULL, name, "us-east-1", "sim-owner")
                    : hm_objsvc_bucket_delete(r->svc, NULL, name);
    sim_event(r, create ? "bucket_create" : "bucket_delete", b, -1, 0, rc);
    char what[160];
    snprintf(what, sizeof(what), "%s %s", create ? "create" : "delete", name);
    if (create && rc == HM_EBUCKETEXISTS) {
        sim_cands_observe(r, c, &sim_present_bucket, false, what);
        return;
    }
    if (!create && rc == HM_ENOBUCKET) {
        if (sim_cands_observe(r, c, &sim_absent, false, what)) sim_bucket_gone(r, b);
        return;
    }
    if (!create && rc == HM_ENOTEMPTY) {
        bool any = false;
        for (int k = 0; k < SIM_KEYS; k++) any = any || sim_cands_maybe(&r->m.key[b][k]);
        if (!any) sim_fail(r, "%s: not empty, but the model has no key in it", what);
        sim_cands_observe(r, c, &sim_present_bucket, false, what);
        return;
    }
    if (!create && rc == 0) {
        for (int k = 0; k < SIM_KEYS; k++)
            if (sim_cands_surely(&r->m.key[b][k]))
                sim_fail(r, "%s: deleted with %s in it", what, sim_keys[k]);
    }
    const sim_ver *v = create ? &sim_present_bucket : &sim_absent;
    switch (sim_classify(rc)) {
    case SIM_OUT_OK:
        sim_cands_set(c, v);
        if (!create) sim_bucket_gone(r, b);
        break;
    case SIM_OUT_NO:
        sim_fail(r, "%s: unexpected %s", what, hm_err_name(rc));
        break;
    default:
        r->st.ambiguous++;
        sim_cands_add(r, c, v, sim_classify(rc) == SIM_OUT_PHANTOM);
        if (sim_probe_bucket(r, b, false)) r->st.resolved++;
        break;
    }
}

static void sim_gc(sim_run *r)
{
    size_t n = 0;
    int rc = hm_objsvc_gc_run(r->svc, &n);
    sim_event(r, "gc", -1, -1, (int64_t)n, rc);
}

/* Advance one in-flight op, or start a new one. */
static void sim_work(sim_run *r)
{
    size_t live = 0;
    sim_op *live_ops[SIM_INFLIGHT_MAX];
    for (int i = 0; i < SIM_INFLIGHT_MAX; i++)
        if (r->ops[i].live) live_ops[live++] = &r->ops[i];
    if (live > 0 && (live == SIM_INFLIGHT_MAX || sim_rng_chance(&r->rng_work, 650))) {
        sim_op *op = live_ops[sim_rng_below(&r->rng_work, live)];
        if (op->kind == SIM_OP_PUT) sim_put_step(r, op);
        else sim_get_step(r, op);
        return;
    }
    uint64_t pick = sim_rng_below(&r->rng_work, 100);
    sim_op *slot = sim_op_slot(r);
    if (pick < 40) sim_put_start(r, slot);
    else if (pick < 58) sim_get_start(r, slot);
    else if (pick < 70) sim_delete(r);
    else if (pick < 82) sim_list(r);
    else if (pick < 91) sim_bucket_op(r, true);
    else if (pick < 94) sim_bucket_op(r, false);
    else sim_gc(r);
}

/* ---- faults -------------------------------------------------------------------- */

typedef struct sim_flip_pick {
    sim_rng *rng;
    uint64_t seen;
    char path[256];
    uint64_t size;
} sim_flip_pick;

/* Reservoir-sample one shard file. */
static int sim_flip_visit(void *arg, const char *path, uint64_t size)
{
    sim_flip_pick *p = arg;
    if (strstr(path, "/shards/") == NULL || size == 0) return 0;
    p->seen++;
    if (sim_rng_below(p->rng, p->seen) == 0) {
        snprintf(p->path, sizeof(p->path), "%s", path);
        p->size = size;
    }
    return 0;
}

static void sim_flip(sim_run *r)
{
    if (r->nrotted == SIM_ROTTED_MAX) return;
    sim_flip_pick p = {.rng = &r->rng_fault};
    (void)sim_world_walk_files(r->w, "/sim", sim_flip_visit, &p);
    if (p.seen == 0) return;
    const char *base = strrchr(p.path, '/');
    if (base == NULL || strlen(base + 1) < 2 * HM_BLOB_ID_BYTES) return;
    uint64_t bit = sim_rng_below(&r->rng_fault, p.size * 8);
    if (sim_world_flip_bit(r->w, p.path, bit) != 0) return;
    snprintf(r->rotted[r->nrotted], sizeof(r->rotted[0]), "%.*s", 2 * HM_BLOB_ID_BYTES, base + 1);
    r->nrotted++;
    r->st.flips++;
    sim_event(r, "bit_flip", -1, -1, (int64_t)bit, 0);
}

typedef struct sim_level_params {
    sim_net_faults net;
    uint32_t crash, partition, disk_fault, flip; /* per-step permille */
} sim_level_params;

static const sim_level_params sim_levels[] = {
    [SIM_FAULTS_NONE] = {{0, 0, 0, 0}, 0, 0, 0, 0},
    [SIM_FAULTS_LIGHT] = {{5, 5, 10, 20}, 10, 10, 10, 5},
    [SIM_FAULTS_HEAVY] = {{20, 20, 30, 200}, 30, 30, 30, 10},
};

static void sim_faults_step(sim_run *r)
{
    const sim_level_params *lp = &sim_levels[r->o.faults];
    sim_rng *g = &r->rng_fault;
    size_t eps = 1 + r->o.disks;
    for (size_t e = 0; e < eps; e++) {
        if (r->heal_due[e] != 0 && r->step >= r->heal_due[e]) {
            sim_net_partition(r->net, e, false);
            r->heal_due[e] = 0;
            sim_event(r, "heal", (int)e, -1, 0, 0);
        }
    }
    /* A node whose disk failed stops (its handles are poisoned) and is
     * restarted by its supervisor a little later. */
    uint64_t fired = sim_fault_fired(r->w);
    if (fired != r->faults_seen && r->restart_due == 0) {
        r->faults_seen = fired;
        r->restart_due = r->step + 1 + (uint32_t)sim_rng_below(g, 5);
    }
    if (r->restart_due != 0 && r->step >= r->restart_due) {
        sim_restart(r, SIM_KILL);
        return;
    }
    if (sim_rng_chance(g, lp->crash)) {
        sim_restart(r, (enum sim_crash_kind)sim_rng_below(g, 3));
        return;
    }
    if (sim_rng_chance(g, lp->partition)) {
        size_t e = (size_t)sim_rng_below(g, eps);
        sim_net_partition(r->net, e, true);
        r->heal_due[e] = r->step + 1 + (uint32_t)sim_rng_below(g, 8);
        sim_event(r, "partition", (int)e, -1, 0, 0);
    }
    if (sim_rng_chance(g, lp->disk_fault)) {
        enum sim_fault_op op = (enum sim_fault_op)sim_rng_below(g, SIM_FAULT_OP_COUNT);
        static const char *const prefixes[] = {"/sim/meta", "/sim/disk"};
        const char *prefix = prefixes[sim_rng_below(g, 2)];
        int err = sim_rng_chance(g, 300) ? HM_ENOSPC : HM_EIO;
        uint32_t nth = 1 + (uint32_t)sim_rng_below(g, 20);
        sim_fault_countdown(r->w, op, prefix, nth, err);
        sim_event(r, "disk_fault", (int)op, -1, nth, err);
    }
    if (sim_rng_chance(g, lp->flip)) sim_flip(r);
}

/* ---- a run -------------------------------------------------------------------- */

static void sim_run_free(sim_run *r)
{
    if (r->w != NULL) {
        sim_world_freeze(r->w);
        sim_roles_close(r);
    }
    sim_net_free(r->net);
    sim_world_free(r->w);
    free(r->buf);
}

/* Run o; 0 when every check passed.  *hash gets the trace hash; on a
 * failure *fail_step the step and msg the message. */
static int sim_run_once(const sim_opts *o, uint64_t *hash, uint32_t *fail_step, char *msg,
                        size_t msg_cap)
{
    sim_run *r = calloc(1, sizeof(*r));
    if (r == NULL) return HM_ENOMEM;
    r->o = *o;
    r->hash = 0xcbf29ce484222325ull;
    r->buf = malloc(SIM_CHUNK_BYTES_MAX);
    int rc = r->buf == NULL ? HM_ENOMEM : sim_world_new(&r->w, o->seed);
    if (rc == 0) rc = sim_net_new(&r->net, r->w, o->seed);
    if (rc != 0) {
        snprintf(msg, msg_cap, "setup: %s", hm_err_name(rc));
        sim_run_free(r);
        free(r);
        return -1;
    }
    r->env = sim_world_env(r->w);
    sim_rng_seed(&r->rng_work, o->seed, 20);
    sim_rng_seed(&r->rng_fault, o->seed, 21);
    for (int b = 0; b < SIM_BUCKETS; b++) {
        sim_cands_set(&r->m.bucket[b], &sim_absent);
        sim_bucket_gone(r, b);
    }
    sim_net_set_faults(r->net, &sim_levels[o->faults].net);
    (void)r->env->ops->mkdir(r->env, "/sim");
    (void)r->env->ops->sync_dir(r->env, "/");
    rc = sim_roles_open(r);
    if (rc != 0) sim_fail(r, "first open of the roles: %s", hm_err_name(rc));
    if (o->plant_ack_before_sync) sim_world_set_sync_noop(r->w, true);

    for (r->step = 1; r->step <= o->steps && !r->failed; r->step++) {
        sim_faults_step(r);
        if (r->failed) break;
        sim_work(r);
        if (r->step % 64 == 0 && !r->failed && r->restart_due == 0) {
            sim_world_gc(r->w);
            sim_sweep(r, false);
        }
    }
    if (!r->failed) {
        /* Finish the work in flight on a healed network, then pull the plug:
         * what was acknowledged must be there after the restart. */
        r->step = o->steps;
        for (size_t e = 0; e <= r->o.disks; e++) sim_net_partition(r->net, e, false);
        for (int guard = 0; guard < 100000 && !r->failed; guard++) {
            sim_op *op = NULL;
            for (int i = 0; i < SIM_INFLIGHT_MAX && op == NULL; i++)
                if (r->ops[i].live) op = &r->ops[i];
            if (op == NULL) break;
            if (op->kind == SIM_OP_PUT) sim_put_step(r, op);
            else sim_get_step(r, op);
        }
        if (!r->failed) sim_restart(r, SIM_POWER_CLEAN);
    }
    uint64_t h = r->hash ^ (sim_world_trace_hash(r->w) * 0x9e3779b97f4a7c15ull);
    *hash = h;
    int result = r->failed ? 1 : 0;
    if (r->failed) {
        *fail_step = r->step;
        snprintf(msg, msg_cap, "%s", r->msg);
    }
    if (!o->quiet) {
        sim_world_stats ws;
        sim_net_stats ns;
        sim_world_get_stats(r->w, &ws);
        sim_net_get_stats(r->net, &ns);
        printf("seed %" PRIu64 ": %u steps; puts %" PRIu64 " ok %" PRIu64 " failed; gets %" PRIu64
               " ok %" PRIu64 " failed; deletes %" PRIu64 "; lists %" PRIu64 "; restarts %" PRIu64
               "; bit flips %" PRIu64 "; ambiguous %" PRIu64 " (resolved %" PRIu64 "); sweeps %" PRIu64
               "\n",
               o->seed, o->steps, r->st.puts_ok, r->st.puts_err, r->st.gets_ok, r->st.gets_err,
               r->st.deletes, r->st.lists, r->st.restarts, r->st.flips, r->st.ambiguous,
               r->st.resolved, r->st.sweeps);
        printf("  disk: %" PRIu64 " writes, %" PRIu64 " syncs, %" PRIu64 " dir syncs, %" PRIu64
               " durable + %" PRIu64 " lazy kv commits, %" PRIu64 " faults fired; net: %" PRIu64
               " calls, %" PRIu64 " requests lost, %" PRIu64 " replies lost, %" PRIu64
               " duplicated, %" PRIu64 " refused\n",
               ws.writes, ws.syncs, ws.dir_syncs, ws.kv_commits_durable, ws.kv_commits_lazy,
               sim_fault_fired(r->w), ns.calls, ns.drops_request, ns.drops_reply, ns.dups,
               ns.refused);
        printf("  trace hash %016" PRIx64 "\n", h);
    }
    sim_run_free(r);
    free(r);
    return result;
}

/* ---- command line ------------------------------------------------------------ */

static const char *sim_level_name(enum sim_level l)
{
    return l == SIM_FAULTS_NONE ? "none" : l == SIM_FAULTS_LIGHT ? "light" : "heavy";
}

static void sim_usage(void)
{
    fprintf(stderr,
            "usage: hamster-sim [--seed N]... [--steps M] [--faults none|light|heavy]\n"
            "                   [--plant ack-before-sync] [--trace] [--disks 1|2]\n"
            "                   [--seeds K] [--no-shrink] [--check-determinism]\n"
            "                   [--expect-failure] [--soak]\n");
}

static bool sim_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-') return false;
    *out = v;
    return true;
}

/* Report a failure and look for the shortest failing prefix of the run. */
static void sim_report(const sim_opts *o, uint32_t step, const char *msg, bool shrink)
{
    printf("FAIL seed %" PRIu64 " step %u: %s\n", o->seed, step, msg);
    printf("  replay: hamster-sim --seed %" PRIu64 " --steps %u --faults %s%s --disks %zu\n",
           o->seed, o->steps, sim_level_name(o->faults),
           o->plant_ack_before_sync ? " --plant ack-before-sync" : "", o->disks);
    if (!shrink) return;
    /* Runs are prefixes of each other (independent streams), so a shorter
     * run replays the same first steps; binary search the shortest one that
     * still fails (failure need not be monotone: this finds a short one). */
    uint32_t lo = 1, hi = step < o->steps ? step : o->steps;
    char m[SIM_MSG_BYTES];
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        sim_opts s = *o;
        s.steps = mid;
        s.quiet = true;
        s.trace = false;
        uint64_t h;
        uint32_t fs = 0;
        if (sim_run_once(&s, &h, &fs, m, sizeof(m)) != 0) hi = mid;
        else lo = mid + 1;
    }
    sim_opts s = *o;
    s.steps = hi;
    s.quiet = true;
    s.trace = false;
    uint64_t h;
    uint32_t fs = 0;
    if (sim_run_once(&s, &h, &fs, m, sizeof(m)) != 0) {
        printf("  shrunk: %u steps fail at step %u: %s\n", hi, fs, m);
        printf("  replay: hamster-sim --seed %" PRIu64 " --steps %u --faults %s%s --disks %zu --trace\n",
               o->seed, hi, sim_level_name(o->faults),
               o->plant_ack_before_sync ? " --plant ack-before-sync" : "", o->disks);
    }
}

int main(int argc, char **argv)
{
    sim_opts o = {.seed = 1, .steps = 300, .faults = SIM_FAULTS_LIGHT, .disks = 0};
    uint64_t seeds[SIM_SEEDS_MAX];
    size_t nseeds = 0;
    uint64_t seed_count = 1;
    bool shrink = true, determinism = false, expect_failure = false, soak = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n;
        if (strcmp(a, "--seed") == 0 && v != NULL && sim_parse_u64(v, &n)) {
            if (nseeds == SIM_SEEDS_MAX) {
                sim_usage();
                return 2;
            }
            seeds[nseeds++] = n;
            i++;
        } else if (strcmp(a, "--steps") == 0 && v != NULL && sim_parse_u64(v, &n) && n > 0 &&
                   n <= SIM_STEPS_MAX) {
            o.steps = (uint32_t)n;
            i++;
        } else if (strcmp(a, "--seeds") == 0 && v != NULL && sim_parse_u64(v, &n) && n > 0 &&
                   n <= 100000) {
            seed_count = n;
            i++;
        } else if (strcmp(a, "--disks") == 0 && v != NULL && sim_parse_u64(v, &n) && n >= 1 &&
                   n <= SIM_DISKS_MAX) {
            o.disks = (size_t)n;
            i++;
        } else if (strcmp(a, "--faults") == 0 && v != NULL) {
            if (strcmp(v, "none") == 0) o.faults = SIM_FAULTS_NONE;
            else if (strcmp(v, "light") == 0) o.faults = SIM_FAULTS_LIGHT;
            else if (strcmp(v, "heavy") == 0) o.faults = SIM_FAULTS_HEAVY;
            else {
                sim_usage();
                return 2;
            }
            i++;
        } else if (strcmp(a, "--plant") == 0 && v != NULL && strcmp(v, "ack-before-sync") == 0) {
            o.plant_ack_before_sync = true;
            i++;
        } else if (strcmp(a, "--trace") == 0) {
            o.trace = true;
        } else if (strcmp(a, "--no-shrink") == 0) {
            shrink = false;
        } else if (strcmp(a, "--check-determinism") == 0) {
            determinism = true;
        } else if (strcmp(a, "--expect-failure") == 0) {
            expect_failure = true;
        } else if (strcmp(a, "--soak") == 0) {
            soak = true;
        } else {
            sim_usage();
            return 2;
        }
    }
    /* Role logs only when tracing: injected faults make them loud. */
    hm_log_set_level(o.trace ? HM_LOG_DEBUG : (enum hm_log_level)(HM_LOG_ERROR + 1));
    if (nseeds == 0) seeds[nseeds++] = o.seed;

    if (soak) {
        const char *env_s = getenv("SIM_SOAK_SECONDS");
        uint64_t secs = 600;
        if (env_s != NULL && !sim_parse_u64(env_s, &secs)) secs = 600;
        time_t start = time(NULL);
        uint64_t base = (uint64_t)start * 1000003u;
        uint64_t runs = 0;
        while ((uint64_t)(time(NULL) - start) < secs) {
            sim_opts s = o;
            s.seed = base + runs;
            s.faults = runs % 2 ? SIM_FAULTS_HEAVY : SIM_FAULTS_LIGHT;
            s.disks = 1 + runs % SIM_DISKS_MAX;
            s.quiet = true;
            uint64_t h;
            uint32_t fs = 0;
            char m[SIM_MSG_BYTES];
            runs++;
            if (sim_run_once(&s, &h, &fs, m, sizeof(m)) != 0) {
                sim_report(&s, fs, m, true);
                return 1;
            }
        }
        printf("soak: %" PRIu64 " seeds from %" PRIu64 " x %u steps passed in %" PRIu64 " s\n",
               runs, base, o.steps, secs);
        return 0;
    }

    int failures = 0;
    for (size_t si = 0; si < nseeds; si++) {
        for (uint64_t c = 0; c < seed_count; c++) {
            sim_opts s = o;
            s.seed = seeds[si] + c;
            if (s.disks == 0) s.disks = 1 + s.seed % SIM_DISKS_MAX;
            printf("hamster-sim seed %" PRIu64 " steps %u faults %s disks %zu%s\n", s.seed,
                   s.steps, sim_level_name(s.faults), s.disks,
                   s.plant_ack_before_sync ? " plant ack-before-sync" : "");
            uint64_t h1, h2;
            uint32_t fs = 0;
            char m[SIM_MSG_BYTES];
            int rc = sim_run_once(&s, &h1, &fs, m, sizeof(m));
            if (rc != 0) {
                failures++;
                sim_report(&s, fs, m, shrink && !expect_failure);
                if (expect_failure) {
                    printf("planted bug caught by seed %" PRIu64 "\n", s.seed);
                    return 0;
                }
                continue;
            }
            if (determinism) {
                s.quiet = true;
                (void)sim_run_once(&s, &h2, &fs, m, sizeof(m));
                if (h1 != h2) {
                    printf("FAIL seed %" PRIu64 ": not deterministic: trace hash %016" PRIx64
                           " then %016" PRIx64 "\n",
                           s.seed, h1, h2);
                    failures++;
                } else {
                    printf("  deterministic: second run hash %016" PRIx64 "\n", h2);
                }
            }
        }
    }
    if (expect_failure) {
        printf("FAIL: the planted bug was not caught\n");
        return 1;
    }
    return failures == 0 ? 0 : 1;
}
