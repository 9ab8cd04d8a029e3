/* hm_blob.c - erasure-coded blobs over several shard stores; see hm_blob.h.
 *
 * Shaping decisions:
 *  - One thread per shard stream while a blob is written, fed one chunk at
 *    a time: the disks work in parallel, the memory is one chunk per shard
 *    plus a stripe for the chunks of shards dropped from the write, and a
 *    disk that stalls is noticed by a timed wait on its chunk alone.  A
 *    stalled shard is dropped, never waited for: its thread keeps its own
 *    reference to the writer and, when its call finally returns, aborts
 *    the stream and lets go.  The writer is freed by whoever lets go last.
 *  - Bytes go straight into the chunk buffer of the shard they belong to
 *    and are encoded there as they arrive (hm_ec_encode_update, a slice of
 *    HM_EC_ENCODE_SLICE_BYTES at a time): the parity of a stripe is done
 *    when its last byte lands, each byte is encoded while it is still in
 *    cache and copied once.  When the blob's size is known at open, the
 *    last stripe's short chunks are laid out from its first byte; when it
 *    is not (or the body ends early), a short last stripe is gathered and
 *    encoded again whole, at most one stripe of extra work per blob.
 *  - Reads keep one stripe of data (and a chunk per parity shard used) and
 *    one stream per shard read, each opened once at the first stripe of the
 *    span and read in order; a shard that fails is replaced by the next
 *    parity shard, opened at the stripe where the failure happened.
 */
#include "hm_blob.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"

#define BLOB_DEADLINE_MS_DEFAULT 30000

atomic_uint_fast64_t hm_blob_stripes_read;
atomic_uint_fast64_t hm_blob_stripes_decoded;
bool hm_blob_plant_ack_with_k;

/* Encode time and bytes per profile (index [k][m]); see hm_blob.h. */
static atomic_uint_fast64_t blob_encode_ns[HM_EC_K_MAX + 1][HM_EC_M_MAX + 1];
static atomic_uint_fast64_t blob_encode_bytes[HM_EC_K_MAX + 1][HM_EC_M_MAX + 1];

size_t hm_blob_encode_stats(hm_blob_encode_stat *out, size_t cap)
{
    size_t n = 0;
    for (uint32_t k = 1; k <= HM_EC_K_MAX; k++) {
        for (uint32_t m = 1; m <= HM_EC_M_MAX; m++) {
            uint64_t bytes = atomic_load_explicit(&blob_encode_bytes[k][m], memory_order_relaxed);
            if (bytes == 0) continue;
            if (n < cap) {
                out[n].k = k;
                out[n].m = m;
                out[n].ns = atomic_load_explicit(&blob_encode_ns[k][m], memory_order_relaxed);
                out[n].bytes = bytes;
            }
            n++;
        }
    }
    return n;
}

static uint64_t blob_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Count ns of encoding and the data bytes it covered for profile k+m. */
static void blob_encode_count(uint32_t k, uint32_t m, uint64_t ns, uint64_t bytes)
{
    atomic_fetch_add_explicit(&blob_encode_ns[k][m], ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&blob_encode_bytes[k][m], bytes, memory_order_relaxed);
}

uint32_t hm_blob_floor(uint32_t k, uint32_t m)
{
    if (hm_blob_plant_ack_with_k) return k;
    return m == 0 ? k : k + 1;
}

static void blob_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* ---- placement ------------------------------------------------------------- */

/* FNV-1a over the blob id: where the rotation starts. */
static size_t blob_hash(const uint8_t id[HM_BLOB_ID_BYTES], size_t count)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < HM_BLOB_ID_BYTES; i++) {
        h ^= id[i];
        h *= 0x100000001b3ull;
    }
    return (size_t)(h % count);
}

int hm_blob_plan_make(const hm_blob_disks *d, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                      hm_blob_plan *out)
{
    if (d == NULL || d->count == 0) return HM_EINVAL;
    memset(out, 0, sizeof(*out));
    out->p = hm_ec_profile_for_domains(d->count);
    out->n = out->p.k + out->p.m;
    if (out->n > d->count || out->n > HM_EC_SHARDS_MAX) return HM_EINVAL;
    size_t start = blob_hash(blob_id, d->count);
    uint32_t placed = 0;
    /* healthy disks in rotation order first, then those avoided, then
     * those that did not answer */
    for (int pass = 0; pass < 3 && placed < out->n; pass++) {
        for (size_t j = 0; j < d->count && placed < out->n; j++) {
            size_t i = (start + j) % d->count;
            int rank = d->disk_ids[i] == NULL ? 2 : d->avoid != NULL && d->avoid[i] ? 1 : 0;
            if (rank != pass) continue;
            out->disk[placed++] = i;
        }
    }
    return 0;
}

static void blob_init(const hm_ec_profile *p, const uint8_t blob_id[HM_BLOB_ID_BYTES],
                      uint64_t size, Hm__Blob *blob)
{
    hm__blob__init(blob);
    blob->has_blob_id = true;
    blob->blob_id.data = (uint8_t *)blob_id;
    blob->blob_id.len = HM_BLOB_ID_BYTES;
    blob->has_size = true;
    blob->size = size;
    blob->has_k = true;
    blob->k = p->k;
    blob->has_m = true;
    blob->m = p->m;
    blob->has_stripe_bytes = true;
    blob->stripe_bytes = p->stripe_bytes;
}

void hm_blob_plan_blob(const hm_blob_plan *plan, const hm_blob_disks *d,
                       const uint8_t blob_id[HM_BLOB_ID_BYTES], uint64_t size, Hm__Blob *blob,
                       Hm__ShardRef *refs, Hm__ShardRef **ref_ptrs)
{
    blob_init(&plan->p, blob_id, size, blob);
    size_t n = 0;
    for (uint32_t i = 0; i < plan->n; i++) {
        const char *id = d->disk_ids[plan->disk[i]];
        if (id == NULL) continue;
        hm__shard_ref__init(&refs[n]);
        refs[n].has_index = true;
        refs[n].index = i;
        refs[n].disk_id = (char *)id;
        ref_ptrs[n] = &refs[n];
        n++;
    }
    blob->n_shards = n;
    blob->shards = ref_ptrs;
}

/* ---- writer ------------------------------------------------------------------ */

enum blob_job { JOB_NONE, JOB_WRITE, JOB_COMMIT, JOB_EXIT };

typedef struct blob_shard {
    hm_blob_writer *w;
    uint32_t index;
    hm_shard_api *api;
    hm_shard_put *put;        /* NULL once committed, aborted or failed */
    uint8_t *buf;             /* one chunk */
    size_t len;
    enum blob_job job;        /* under w->mu */
    int64_t job_start_ms;
    int rc;                   /* the first failure; sticky */
    bool live;                /* still part of the write */
    bool dropped;             /* given up on while its call was running */
    bool has_thread;
    pthread_t thread;
    uint64_t length;          /* after commit */
    uint32_t crc32c;
} blob_shard;

struct hm_blob_writer {
    pthread_mutex_t mu;
    pthread_cond_t cv;        /* jobs posted and jobs done */
    unsigned refs;            /* the owner plus every running thread */
    hm_blob_plan plan;
    const hm_blob_disks *disks;
    const hm_ec_codec *codec;
    int64_t deadline_ms;
    bool serial;
    char req_id[64];
    uint8_t blob_id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader *seal;    /* set before the commit jobs; owned */
    uint8_t *stripe;          /* stripe_bytes: the chunks of dropped data
                               * shards; a short last stripe is gathered here */
    uint8_t *spare;           /* parity target of a dropped shard */
    uint64_t size;            /* the blob's size, when size_known */
    bool size_known;
    /* the stripe being filled: its chunk bytes (0: none begun), data bytes
     * in it (all encoded into pptr), and where chunk i of it goes */
    uint32_t chunk;
    size_t fill;
    uint8_t *dptr[HM_EC_K_MAX];
    uint8_t *pptr[HM_EC_M_MAX];
    uint64_t written;
    uint64_t stripes;
    uint32_t durable;
    blob_shard shards[HM_EC_SHARDS_MAX];
};

static int64_t blob_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void blob_writer_destroy(hm_blob_writer *w)
{
    for (uint32_t i = 0; i < HM_EC_SHARDS_MAX; i++) free(w->shards[i].buf);
    if (w->seal != NULL) hm__shard_header__free_unpacked(w->seal, NULL);
    free(w->stripe);
    free(w->spare);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

/* Drop one reference (under w->mu, which this releases); the last frees. */
static void blob_writer_unref_locked(hm_blob_writer *w)
{
    bool last = --w->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last) blob_writer_destroy(w);
}

/* Run job j of shard s (any thread, without w->mu). */
static int blob_shard_run(hm_blob_writer *w, blob_shard *s, enum blob_job j)
{
    if (s->put == NULL) return HM_ECANCELED;
    int rc;
    if (j == JOB_WRITE) {
        rc = s->api->ops->put_write(s->put, s->buf, s->len);
        if (rc != 0) {
            s->api->ops->put_abort(s->put);
            s->put = NULL;
        }
        return rc;
    }
    hm_shard_put *p = s->put;
    s->put = NULL;
    rc = s->api->ops->put_seal(p, w->seal);
    if (rc != 0) {
        s->api->ops->put_abort(p);
        return rc;
    }
    return s->api->ops->put_commit(p, &s->length, &s->crc32c);
}

static void *blob_shard_main(void *arg)
{
    blob_shard *s = arg;
    hm_blob_writer *w = s->w;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (s->job == JOB_NONE) pthread_cond_wait(&w->cv, &w->mu);
        enum blob_job j = s->job;
        if (j == JOB_EXIT) break;
        pthread_mutex_unlock(&w->mu);
        int rc = blob_shard_run(w, s, j);
        pthread_mutex_lock(&w->mu);
        if (rc != 0 && s->rc == 0) s->rc = rc;
        s->job = JOB_NONE;
        pthread_cond_broadcast(&w->cv);
        if (s->dropped) break;
    }
    if (s->put != NULL) {
        /* dropped or told to exit with the stream open: nothing visible */
        hm_shard_put *p = s->put;
        s->put = NULL;
        pthread_mutex_unlock(&w->mu);
        s->api->ops->put_abort(p);
        pthread_mutex_lock(&w->mu);
    }
    blob_writer_unref_locked(w);
    return NULL;
}

static void blob_shard_fail(hm_blob_writer *w, blob_shard *s, int rc, const char *what)
{
    s->live = false;
    if (s->rc == 0) s->rc = rc;
    char hex[2 * HM_BLOB_ID_BYTES + 1];
    blob_hex(w->blob_id, HM_BLOB_ID_BYTES, hex);
    const char *disk = w->disks->disk_ids[w->plan.disk[s->index]];
    hm_warn("blob", w->req_id[0] ? w->req_id : NULL,
            "repair: blob %s shard %u on disk %s dropped from the write (%s: %s)", hex,
            s->index, disk != NULL ? disk : "(unavailable)", what, hm_err_name(rc));
    if (disk != NULL && w->disks->dropped != NULL)
        w->disks->dropped(w->disks->dropped_ctx, w->plan.disk[s->index], rc);
}

/* The error of a write below the floor: HM_ENOSPC when a disk ran out of
 * space (the client is told 507 InsufficientStorage, as on one disk), else
 * HM_EFLOOR (503 SlowDown); hm_s3err_from_hm maps both. */
static int blob_floor_rc(const hm_blob_writer *w)
{
    for (uint32_t i = 0; i < w->plan.n; i++)
        if (!w->shards[i].live && w->shards[i].rc == HM_ENOSPC) return HM_ENOSPC;
    return HM_EFLOOR;
}

/* Wait until every live shard's job is done; a shard whose job has run
 * past the deadline is dropped (its thread finishes alone).  w->mu held. */
static void blob_wait_idle_locked(hm_blob_writer *w)
{
    for (;;) {
        bool busy = false;
        int64_t now = blob_now_ms();
        int64_t next = INT64_MAX;
        for (uint32_t i = 0; i < w->plan.n; i++) {
            blob_shard *s = &w->shards[i];
            if (!s->live || s->job == JOB_NONE) continue;
            int64_t due = s->job_start_ms + w->deadline_ms;
            if (now >= due) {
                s->dropped = true;
                blob_shard_fail(w, s, HM_ETIMEDOUT, "deadline");
                continue;
            }
            busy = true;
            if (due < next) next = due;
        }
        if (!busy) return;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t wait_ms = next - now;
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
    }
}

static uint32_t blob_live(const hm_blob_writer *w)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < w->plan.n; i++) n += w->shards[i].live;
    return n;
}

/* Give job j to every live shard and wait for all of them. */
static void blob_run_all(hm_blob_writer *w, enum blob_job j)
{
    if (w->serial) {
        for (uint32_t i = 0; i < w->plan.n; i++) {
            blob_shard *s = &w->shards[i];
            if (!s->live) continue;
            int rc = blob_shard_run(w, s, j);
            if (rc != 0) blob_shard_fail(w, s, rc, j == JOB_WRITE ? "write" : "commit");
        }
        return;
    }
    pthread_mutex_lock(&w->mu);
    int64_t now = blob_now_ms();
    for (uint32_t i = 0; i < w->plan.n; i++) {
        blob_shard *s = &w->shards[i];
        if (!s->live) continue;
        s->job = j;
        s->job_start_ms = now;
    }
    pthread_cond_broadcast(&w->cv);
    blob_wait_idle_locked(w);
    for (uint32_t i = 0; i < w->plan.n; i++) {
        blob_shard *s = &w->shards[i];
        if (s->live && s->rc != 0)
            blob_shard_fail(w, s, s->rc, j == JOB_WRITE ? "write" : "commit");
    }
    pthread_mutex_unlock(&w->mu);
}

/* Begin a stripe: its chunk length (short when the known size ends the
 * blob inside it), where each chunk goes (a live shard's buffer; a dropped
 * data shard's place in w->stripe, a dropped parity shard's the spare,
 * whose bytes are never used) and zeroed parity. */
static void blob_stripe_begin(hm_blob_writer *w)
{
    uint32_t k = w->plan.p.k, m = w->plan.p.m;
    uint32_t chunk = w->plan.p.chunk_bytes;
    if (w->size_known && w->size - w->written < w->plan.p.stripe_bytes)
        chunk = (uint32_t)((w->size - w->written + k - 1) / k);
    w->chunk = chunk;
    w->fill = 0;
    for (uint32_t i = 0; i < k; i++) {
        blob_shard *s = &w->shards[i];
        w->dptr[i] = s->live ? s->buf : w->stripe + (size_t)i * chunk;
    }
    for (uint32_t j = 0; j < m; j++) {
        blob_shard *s = &w->shards[k + j];
        w->pptr[j] = s->live ? s->buf : w->spare;
        memset(w->pptr[j], 0, chunk);
    }
}

/* Copy n bytes (within one chunk of the stripe being filled) to their
 * place and add them to the parity. */
static void blob_stripe_add(hm_blob_writer *w, const uint8_t *b, size_t n)
{
    uint32_t i = (uint32_t)(w->fill / w->chunk);
    size_t off = w->fill % w->chunk;
    uint8_t *d = w->dptr[i] + off;
    memcpy(d, b, n);
    w->fill += n;
    uint32_t m = w->plan.p.m;
    if (m == 0) return;
    uint8_t *pp[HM_EC_M_MAX];
    for (uint32_t j = 0; j < m; j++) pp[j] = w->pptr[j] + off;
    uint64_t t0 = blob_now_ns();
    hm_ec_encode_update(w->codec, n, i, d, pp);
    blob_encode_count(w->plan.p.k, m, blob_now_ns() - t0, 0);
}

/* A short last stripe laid out with chunks other than its own (the size
 * was not known, or the body ended early): gather its bytes in w->stripe,
 * cut them into chunks of ceil(fill / k) and encode them whole. */
static void blob_stripe_relayout(hm_blob_writer *w)
{
    uint32_t k = w->plan.p.k, m = w->plan.p.m;
    size_t fill = w->fill;
    /* byte x of the stripe is at dptr[x / chunk] + x % chunk, which for a
     * dropped shard is already w->stripe + x */
    for (uint32_t i = 0; i < k && (size_t)i * w->chunk < fill; i++) {
        size_t at = (size_t)i * w->chunk;
        size_t n = fill - at < w->chunk ? fill - at : w->chunk;
        if (w->dptr[i] != w->stripe + at) memcpy(w->stripe + at, w->dptr[i], n);
    }
    uint32_t chunk = (uint32_t)((fill + k - 1) / k);
    memset(w->stripe + fill, 0, (size_t)k * chunk - fill);
    for (uint32_t i = 0; i < k; i++) {
        blob_shard *s = &w->shards[i];
        uint8_t *src = w->stripe + (size_t)i * chunk;
        if (s->live) memcpy(s->buf, src, chunk);
        w->dptr[i] = s->live ? s->buf : src;
    }
    w->chunk = chunk;
    if (m > 0) {
        uint64_t t0 = blob_now_ns();
        hm_ec_encode(w->codec, chunk, (const uint8_t *const *)w->dptr, w->pptr);
        blob_encode_count(k, m, blob_now_ns() - t0, 0);
    }
}

/* Write the stripe being filled (its parity complete): a short one gets
 * its padding zeroed, or is laid out again when its chunks are not its
 * own. */
static int blob_flush(hm_blob_writer *w)
{
    uint32_t k = w->plan.p.k, m = w->plan.p.m;
    if (w->fill < (size_t)k * w->chunk) {
        if (w->chunk != (w->fill + k - 1) / k) {
            blob_stripe_relayout(w);
        } else {
            /* padding is zeros: it adds nothing to the parity */
            for (size_t x = w->fill; x < (size_t)k * w->chunk;) {
                uint32_t i = (uint32_t)(x / w->chunk);
                size_t off = x % w->chunk;
                memset(w->dptr[i] + off, 0, w->chunk - off);
                x += w->chunk - off;
            }
        }
    }
    for (uint32_t i = 0; i < k + m; i++) w->shards[i].len = w->chunk;
    if (m > 0) blob_encode_count(k, m, 0, (uint64_t)k * w->chunk);
    blob_run_all(w, JOB_WRITE);
    w->chunk = 0;
    w->fill = 0;
    w->stripes++;
    return blob_live(w) >= hm_blob_floor(k, m) ? 0 : blob_floor_rc(w);
}

int hm_blob_writer_open(const hm_blob_write_args *a, hm_blob_writer **out)
{
    const hm_blob_plan *plan = a->plan;
    if (a->disks == NULL || a->tmpl == NULL || plan->n == 0 ||
        plan->n != plan->p.k + plan->p.m || a->tmpl->blob_id.len != HM_BLOB_ID_BYTES)
        return HM_EINVAL;
    hm_blob_writer *w = calloc(1, sizeof(*w));
    if (w == NULL) return HM_ENOMEM;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->refs = 1;
    w->plan = *plan;
    w->disks = a->disks;
    w->deadline_ms = a->deadline_ms > 0 ? a->deadline_ms : BLOB_DEADLINE_MS_DEFAULT;
    w->serial = a->serial;
    if (a->req_id != NULL) snprintf(w->req_id, sizeof(w->req_id), "%s", a->req_id);
    memcpy(w->blob_id, a->tmpl->blob_id.data, HM_BLOB_ID_BYTES);
    w->size_known = a->size_known;
    w->size = a->size;
    int rc = hm_ec_codec_get(plan->p.k, plan->p.m, &w->codec);
    if (rc != 0) goto err;
    w->stripe = malloc(plan->p.stripe_bytes);
    w->spare = plan->p.m > 0 ? malloc(plan->p.chunk_bytes) : NULL;
    if (w->stripe == NULL || (plan->p.m > 0 && w->spare == NULL)) {
        rc = HM_ENOMEM;
        goto err;
    }
    Hm__ShardHeader h = *a->tmpl;
    h.has_k = true;
    h.k = plan->p.k;
    h.has_m = true;
    h.m = plan->p.m;
    h.has_stripe_bytes = true;
    h.stripe_bytes = plan->p.stripe_bytes;
    h.has_shard_index = true;
    for (uint32_t i = 0; i < plan->n; i++) {
        blob_shard *s = &w->shards[i];
        s->w = w;
        s->index = i;
        s->api = a->disks->apis[plan->disk[i]];
        s->buf = malloc(plan->p.chunk_bytes);
        if (s->buf == NULL) {
            rc = HM_ENOMEM;
            goto err;
        }
        if (a->disks->disk_ids[plan->disk[i]] == NULL) {
            blob_shard_fail(w, s, HM_EUNAVAIL, "open");
            continue;
        }
        h.shard_index = i;
        rc = s->api->ops->put_open(s->api, &h, &s->put);
        if (rc != 0) {
            s->put = NULL;
            blob_shard_fail(w, s, rc, "open");
            continue;
        }
        s->live = true;
    }
    if (blob_live(w) < hm_blob_floor(plan->p.k, plan->p.m)) {
        rc = blob_floor_rc(w);
        goto err;
    }
    if (!w->serial) {
        for (uint32_t i = 0; i < plan->n; i++) {
            blob_shard *s = &w->shards[i];
            if (!s->live) continue;
            w->refs++;
            if (pthread_create(&s->thread, NULL, blob_shard_main, s) != 0) {
                w->refs--;
                s->api->ops->put_abort(s->put);
                s->put = NULL;
                blob_shard_fail(w, s, HM_ENOMEM, "thread");
                continue;
            }
            s->has_thread = true;
        }
        if (blob_live(w) < hm_blob_floor(plan->p.k, plan->p.m)) {
            rc = blob_floor_rc(w);
            hm_blob_writer_abort(w);
            return rc;
        }
    }
    *out = w;
    return 0;

err:
    for (uint32_t i = 0; i < plan->n; i++) {
        blob_shard *s = &w->shards[i];
        if (s->put != NULL) s->api->ops->put_abort(s->put);
        s->put = NULL;
    }
    blob_writer_destroy(w);
    return rc;
}

int hm_blob_writer_write(hm_blob_writer *w, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    if (w->size_known && len > w->size - w->written) return HM_EINVAL;
    while (len > 0) {
        if (w->chunk == 0) blob_stripe_begin(w);
        size_t in_chunk = w->chunk - w->fill % w->chunk;
        size_t n = len < in_chunk ? len : in_chunk;
        if (n > HM_EC_ENCODE_SLICE_BYTES) n = HM_EC_ENCODE_SLICE_BYTES;
        blob_stripe_add(w, b, n);
        w->written += n;
        b += n;
        len -= n;
        if (w->fill == (size_t)w->plan.p.k * w->chunk) {
            int rc = blob_flush(w);
            if (rc != 0) return rc;
        }
    }
    return 0;
}

uint64_t hm_blob_writer_size(const hm_blob_writer *w) { return w->written; }

int hm_blob_writer_finish(hm_blob_writer *w, const Hm__ShardHeader *seal)
{
    uint32_t k = w->plan.p.k, m = w->plan.p.m;
    hm_ec_layout l;
    int rc = hm_ec_layout_make(&w->plan.p, w->written, &l);
    if (rc != 0) return rc;
    if (w->fill > 0) {
        rc = blob_flush(w);
        if (rc != 0) return rc;
    }
    if (w->stripes != l.stripes) return HM_EINTERNAL;
    /* the seal outlives this call in threads that may be dropped */
    Hm__ShardHeader sh = HM__SHARD_HEADER__INIT;
    if (seal != NULL) sh = *seal;
    sh.has_blob_size = true;
    sh.blob_size = w->written;
    size_t plen = hm__shard_header__get_packed_size(&sh);
    uint8_t *pb = malloc(plen ? plen : 1);
    if (pb == NULL) return HM_ENOMEM;
    hm__shard_header__pack(&sh, pb);
    w->seal = hm__shard_header__unpack(NULL, plen, pb);
    free(pb);
    if (w->seal == NULL) return HM_ENOMEM;
    blob_run_all(w, JOB_COMMIT);
    w->durable = 0;
    for (uint32_t i = 0; i < w->plan.n; i++) {
        blob_shard *s = &w->shards[i];
        if (!s->live) continue;
        if (s->length != l.shard_bytes) {
            hm_error("blob", w->req_id[0] ? w->req_id : NULL,
                     "shard %u kept %llu bytes of %llu", i, (unsigned long long)s->length,
                     (unsigned long long)l.shard_bytes);
            s->live = false;
            continue;
        }
        w->durable++;
    }
    if (w->durable < hm_blob_floor(k, m)) {
        char hex[2 * HM_BLOB_ID_BYTES + 1];
        blob_hex(w->blob_id, HM_BLOB_ID_BYTES, hex);
        hm_warn("blob", w->req_id[0] ? w->req_id : NULL,
                "blob %s: %u of %u shards durable, below the floor of %u: refused", hex,
                w->durable, w->plan.n, hm_blob_floor(k, m));
        return blob_floor_rc(w);
    }
    return 0;
}

void hm_blob_writer_result(const hm_blob_writer *w, hm_blob_result *out)
{
    memcpy(out->blob_id, w->blob_id, HM_BLOB_ID_BYTES);
    blob_init(&w->plan.p, out->blob_id, w->written, &out->blob);
    size_t n = 0, miss = 0;
    for (uint32_t i = 0; i < w->plan.n; i++) {
        const blob_shard *s = &w->shards[i];
        const char *id = w->disks->disk_ids[w->plan.disk[i]];
        if (!s->live) {
            out->missing_disk[miss] = id;
            out->missing[miss++] = i;
        }
        if (id == NULL) continue;
        Hm__ShardRef *ref = &out->refs[n];
        hm__shard_ref__init(ref);
        ref->has_index = true;
        ref->index = i;
        ref->disk_id = (char *)id;
        if (s->live) {
            ref->has_length = true;
            ref->length = s->length;
            ref->has_crc32c = true;
            ref->crc32c = s->crc32c;
        }
        out->ref_ptrs[n] = ref;
        n++;
    }
    out->blob.n_shards = n;
    out->blob.shards = out->ref_ptrs;
    out->n_missing = miss;
}

/* Stop every thread (those dropped finish alone) and drop the owner's
 * reference. */
static void blob_writer_release(hm_blob_writer *w)
{
    if (!w->serial) {
        pthread_mutex_lock(&w->mu);
        blob_wait_idle_locked(w);
        for (uint32_t i = 0; i < w->plan.n; i++) {
            blob_shard *s = &w->shards[i];
            if (!s->has_thread) continue;
            if (s->dropped) {
                pthread_detach(s->thread);
                continue;
            }
            s->job = JOB_EXIT;
        }
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->mu);
        for (uint32_t i = 0; i < w->plan.n; i++) {
            blob_shard *s = &w->shards[i];
            if (s->has_thread && !s->dropped) pthread_join(s->thread, NULL);
        }
    } else {
        for (uint32_t i = 0; i < w->plan.n; i++) {
            blob_shard *s = &w->shards[i];
            if (s->put != NULL) s->api->ops->put_abort(s->put);
            s->put = NULL;
        }
    }
    pthread_mutex_lock(&w->mu);
    blob_writer_unref_locked(w);
}

void hm_blob_writer_abort(hm_blob_writer *w)
{
    if (w != NULL) blob_writer_release(w);
}

void hm_blob_writer_free(hm_blob_writer *w)
{
    if (w != NULL) blob_writer_release(w);
}

/* ---- reader -------------------------------------------------------------------- */

int hm_blob_check(const Hm__Blob *b)
{
    hm_ec_profile p;
    hm_ec_layout l;
    if (b->blob_id.len != HM_BLOB_ID_BYTES) return HM_ECORRUPT;
    if (hm_ec_profile_check(b->k, b->m, b->stripe_bytes, &p) != 0) return HM_EVERSION;
    if (hm_ec_layout_make(&p, b->size, &l) != 0) return HM_ECORRUPT;
    uint32_t n = p.k + p.m;
    if (b->n_shards > n) return HM_ECORRUPT;
    uint32_t seen = 0, durable = 0;
    for (size_t i = 0; i < b->n_shards; i++) {
        const Hm__ShardRef *r = b->shards[i];
        if (r->index >= n || (seen & (1u << r->index)) || r->disk_id == NULL)
            return HM_ECORRUPT;
        seen |= 1u << r->index;
        if (r->has_length) {
            if (r->length != l.shard_bytes) return HM_ECORRUPT;
            durable++;
        }
    }
    return durable >= p.k ? 0 : HM_ECORRUPT;
}

typedef struct blob_rshard {
    const Hm__ShardRef *ref;  /* NULL: not durable per the manifest */
    hm_shard_api *api;
    hm_shard_get *g;
    uint64_t next;            /* shard offset the open stream reads next */
    bool bad;                 /* failed on an earlier stripe: tried last */
    int bad_rc;               /* how it failed */
} blob_rshard;

struct hm_blob_reader {
    const Hm__Blob *b;
    hm_ec_layout l;
    const hm_ec_codec *codec;
    hm_blob_disk_find_fn find;
    void *find_ctx;
    char req_id[64];
    uint64_t pos, end;        /* blob offsets of the span */
    uint64_t last_stripe;
    uint64_t cur;             /* the stripe in `stripe` */
    bool has_cur;
    uint8_t *stripe;          /* k chunks of data */
    uint8_t *parity[HM_EC_M_MAX];
    blob_rshard sh[HM_EC_SHARDS_MAX];
};

static void blob_rshard_close(blob_rshard *s)
{
    if (s->g != NULL) s->api->ops->get_close(s->g);
    s->g = NULL;
}

static void blob_reader_bad(hm_blob_reader *r, uint32_t i, int rc)
{
    blob_rshard *s = &r->sh[i];
    blob_rshard_close(s);
    bool first = !s->bad;
    s->bad = true;
    s->bad_rc = rc;
    if (!first) return;
    char hex[2 * HM_BLOB_ID_BYTES + 1];
    blob_hex(r->b->blob_id.data, HM_BLOB_ID_BYTES, hex);
    hm_warn("blob", r->req_id[0] ? r->req_id : NULL,
            "repair: blob %s shard %u on disk %s unreadable (%s); read from parity", hex, i,
            s->ref != NULL && s->ref->disk_id != NULL ? s->ref->disk_id : "?",
            hm_err_name(rc));
}

/* The header a shard store returned must be the shard the manifest names
 * (a format 1 header may leave the profile out: it is then 1+0). */
static int blob_header_check(const hm_blob_reader *r, uint32_t i, const Hm__ShardHeader *h)
{
    if (h == NULL) return 0;
    if (h->blob_id.len != HM_BLOB_ID_BYTES ||
        memcmp(h->blob_id.data, r->b->blob_id.data, HM_BLOB_ID_BYTES) != 0 ||
        h->shard_index != i || (h->has_k && h->k != r->l.p.k) ||
        (h->has_m && h->m != r->l.p.m) ||
        (h->has_stripe_bytes && h->stripe_bytes != r->l.p.stripe_bytes) ||
        (h->has_data_length && h->data_length != r->l.shard_bytes))
        return HM_ECORRUPT;
    return 0;
}

/* Read shard i's chunk of stripe s (len bytes) into buf. */
static int blob_read_chunk(hm_blob_reader *r, uint32_t i, uint64_t s, uint32_t len,
                           uint8_t *buf)
{
    blob_rshard *sh = &r->sh[i];
    uint64_t soff = hm_ec_layout_shard_offset(&r->l, s);
    int rc;
    if (sh->g == NULL || sh->next != soff) {
        blob_rshard_close(sh);
        if (sh->api == NULL) {
            rc = r->find(r->find_ctx, sh->ref->disk_id, &sh->api);
            if (rc != 0) return rc;
        }
        uint64_t stop = hm_ec_layout_shard_offset(&r->l, r->last_stripe) +
                        hm_ec_layout_chunk(&r->l, r->last_stripe);
        uint64_t total = 0;
        Hm__ShardHeader *h = NULL;
        rc = sh->api->ops->get_open(sh->api, r->b->blob_id.data, i, soff, stop - soff, &sh->g,
                                    &total, &h);
        if (rc != 0) {
            sh->g = NULL;
            return rc;
        }
        rc = blob_header_check(r, i, h);
        if (h != NULL) hm__shard_header__free_unpacked(h, NULL);
        if (rc == 0 && total != stop - soff) rc = HM_ECORRUPT;
        if (rc != 0) return rc;
        sh->next = soff;
    }
    size_t have = 0;
    while (have < len) {
        size_t got = 0;
        rc = sh->api->ops->get_read(sh->g, buf + have, len - have, &got);
        if (rc != 0) return rc;
        if (got == 0 || got > len - have) return HM_ECORRUPT;
        have += got;
    }
    sh->next += len;
    return 0;
}

/* Read shard i's chunk of stripe s; on failure mark the shard bad. */
static int blob_load_one(hm_blob_reader *r, uint32_t i, uint64_t s, uint32_t chunk,
                         uint8_t *buf)
{
    int rc = blob_read_chunk(r, i, s, chunk, buf);
    if (rc == 0) {
        r->sh[i].bad = false;
    } else if (rc != HM_ENOMEM) {
        blob_reader_bad(r, i, rc);
    }
    return rc;
}

/* Why a stripe cannot be read: when every missing shard failed the same
 * way, that is the answer (rot everywhere stays HM_ECORRUPT); a mix, or
 * shards never there, is HM_EUNAVAIL. */
static int blob_load_rc(const hm_blob_reader *r, const bool *present, uint32_t n)
{
    int rc = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (present[i]) continue;
        const blob_rshard *sh = &r->sh[i];
        if (sh->ref == NULL || !sh->bad) return HM_EUNAVAIL;
        if (rc != 0 && rc != sh->bad_rc) return HM_EUNAVAIL;
        rc = sh->bad_rc;
    }
    return rc != 0 ? rc : HM_EUNAVAIL;
}

/* Load stripe s: read k good chunks, the data shards first, and decode
 * what is missing.  A shard that failed on an earlier stripe is tried
 * again only when the others are not enough: rot is one block, not the
 * whole shard, and a disk may come back. */
static int blob_load(hm_blob_reader *r, uint64_t s)
{
    uint32_t k = r->l.p.k, n = k + r->l.p.m;
    uint32_t chunk = hm_ec_layout_chunk(&r->l, s);
    bool present[HM_EC_SHARDS_MAX] = {false};
    uint8_t *chunks[HM_EC_SHARDS_MAX];
    for (uint32_t i = 0; i < n; i++)
        chunks[i] = i < k ? r->stripe + (size_t)i * chunk : r->parity[i - k];
    bool was_bad[HM_EC_SHARDS_MAX];
    for (uint32_t i = 0; i < n; i++) was_bad[i] = r->sh[i].bad;
    uint32_t have = 0;
    for (int pass = 0; pass < 2 && have < k; pass++) {
        for (uint32_t i = 0; i < n && have < k; i++) {
            blob_rshard *sh = &r->sh[i];
            if (sh->ref == NULL || present[i] || was_bad[i] != (pass == 1)) continue;
            if (i >= k && r->parity[i - k] == NULL) {
                r->parity[i - k] = malloc(r->l.p.chunk_bytes);
                if (r->parity[i - k] == NULL) return HM_ENOMEM;
                chunks[i] = r->parity[i - k];
            }
            int rc = blob_load_one(r, i, s, chunk, chunks[i]);
            if (rc == HM_ENOMEM) return rc;
            if (rc != 0) continue;
            present[i] = true;
            have++;
        }
    }
    if (have < k) {
        char hex[2 * HM_BLOB_ID_BYTES + 1];
        blob_hex(r->b->blob_id.data, HM_BLOB_ID_BYTES, hex);
        hm_error("blob", r->req_id[0] ? r->req_id : NULL,
                 "blob %s stripe %llu: %u good shards of the %u needed", hex,
                 (unsigned long long)s, have, k);
        return blob_load_rc(r, present, n);
    }
    bool decode = false;
    for (uint32_t i = 0; i < k; i++) decode = decode || !present[i];
    if (decode) {
        bool want[HM_EC_SHARDS_MAX] = {false};
        for (uint32_t i = 0; i < k; i++) want[i] = !present[i];
        int rc = hm_ec_decode(r->codec, chunk, chunks, present, want);
        if (rc != 0) return rc;
        atomic_fetch_add(&hm_blob_stripes_decoded, 1);
    }
    atomic_fetch_add(&hm_blob_stripes_read, 1);
    r->cur = s;
    r->has_cur = true;
    return 0;
}

void hm_blob_reader_close(hm_blob_reader *r)
{
    if (r == NULL) return;
    for (uint32_t i = 0; i < HM_EC_SHARDS_MAX; i++) blob_rshard_close(&r->sh[i]);
    for (uint32_t j = 0; j < HM_EC_M_MAX; j++) free(r->parity[j]);
    free(r->stripe);
    free(r);
}

int hm_blob_reader_open(const Hm__Blob *b, uint64_t off, uint64_t len,
                        hm_blob_disk_find_fn find, void *find_ctx, const char *req_id,
                        hm_blob_reader **out)
{
    int rc = hm_blob_check(b);
    if (rc != 0) return rc;
    if (off > b->size || len > b->size - off) return HM_EINVAL;
    hm_blob_reader *r = calloc(1, sizeof(*r));
    if (r == NULL) return HM_ENOMEM;
    r->b = b;
    r->find = find;
    r->find_ctx = find_ctx;
    if (req_id != NULL) snprintf(r->req_id, sizeof(r->req_id), "%s", req_id);
    hm_ec_profile p;
    rc = hm_ec_profile_check(b->k, b->m, b->stripe_bytes, &p);
    if (rc == 0) rc = hm_ec_layout_make(&p, b->size, &r->l);
    if (rc == 0) rc = hm_ec_codec_get(p.k, p.m, &r->codec);
    if (rc != 0) goto err;
    for (size_t i = 0; i < b->n_shards; i++)
        if (b->shards[i]->has_length) r->sh[b->shards[i]->index].ref = b->shards[i];
    r->pos = off;
    r->end = off + len;
    if (len == 0) {
        *out = r;
        return 0;
    }
    uint64_t first = 0;
    rc = hm_ec_layout_span(&r->l, off, len, &first, &r->last_stripe);
    if (rc != 0) goto err;
    r->stripe = malloc(p.stripe_bytes);
    if (r->stripe == NULL) {
        rc = HM_ENOMEM;
        goto err;
    }
    rc = blob_load(r, first);
    if (rc != 0) goto err;
    *out = r;
    return 0;
err:
    hm_blob_reader_close(r);
    return rc;
}

int hm_blob_reader_read(hm_blob_reader *r, void *buf, size_t cap, size_t *got)
{
    uint8_t *o = buf;
    size_t n = 0;
    uint64_t sb = r->l.p.stripe_bytes;
    while (n < cap && r->pos < r->end) {
        uint64_t s = r->pos / sb;
        if (!r->has_cur || r->cur != s) {
            int rc = blob_load(r, s);
            if (rc != 0) {
                *got = n;
                return n > 0 ? 0 : rc;
            }
        }
        uint64_t in = r->pos - s * sb;
        uint64_t avail = hm_ec_layout_stripe_data(&r->l, s) - in;
        uint64_t want = r->end - r->pos;
        if (want > avail) want = avail;
        if (want > cap - n) want = cap - n;
        memcpy(o + n, r->stripe + in, (size_t)want);
        n += (size_t)want;
        r->pos += want;
    }
    *got = n;
    return 0;
}
