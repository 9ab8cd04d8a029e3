/* hm_gw_guard.c - the one table of protections Hamster refuses until it
 * provides them, the check over it, and its use by the gateway's handlers
 * (see hm_gw_guard.h).
 *
 * Decisions written down here and in docs/s3-compatibility.md:
 * - SSE-C over plain HTTP is 400 InvalidRequest, as AWS answers; over HTTPS
 *   a write with a customer key is 501 NotImplemented.  A read with one
 *   (GetObject, HeadObject, and the copy-source key of CopyObject and
 *   UploadPartCopy) names an object that cannot be encrypted, since nothing
 *   is, so it gets AWS's answer for an unencrypted object: 400 InvalidRequest
 *   "The encryption parameters are not applicable to this object".
 * - Object Lock headers on a write get AWS's answer for a bucket without
 *   Object Lock (400 InvalidRequest "Bucket is missing
 *   ObjectLockConfiguration"): no Hamster bucket can have it, because
 *   CreateBucket with x-amz-bucket-object-lock-enabled: true is 501.
 * - Storage classes that are read like STANDARD (immediately, with the same
 *   API) are stored as STANDARD, which is at least as durable and available
 *   as any of them; listings and attributes say STANDARD.  Archive and
 *   location-bound classes (GLACIER, DEEP_ARCHIVE, OUTPOSTS, SNOW,
 *   EXPRESS_ONEZONE) change how an object is read or where it lives and are
 *   InvalidStorageClass, as are names AWS does not define.
 * - The canned ACLs private and bucket-owner-full-control describe every
 *   Hamster object (one owner, nobody else has access) and pass; every
 *   other canned ACL and every x-amz-grant-* header would grant access to
 *   someone and is 501.
 */
#include "hm_gw_guard.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hm_gw_int.h"
#include "hm_err.h"
#include "hm_log.h"

/* ---- the table --------------------------------------------------------------- */

#define W_OBJ (HM_GUARD_PUT_OBJECT | HM_GUARD_POST_OBJECT | HM_GUARD_COPY_OBJECT | \
               HM_GUARD_CREATE_MPU)
#define W_DATA (HM_GUARD_PUT_OBJECT | HM_GUARD_POST_OBJECT | HM_GUARD_COPY_OBJECT | \
                HM_GUARD_CREATE_MPU | HM_GUARD_UPLOAD_PART | HM_GUARD_UPLOAD_PART_COPY | \
                HM_GUARD_COMPLETE_MPU)
#define W_ACL (HM_GUARD_PUT_OBJECT | HM_GUARD_COPY_OBJECT | HM_GUARD_CREATE_MPU | \
               HM_GUARD_CREATE_BUCKET)
#define W_COPY (HM_GUARD_COPY_OBJECT | HM_GUARD_UPLOAD_PART_COPY)

static const char *const guard_sse_known[] = {"AES256", "aws:kms", "aws:kms:dsse", NULL};
static const char *const guard_none[] = {NULL};
static const char *const guard_false[] = {"false", NULL};
static const char *const guard_true[] = {"true", NULL};
static const char *const guard_acl_accepted[] = {"private", "bucket-owner-full-control",
                                                 NULL};
static const char *const guard_acl_known[] = {
    "public-read", "public-read-write", "authenticated-read", "aws-exec-read",
    "bucket-owner-read", "log-delivery-write", NULL,
};
static const char *const guard_class_accepted[] = {
    "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
    "GLACIER_IR", NULL,
};
static const char *const guard_class_known[] = {
    "GLACIER", "DEEP_ARCHIVE", "OUTPOSTS", "SNOW", "EXPRESS_ONEZONE", NULL,
};

#define SSE_C_WHY "Hamster does not encrypt data at rest yet; customer-provided keys " \
                  "are not implemented"
#define SSE_C_READ_LEAD "The encryption parameters are not applicable to this object"
#define SSE_C_READ_WHY "no object stored by Hamster is encrypted"
#define SSE_WHY "Hamster does not encrypt data at rest yet"
#define LOCK_LEAD "Bucket is missing ObjectLockConfiguration"
#define LOCK_WHY "Hamster does not implement Object Lock yet"
#define ACL_WHY "Hamster has no ACLs yet: every object and bucket is private to its owner"
#define CLASS_WHY "Hamster stores every object as STANDARD and offers no archive or " \
                  "location-bound class"

/* SSE-C headers on writes, then on reads (same names, disjoint operations),
 * then the copy source's key. */
#define GUARD_SSE_C_ROW(hdr, ops_, err_, lead_, why_)                                  \
    {.name = hdr, .ops = ops_, .kind = HM_GUARD_SSE_C, .err = err_, .lead = lead_,      \
     .why = why_, .echo_value = false, .example = "AES256"}

static const hm_guard_row guard_table[] = {
    GUARD_SSE_C_ROW("x-amz-server-side-encryption-customer-algorithm", W_DATA,
                    HM_S3_NOT_IMPLEMENTED, NULL, SSE_C_WHY),
    GUARD_SSE_C_ROW("x-amz-server-side-encryption-customer-key", W_DATA,
                    HM_S3_NOT_IMPLEMENTED, NULL, SSE_C_WHY),
    GUARD_SSE_C_ROW("x-amz-server-side-encryption-customer-key-MD5", W_DATA,
                    HM_S3_NOT_IMPLEMENTED, NULL, SSE_C_WHY),
    GUARD_SSE_C_ROW("x-amz-server-side-encryption-customer-algorithm", HM_GUARD_GET_OBJECT,
                    HM_S3_INVALID_REQUEST, SSE_C_READ_LEAD, SSE_C_READ_WHY),
    GUARD_SSE_C_ROW("x-amz-server-side-encryption-customer-key", HM_GUARD_GET_OBJECT,
                    HM_S3_INVALID_REQUEST, SSE_C_READ_LEAD, SSE_C_READ_WHY),
    GUARD_SSE_C_ROW("x-amz-server-side-encryption-customer-key-MD5", HM_GUARD_GET_OBJECT,
                    HM_S3_INVALID_REQUEST, SSE_C_READ_LEAD, SSE_C_READ_WHY),
    GUARD_SSE_C_ROW("x-amz-copy-source-server-side-encryption-customer-algorithm", W_COPY,
                    HM_S3_INVALID_REQUEST, SSE_C_READ_LEAD, SSE_C_READ_WHY),
    GUARD_SSE_C_ROW("x-amz-copy-source-server-side-encryption-customer-key", W_COPY,
                    HM_S3_INVALID_REQUEST, SSE_C_READ_LEAD, SSE_C_READ_WHY),
    GUARD_SSE_C_ROW("x-amz-copy-source-server-side-encryption-customer-key-MD5", W_COPY,
                    HM_S3_INVALID_REQUEST, SSE_C_READ_LEAD, SSE_C_READ_WHY),
    /* SSE-S3 and SSE-KMS.  AWS answers an unknown method InvalidArgument. */
    {.name = "x-amz-server-side-encryption", .ops = W_OBJ, .kind = HM_GUARD_VALUES,
     .accepted = guard_none, .known = guard_sse_known, .err = HM_S3_NOT_IMPLEMENTED,
     .err_unknown = HM_S3_INVALID_ARGUMENT, .why = SSE_WHY, .echo_value = true,
     .example = "aws:kms"},
    {.name = "x-amz-server-side-encryption-aws-kms-key-id", .ops = W_OBJ,
     .kind = HM_GUARD_ANY, .err = HM_S3_NOT_IMPLEMENTED, .why = SSE_WHY,
     .echo_value = false, .example = "alias/hamster"},
    {.name = "x-amz-server-side-encryption-context", .ops = W_OBJ, .kind = HM_GUARD_ANY,
     .err = HM_S3_NOT_IMPLEMENTED, .why = SSE_WHY, .echo_value = false,
     .example = "e30="},
    {.name = "x-amz-server-side-encryption-bucket-key-enabled", .ops = W_OBJ,
     .kind = HM_GUARD_VALUES, .accepted = guard_false, .known = guard_true,
     .values_nocase = true, .err = HM_S3_NOT_IMPLEMENTED,
     .err_unknown = HM_S3_INVALID_ARGUMENT, .why = SSE_WHY, .echo_value = true,
     .example = "true"},
    /* Object Lock */
    {.name = "x-amz-object-lock-mode", .ops = W_OBJ, .kind = HM_GUARD_ANY,
     .err = HM_S3_INVALID_REQUEST, .lead = LOCK_LEAD, .why = LOCK_WHY, .echo_value = true,
     .example = "COMPLIANCE"},
    {.name = "x-amz-object-lock-retain-until-date", .ops = W_OBJ, .kind = HM_GUARD_ANY,
     .err = HM_S3_INVALID_REQUEST, .lead = LOCK_LEAD, .why = LOCK_WHY, .echo_value = true,
     .example = "2030-01-01T00:00:00Z"},
    {.name = "x-amz-object-lock-legal-hold", .ops = W_OBJ, .kind = HM_GUARD_ANY,
     .err = HM_S3_INVALID_REQUEST, .lead = LOCK_LEAD, .why = LOCK_WHY, .echo_value = true,
     .example = "ON"},
    {.name = "x-amz-bucket-object-lock-enabled", .ops = HM_GUARD_CREATE_BUCKET,
     .kind = HM_GUARD_VALUES, .accepted = guard_false, .known = guard_true,
     .values_nocase = true, .err = HM_S3_NOT_IMPLEMENTED,
     .err_unknown = HM_S3_INVALID_ARGUMENT, .why = LOCK_WHY, .echo_value = true,
     .example = "true"},
    /* ACLs: canned (header and POST field) and grants */
    {.name = "x-amz-acl", .ops = W_ACL, .kind = HM_GUARD_VALUES,
     .accepted = guard_acl_accepted, .known = guard_acl_known, .err = HM_S3_NOT_IMPLEMENTED,
     .err_unknown = HM_S3_INVALID_ARGUMENT, .why = ACL_WHY, .echo_value = true,
     .example = "public-read"},
    {.name = "acl", .ops = HM_GUARD_POST_OBJECT, .kind = HM_GUARD_VALUES,
     .accepted = guard_acl_accepted, .known = guard_acl_known, .err = HM_S3_NOT_IMPLEMENTED,
     .err_unknown = HM_S3_INVALID_ARGUMENT, .why = ACL_WHY, .echo_value = true,
     .example = "public-read"},
    {.name = "x-amz-grant-full-control", .ops = W_ACL | HM_GUARD_POST_OBJECT,
     .kind = HM_GUARD_ANY, .err = HM_S3_NOT_IMPLEMENTED, .why = ACL_WHY,
     .echo_value = false, .example = "id=someone-else"},
    {.name = "x-amz-grant-read", .ops = W_ACL | HM_GUARD_POST_OBJECT, .kind = HM_GUARD_ANY,
     .err = HM_S3_NOT_IMPLEMENTED, .why = ACL_WHY, .echo_value = false,
     .example = "uri=\"http://acs.amazonaws.com/groups/global/AllUsers\""},
    {.name = "x-amz-grant-read-acp", .ops = W_ACL | HM_GUARD_POST_OBJECT,
     .kind = HM_GUARD_ANY, .err = HM_S3_NOT_IMPLEMENTED, .why = ACL_WHY,
     .echo_value = false, .example = "id=someone-else"},
    {.name = "x-amz-grant-write", .ops = W_ACL | HM_GUARD_POST_OBJECT, .kind = HM_GUARD_ANY,
     .err = HM_S3_NOT_IMPLEMENTED, .why = ACL_WHY, .echo_value = false,
     .example = "id=someone-else"},
    {.name = "x-amz-grant-write-acp", .ops = W_ACL | HM_GUARD_POST_OBJECT,
     .kind = HM_GUARD_ANY, .err = HM_S3_NOT_IMPLEMENTED, .why = ACL_WHY,
     .echo_value = false, .example = "id=someone-else"},
    /* Storage class */
    {.name = "x-amz-storage-class", .ops = W_OBJ, .kind = HM_GUARD_VALUES,
     .accepted = guard_class_accepted, .known = guard_class_known,
     .err = HM_S3_INVALID_STORAGE_CLASS, .err_unknown = HM_S3_INVALID_STORAGE_CLASS,
     .why = CLASS_WHY, .echo_value = true, .example = "GLACIER"},
    /* Effects that would be silently lost */
    {.name = "x-amz-website-redirect-location", .ops = W_OBJ, .kind = HM_GUARD_ANY,
     .err = HM_S3_NOT_IMPLEMENTED,
     .why = "Hamster does not host websites and would not keep the redirect",
     .echo_value = false, .example = "/elsewhere.html"},
    {.name = "x-amz-write-offset-bytes", .ops = HM_GUARD_PUT_OBJECT, .kind = HM_GUARD_ANY,
     .err = HM_S3_NOT_IMPLEMENTED,
     .why = "appending to an object is not implemented; the write would replace it",
     .echo_value = true, .example = "0"},
    {.name = "tagging", .ops = HM_GUARD_POST_OBJECT, .kind = HM_GUARD_ANY,
     .err = HM_S3_NOT_IMPLEMENTED,
     .why = "tags in a POST form are not implemented (PutObjectTagging is)",
     .echo_value = false, .example = "<Tagging><TagSet></TagSet></Tagging>"},
    /* Integrity checks the client asks the server to make and Hamster
     * does not: refused rather than skipped. */
    {.name = "x-amz-checksum-algorithm", .ops = HM_GUARD_COPY_OBJECT, .kind = HM_GUARD_ANY,
     .err = HM_S3_NOT_IMPLEMENTED,
     .why = "CopyObject does not compute a checksum for the copy",
     .echo_value = true, .example = "SHA256"},
    {.name = "x-amz-mp-object-size", .ops = HM_GUARD_COMPLETE_MPU, .kind = HM_GUARD_ANY,
     .err = HM_S3_NOT_IMPLEMENTED,
     .why = "CompleteMultipartUpload does not check the object size against it",
     .echo_value = true, .example = "10485760"},
    {.name = "x-amz-checksum-type", .ops = HM_GUARD_CREATE_MPU,
     .kind = HM_GUARD_CHECKSUM_TYPE, .err = HM_S3_NOT_IMPLEMENTED,
     .err_unknown = HM_S3_INVALID_REQUEST,
     .why = "multipart objects get a COMPOSITE checksum, except CRC64NVME (FULL_OBJECT)",
     .echo_value = true, .example = "FULL_OBJECT"},
};

#define GUARD_ROWS (sizeof(guard_table) / sizeof(guard_table[0]))

const hm_guard_row *hm_guard_rows(size_t *count)
{
    *count = GUARD_ROWS;
    return guard_table;
}

/* ---- the check ---------------------------------------------------------------- */

static bool guard_in(const char *const *list, const char *v, bool nocase)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++)
        if (nocase ? strcasecmp(list[i], v) == 0 : strcmp(list[i], v) == 0) return true;
    return false;
}

/* The value for a message: at most HM_GUARD_ECHO_BYTES_MAX printable ASCII
 * characters, anything else as '?'. */
static void guard_echo(const char *v, char out[HM_GUARD_ECHO_BYTES_MAX + 4])
{
    size_t n = 0;
    for (; v[n] != '\0' && n < HM_GUARD_ECHO_BYTES_MAX; n++)
        out[n] = v[n] >= 0x20 && v[n] < 0x7f ? v[n] : '?';
    if (v[n] != '\0') {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

/* x-amz-checksum-type on CreateMultipartUpload: Hamster combines part
 * checksums into COMPOSITE for CRC32, CRC32C, SHA1 and SHA256, and into
 * FULL_OBJECT for CRC64NVME (hm_objsvc_mpu.c).  *unknown: a combination
 * AWS itself refuses (no algorithm, COMPOSITE with CRC64NVME, a type it
 * does not define). */
static bool guard_checksum_type_ok(const char *type, hm_guard_lookup_fn lookup, void *ctx,
                                   bool *unknown)
{
    const char *algo = lookup(ctx, "x-amz-checksum-algorithm");
    bool full = strcasecmp(type, "FULL_OBJECT") == 0;
    bool composite = strcasecmp(type, "COMPOSITE") == 0;
    bool crc64 = algo != NULL && strcasecmp(algo, "CRC64NVME") == 0;
    *unknown = (!full && !composite) || algo == NULL || (composite && crc64);
    if (*unknown) return false;
    return full == crc64;
}

bool hm_guard_check(unsigned op, bool secure, hm_guard_lookup_fn lookup, void *ctx,
                    hm_guard_refusal *out)
{
    for (size_t i = 0; i < GUARD_ROWS; i++) {
        const hm_guard_row *row = &guard_table[i];
        if ((row->ops & op) == 0) continue;
        const char *v = lookup(ctx, row->name);
        if (v == NULL) continue;
        hm_s3err err = row->err;
        const char *lead = row->lead, *why = row->why;
        bool unknown = false;
        switch (row->kind) {
        case HM_GUARD_ANY: break;
        case HM_GUARD_VALUES:
            if (guard_in(row->accepted, v, row->values_nocase)) continue;
            unknown = !guard_in(row->known, v, row->values_nocase);
            break;
        case HM_GUARD_SSE_C:
            if (!secure) {
                /* AWS: SSE-C needs HTTPS, whatever the operation. */
                err = HM_S3_INVALID_REQUEST;
                lead = "Requests specifying Server Side Encryption with Customer provided "
                       "keys must be made over a secure connection";
                why = "this request came over plain HTTP";
            }
            break;
        case HM_GUARD_CHECKSUM_TYPE:
            if (guard_checksum_type_ok(v, lookup, ctx, &unknown)) continue;
            break;
        }
        if (unknown) err = row->err_unknown;
        out->err = err;
        out->row = row;
        char echo[HM_GUARD_ECHO_BYTES_MAX + 4];
        guard_echo(v, echo);
        const char *verb = unknown ? "is not a valid value" : "is not implemented";
        if (lead != NULL) verb = "was given";
        snprintf(out->message, sizeof(out->message), "%s%s%s%s%s %s: %s",
                 lead != NULL ? lead : "", lead != NULL ? ". " : "", row->name,
                 row->echo_value ? ": " : "", row->echo_value ? echo : "", verb, why);
        return true;
    }
    return false;
}

/* ---- the gateway's use -------------------------------------------------------- */

static const char *gw_guard_header(void *ctx, const char *name)
{
    return gw_header(ctx, name);
}

enum MHD_Result gw_guard_headers(gw_req *r, unsigned op, bool *ok)
{
    *ok = false;
    hm_guard_refusal ref;
    if (!hm_guard_check(op, r->gw->tls_cert_pem != NULL, gw_guard_header, r, &ref)) {
        *ok = true;
        return MHD_YES;
    }
    return gw_send_error(r, ref.err, ref.message, NULL, 0);
}

/* GET /bucket?encryption and GET /bucket?object-lock: the configuration
 * does not exist, which is the truth.  Every other method on them, and
 * every other protection sub-resource, stays 501 in gw_route. */
bool gw_guard_report(gw_req *r, enum MHD_Result *ret)
{
    if (strcmp(r->method, "GET") != 0 || r->bucket == NULL || r->key != NULL) return false;
    hm_s3err err;
    if (gw_param_get(r, "encryption") != NULL) err = HM_S3_SSE_CONFIG_NOT_FOUND;
    else if (gw_param_get(r, "object-lock") != NULL) err = HM_S3_OBJECT_LOCK_NOT_FOUND;
    else return false;
    if (!hm_objsvc_bucket_name_valid(r->bucket)) {
        hm_s3err_extra ex = {"BucketName", r->bucket};
        *ret = gw_send_error(r, HM_S3_INVALID_BUCKET_NAME, NULL, &ex, 1);
        return true;
    }
    Hm__MetaResponse *resp = NULL;
    int rc = hm_objsvc_bucket_get(r->gw->svc, r->id, r->bucket, &resp);
    if (rc != 0) {
        *ret = gw_send_hm_error(r, rc);
        return true;
    }
    hm__meta_response__free_unpacked(resp, NULL);
    hm_s3err_extra ex = {"BucketName", r->bucket};
    *ret = gw_send_error(r, err, NULL, &ex, 1);
    return true;
}
