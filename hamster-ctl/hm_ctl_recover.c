/* hm_ctl_recover.c - `recover -from-shards`: rebuild the metadata from the
 * shard files; see hm_recover.h.
 *
 * Shaping decision: shard files are hostile input like any other bytes from
 * a disk.  Each one is opened through the shard store (which checks the
 * preamble, the header CRC and fields, the file size, the footer and the
 * CRC table) and read whole (every block against its CRC32C, and the MD5 of
 * a 1+0 shard against the ETag sealed into its header) before anything in
 * it is believed.  A shard that fails is named on the report and skipped;
 * it never stops the rebuild.  The rebuild then only proposes ordinary
 * metadata commands (BucketCreate, ObjectPut with If-None-Match: *), so
 * the state machine applies the same checks it applies to a client's PUT.
 *
 * Which version of a key wins: several shards may claim one key (an
 * overwrite whose old blob gc had not yet collected, a PUT whose answer
 * was lost).  The newest commit stamp wins: committed_ms sealed into the
 * header just before the metadata commit (the version's mtime), for a
 * format 1 shard its created_ms; ties go to the larger blob id, so the
 * choice never depends on the order the disks are walked.
 */
#include <dirent.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hm_blob.h"
#include "hm_cluster.h"
#include "hm_ctl.h"
#include "hm_daemon.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_meta_node.h"
#include "hm_objsvc.h"
#include "hm_recover.h"
#include "hm_shard_format.h"

#define RECOVER_DISKS_MAX 64
#define RECOVER_READ_BYTES (1u << 20)
#define RECOVER_PATH_BYTES 4096u

/* One shard file that passed every check. */
typedef struct rc_shard {
    size_t disk;
    uint8_t blob[HM_BLOB_ID_BYTES];
    uint32_t index;
    uint32_t role;                 /* Hm__ShardRole; format 1 shards get one */
    int64_t stamp;                 /* committed_ms, else created_ms */
    char md5[HM_OBJSVC_ETAG_HEX_BYTES + 1]; /* of the data (data shards) */
    Hm__ShardHeader *h;
    Hm__ShardManifest *manifest;   /* ROLE_MANIFEST */
    bool used;                     /* a part named by a rebuilt object */
    uint64_t size;                 /* logical bytes of the blob */
    bool ec;                       /* not 1+0: the MD5 needs the whole blob */
    bool dup;                      /* another shard of its blob stands for it */
    struct rc_shard **members;     /* the representative: every good shard of
                                    * the blob, one per index */
    size_t n_members;
} rc_shard;

typedef struct rc_name {
    uint8_t blob[HM_BLOB_ID_BYTES];
    uint32_t index;
} rc_name;

typedef struct rc_ctx {
    hm_env *env;
    hm_shard_store *const *stores;
    size_t n_stores;
    hm_meta_api *meta;
    FILE *report;
    hm_recover_stats st;
    rc_shard *shards;              /* verified shards */
    size_t n_shards, cap_shards;
    rc_shard **parts;              /* the ROLE_PART ones, sorted by blob id */
    size_t n_parts;
    rc_name *names;                /* one disk's walk */
    size_t n_names, cap_names;
    int err;
} rc_ctx;

static void rc_hex(const uint8_t *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Report one skipped shard: its path and why. */
static void rc_skip(rc_ctx *cx, size_t disk, const uint8_t *blob, uint32_t index,
                    const char *why)
{
    char path[RECOVER_PATH_BYTES];
    if (hm_shard_store_shard_path(cx->stores[disk], blob, index, path, sizeof path) != 0)
        snprintf(path, sizeof path, "(disk %zu)", disk);
    fprintf(cx->report, "skipped %s: %s\n", path, why);
}

/* ---- scan ------------------------------------------------------------------ */

static int rc_walk_cb(void *arg, const uint8_t blob_id[HM_BLOB_ID_BYTES], uint32_t index)
{
    rc_ctx *cx = arg;
    if (cx->n_names == cx->cap_names) {
        size_t cap = cx->cap_names == 0 ? 1024 : cx->cap_names * 2;
        rc_name *n = realloc(cx->names, cap * sizeof *n);
        if (n == NULL) {
            cx->err = HM_ENOMEM;
            return 1;
        }
        cx->names = n;
        cx->cap_names = cap;
    }
    memcpy(cx->names[cx->n_names].blob, blob_id, HM_BLOB_ID_BYTES);
    cx->names[cx->n_names].index = index;
    cx->n_names++;
    return 0;
}

static bool rc_is_hex32(const char *s)
{
    if (s == NULL || strlen(s) != HM_OBJSVC_ETAG_HEX_BYTES) return false;
    for (size_t i = 0; i < HM_OBJSVC_ETAG_HEX_BYTES; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

/* A text field from a disk that will reach HTTP headers: bounded, and no
 * control character (a CR or LF would split a response header). */
static bool rc_text_ok(const char *s, size_t max)
{
    if (s == NULL) return true;
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n == max || (c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    return true;
}

static bool rc_kvs_ok(Hm__KeyValue *const *kv, size_t n, size_t key_max, size_t value_max,
                      size_t total_max)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (kv[i]->key == NULL || kv[i]->key[0] == '\0' || !rc_text_ok(kv[i]->key, key_max) ||
            !rc_text_ok(kv[i]->value, value_max))
            return false;
        total += strlen(kv[i]->key) + (kv[i]->value != NULL ? strlen(kv[i]->value) : 0);
        if (total > total_max) return false;
    }
    return true;
}

/* The fields a rebuild relies on, beyond what the store checked; NULL when
 * the header is usable, else why not. */
static const char *rc_header_why(const Hm__ShardHeader *h, uint32_t index, uint32_t role)
{
    if (h->bucket == NULL || !hm_objsvc_bucket_name_valid(h->bucket)) return "bad bucket name";
    if (h->key == NULL || !hm_objsvc_key_valid(h->key, strlen(h->key))) return "bad key";
    if (!rc_text_ok(h->content_type, HM_HTTP_HEADERS_BYTES_MAX) ||
        !rc_text_ok(h->version_id, HM_KEY_BYTES_MAX) ||
        !rc_text_ok(h->upload_id, HM_UPLOAD_ID_BYTES_MAX))
        return "bad content type, version or upload id";
    if (!rc_kvs_ok(h->user_meta, h->n_user_meta, HM_USER_META_BYTES_MAX, HM_USER_META_BYTES_MAX,
                   HM_USER_META_BYTES_MAX) ||
        !rc_kvs_ok(h->headers, h->n_headers, HM_HTTP_HEADERS_BYTES_MAX,
                   HM_HTTP_HEADERS_BYTES_MAX, HM_HTTP_HEADERS_BYTES_MAX))
        return "bad user metadata or headers";
    if (h->n_tags > HM_TAGS_MAX ||
        !rc_kvs_ok(h->tags, h->n_tags, HM_TAG_KEY_BYTES_MAX, HM_TAG_VALUE_BYTES_MAX,
                   HM_TAGS_MAX * (HM_TAG_KEY_BYTES_MAX + HM_TAG_VALUE_BYTES_MAX)))
        return "bad tags";
    if (h->n_checksums > HM_SHARD_SEAL_CHECKSUMS_MAX) return "too many checksums";
    for (size_t i = 0; i < h->n_checksums; i++) {
        const Hm__Checksum *c = h->checksums[i];
        if (c->algorithm == NULL || !rc_text_ok(c->algorithm, 16) || !c->has_value ||
            c->value.len == 0 || c->value.len > HM_OBJSVC_CHECKSUM_BYTES_MAX)
            return "bad checksum";
    }
    if (role == HM__SHARD_ROLE__SHARD_ROLE_MANIFEST) {
        if ((h->has_k && h->k != 1) || (h->has_m && h->m != 0)) return "not a 1+0 manifest";
        if (index != HM_SHARD_INDEX_MANIFEST) return "manifest under a data shard's name";
        if (h->etag == NULL || strlen(h->etag) > HM_SHARD_SEAL_ETAG_BYTES_MAX)
            return "manifest without an ETag";
        if (!h->has_object_size || h->object_size > HM_OBJECT_BYTES_MAX)
            return "manifest without an object size";
        if (h->data_length > HM_SHARD_MANIFEST_BYTES_MAX) return "manifest too large";
        return NULL;
    }
    hm_ec_profile p;
    hm_ec_layout l;
    if (hm_ec_profile_check(h->has_k ? h->k : 1, h->has_m ? h->m : 0,
                            h->has_stripe_bytes ? h->stripe_bytes : HM_STRIPE_BYTES, &p) != 0)
        return "bad erasure-coding profile";
    if (index >= p.k + p.m) return "shard index outside its profile";
    if (p.k == 1 && p.m == 0) {
        if (h->has_blob_size && h->blob_size != h->data_length)
            return "blob size differs from data";
    } else {
        if (!h->has_blob_size || h->blob_size > HM_OBJECT_BYTES_MAX)
            return "erasure-coded shard without a blob size";
        if (hm_ec_layout_make(&p, h->blob_size, &l) != 0 || l.shard_bytes != h->data_length)
            return "shard length differs from its profile's layout";
    }
    if (h->etag != NULL && !rc_is_hex32(h->etag)) return "sealed ETag is not an MD5";
    if (role == HM__SHARD_ROLE__SHARD_ROLE_PART &&
        (!h->has_part_number || h->part_number < 1 || h->part_number > HM_PARTS_MAX))
        return "part without a part number";
    return NULL;
}

/* Read one shard whole through the store, checking every block; fill the
 * MD5 of a data shard, or decode a manifest's data. */
static int rc_read(rc_ctx *cx, rc_shard *s, const char **why)
{
    hm_shard_store_get *g = NULL;
    uint64_t total = 0;
    uint8_t *buf = NULL, *mbuf = NULL;
    EVP_MD_CTX *md = NULL;
    bool manifest = s->role == HM__SHARD_ROLE__SHARD_ROLE_MANIFEST;
    bool digest = !manifest && !s->ec;
    int rc = hm_shard_store_get_open(cx->stores[s->disk], s->blob, s->index, 0, UINT64_MAX,
                                     &g, &total, NULL);
    if (rc != 0) {
        *why = hm_err_msg(rc);
        return rc;
    }
    if (total != s->h->data_length) {
        rc = HM_ECORRUPT;
        *why = "data length differs from header";
        goto out;
    }
    buf = malloc(RECOVER_READ_BYTES);
    if (manifest) mbuf = malloc(total > 0 ? (size_t)total : 1);
    else if (digest) md = EVP_MD_CTX_new();
    if (buf == NULL || (manifest ? mbuf == NULL
                                 : digest && (md == NULL ||
                                              EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1))) {
        rc = HM_ENOMEM;
        *why = hm_err_msg(rc);
        goto out;
    }
    uint64_t at = 0;
    for (;;) {
        size_t got = 0;
        rc = hm_shard_store_get_read(g, buf, RECOVER_READ_BYTES, &got);
        if (rc != 0) {
            *why = rc == HM_ECORRUPT ? "a data block fails its CRC32C" : hm_err_msg(rc);
            goto out;
        }
        if (got == 0) break;
        if (got > total - at) {
            rc = HM_ECORRUPT;
            *why = "more data than the header says";
            goto out;
        }
        if (manifest) memcpy(mbuf + at, buf, got);
        else if (digest && EVP_DigestUpdate(md, buf, got) != 1) {
            rc = HM_EINTERNAL;
            *why = hm_err_msg(rc);
            goto out;
        }
        at += got;
    }
    if (at != total) {
        rc = HM_ECORRUPT;
        *why = "data ends early";
        goto out;
    }
    if (manifest) {
        rc = hm_shard_manifest_decode(mbuf, (size_t)total, &s->manifest);
        if (rc != 0) *why = "manifest data does not decode";
    } else if (digest) {
        uint8_t d[EVP_MAX_MD_SIZE];
        unsigned dl = 0;
        if (EVP_DigestFinal_ex(md, d, &dl) != 1 || dl != 16) {
            rc = HM_EINTERNAL;
            *why = hm_err_msg(rc);
            goto out;
        }
        rc_hex(d, 16, s->md5);
        if (s->h->etag != NULL && strcmp(s->h->etag, s->md5) != 0) {
            rc = HM_ECORRUPT;
            *why = "data MD5 differs from the sealed ETag";
        }
    }
out:
    hm_shard_store_get_close(g);
    EVP_MD_CTX_free(md);
    free(buf);
    free(mbuf);
    return rc;
}

/* Verify one named shard of disk d and keep it when it passes. */
static int rc_scan_one(rc_ctx *cx, size_t d, const rc_name *n)
{
    Hm__ShardHeader *h = NULL;
    const char *why = NULL;
    cx->st.shards++;
    int rc = hm_shard_store_stat(cx->stores[d], n->blob, n->index, &h);
    if (rc == HM_ENOMEM) return rc;
    if (rc != 0) {
        cx->st.corrupt++;
        rc_skip(cx, d, n->blob, n->index, hm_err_msg(rc));
        return 0;
    }
    uint32_t role = h->has_role ? h->role
                    : (h->has_part_number && h->part_number > 0) ? HM__SHARD_ROLE__SHARD_ROLE_PART
                                                                 : HM__SHARD_ROLE__SHARD_ROLE_OBJECT;
    if (!h->has_role && h->format_version != HM_SHARD_FORMAT_V1) why = "no role";
    if (why == NULL) why = rc_header_why(h, n->index, role);
    if (why != NULL) {
        cx->st.corrupt++;
        rc_skip(cx, d, n->blob, n->index, why);
        hm__shard_header__free_unpacked(h, NULL);
        return 0;
    }
    if (cx->n_shards == cx->cap_shards) {
        size_t cap = cx->cap_shards == 0 ? 256 : cx->cap_shards * 2;
        rc_shard *s = realloc(cx->shards, cap * sizeof *s);
        if (s == NULL) {
            hm__shard_header__free_unpacked(h, NULL);
            return HM_ENOMEM;
        }
        cx->shards = s;
        cx->cap_shards = cap;
    }
    rc_shard *s = &cx->shards[cx->n_shards];
    memset(s, 0, sizeof *s);
    s->disk = d;
    memcpy(s->blob, n->blob, HM_BLOB_ID_BYTES);
    s->index = n->index;
    s->role = role;
    s->h = h;
    s->stamp = h->has_committed_ms ? h->committed_ms : h->has_created_ms ? h->created_ms : 0;
    s->ec = role != HM__SHARD_ROLE__SHARD_ROLE_MANIFEST &&
            ((h->has_k && h->k != 1) || (h->has_m && h->m != 0));
    s->size = s->ec ? h->blob_size : h->data_length;
    rc = rc_read(cx, s, &why);
    if (rc == HM_ENOMEM) {
        hm__shard_header__free_unpacked(h, NULL);
        return rc;
    }
    if (rc != 0) {
        cx->st.corrupt++;
        rc_skip(cx, d, n->blob, n->index, why);
        hm__shard_header__free_unpacked(h, NULL);
        return 0;
    }
    cx->n_shards++;
    return 0;
}

static int rc_scan(rc_ctx *cx)
{
    for (size_t d = 0; d < cx->n_stores; d++) {
        cx->n_names = 0;
        cx->err = 0;
        int rc = hm_shard_store_walk(cx->stores[d], rc_walk_cb, cx);
        if (rc == 0) rc = cx->err;
        if (rc != 0) return rc;
        fprintf(cx->report, "disk %s: %zu shard files\n", hm_shard_store_disk_id(cx->stores[d]),
                cx->n_names);
        for (size_t i = 0; i < cx->n_names; i++) {
            rc = rc_scan_one(cx, d, &cx->names[i]);
            if (rc != 0) return rc;
        }
    }
    return 0;
}

/* ---- decide ------------------------------------------------------------------ */

static int rc_part_cmp(const void *a, const void *b)
{
    const rc_shard *x = *(rc_shard *const *)a, *y = *(rc_shard *const *)b;
    return memcmp(x->blob, y->blob, HM_BLOB_ID_BYTES);
}

/* Candidates for a key: same bucket and key together, newest first. */
static int rc_cand_cmp(const void *a, const void *b)
{
    const rc_shard *x = *(rc_shard *const *)a, *y = *(rc_shard *const *)b;
    int c = strcmp(x->h->bucket, y->h->bucket);
    if (c == 0) c = strcmp(x->h->key, y->h->key);
    if (c != 0) return c;
    if (x->stamp != y->stamp) return x->stamp > y->stamp ? -1 : 1;
    return -memcmp(x->blob, y->blob, HM_BLOB_ID_BYTES);
}

static rc_shard *rc_part_find(rc_ctx *cx, const uint8_t *blob)
{
    size_t lo = 0, hi = cx->n_parts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(cx->parts[mid]->blob, blob, HM_BLOB_ID_BYTES);
        if (c == 0) return cx->parts[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static int rc_hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

/* Check manifest shard m against the parts found: every part present, of
 * the size and ETag the manifest says, of the same upload; the object size
 * and multipart ETag agree.  NULL when whole, else what is wrong. */
static const char *rc_manifest_why(rc_ctx *cx, const rc_shard *m, rc_shard **found)
{
    const Hm__ShardManifest *mf = m->manifest;
    if (m->h->has_part_count && m->h->part_count != mf->n_parts) return "part count differs";
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return "out of memory";
    }
    uint64_t total = 0;
    const char *why = NULL;
    for (size_t i = 0; i < mf->n_parts && why == NULL; i++) {
        const Hm__ManifestPart *p = mf->parts[i];
        rc_shard *s = rc_part_find(cx, p->blob->blob_id.data);
        if (s == NULL) why = "a part's shard is missing or failed its checks";
        else if (s->size != p->size) why = "a part's size differs";
        else if (strcmp(s->md5, p->etag) != 0) why = "a part's MD5 differs";
        else if (m->h->upload_id != NULL && s->h->upload_id != NULL &&
                 strcmp(m->h->upload_id, s->h->upload_id) != 0)
            why = "a part belongs to another upload";
        if (why != NULL) break;
        found[i] = s;
        total += p->size; /* <= HM_PARTS_MAX * HM_PART_BYTES_MAX: no overflow */
        uint8_t bin[16];
        for (size_t k = 0; k < 16; k++)
            bin[k] = (uint8_t)(rc_hexval(p->etag[2 * k]) * 16 + rc_hexval(p->etag[2 * k + 1]));
        if (EVP_DigestUpdate(md, bin, sizeof bin) != 1) why = "digest failed";
    }
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    if (why == NULL && (EVP_DigestFinal_ex(md, d, &dl) != 1 || dl != 16)) why = "digest failed";
    EVP_MD_CTX_free(md);
    if (why != NULL) return why;
    if (total != m->h->object_size) return "object size differs from its parts";
    char etag[HM_OBJSVC_MPU_ETAG_BYTES];
    rc_hex(d, 16, etag);
    snprintf(etag + 32, sizeof etag - 32, "-%zu", mf->n_parts);
    if (strcmp(etag, m->h->etag) != 0) return "multipart ETag differs from its parts";
    return NULL;
}

static void rc_blob(rc_ctx *cx, const rc_shard *s, Hm__Blob *b, Hm__ShardRef *refs,
                    Hm__ShardRef **rp);

/* ---- blobs ------------------------------------------------------------------- */

static int rc_group_cmp(const void *a, const void *b)
{
    const rc_shard *x = *(rc_shard *const *)a, *y = *(rc_shard *const *)b;
    int c = memcmp(x->blob, y->blob, HM_BLOB_ID_BYTES);
    if (c != 0) return c;
    if (x->index != y->index) return x->index < y->index ? -1 : 1;
    return x->disk < y->disk ? -1 : x->disk > y->disk;
}

typedef struct rc_find_ctx {
    rc_ctx *cx;
    hm_shard_api **apis;
} rc_find_ctx;

static int rc_find(void *ctx, const char *disk_id, hm_shard_api **out)
{
    rc_find_ctx *f = ctx;
    for (size_t d = 0; d < f->cx->n_stores; d++) {
        if (f->apis[d] != NULL && strcmp(hm_shard_store_disk_id(f->cx->stores[d]), disk_id) == 0) {
            *out = f->apis[d];
            return 0;
        }
    }
    return HM_EUNAVAIL;
}

/* The MD5 of an erasure-coded blob, read (and decoded where shards are
 * missing) from the shards found. */
static int rc_blob_md5(rc_ctx *cx, rc_find_ctx *f, rc_shard *s)
{
    Hm__Blob b;
    Hm__ShardRef refs[HM_EC_SHARDS_MAX];
    Hm__ShardRef *rp[HM_EC_SHARDS_MAX];
    rc_blob(cx, s, &b, refs, rp);
    hm_blob_reader *r = NULL;
    int rc = hm_blob_reader_open(&b, 0, b.size, rc_find, f, NULL, &r);
    if (rc != 0) return rc;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t *buf = malloc(RECOVER_READ_BYTES);
    if (md == NULL || buf == NULL || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) rc = HM_ENOMEM;
    uint64_t at = 0;
    while (rc == 0) {
        size_t got = 0;
        rc = hm_blob_reader_read(r, buf, RECOVER_READ_BYTES, &got);
        if (rc != 0 || got == 0) break;
        at += got;
        if (EVP_DigestUpdate(md, buf, got) != 1) rc = HM_EINTERNAL;
    }
    if (rc == 0 && at != b.size) rc = HM_ECORRUPT;
    uint8_t d[EVP_MAX_MD_SIZE];
    unsigned dl = 0;
    if (rc == 0 && (EVP_DigestFinal_ex(md, d, &dl) != 1 || dl != 16)) rc = HM_EINTERNAL;
    if (rc == 0) rc_hex(d, 16, s->md5);
    EVP_MD_CTX_free(md);
    free(buf);
    hm_blob_reader_close(r);
    return rc;
}

/* Two shards claim to be of one blob: they must agree on what it is. */
static bool rc_same_blob(const rc_shard *a, const rc_shard *b)
{
    const Hm__ShardHeader *x = a->h, *y = b->h;
    return a->role == b->role && a->size == b->size && x->k == y->k && x->m == y->m &&
           x->stripe_bytes == y->stripe_bytes && strcmp(x->bucket, y->bucket) == 0 &&
           strcmp(x->key, y->key) == 0 && a->index != b->index;
}

/* One representative per blob (per manifest: one copy), standing for every
 * good shard of it; a blob with fewer than k shards is skipped. */
static int rc_group(rc_ctx *cx)
{
    rc_shard **all = calloc(cx->n_shards + 1, sizeof *all);
    hm_shard_api **apis = calloc(cx->n_stores + 1, sizeof *apis);
    if (all == NULL || apis == NULL) {
        free(all);
        free(apis);
        return HM_ENOMEM;
    }
    for (size_t d = 0; d < cx->n_stores; d++)
        if (hm_shard_api_local_new(&apis[d], cx->stores[d]) != 0) apis[d] = NULL;
    rc_find_ctx f = {.cx = cx, .apis = apis};
    for (size_t i = 0; i < cx->n_shards; i++) all[i] = &cx->shards[i];
    qsort(all, cx->n_shards, sizeof *all, rc_group_cmp);
    int rc = 0;
    for (size_t i = 0; i < cx->n_shards && rc == 0;) {
        size_t j = i + 1;
        while (j < cx->n_shards && memcmp(all[j]->blob, all[i]->blob, HM_BLOB_ID_BYTES) == 0)
            j++;
        rc_shard *rep = all[i];
        if (rep->role == HM__SHARD_ROLE__SHARD_ROLE_MANIFEST) {
            /* copies of one manifest beside each shard of the first part */
            for (size_t k = i + 1; k < j; k++) all[k]->dup = true;
            i = j;
            continue;
        }
        rep->members = calloc(HM_EC_SHARDS_MAX, sizeof *rep->members);
        if (rep->members == NULL) {
            rc = HM_ENOMEM;
            break;
        }
        for (size_t k = i; k < j; k++) {
            rc_shard *s = all[k];
            if (s->role == HM__SHARD_ROLE__SHARD_ROLE_MANIFEST) {
                s->dup = s != all[i] && all[k - 1]->role == HM__SHARD_ROLE__SHARD_ROLE_MANIFEST;
                continue;
            }
            if (s != rep) {
                s->dup = true;
                if (!rc_same_blob(rep, s) || rep->n_members >= HM_EC_SHARDS_MAX) {
                    cx->st.corrupt++;
                    rc_skip(cx, s->disk, s->blob, s->index, "disagrees with its blob's other shards");
                    continue;
                }
            }
            rep->members[rep->n_members++] = s;
        }
        uint32_t k = rep->h->has_k ? rep->h->k : 1;
        const char *why = NULL;
        if (rep->n_members < k) why = "fewer than k shards of its blob survive";
        else if (rep->ec) {
            int r = rc_blob_md5(cx, &f, rep);
            if (r == HM_ENOMEM) rc = r;
            if (r != 0) why = hm_err_msg(r);
            else if (rep->h->etag != NULL && strcmp(rep->h->etag, rep->md5) != 0)
                why = "data MD5 differs from the sealed ETag";
        }
        if (why != NULL) {
            rep->dup = true;
            cx->st.corrupt++;
            rc_skip(cx, rep->disk, rep->blob, rep->index, why);
        }
        i = j;
    }
    for (size_t d = 0; d < cx->n_stores; d++)
        if (apis[d] != NULL) apis[d]->ops->free(apis[d]);
    free(apis);
    free(all);
    return rc;
}

/* ---- rebuild ------------------------------------------------------------------ */

static int rc_command(rc_ctx *cx, Hm__MetaCommand *cmd)
{
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    Hm__MetaResponse *resp = NULL;
    cmd->has_format_version = true;
    cmd->format_version = HM_FORMAT_VERSION;
    req.op_case = HM__META_REQUEST__OP_COMMAND;
    req.command = cmd;
    int rc = hm_meta_call(cx->meta, &req, &resp);
    if (rc != 0) return rc;
    rc = resp->err;
    hm__meta_response__free_unpacked(resp, NULL);
    return rc;
}

static int rc_bucket(rc_ctx *cx, const char *name, int64_t created_ms, const char *owner,
                     const char *region)
{
    Hm__BucketRecord rec = HM__BUCKET_RECORD__INIT;
    rec.has_format_version = true;
    rec.format_version = HM_FORMAT_VERSION;
    rec.name = (char *)name;
    rec.has_created_ms = true;
    rec.created_ms = created_ms;
    rec.owner = (char *)owner;
    rec.region = (char *)region;
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &rec;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    cmd.bucket_create = &bc;
    int rc = rc_command(cx, &cmd);
    if (rc == 0) cx->st.buckets++;
    return rc == HM_EEXIST ? 0 : rc;
}

/* The blob of representative shard s, as a version names it: every shard
 * of it that was found (refs: HM_EC_SHARDS_MAX). */
static void rc_blob(rc_ctx *cx, const rc_shard *s, Hm__Blob *b, Hm__ShardRef *refs,
                    Hm__ShardRef **rp)
{
    hm__blob__init(b);
    b->has_blob_id = true;
    b->blob_id.data = (uint8_t *)s->blob;
    b->blob_id.len = HM_BLOB_ID_BYTES;
    b->has_size = true;
    b->size = s->size;
    b->has_k = true;
    b->k = s->h->has_k ? s->h->k : 1;
    b->has_m = true;
    b->m = s->h->has_m ? s->h->m : 0;
    b->has_stripe_bytes = true;
    b->stripe_bytes = s->h->has_stripe_bytes ? s->h->stripe_bytes : HM_STRIPE_BYTES;
    for (size_t i = 0; i < s->n_members; i++) {
        const rc_shard *m = s->members[i];
        hm__shard_ref__init(&refs[i]);
        refs[i].has_index = true;
        refs[i].index = m->index;
        refs[i].disk_id = (char *)hm_shard_store_disk_id(cx->stores[m->disk]);
        refs[i].has_length = true;
        refs[i].length = m->h->data_length;
        refs[i].has_crc32c = true;
        refs[i].crc32c = m->h->data_crc32c;
        rp[i] = &refs[i];
    }
    b->n_shards = s->n_members;
    b->shards = rp;
}

/* A repair item (items[*n], pointers ip) for every shard index of blob b
 * that no found shard holds: the rebuilt version is readable from the
 * others, and self-healing re-creates the missing ones.  Where they were
 * placed is not known ("").  items and ip hold HM_EC_SHARDS_MAX more. */
static void rc_repairs(const Hm__Blob *b, const rc_shard *s, Hm__RepairItem *items,
                       Hm__RepairItem **ip, size_t *n)
{
    uint32_t shards = b->k + b->m;
    for (uint32_t idx = 0; idx < shards && idx < HM_EC_SHARDS_MAX; idx++) {
        bool have = false;
        for (size_t i = 0; i < s->n_members && !have; i++) have = s->members[i]->index == idx;
        if (have) continue;
        Hm__RepairItem *it = &items[*n];
        hm__repair_item__init(it);
        it->has_blob_id = true;
        it->blob_id = b->blob_id;
        it->has_shard_index = true;
        it->shard_index = idx;
        it->disk_id = (char *)"";
        ip[*n] = it;
        (*n)++;
    }
}

/* Write the version described by candidate c (a data shard, or a manifest
 * whose parts are found[0..n)). */
static int rc_put(rc_ctx *cx, const rc_shard *c, rc_shard **found)
{
    const Hm__ShardHeader *h = c->h;
    bool multi = c->role == HM__SHARD_ROLE__SHARD_ROLE_MANIFEST;
    size_t n = multi ? c->manifest->n_parts : 1;
    Hm__Blob *blobs = calloc(n, sizeof *blobs);
    Hm__Blob **bp = calloc(n, sizeof *bp);
    Hm__ShardRef *refs = calloc(n * HM_EC_SHARDS_MAX, sizeof *refs);
    Hm__ShardRef **rp = calloc(n * HM_EC_SHARDS_MAX, sizeof *rp);
    uint64_t *sizes = calloc(n, sizeof *sizes);
    Hm__RepairItem *items = calloc(n * HM_EC_SHARDS_MAX, sizeof *items);
    Hm__RepairItem **ip = calloc(n * HM_EC_SHARDS_MAX, sizeof *ip);
    size_t n_items = 0;
    int rc = HM_ENOMEM;
    if (blobs == NULL || bp == NULL || refs == NULL || rp == NULL || sizes == NULL ||
        items == NULL || ip == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const rc_shard *s = multi ? found[i] : c;
        rc_blob(cx, s, &blobs[i], &refs[i * HM_EC_SHARDS_MAX], &rp[i * HM_EC_SHARDS_MAX]);
        rc_repairs(&blobs[i], s, items, ip, &n_items);
        bp[i] = &blobs[i];
        sizes[i] = s->size;
    }
    Hm__ObjectVersion v = HM__OBJECT_VERSION__INIT;
    v.has_format_version = true;
    v.format_version = HM_FORMAT_VERSION;
    v.has_object_id = true;
    if (h->has_object_id && h->object_id.len == 16) v.object_id = h->object_id;
    else {
        v.object_id.data = (uint8_t *)c->blob; /* format 1 writers without one */
        v.object_id.len = HM_BLOB_ID_BYTES;
    }
    v.version_id = h->version_id != NULL ? h->version_id : "null";
    v.has_size = true;
    v.size = multi ? h->object_size : c->size;
    v.etag = multi ? h->etag : (char *)c->md5;
    v.content_type = h->content_type;
    v.n_user_meta = h->n_user_meta;
    v.user_meta = h->user_meta;
    v.n_headers = h->n_headers;
    v.headers = h->headers;
    v.n_tags = h->n_tags;
    v.tags = h->tags;
    v.n_checksums = h->n_checksums;
    v.checksums = h->checksums;
    v.has_mtime_ms = true;
    v.mtime_ms = c->stamp;
    v.key = h->key;
    v.n_blobs = n;
    v.blobs = bp;
    if (multi) {
        v.n_part_sizes = n;
        v.part_sizes = sizes;
    }
    Hm__WriteCondition cond = HM__WRITE_CONDITION__INIT;
    cond.has_if_none_match_any = true;
    cond.if_none_match_any = true;
    Hm__ObjectPut op = HM__OBJECT_PUT__INIT;
    op.bucket = h->bucket;
    op.key = h->key;
    op.version = &v;
    op.cond = &cond;
    op.n_repairs = n_items;
    op.repairs = ip;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_OBJECT_PUT;
    cmd.object_put = &op;
    rc = rc_command(cx, &cmd);
    if (rc == 0) {
        cx->st.objects++;
        cx->st.bytes += v.size;
        if (multi) cx->st.multipart++;
        cx->st.repairs += n_items;
    }
out:
    free(items);
    free(ip);
    free(blobs);
    free(bp);
    free(refs);
    free(rp);
    free(sizes);
    return rc;
}

/* Pick and write the winner of each (bucket, key); buckets first. */
static int rc_rebuild(rc_ctx *cx, const char *owner, const char *region)
{
    rc_shard **cand = calloc(cx->n_shards + 1, sizeof *cand);
    rc_shard **found = calloc(HM_PARTS_MAX, sizeof *found);
    cx->parts = calloc(cx->n_shards + 1, sizeof *cx->parts);
    if (cand == NULL || found == NULL || cx->parts == NULL) {
        free(cand);
        free(found);
        return HM_ENOMEM;
    }
    size_t nc = 0;
    for (size_t i = 0; i < cx->n_shards; i++) {
        rc_shard *s = &cx->shards[i];
        if (s->dup) continue;
        if (s->role == HM__SHARD_ROLE__SHARD_ROLE_PART) cx->parts[cx->n_parts++] = s;
        else cand[nc++] = s;
    }
    qsort(cx->parts, cx->n_parts, sizeof *cx->parts, rc_part_cmp);
    qsort(cand, nc, sizeof *cand, rc_cand_cmp);

    int rc = 0;
    const char *last_bucket = NULL;
    for (size_t i = 0; i < nc && rc == 0;) {
        /* One (bucket, key): cand[i..j), newest first. */
        size_t j = i + 1;
        while (j < nc && strcmp(cand[j]->h->bucket, cand[i]->h->bucket) == 0 &&
               strcmp(cand[j]->h->key, cand[i]->h->key) == 0)
            j++;
        size_t win = j;
        for (size_t k = i; k < j && win == j; k++) {
            rc_shard *c = cand[k];
            if (c->role != HM__SHARD_ROLE__SHARD_ROLE_MANIFEST) {
                win = k;
                break;
            }
            const char *why = rc_manifest_why(cx, c, found);
            if (why == NULL) {
                win = k;
                break;
            }
            cx->st.incomplete++;
            rc_skip(cx, c->disk, c->blob, c->index, why);
        }
        if (win < j) {
            rc_shard *w = cand[win];
            if (last_bucket == NULL || strcmp(last_bucket, w->h->bucket) != 0) {
                /* A bucket is as old as the oldest object found in it. */
                int64_t oldest = w->stamp;
                for (size_t k = i; k < nc && strcmp(cand[k]->h->bucket, w->h->bucket) == 0; k++)
                    if (cand[k]->stamp < oldest) oldest = cand[k]->stamp;
                rc = rc_bucket(cx, w->h->bucket, oldest, owner, region);
                last_bucket = w->h->bucket;
            }
            if (rc == 0) rc = rc_put(cx, w, found);
            if (rc == 0 && w->role == HM__SHARD_ROLE__SHARD_ROLE_MANIFEST)
                for (size_t k = 0; k < w->manifest->n_parts; k++) found[k]->used = true;
            /* Older claims lose; newer ones were incomplete manifests. */
            cx->st.superseded += j - win - 1;
        }
        i = j;
    }
    for (size_t i = 0; i < cx->n_parts; i++)
        if (!cx->parts[i]->used) cx->st.unused_parts++;
    free(cand);
    free(found);
    return rc;
}

int hm_recover_from_shards(hm_env *env, hm_shard_store *const *stores, size_t n_stores,
                           hm_meta_api *meta, const char *owner, const char *region,
                           FILE *report, hm_recover_stats *out)
{
    rc_ctx cx = {.env = env, .stores = stores, .n_stores = n_stores, .meta = meta,
                 .report = report};
    int rc = rc_scan(&cx);
    if (rc == 0) rc = rc_group(&cx);
    if (rc == 0) rc = rc_rebuild(&cx, owner, region);
    for (size_t i = 0; i < cx.n_shards; i++) {
        free(cx.shards[i].members);
        hm__shard_header__free_unpacked(cx.shards[i].h, NULL);
        if (cx.shards[i].manifest != NULL)
            hm__shard_manifest__free_unpacked(cx.shards[i].manifest, NULL);
    }
    free(cx.shards);
    free(cx.parts);
    free(cx.names);
    if (out != NULL) *out = cx.st;
    return rc;
}

/* ---- the verb ------------------------------------------------------------------ */

/* Does any other process hold a file under dir (an absolute, resolved
 * path) open?  Besides the locks: a process that takes none of ours (an
 * older build) still keeps its shard stores and, even after its meta
 * directory was deleted, the deleted metadata files open. */
static bool rc_dir_in_use(const char *dir, long *pid_out)
{
    DIR *proc = opendir("/proc");
    if (proc == NULL) return false;
    size_t dl = strlen(dir);
    long self = (long)getpid();
    bool busy = false;
    struct dirent *e;
    while (!busy && (e = readdir(proc)) != NULL) {
        char *end = NULL;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == self) continue;
        char fds[64];
        snprintf(fds, sizeof fds, "/proc/%ld/fd", pid);
        DIR *fd = opendir(fds);
        if (fd == NULL) continue;
        struct dirent *f;
        while (!busy && (f = readdir(fd)) != NULL) {
            char link[384], target[PATH_MAX];
            if (f->d_name[0] == '.') continue;
            if (snprintf(link, sizeof link, "%s/%s", fds, f->d_name) >= (int)sizeof link) continue;
            ssize_t n = readlink(link, target, sizeof target - 1);
            if (n <= 0) continue;
            target[n] = '\0';
            if ((size_t)n > dl && strncmp(target, dir, dl) == 0 && target[dl] == '/') {
                busy = true;
                *pid_out = pid;
            }
        }
        closedir(fd);
    }
    closedir(proc);
    return busy;
}

typedef struct rc_disks {
    const char *base;
    char *paths[RECOVER_DISKS_MAX];
    size_t n;
    hm_env *env;
    bool overflow;
} rc_disks;

/* A directory under DATA-DIR/disks holding a disk identity is a disk. */
static int rc_disk_cb(void *arg, const char *name, bool is_dir)
{
    rc_disks *d = arg;
    char path[RECOVER_PATH_BYTES], id[RECOVER_PATH_BYTES];
    bool id_dir = false;
    if (!is_dir || name[0] == '.') return 0;
    if (snprintf(path, sizeof path, "%s/%s", d->base, name) >= (int)sizeof path) return 0;
    if (snprintf(id, sizeof id, "%s/hamster-disk", path) >= (int)sizeof id) return 0;
    if (d->env->ops->exists(d->env, id, &id_dir) != 0 || id_dir) return 0;
    if (d->n == RECOVER_DISKS_MAX) {
        d->overflow = true;
        return 1;
    }
    d->paths[d->n] = strdup(path);
    if (d->paths[d->n] != NULL) d->n++;
    return 0;
}

static int rc_disk_path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Build beside, rename into place when done: a rebuild that stops half-way
 * (an error, a crash, a power loss) leaves no meta directory for a server
 * to start on, and one that returned 0 leaves a durable one.  The rename is
 * atomic; the directory sync after it is what makes a returned 0 survive a
 * power loss (tests/sim/test_sim_crash.c, test_crash_recover_into). */
int hm_recover_into(hm_env *env, const char *data_dir, hm_shard_store *const *stores,
                    size_t n_stores, const char *owner, const char *region, FILE *report,
                    hm_recover_stats *out)
{
    char meta_dir[RECOVER_PATH_BYTES], build_dir[RECOVER_PATH_BYTES];
    if (snprintf(meta_dir, sizeof meta_dir, "%s/meta", data_dir) >= (int)sizeof meta_dir ||
        snprintf(build_dir, sizeof build_dir, "%s/meta.recovering", data_dir) >=
            (int)sizeof build_dir)
        return HM_ETOOBIG;
    bool is_dir = false;
    if (env->ops->exists(env, meta_dir, &is_dir) == 0 ||
        env->ops->exists(env, build_dir, &is_dir) == 0)
        return HM_EEXIST;
    hm_meta_node *node = NULL;
    hm_meta_api *meta = NULL;
    int rc = hm_meta_node_open(&node, env, build_dir);
    if (rc == 0) rc = hm_meta_api_local_new(&meta, node);
    if (rc == 0) rc = hm_recover_from_shards(env, stores, n_stores, meta, owner, region, report,
                                             out);
    if (meta != NULL) meta->ops->free(meta);
    /* Closing the node ends its commit thread; every command it answered
     * was durable before its answer. */
    if (node != NULL) hm_meta_node_close(node);
    if (rc != 0) return rc;
    rc = env->ops->rename(env, build_dir, meta_dir);
    if (rc == 0) rc = env->ops->sync_dir(env, data_dir);
    return rc;
}

int hm_ctl_recover(int argc, char **argv)
{
    const char *data_dir = NULL;
    const char *disks = NULL;
    const char *region = "us-east-1";
    bool help = false;
    const hm_flag flags[] = {
        {"from-shards", HM_FLAG_STR, &data_dir,
         "data directory whose meta directory is gone: rebuild it from the shard files"},
        {"disks", HM_FLAG_STR, &disks,
         "comma-separated shard store directories (default: every disk under DATA-DIR/disks)"},
        {"region", HM_FLAG_STR, &region, "region recorded in the rebuilt buckets"},
        {"h", HM_FLAG_BOOL, &help, "show this help"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    int rest = 0;
    if (hm_flags_parse(flags, nflags, argc, argv, 0, &rest) != 0 || help || rest != argc ||
        data_dir == NULL) {
        hm_flags_usage(stderr, "recover -from-shards DATA-DIR [-disks DIR,DIR]", flags, nflags);
        return help ? 0 : 2;
    }
    const char *ak, *sk;
    if (hm_ctl_root_key(&ak, &sk) != 0) return 1;

    hm_env *env = NULL;
    hm_shard_store *stores[RECOVER_DISKS_MAX] = {0};
    rc_disks dl = {.n = 0};
    char *disk_list = NULL;
    char real[PATH_MAX], meta_dir[RECOVER_PATH_BYTES], build_dir[RECOVER_PATH_BYTES];
    char disks_dir[RECOVER_PATH_BYTES];
    bool is_dir = false;
    long pid = 0;
    int code = 1, rc;
    /* The locks `hamster serve` and the split daemons take (hm_daemon.h):
     * the data directory's and each disk's, held until the end. */
    int data_lock = -1, disk_locks[RECOVER_DISKS_MAX];
    char why[1024];
    for (size_t i = 0; i < RECOVER_DISKS_MAX; i++) disk_locks[i] = -1;

    if (realpath(data_dir, real) == NULL) {
        fprintf(stderr, "recover: %s: no such directory\n", data_dir);
        return 1;
    }
    if (snprintf(meta_dir, sizeof meta_dir, "%s/meta", real) >= (int)sizeof meta_dir ||
        snprintf(build_dir, sizeof build_dir, "%s/meta.recovering", real) >=
            (int)sizeof build_dir ||
        snprintf(disks_dir, sizeof disks_dir, "%s/disks", real) >= (int)sizeof disks_dir) {
        fprintf(stderr, "recover: %s: path too long\n", data_dir);
        return 1;
    }
    rc = hm_env_posix_new(&env);
    if (rc != 0) goto fail;
    /* One process per data directory: a running serve holds this lock. */
    rc = hm_daemon_lock(real, &data_lock, why, sizeof why);
    if (rc != 0) {
        fprintf(stderr, "recover: %s\n", why);
        goto out;
    }
    if (env->ops->exists(env, meta_dir, &is_dir) == 0) {
        fprintf(stderr,
                "recover: %s exists; recover only rebuilds a deleted meta directory "
                "(move it aside first if it is damaged)\n",
                meta_dir);
        goto out;
    }
    rc = hm_cluster_check(env, real, ak, sk, NULL);
    if (rc == HM_EPERM) {
        fprintf(stderr, "recover: %s belongs to a cluster with a different root key (%s)\n",
                real, HM_ENV_SECRET_KEY);
        goto out;
    }
    if (rc != 0) {
        fprintf(stderr, "recover: %s is not a Hamster data directory: %s\n", real,
                hm_err_msg(rc));
        goto out;
    }

    /* The disks: given, or every one under DATA-DIR/disks. */
    if (disks != NULL) {
        disk_list = strdup(disks);
        if (disk_list == NULL) {
            rc = HM_ENOMEM;
            goto fail;
        }
        for (char *save = NULL, *tok = strtok_r(disk_list, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
            if (dl.n == RECOVER_DISKS_MAX) {
                dl.overflow = true;
                break;
            }
            dl.paths[dl.n] = strdup(tok);
            if (dl.paths[dl.n] == NULL) {
                rc = HM_ENOMEM;
                goto fail;
            }
            dl.n++;
        }
    } else {
        dl.base = disks_dir;
        dl.env = env;
        rc = env->ops->list_dir(env, disks_dir, rc_disk_cb, &dl);
        if (rc != 0 && rc != HM_ENOENT) goto fail;
        qsort(dl.paths, dl.n, sizeof dl.paths[0], rc_disk_path_cmp);
    }
    if (dl.overflow || dl.n == 0) {
        fprintf(stderr, "recover: need 1 to %d disks (found %zu%s)\n", RECOVER_DISKS_MAX, dl.n,
                dl.overflow ? " or more" : "");
        goto out;
    }
    /* Every disk is checked and locked before any is opened (opening a
     * store clears its tmp/, which a live server may be writing). */
    for (size_t i = 0; i < dl.n; i++) {
        char id[RECOVER_PATH_BYTES];
        bool id_dir = false;
        /* Opening a store creates one where none is: only open real disks. */
        if (snprintf(id, sizeof id, "%s/hamster-disk", dl.paths[i]) >= (int)sizeof id ||
            env->ops->exists(env, id, &id_dir) != 0 || id_dir) {
            fprintf(stderr, "recover: %s is not a shard store (no hamster-disk)\n", dl.paths[i]);
            goto out;
        }
        /* A disk of a running serve or hamster-shard holds its lock. */
        rc = hm_daemon_lock(dl.paths[i], &disk_locks[i], why, sizeof why);
        if (rc != 0) {
            fprintf(stderr, "recover: disk %s\n", why);
            goto out;
        }
    }
    if (rc_dir_in_use(real, &pid)) {
        fprintf(stderr, "recover: process %ld holds files under %s open; stop the server first\n",
                pid, real);
        goto out;
    }
    for (size_t i = 0; i < dl.n; i++) {
        char disk_real[PATH_MAX];
        if (realpath(dl.paths[i], disk_real) != NULL && rc_dir_in_use(disk_real, &pid)) {
            fprintf(stderr, "recover: process %ld holds files under %s open\n", pid,
                    dl.paths[i]);
            goto out;
        }
        rc = hm_shard_store_open(&stores[i], env, dl.paths[i]);
        if (rc != 0) {
            fprintf(stderr, "recover: disk %s: %s\n", dl.paths[i], hm_err_msg(rc));
            goto out;
        }
    }

    printf("recover: rebuilding the metadata of %s from %zu disk(s)\n", real, dl.n);
    hm_recover_stats st;
    rc = hm_recover_into(env, real, stores, dl.n, ak, region, stdout, &st);
    if (rc == HM_EEXIST) {
        fprintf(stderr, "recover: %s exists (an earlier recover stopped); remove it first\n",
                build_dir);
        goto out;
    }
    if (rc != 0) {
        fprintf(stderr, "recover: stopped: %s; %s not created (%s, if present, is left for "
                "inspection)\n", hm_err_msg(rc), meta_dir, build_dir);
        goto out;
    }
    printf("recovered: %llu bucket(s), %llu object(s) (%llu multipart), %llu bytes\n",
           (unsigned long long)st.buckets, (unsigned long long)st.objects,
           (unsigned long long)st.multipart, (unsigned long long)st.bytes);
    printf("shards: %llu seen, %llu failed their checks, %llu superseded by a newer "
           "version, %llu incomplete multipart manifest(s), %llu part(s) of no object "
           "(left in place)\n",
           (unsigned long long)st.shards, (unsigned long long)st.corrupt,
           (unsigned long long)st.superseded, (unsigned long long)st.incomplete,
           (unsigned long long)st.unused_parts);
    if (st.repairs > 0)
        printf("repair items: %llu shard(s) that no disk holds, queued for self-healing "
               "(`hamster disk list`); their objects read from the other shards\n",
               (unsigned long long)st.repairs);
    printf("not recoverable from shards: objects of at most %u bytes (stored inline in the "
           "metadata), empty buckets, bucket settings, uploads in progress\n",
           (unsigned)HM_INLINE_BYTES_MAX);
    code = 0;
    goto out;

fail:
    fprintf(stderr, "recover: %s\n", hm_err_msg(rc));
out:
    for (size_t i = 0; i < dl.n; i++) {
        if (stores[i] != NULL) hm_shard_store_close(stores[i]);
        free(dl.paths[i]);
    }
    free(disk_list);
    for (size_t i = 0; i < RECOVER_DISKS_MAX; i++) hm_daemon_unlock(disk_locks[i]);
    hm_daemon_unlock(data_lock);
    if (env != NULL) hm_env_posix_free(env);
    return code;
}
