/* hm_s3err.c - the S3 error table, the one mapping to it, and the error
 * document (see hm_s3err.h).
 *
 * Reference: AWS S3 API Reference, "Error Responses" (REST error response,
 * list of error codes).  The SigV4 messages are the ones S3 sends for the
 * same refusals.
 */
#include "hm_s3err.h"

#include <string.h>

#include "hm_err.h"

typedef struct s3err_row {
    const char *code;
    int status;
    const char *message;
} s3err_row;

static const s3err_row s3err_table[HM_S3ERR_COUNT] = {
#define HM_S3ERR_ROW(e, code, status, msg) [e] = {code, status, msg},
    HM_S3_ERRORS(HM_S3ERR_ROW)
#undef HM_S3ERR_ROW
};

static const s3err_row *s3err_row_of(hm_s3err err)
{
    if ((unsigned)err >= (unsigned)HM_S3ERR_COUNT)
        return &s3err_table[HM_S3_INTERNAL_ERROR];
    return &s3err_table[err];
}

const char *hm_s3err_code(hm_s3err err)
{
    return s3err_row_of(err)->code;
}

int hm_s3err_status(hm_s3err err)
{
    return s3err_row_of(err)->status;
}

const char *hm_s3err_message(hm_s3err err)
{
    return s3err_row_of(err)->message;
}

int hm_s3err_by_code(const char *code, hm_s3err *out)
{
    if (code == NULL)
        return HM_ENOENT;
    for (int i = 0; i < HM_S3ERR_COUNT; i++) {
        if (strcmp(s3err_table[i].code, code) == 0) {
            *out = (hm_s3err)i;
            return 0;
        }
    }
    return HM_ENOENT;
}

hm_s3err hm_s3err_from_hm(int err)
{
    switch (err) {
    case HM_ENOBUCKET: return HM_S3_NO_SUCH_BUCKET;
    case HM_ENOKEY: return HM_S3_NO_SUCH_KEY;
    case HM_ENOTEMPTY: return HM_S3_BUCKET_NOT_EMPTY;
    case HM_ENOUPLOAD: return HM_S3_NO_SUCH_UPLOAD;
    case HM_EBUCKETEXISTS: return HM_S3_BUCKET_ALREADY_OWNED;
    case HM_EPRECOND: return HM_S3_PRECONDITION_FAILED;
    case HM_EPERM: return HM_S3_ACCESS_DENIED;
    case HM_EBUSY: return HM_S3_SLOW_DOWN;
    /* A write below the write-ack floor (too few disks took its shards):
     * SlowDown, which every SDK retries with back-off, and nothing became
     * visible (docs/adr/0010-write-ack-rule.md). */
    case HM_EFLOOR: return HM_S3_SLOW_DOWN;
    /* A full disk: the client may retry once space is freed (the GC runs
     * without its read grace while a disk is short of space). */
    case HM_ENOSPC: return HM_S3_INSUFFICIENT_STORAGE;
    case HM_EUNAVAIL:
    case HM_ENOMEM:
    case HM_ETIMEDOUT:
    case HM_ECONN:
        return HM_S3_SERVICE_UNAVAILABLE;
    default:
        return HM_S3_INTERNAL_ERROR;
    }
}

hm_s3err hm_s3err_from_sigv4(hm_sigv4_reason reason, const char **message_out)
{
    hm_s3err e = HM_S3_INTERNAL_ERROR;
    const char *msg = NULL;
    switch (reason) {
    case HM_SIGV4_MALFORMED:
        e = HM_S3_AUTH_HEADER_MALFORMED;
        break;
    case HM_SIGV4_BAD_ALGORITHM:
        e = HM_S3_INVALID_ARGUMENT;
        msg = "Unsupported Authorization Type";
        break;
    case HM_SIGV4_QUERY_MALFORMED:
        e = HM_S3_AUTH_QUERY_ERROR;
        break;
    case HM_SIGV4_BAD_SCOPE:
        e = HM_S3_AUTH_HEADER_MALFORMED;
        msg = "The authorization header is malformed; the credential scope is "
              "invalid.";
        break;
    case HM_SIGV4_MISSING_DATE:
        e = HM_S3_ACCESS_DENIED;
        msg = "AWS authentication requires a valid Date or x-amz-date header";
        break;
    case HM_SIGV4_BAD_CONTENT_SHA:
        e = HM_S3_INVALID_ARGUMENT;
        msg = "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
              "STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
              "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
              "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 "
              "value.";
        break;
    case HM_SIGV4_MISSING_CONTENT_SHA:
        e = HM_S3_INVALID_REQUEST;
        msg = "Missing required header for this request: x-amz-content-sha256";
        break;
    case HM_SIGV4_UNSIGNED_HEADER:
        e = HM_S3_ACCESS_DENIED;
        msg = "There were headers present in the request which were not signed";
        break;
    case HM_SIGV4_UNKNOWN_KEY:
        e = HM_S3_INVALID_ACCESS_KEY_ID;
        break;
    case HM_SIGV4_SKEWED:
        e = HM_S3_REQUEST_TIME_TOO_SKEWED;
        break;
    case HM_SIGV4_EXPIRED:
        e = HM_S3_ACCESS_DENIED;
        msg = "Request has expired";
        break;
    case HM_SIGV4_NOT_YET_VALID:
        e = HM_S3_ACCESS_DENIED;
        msg = "Request is not valid yet";
        break;
    case HM_SIGV4_MISMATCH:
        e = HM_S3_SIGNATURE_DOES_NOT_MATCH;
        break;
    case HM_SIGV4_MULTIPLE_AUTH:
        e = HM_S3_INVALID_ARGUMENT;
        msg = "Only one auth mechanism allowed; only the X-Amz-Algorithm query "
              "parameter, Signature query string parameter or the "
              "Authorization header should be specified";
        break;
    case HM_SIGV4_OK:
    case HM_SIGV4_INTERNAL:
        break;
    }
    if (message_out != NULL)
        *message_out = msg != NULL ? msg : hm_s3err_message(e);
    return e;
}

static void s3err_opt(hm_xml_writer *w, const char *name, const char *value)
{
    if (value != NULL)
        hm_xml_elem(w, name, value);
}

int hm_s3err_render(const hm_s3err_body *body, hm_xml_writer *w)
{
    if (body == NULL || w == NULL || (unsigned)body->err >= (unsigned)HM_S3ERR_COUNT ||
        body->extra_count > HM_S3ERR_EXTRA_MAX ||
        (body->extra_count > 0 && body->extra == NULL))
        return HM_EINVAL;
    hm_xml_prolog(w);
    hm_xml_open(w, "Error");
    hm_xml_elem(w, "Code", hm_s3err_code(body->err));
    hm_xml_elem(w, "Message",
                body->message != NULL ? body->message : hm_s3err_message(body->err));
    for (size_t i = 0; i < body->extra_count; i++)
        hm_xml_elem(w, body->extra[i].name,
                    body->extra[i].value != NULL ? body->extra[i].value : "");
    s3err_opt(w, "Resource", body->resource);
    s3err_opt(w, "RequestId", body->request_id);
    s3err_opt(w, "HostId", body->host_id);
    hm_xml_close(w);
    return hm_xml_writer_err(w);
}
