/* hm_objsvc_mpu.c - multipart uploads and copies in the object service; see
 * the "multipart uploads and copy" section of hm_objsvc.h.
 *
 * Shaping decisions:
 *  - A part is always a blob (hm_objsvc_put_begin_part), even a tiny last
 *    part, so Complete never moves bytes: the object's manifest is the
 *    parts' blobs in order.  The cost is one shard file for a short part,
 *    paid only by multipart clients.
 *  - Complete lists the upload's parts, checks the client's list against
 *    them (order, ETags, minimum sizes; AWS "CompleteMultipartUpload"),
 *    computes the multipart ETag (MD5 of the concatenated binary part MD5s,
 *    "-N") and proposes one UploadComplete naming each part's blob; the
 *    state machine re-checks those blobs at apply, so a part re-uploaded in
 *    between makes the Complete fail (InvalidPart) instead of mixing data.
 *  - When the upload named a checksum algorithm, Complete also combines
 *    the parts' stored checksums (hm_cksum_multi) into the object's, from
 *    metadata alone; a part stored without one leaves the object without.
 *  - A copy reads the source through a get stream and writes a new blob
 *    through a put stream, a block at a time: bounded memory, no shared
 *    blobs (AWS "CopyObject", "UploadPartCopy").  A copy of a multipart
 *    source gets the MD5 of its bytes as ETag, as S3 does for a copy.
 */
#include "hm_objsvc.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_log.h"

#define MPU_COPY_BLOCK_BYTES (256u << 10)
#define MPU_CREATE_TRIES 4

static void mpu_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int mpu_hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* An ETag as a client echoes it: optional surrounding quotes (also the
 * &quot; entity form some clients put in XML bodies) around the hex.  The
 * span of the bare value goes to *start / *len. */
static void mpu_etag_bare(const char *e, const char **start, size_t *len)
{
    size_t n = strlen(e);
    while (n > 0 && (*e == ' ' || *e == '\t')) {
        e++;
        n--;
    }
    while (n > 0 && (e[n - 1] == ' ' || e[n - 1] == '\t')) n--;
    if (n >= 12 && strncmp(e, "&quot;", 6) == 0 && strncmp(e + n - 6, "&quot;", 6) == 0) {
        e += 6;
        n -= 12;
    } else if (n >= 2 && e[0] == '"' && e[n - 1] == '"') {
        e++;
        n -= 2;
    }
    *start = e;
    *len = n;
}

/* Does the client's etag name the stored hex one? (quotes ignored, hex
 * case-insensitive) */
static bool mpu_etag_eq(const char *client, const char *stored)
{
    if (client == NULL || stored == NULL) return false;
    const char *c = NULL;
    size_t n = 0;
    mpu_etag_bare(client, &c, &n);
    return n == strlen(stored) && strncasecmp(c, stored, n) == 0;
}

/* Pairs as protobuf KeyValues for one command; the strings stay the
 * caller's (the command is packed before this returns). */
static int mpu_kv(const hm_objsvc_kv *src, size_t n, Hm__KeyValue **cells_out,
                  Hm__KeyValue ***ptrs_out, size_t *bytes)
{
    *cells_out = NULL;
    *ptrs_out = NULL;
    if (n == 0) return 0;
    if (src == NULL || n > HM_USER_META_BYTES_MAX) return HM_EINVAL;
    Hm__KeyValue *cells = calloc(n, sizeof(*cells));
    Hm__KeyValue **ptrs = calloc(n, sizeof(*ptrs));
    if (cells == NULL || ptrs == NULL) {
        free(cells);
        free(ptrs);
        return HM_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (src[i].key == NULL || src[i].value == NULL) {
            free(cells);
            free(ptrs);
            return HM_EINVAL;
        }
        hm__key_value__init(&cells[i]);
        cells[i].key = (char *)src[i].key;
        cells[i].value = (char *)src[i].value;
        ptrs[i] = &cells[i];
        *bytes += strlen(src[i].key) + strlen(src[i].value);
    }
    *cells_out = cells;
    *ptrs_out = ptrs;
    return 0;
}

static int mpu_command(hm_objsvc *svc, const char *req_id, Hm__MetaCommand *cmd,
                       Hm__MetaResponse **out)
{
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    cmd->has_format_version = true;
    cmd->format_version = HM_FORMAT_VERSION;
    req.op_case = HM__META_REQUEST__OP_COMMAND;
    req.command = cmd;
    return hm_objsvc_meta_call(svc, req_id, &req, out);
}

/* ---- create ------------------------------------------------------------------- */

int hm_objsvc_mpu_create(hm_objsvc *svc, const char *req_id, const hm_objsvc_upload_args *args,
                         char *upload_id)
{
    if (args == NULL || args->bucket == NULL || args->key == NULL || upload_id == NULL)
        return HM_EINVAL;
    if (!hm_objsvc_key_valid(args->key, strlen(args->key))) return HM_EINVAL;
    if (args->tag_count > HM_TAGS_MAX) return HM_EINVAL;
    const hm_objsvc_config *cfg = hm_objsvc_get_config(svc);
    Hm__KeyValue *mc = NULL, *hc = NULL, *tc = NULL;
    Hm__KeyValue **mp = NULL, **hp = NULL, **tp = NULL;
    size_t meta_bytes = 0, hdr_bytes = 0, tag_bytes = 0;
    int rc = mpu_kv(args->user_meta, args->user_meta_count, &mc, &mp, &meta_bytes);
    if (rc == 0) rc = mpu_kv(args->headers, args->header_count, &hc, &hp, &hdr_bytes);
    if (rc == 0) rc = mpu_kv(args->tags, args->tag_count, &tc, &tp, &tag_bytes);
    if (rc != 0) goto out;
    if (meta_bytes > HM_USER_META_BYTES_MAX || hdr_bytes > HM_HTTP_HEADERS_BYTES_MAX) {
        rc = HM_ETOOBIG;
        goto out;
    }
    char id[HM_OBJSVC_UPLOAD_ID_HEX_BYTES + 1];
    Hm__UploadRecord u = HM__UPLOAD_RECORD__INIT;
    u.has_format_version = true;
    u.format_version = HM_FORMAT_VERSION;
    u.upload_id = id;
    u.bucket = (char *)args->bucket;
    u.key = (char *)args->key;
    u.has_initiated_ms = true;
    u.initiated_ms = hm_wall_ms(cfg->env);
    u.content_type = (char *)args->content_type;
    u.n_user_meta = args->user_meta_count;
    u.user_meta = mp;
    u.n_headers = args->header_count;
    u.headers = hp;
    u.n_tags = args->tag_count;
    u.tags = tp;
    u.checksum_algorithm = (char *)args->checksum_algorithm;
    Hm__UploadCreate uc = HM__UPLOAD_CREATE__INIT;
    uc.upload = &u;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_UPLOAD_CREATE;
    cmd.upload_create = &uc;
    /* 128 random bits: a clash (HM_EEXIST) is astronomically rare, but the
     * state machine refuses it rather than merge two uploads. */
    for (int i = 0; i < MPU_CREATE_TRIES; i++) {
        uint8_t raw[HM_OBJSVC_UPLOAD_ID_HEX_BYTES / 2];
        hm_random(cfg->env, raw, sizeof(raw));
        mpu_hex(raw, sizeof(raw), id);
        rc = mpu_command(svc, req_id, &cmd, NULL);
        if (rc != HM_EEXIST) break;
    }
    if (rc == 0) memcpy(upload_id, id, sizeof(id));
out:
    free(mc);
    free(mp);
    free(hc);
    free(hp);
    free(tc);
    free(tp);
    return rc;
}

/* ---- list ---------------------------------------------------------------------- */

int hm_objsvc_mpu_list_parts(hm_objsvc *svc, const char *req_id, const char *bucket,
                             const char *key, const char *upload_id, uint32_t part_marker,
                             uint32_t max_parts, Hm__MetaResponse **resp)
{
    if (bucket == NULL || key == NULL || upload_id == NULL || max_parts > HM_LIST_PARTS_MAX)
        return HM_EINVAL;
    Hm__PartList pl = HM__PART_LIST__INIT;
    pl.bucket = (char *)bucket;
    pl.upload_id = (char *)upload_id;
    pl.has_part_number_marker = true;
    pl.part_number_marker = part_marker;
    pl.has_max_parts = true;
    pl.max_parts = max_parts;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_PART_LIST;
    req.part_list = &pl;
    Hm__MetaResponse *r = NULL;
    int rc = hm_objsvc_meta_query(svc, req_id, &req, HM__META_RESPONSE__RESULT_PARTS, &r);
    if (rc != 0) return rc;
    if (r->parts->upload == NULL) {
        hm__meta_response__free_unpacked(r, NULL);
        return HM_EPROTO;
    }
    /* An upload id is only valid with the key it was created for. */
    if (r->parts->upload->key == NULL || strcmp(r->parts->upload->key, key) != 0) {
        hm__meta_response__free_unpacked(r, NULL);
        return HM_ENOUPLOAD;
    }
    *resp = r;
    return 0;
}

int hm_objsvc_mpu_list_uploads(hm_objsvc *svc, const char *req_id,
                               const hm_objsvc_upload_list_args *args,
                               Hm__MetaResponse **resp)
{
    if (args == NULL || args->bucket == NULL || args->max_uploads > HM_LIST_UPLOADS_MAX)
        return HM_EINVAL;
    Hm__UploadList ul = HM__UPLOAD_LIST__INIT;
    ul.bucket = (char *)args->bucket;
    ul.prefix = (char *)args->prefix;
    ul.delimiter = (char *)args->delimiter;
    ul.key_marker = (char *)args->key_marker;
    ul.upload_id_marker = (char *)args->upload_id_marker;
    ul.has_max_uploads = true;
    ul.max_uploads = args->max_uploads;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_UPLOAD_LIST;
    req.upload_list = &ul;
    return hm_objsvc_meta_query(svc, req_id, &req, HM__META_RESPONSE__RESULT_UPLOADS, resp);
}

/* ---- parts ----------------------------------------------------------------------- */

int hm_objsvc_part_begin(hm_objsvc *svc, const char *req_id, const hm_objsvc_part_args *args,
                         hm_objsvc_put **out)
{
    if (args == NULL || args->bucket == NULL || args->key == NULL || args->upload_id == NULL)
        return HM_EINVAL;
    if (args->part_number < 1 || args->part_number > HM_PARTS_MAX) return HM_EINVAL;
    if (args->size > HM_PART_BYTES_MAX) return HM_ETOOBIG;
    /* NoSuchUpload before any body is read. */
    Hm__MetaResponse *r = NULL;
    int rc = hm_objsvc_mpu_list_parts(svc, req_id, args->bucket, args->key, args->upload_id, 0,
                                      0, &r);
    if (rc != 0) return rc;
    hm__meta_response__free_unpacked(r, NULL);
    hm_objsvc_put_args pa = {
        .bucket = args->bucket,
        .key = args->key,
        .size = args->size,
        .content_md5 = args->content_md5,
        .sha256 = args->sha256,
    };
    return hm_objsvc_put_begin_part(svc, req_id, &pa, args->upload_id, args->part_number, out);
}

/* ---- complete -------------------------------------------------------------------- */

/* Every part of an upload, gathered page by page (at most HM_PARTS_MAX). */
typedef struct mpu_all_parts {
    Hm__MetaResponse *pages[HM_PARTS_MAX / HM_LIST_PARTS_MAX + 1];
    size_t n_pages;
    const Hm__PartRecord **v;  /* in part-number order; point into pages */
    size_t n;
    const Hm__UploadRecord *upload;
} mpu_all_parts;

_Static_assert(HM_LIST_PARTS_MAX > 0, "parts are listed in pages");

static void mpu_all_parts_free(mpu_all_parts *a)
{
    for (size_t i = 0; i < a->n_pages; i++) hm__meta_response__free_unpacked(a->pages[i], NULL);
    free(a->v);
}

static int mpu_all_parts_load(hm_objsvc *svc, const char *req_id, const char *bucket,
                              const char *key, const char *upload_id, mpu_all_parts *a)
{
    memset(a, 0, sizeof(*a));
    a->v = calloc(HM_PARTS_MAX, sizeof(*a->v));
    if (a->v == NULL) return HM_ENOMEM;
    uint32_t marker = 0;
    for (;;) {
        if (a->n_pages == sizeof(a->pages) / sizeof(a->pages[0])) return HM_EPROTO;
        Hm__MetaResponse *r = NULL;
        int rc = hm_objsvc_mpu_list_parts(svc, req_id, bucket, key, upload_id, marker,
                                          HM_LIST_PARTS_MAX, &r);
        if (rc != 0) return rc;
        a->pages[a->n_pages++] = r;
        if (a->upload == NULL) a->upload = r->parts->upload;
        for (size_t i = 0; i < r->parts->n_parts; i++) {
            const Hm__PartRecord *p = r->parts->parts[i];
            /* strictly ascending and in range, or the peer is confused */
            if (a->n == HM_PARTS_MAX || p->part_number <= marker ||
                p->part_number > HM_PARTS_MAX)
                return HM_EPROTO;
            marker = p->part_number;
            a->v[a->n++] = p;
        }
        if (!r->parts->truncated || r->parts->n_parts == 0) return 0;
    }
}

static const Hm__PartRecord *mpu_find(const mpu_all_parts *a, uint32_t pn)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->v[mid]->part_number < pn) lo = mid + 1;
        else hi = mid;
    }
    return lo < a->n && a->v[lo]->part_number == pn ? a->v[lo] : NULL;
}

/* The checksum of algo stored with part p, or false when it has none. */
static bool mpu_part_checksum(const Hm__PartRecord *p, hm_cksum_algo algo, hm_cksum_value *out)
{
    for (size_t i = 0; i < p->n_checksums; i++) {
        const Hm__Checksum *c = p->checksums[i];
        hm_cksum_algo a;
        if (c->algorithm == NULL || !c->has_value ||
            hm_cksum_from_name(c->algorithm, strlen(c->algorithm), &a) != 0 || a != algo ||
            c->value.len != hm_cksum_size(a) || (c->has_composite && c->composite))
            continue;
        memset(out, 0, sizeof(*out));
        out->algo = a;
        out->len = c->value.len;
        memcpy(out->raw, c->value.data, c->value.len);
        return true;
    }
    return false;
}

/* Does the client's checksum for part p (if it sent one) match the
 * stored one? */
static bool mpu_client_checksum_ok(const hm_objsvc_part_ref *ref, const Hm__PartRecord *p)
{
    if (ref->checksum == NULL || ref->checksum_algo == HM_CKSUM_NONE) return true;
    hm_cksum_value want, have;
    if (hm_cksum_parse(ref->checksum_algo, ref->checksum, strlen(ref->checksum), &want) != 0)
        return false;
    return mpu_part_checksum(p, ref->checksum_algo, &have) && hm_cksum_equal(&want, &have);
}

/* The multipart ETag of the client's part list, from the ETags it sent:
 * false when one is not 32 hex digits. */
static bool mpu_client_etag(const hm_objsvc_part_ref *parts, size_t n,
                            char out[HM_OBJSVC_MPU_ETAG_BYTES])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_md5(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        const char *e = NULL;
        size_t len = 0;
        mpu_etag_bare(parts[i].etag != NULL ? parts[i].etag : "", &e, &len);
        uint8_t bin[16];
        ok = len == HM_OBJSVC_ETAG_HEX_BYTES;
        for (size_t k = 0; ok && k < 16; k++) {
            int hi = mpu_hexval(e[2 * k]), lo = mpu_hexval(e[2 * k + 1]);
            ok = hi >= 0 && lo >= 0;
            bin[k] = (uint8_t)(hi * 16 + lo);
        }
        ok = ok && EVP_DigestUpdate(md, bin, sizeof(bin)) == 1;
    }
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    ok = ok && EVP_DigestFinal_ex(md, digest, &dlen) == 1 && dlen == 16;
    EVP_MD_CTX_free(md);
    if (!ok) return false;
    mpu_hex(digest, 16, out);
    snprintf(out + HM_OBJSVC_ETAG_HEX_BYTES, HM_OBJSVC_MPU_ETAG_BYTES - HM_OBJSVC_ETAG_HEX_BYTES,
             "-%zu", n);
    return true;
}

/* The upload is gone: a retry of a Complete that succeeded (its answer was
 * lost) finds the key holding the object it made, with the ETag the
 * client's list implies; S3 answers such a retry with 200. */
static int mpu_complete_retry(hm_objsvc *svc, const char *req_id,
                              const hm_objsvc_complete_args *args, char *etag_out)
{
    char want[HM_OBJSVC_MPU_ETAG_BYTES];
    if (!mpu_client_etag(args->parts, args->part_count, want)) return HM_ENOUPLOAD;
    hm_objsvc_get *g = NULL;
    if (hm_objsvc_get_open(svc, req_id, args->bucket, args->key, &g) != 0) return HM_ENOUPLOAD;
    const Hm__ObjectVersion *v = hm_objsvc_get_version(g);
    bool same = v->etag != NULL && strcmp(v->etag, want) == 0 &&
                v->n_part_sizes == args->part_count;
    if (same && args->checksum_out != NULL) {
        hm_cksum_value *ck = args->checksum_out;
        memset(ck, 0, sizeof(*ck));
        for (size_t i = 0; i < v->n_checksums; i++) {
            const Hm__Checksum *c = v->checksums[i];
            hm_cksum_algo a;
            if (c->algorithm == NULL || !c->has_value ||
                hm_cksum_from_name(c->algorithm, strlen(c->algorithm), &a) != 0 ||
                c->value.len != hm_cksum_size(a))
                continue;
            ck->algo = a;
            ck->len = c->value.len;
            memcpy(ck->raw, c->value.data, c->value.len);
            ck->composite = c->has_composite && c->composite;
            ck->parts = ck->composite ? (uint32_t)v->n_part_sizes : 0;
            break;
        }
    }
    hm_objsvc_get_close(g);
    if (!same) return HM_ENOUPLOAD;
    if (etag_out != NULL) memcpy(etag_out, want, strlen(want) + 1);
    return 0;
}

int hm_objsvc_mpu_complete(hm_objsvc *svc, const char *req_id,
                           const hm_objsvc_complete_args *args, char *etag_out,
                           enum hm_objsvc_mpu_fault *fault)
{
    enum hm_objsvc_mpu_fault f = HM_OBJSVC_MPU_NONE;
    if (fault != NULL) *fault = f;
    if (args == NULL || args->bucket == NULL || args->key == NULL || args->upload_id == NULL)
        return HM_EINVAL;
    if (args->checksum_out != NULL) memset(args->checksum_out, 0, sizeof(*args->checksum_out));
    size_t n = args->part_count;
    if (n == 0 || args->parts == NULL) {
        if (fault != NULL) *fault = HM_OBJSVC_MPU_NO_PARTS;
        return HM_EINVAL;
    }
    if (n > HM_PARTS_MAX) {
        if (fault != NULL) *fault = HM_OBJSVC_MPU_INVALID_PART;
        return HM_EINVAL;
    }
    /* AWS checks the order first: InvalidPartOrder before InvalidPart. */
    for (size_t i = 0; i < n; i++) {
        uint32_t pn = args->parts[i].part_number;
        if (pn < 1 || pn > HM_PARTS_MAX) {
            if (fault != NULL) *fault = HM_OBJSVC_MPU_INVALID_PART;
            return HM_EINVAL;
        }
        if (i > 0 && pn <= args->parts[i - 1].part_number) {
            if (fault != NULL) *fault = HM_OBJSVC_MPU_PART_ORDER;
            return HM_EINVAL;
        }
    }
    const hm_objsvc_config *cfg = hm_objsvc_get_config(svc);
    mpu_all_parts all;
    Hm__Blob **blobs = NULL;
    uint64_t *sizes = NULL;
    uint32_t *numbers = NULL;
    const char **etags = NULL;
    EVP_MD_CTX *md = NULL;
    hm_cksum_multi cm;
    bool cm_live = false, cm_ok = false;
    int rc = mpu_all_parts_load(svc, req_id, args->bucket, args->key, args->upload_id, &all);
    if (rc == HM_ENOUPLOAD) rc = mpu_complete_retry(svc, req_id, args, etag_out);
    if (rc != 0 || all.upload == NULL) goto out;
    blobs = calloc(n, sizeof(*blobs));
    sizes = calloc(n, sizeof(*sizes));
    numbers = calloc(n, sizeof(*numbers));
    etags = calloc(n, sizeof(*etags));
    md = EVP_MD_CTX_new();
    if (blobs == NULL || sizes == NULL || numbers == NULL || etags == NULL || md == NULL ||
        EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
        rc = HM_ENOMEM;
        goto out;
    }
    /* The object's checksum, when the upload named an algorithm. */
    hm_cksum_algo ck_algo = HM_CKSUM_NONE;
    const char *ck_name = all.upload->checksum_algorithm;
    if (ck_name != NULL && ck_name[0] != '\0' &&
        hm_cksum_from_name(ck_name, strlen(ck_name), &ck_algo) == 0) {
        /* a failure here only costs the object its checksum */
        cm_live = hm_cksum_multi_init(&cm, ck_algo, hm_cksum_default_full_object(ck_algo)) == 0;
        cm_ok = cm_live;
    }
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        const Hm__PartRecord *p = mpu_find(&all, args->parts[i].part_number);
        if (p == NULL || p->blob == NULL || p->etag == NULL ||
            strlen(p->etag) != HM_OBJSVC_ETAG_HEX_BYTES ||
            !mpu_etag_eq(args->parts[i].etag, p->etag) ||
            !mpu_client_checksum_ok(&args->parts[i], p)) {
            f = HM_OBJSVC_MPU_INVALID_PART;
            rc = HM_EINVAL;
            goto out;
        }
        if (cm_ok) {
            hm_cksum_value pc;
            /* a part without the checksum: the object gets none */
            cm_ok = mpu_part_checksum(p, ck_algo, &pc) &&
                    hm_cksum_multi_add(&cm, &pc, p->size) == 0;
        }
        uint8_t bin[16];
        for (size_t k = 0; k < 16; k++) {
            int hi = mpu_hexval(p->etag[2 * k]), lo = mpu_hexval(p->etag[2 * k + 1]);
            if (hi < 0 || lo < 0) {
                rc = HM_EPROTO;
                goto out;
            }
            bin[k] = (uint8_t)(hi * 16 + lo);
        }
        if (EVP_DigestUpdate(md, bin, sizeof(bin)) != 1) {
            rc = HM_EINTERNAL;
            goto out;
        }
        blobs[i] = p->blob;
        sizes[i] = p->size;
        numbers[i] = p->part_number;
        etags[i] = p->etag;
        if (p->size > HM_OBJECT_BYTES_MAX - total) {
            rc = HM_ETOOBIG;
            goto out;
        }
        total += p->size;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        if (sizes[i] < HM_PART_BYTES_MIN) {
            f = HM_OBJSVC_MPU_TOO_SMALL;
            rc = HM_EINVAL;
            goto out;
        }
    }
    uint8_t digest[EVP_MAX_MD_SIZE];
    unsigned dlen = 0;
    if (EVP_DigestFinal_ex(md, digest, &dlen) != 1 || dlen != 16) {
        rc = HM_EINTERNAL;
        goto out;
    }
    char etag[HM_OBJSVC_MPU_ETAG_BYTES];
    mpu_hex(digest, 16, etag);
    snprintf(etag + HM_OBJSVC_ETAG_HEX_BYTES, sizeof(etag) - HM_OBJSVC_ETAG_HEX_BYTES, "-%zu",
             n);
    hm_cksum_value ck;
    memset(&ck, 0, sizeof(ck));
    if (cm_ok && hm_cksum_multi_final(&cm, &ck) != 0) memset(&ck, 0, sizeof(ck));
    Hm__Checksum cks = HM__CHECKSUM__INIT;
    Hm__Checksum *cksp[1] = {&cks};

    const Hm__UploadRecord *u = all.upload;
    uint8_t oid[16];
    hm_random(cfg->env, oid, sizeof(oid));
    Hm__ObjectVersion v = HM__OBJECT_VERSION__INIT;
    v.has_format_version = true;
    v.format_version = HM_FORMAT_VERSION;
    v.has_object_id = true;
    v.object_id.data = oid;
    v.object_id.len = sizeof(oid);
    v.version_id = "null";
    v.has_size = true;
    v.size = total;
    v.etag = etag;
    v.content_type = u->content_type;
    v.n_user_meta = u->n_user_meta;
    v.user_meta = u->user_meta;
    v.n_headers = u->n_headers;
    v.headers = u->headers;
    v.n_tags = u->n_tags;
    v.tags = u->tags;
    v.has_mtime_ms = true;
    v.mtime_ms = hm_wall_ms(cfg->env);
    v.n_blobs = n;
    v.blobs = blobs;
    v.n_part_sizes = n;
    v.part_sizes = sizes;
    v.key = (char *)args->key;
    if (ck.algo != HM_CKSUM_NONE) {
        cks.algorithm = (char *)hm_cksum_name(ck.algo);
        cks.has_value = true;
        cks.value.data = ck.raw;
        cks.value.len = ck.len;
        cks.has_composite = ck.composite;
        cks.composite = ck.composite;
        v.n_checksums = 1;
        v.checksums = cksp;
    }
    Hm__WriteCondition cond = HM__WRITE_CONDITION__INIT;
    Hm__UploadComplete uc = HM__UPLOAD_COMPLETE__INIT;
    uc.bucket = (char *)args->bucket;
    uc.key = (char *)args->key;
    uc.upload_id = (char *)args->upload_id;
    uc.version = &v;
    uc.n_part_numbers = n;
    uc.part_numbers = numbers;
    uc.has_gc_grace_ms = true;
    uc.gc_grace_ms = cfg->gc_grace_ms;
    if (args->if_none_match_any || args->if_match_etag != NULL) {
        cond.has_if_none_match_any = args->if_none_match_any;
        cond.if_none_match_any = args->if_none_match_any;
        cond.if_match_etag = (char *)args->if_match_etag;
        uc.cond = &cond;
    }
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_UPLOAD_COMPLETE;
    cmd.upload_complete = &uc;
    /* Which parts form the object, durable in a shard before the commit:
     * what a rebuild from shards reads (hm_objsvc_manifest.c). */
    rc = hm_objsvc_manifest_write(svc, req_id, args->bucket, args->upload_id, &v, numbers,
                                  etags);
    if (rc != 0) {
        /* a write whose answer was lost may still have landed */
        hm_objsvc_manifest_settle(svc, req_id, args->bucket, args->upload_id, &v, HM_EINVAL);
        goto out;
    }
    rc = mpu_command(svc, req_id, &cmd, NULL);
    if (rc != 0) hm_objsvc_manifest_settle(svc, req_id, args->bucket, args->upload_id, &v, rc);
    if (rc == HM_EINVAL) {
        /* a part was replaced between our listing and the commit */
        f = HM_OBJSVC_MPU_INVALID_PART;
        goto out;
    }
    if (rc == 0 && etag_out != NULL) memcpy(etag_out, etag, strlen(etag) + 1);
    if (rc == 0 && args->checksum_out != NULL) *args->checksum_out = ck;
out:
    if (fault != NULL) *fault = f;
    if (cm_live) hm_cksum_multi_free(&cm);
    EVP_MD_CTX_free(md);
    free(blobs);
    free(sizes);
    free(numbers);
    free(etags);
    mpu_all_parts_free(&all);
    return rc;
}

/* ---- abort -------------------------------------------------------------------------- */

int hm_objsvc_mpu_abort(hm_objsvc *svc, const char *req_id, const char *bucket,
                        const char *key, const char *upload_id)
{
    /* The upload must belong to key, as S3 checks. */
    Hm__MetaResponse *r = NULL;
    int rc = hm_objsvc_mpu_list_parts(svc, req_id, bucket, key, upload_id, 0, 0, &r);
    if (rc != 0) return rc;
    hm__meta_response__free_unpacked(r, NULL);
    const hm_objsvc_config *cfg = hm_objsvc_get_config(svc);
    Hm__UploadAbort a = HM__UPLOAD_ABORT__INIT;
    a.bucket = (char *)bucket;
    a.upload_id = (char *)upload_id;
    a.has_now_ms = true;
    a.now_ms = hm_wall_ms(cfg->env);
    a.has_gc_grace_ms = true;
    a.gc_grace_ms = cfg->gc_grace_ms;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_UPLOAD_ABORT;
    cmd.upload_abort = &a;
    return mpu_command(svc, req_id, &cmd, NULL);
}

/* ---- copy ---------------------------------------------------------------------------- */

int hm_objsvc_copy_cond_check(const hm_objsvc_copy_cond *c, const Hm__ObjectVersion *v)
{
    if (c == NULL) return 0;
    int64_t mtime_s = v->mtime_ms / 1000; /* HTTP dates have whole seconds */
    if (c->if_match != NULL) {
        const char *e = NULL;
        size_t n = 0;
        mpu_etag_bare(c->if_match, &e, &n);
        if (!(n == 1 && e[0] == '*') && !mpu_etag_eq(c->if_match, v->etag)) return HM_EPRECOND;
    } else if (c->has_if_unmodified_since && mtime_s > c->if_unmodified_since_ms / 1000) {
        return HM_EPRECOND;
    }
    if (c->if_none_match != NULL) {
        const char *e = NULL;
        size_t n = 0;
        mpu_etag_bare(c->if_none_match, &e, &n);
        if ((n == 1 && e[0] == '*') || mpu_etag_eq(c->if_none_match, v->etag))
            return HM_EPRECOND;
    } else if (c->has_if_modified_since && mtime_s <= c->if_modified_since_ms / 1000) {
        return HM_EPRECOND;
    }
    return 0;
}

/* Pump the get stream g into the put stream p: span bytes. */
static int mpu_pump(hm_objsvc_get *g, hm_objsvc_put *p, uint64_t span)
{
    uint8_t *buf = malloc(MPU_COPY_BLOCK_BYTES);
    if (buf == NULL) return HM_ENOMEM;
    int rc = 0;
    uint64_t left = span;
    while (left > 0) {
        size_t got = 0;
        rc = hm_objsvc_get_read(g, buf, MPU_COPY_BLOCK_BYTES, &got);
        if (rc != 0) break;
        if (got == 0 || got > left) {
            rc = HM_ECORRUPT; /* the source ended early or overran its span */
            break;
        }
        rc = hm_objsvc_put_write(p, buf, got);
        if (rc != 0) break;
        left -= got;
    }
    free(buf);
    return rc;
}

int hm_objsvc_copy(hm_objsvc *svc, const char *req_id, const hm_objsvc_copy_args *args,
                   char *etag, int64_t *mtime_ms, enum hm_objsvc_mpu_fault *fault)
{
    enum hm_objsvc_mpu_fault f = HM_OBJSVC_MPU_NONE;
    if (fault != NULL) *fault = f;
    if (args == NULL || args->src_bucket == NULL || args->src_key == NULL ||
        args->dst.bucket == NULL || args->dst.key == NULL)
        return HM_EINVAL;
    bool to_part = args->upload_id != NULL;
    /* AWS "CopyObject": a copy onto itself must change something; with
     * metadata-directive COPY it would change nothing. */
    if (!to_part && !args->replace_meta && strcmp(args->src_bucket, args->dst.bucket) == 0 &&
        strcmp(args->src_key, args->dst.key) == 0) {
        if (fault != NULL) *fault = HM_OBJSVC_COPY_TO_SELF;
        return HM_EINVAL;
    }
    hm_objsvc_get *g = NULL;
    hm_objsvc_put *p = NULL;
    int rc = hm_objsvc_get_open(svc, req_id, args->src_bucket, args->src_key, &g);
    if (rc != 0) return rc;
    const Hm__ObjectVersion *sv = hm_objsvc_get_version(g);
    rc = hm_objsvc_copy_cond_check(args->cond, sv);
    if (rc != 0) {
        f = HM_OBJSVC_COPY_PRECOND;
        goto out;
    }
    uint64_t off = 0, len = sv->size;
    if (args->has_range) {
        /* AWS "UploadPartCopy": the range must lie inside the source. */
        if (args->range_first > args->range_last || args->range_last >= sv->size) {
            f = HM_OBJSVC_COPY_RANGE;
            rc = HM_EINVAL;
            goto out;
        }
        off = args->range_first;
        len = args->range_last - args->range_first + 1;
        rc = hm_objsvc_get_set_span(g, off, len);
        if (rc != 0) goto out;
    }
    if (len > (to_part ? HM_PART_BYTES_MAX : HM_PUT_BYTES_MAX)) {
        f = HM_OBJSVC_COPY_TOO_LARGE;
        rc = HM_EINVAL;
        goto out;
    }
    if (to_part) {
        hm_objsvc_part_args pa = {
            .bucket = args->dst.bucket,
            .key = args->dst.key,
            .upload_id = args->upload_id,
            .part_number = args->part_number,
            .size = len,
        };
        rc = hm_objsvc_part_begin(svc, req_id, &pa, &p);
    } else {
        hm_objsvc_put_args pa = args->dst;
        pa.size = len;
        pa.content_md5 = NULL;
        pa.sha256 = NULL;
        hm_objsvc_kv *meta = NULL, *hdrs = NULL, *tags = NULL;
        if (!args->replace_tags) {
            if (sv->n_tags > HM_TAGS_MAX) {
                rc = HM_ECORRUPT;
                goto out;
            }
            tags = calloc(sv->n_tags + 1, sizeof(*tags));
            if (tags == NULL) {
                rc = HM_ENOMEM;
                goto out;
            }
            for (size_t i = 0; i < sv->n_tags; i++)
                tags[i] = (hm_objsvc_kv){sv->tags[i]->key, sv->tags[i]->value};
            pa.tags = tags;
            pa.tag_count = sv->n_tags;
        }
        if (!args->replace_meta) {
            /* COPY: the source's content type, metadata and headers */
            pa.content_type = sv->content_type;
            pa.user_meta_count = sv->n_user_meta;
            pa.header_count = sv->n_headers;
            meta = calloc(sv->n_user_meta + 1, sizeof(*meta));
            hdrs = calloc(sv->n_headers + 1, sizeof(*hdrs));
            if (meta == NULL || hdrs == NULL) {
                free(meta);
                free(hdrs);
                free(tags);
                rc = HM_ENOMEM;
                goto out;
            }
            for (size_t i = 0; i < sv->n_user_meta; i++)
                meta[i] = (hm_objsvc_kv){sv->user_meta[i]->key, sv->user_meta[i]->value};
            for (size_t i = 0; i < sv->n_headers; i++)
                hdrs[i] = (hm_objsvc_kv){sv->headers[i]->key, sv->headers[i]->value};
            pa.user_meta = meta;
            pa.headers = hdrs;
        }
        rc = hm_objsvc_put_begin(svc, req_id, &pa, &p);
        free(meta);
        free(hdrs);
        free(tags);
    }
    if (rc != 0) {
        p = NULL;
        goto out;
    }
    rc = mpu_pump(g, p, len);
    if (rc != 0) goto out;
    char e[HM_OBJSVC_ETAG_HEX_BYTES + 1];
    int64_t now = hm_wall_ms(hm_objsvc_get_config(svc)->env);
    hm_objsvc_put *fp = p;
    p = NULL; /* finish frees it whatever happens */
    rc = hm_objsvc_put_finish(fp, e, NULL);
    if (rc != 0) goto out;
    if (etag != NULL) memcpy(etag, e, sizeof(e));
    if (mtime_ms != NULL) *mtime_ms = now;
out:
    if (p != NULL) hm_objsvc_put_abort(p);
    hm_objsvc_get_close(g);
    if (fault != NULL) *fault = f;
    return rc;
}

int hm_objsvc_part_span(const Hm__ObjectVersion *v, uint32_t part_number, uint64_t *off,
                        uint64_t *len)
{
    if (part_number < 1) return HM_EINVAL;
    if (v->n_part_sizes == 0) {
        if (part_number != 1) return HM_EINVAL;
        *off = 0;
        *len = v->size;
        return 0;
    }
    if (part_number > v->n_part_sizes) return HM_EINVAL;
    uint64_t o = 0;
    for (size_t i = 0; i + 1 < part_number; i++) {
        if (v->part_sizes[i] > v->size - o) return HM_EINVAL;
        o += v->part_sizes[i];
    }
    if (v->part_sizes[part_number - 1] > v->size - o) return HM_EINVAL;
    *off = o;
    *len = v->part_sizes[part_number - 1];
    return 0;
}
