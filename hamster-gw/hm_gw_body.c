/* hm_gw_body.c - the body pipeline of PutObject and UploadPart; see
 * hm_gw_body.h.
 *
 * References: AWS S3 API Reference, "PutObject" (x-amz-checksum-*,
 * x-amz-sdk-checksum-algorithm, x-amz-trailer), "Signature Calculations for
 * the Authorization Header: Transferring Payload in Multiple Chunks"; S3
 * User Guide, "Checking object integrity in Amazon S3".
 */
#include "hm_gw_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hm_err.h"

#define GW_BODY_MSG_BYTES 160u
#define GW_BODY_ENCODING_BYTES_MAX 256u

struct gw_body {
    bool chunked;
    hm_chunked *dec;
    uint64_t size;               /* decoded bytes expected */
    uint64_t seen;               /* plain: bytes so far */
    bool has_md5;
    uint8_t md5[16];
    bool has_sha256;
    uint8_t sha256[32];
    char *encoding;              /* Content-Encoding without aws-chunked */
    /* the flexible checksum */
    hm_cksum_algo algo;
    bool from_trailer;
    hm_cksum_value want;         /* header form: the value sent */
    hm_cksum ck;                 /* header form: over the decoded bytes */
    bool ck_active;
    /* the sink of the current feed, for the decoder's callback */
    gw_body_sink sink;
    void *sink_ctx;
    /* sticky failure */
    int err;
    hm_s3err s3;
    const char *msg;
    char msg_buf[GW_BODY_MSG_BYTES];
};

/* Decimal length header; false on anything but digits or on overflow. */
static bool gw_body_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0') return false;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool gw_body_hex32(const char *s, uint8_t out[32])
{
    if (strlen(s) != 64) return false;
    for (size_t i = 0; i < 64; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return false;
        if (i % 2 == 0) out[i / 2] = (uint8_t)(d << 4);
        else out[i / 2] |= (uint8_t)d;
    }
    return true;
}

/* Content-Encoding without its aws-chunked token(s) (RFC 9110 §8.4: a
 * comma-separated list).  *out NULL when nothing is left. */
static int gw_body_strip_encoding(const char *v, char **out)
{
    *out = NULL;
    if (v == NULL) return 0;
    size_t n = strlen(v);
    if (n > GW_BODY_ENCODING_BYTES_MAX) return HM_EINVAL;
    char *d = malloc(n + 1);
    if (d == NULL) return HM_ENOMEM;
    size_t o = 0;
    const char *s = v;
    while (*s != '\0') {
        while (*s == ' ' || *s == '\t' || *s == ',') s++;
        const char *e = s;
        while (*e != '\0' && *e != ',') e++;
        size_t tl = (size_t)(e - s);
        while (tl > 0 && (s[tl - 1] == ' ' || s[tl - 1] == '\t')) tl--;
        if (tl > 0 && !(tl == 11 && strncasecmp(s, "aws-chunked", 11) == 0)) {
            if (o > 0) {
                d[o++] = ',';
            }
            memcpy(d + o, s, tl);
            o += tl;
        }
        s = e;
    }
    if (o == 0) {
        free(d);
        return 0;
    }
    d[o] = '\0';
    *out = d;
    return 0;
}

/* Looking for x-amz-checksum-<algo> headers among all of them. */
typedef struct gw_body_scan {
    int count;
    hm_cksum_algo algo;
    const char *value;
} gw_body_scan;

static enum MHD_Result gw_body_scan_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                           const char *value)
{
    (void)kind;
    gw_body_scan *sc = cls;
    hm_cksum_algo a;
    if (key == NULL || hm_cksum_from_header(key, strlen(key), &a) != 0) return MHD_YES;
    sc->count++;
    sc->algo = a;
    sc->value = value != NULL ? value : "";
    return MHD_YES;
}

static int gw_body_refuse(hm_s3err *err, const char **msg, hm_s3err e, const char *m, int rc)
{
    *err = e;
    *msg = m;
    return rc;
}

/* The flexible checksum headers: at most one x-amz-checksum-<algo> value,
 * or a trailer named by x-amz-trailer; x-amz-sdk-checksum-algorithm must
 * name the one that is there. */
static int gw_body_checksum_headers(gw_req *r, gw_body *b, hm_chunked_mode mode,
                                    hm_s3err *err, const char **msg)
{
    gw_body_scan sc = {0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, gw_body_scan_header, &sc);
    if (sc.count > 1)
        return gw_body_refuse(err, msg, HM_S3_INVALID_REQUEST,
                              "Expecting a single x-amz-checksum- header. Multiple checksum "
                              "Types are not allowed.",
                              HM_EPROTO);
    const char *trailer = gw_header(r, "x-amz-trailer");
    if (trailer != NULL) {
        bool trailer_mode = b->chunked && mode != HM_CHUNKED_SIGNED;
        hm_cksum_algo a;
        size_t tl = strlen(trailer);
        while (tl > 0 && (trailer[tl - 1] == ' ' || trailer[tl - 1] == '\t')) tl--;
        while (tl > 0 && (*trailer == ' ' || *trailer == '\t')) trailer++, tl--;
        if (!trailer_mode)
            return gw_body_refuse(err, msg, HM_S3_INVALID_REQUEST,
                                  "x-amz-trailer requires a STREAMING-*-TRAILER payload",
                                  HM_EPROTO);
        if (hm_cksum_from_header(trailer, tl, &a) != 0)
            return gw_body_refuse(err, msg, HM_S3_INVALID_REQUEST,
                                  "The value specified in the x-amz-trailer header is not "
                                  "supported",
                                  HM_EPROTO);
        if (sc.count > 0)
            return gw_body_refuse(err, msg, HM_S3_INVALID_REQUEST,
                                  "Expecting a single x-amz-checksum- header. Multiple "
                                  "checksum Types are not allowed.",
                                  HM_EPROTO);
        b->algo = a;
        b->from_trailer = true;
    } else if (sc.count == 1) {
        if (hm_cksum_parse(sc.algo, sc.value, strlen(sc.value), &b->want) != 0) {
            snprintf(b->msg_buf, sizeof(b->msg_buf), "Value for %s header is invalid.",
                     hm_cksum_header(sc.algo));
            return gw_body_refuse(err, msg, HM_S3_INVALID_REQUEST, b->msg_buf, HM_EPROTO);
        }
        b->algo = sc.algo;
    }
    const char *sdk = gw_header(r, "x-amz-sdk-checksum-algorithm");
    if (sdk != NULL) {
        hm_cksum_algo a;
        if (hm_cksum_from_name(sdk, strlen(sdk), &a) != 0)
            return gw_body_refuse(err, msg, HM_S3_INVALID_REQUEST,
                                  "Checksum algorithm provided is unsupported. Please try "
                                  "again with any of the valid types: [CRC32, CRC32C, "
                                  "CRC64NVME, SHA1, SHA256]",
                                  HM_EPROTO);
        if (b->algo == HM_CKSUM_NONE)
            return gw_body_refuse(err, msg, HM_S3_INVALID_REQUEST,
                                  "x-amz-sdk-checksum-algorithm specified, but no "
                                  "corresponding x-amz-checksum-* or x-amz-trailer headers "
                                  "were found.",
                                  HM_EPROTO);
        if (a != b->algo)
            return gw_body_refuse(err, msg, HM_S3_INVALID_REQUEST,
                                  "Value for x-amz-sdk-checksum-algorithm header is invalid.",
                                  HM_EPROTO);
    }
    return 0;
}

int gw_body_begin(gw_req *r, gw_body **out, hm_s3err *err, const char **msg)
{
    *msg = NULL;
    gw_body *b = calloc(1, sizeof(*b));
    if (b == NULL) return gw_body_refuse(err, msg, HM_S3_SERVICE_UNAVAILABLE, NULL, HM_ENOMEM);
    int rc;

    /* the mode: the signed payload hash, or (presigned) the header naming
     * an unsigned-trailer body */
    hm_chunked_mode mode = HM_CHUNKED_SIGNED;
    const char *ph = r->auth.payload_hash;
    const char *hdr_sha = gw_header(r, "x-amz-content-sha256");
    if (strncmp(ph, "STREAMING-", 10) == 0) {
        if (hm_chunked_mode_parse(ph, &mode) != 0) {
            rc = gw_body_refuse(err, msg, HM_S3_NOT_IMPLEMENTED,
                                "This x-amz-content-sha256 streaming form is not supported",
                                HM_EPROTO);
            goto err_free;
        }
        b->chunked = true;
    } else if (r->auth.signature[0] != '\0' && hdr_sha != NULL &&
               strcmp(hdr_sha, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0 &&
               strcmp(ph, HM_SIGV4_UNSIGNED_PAYLOAD) == 0) {
        mode = HM_CHUNKED_UNSIGNED_TRAILER;
        b->chunked = true;
    } else if (gw_body_hex32(ph, b->sha256)) {
        b->has_sha256 = true;
    }

    const char *len_hdr = b->chunked ? "x-amz-decoded-content-length" : "Content-Length";
    const char *lv = gw_header(r, len_hdr);
    if (lv == NULL) {
        rc = gw_body_refuse(err, msg, HM_S3_MISSING_CONTENT_LENGTH, NULL, HM_EPROTO);
        goto err_free;
    }
    if (!gw_body_parse_u64(lv, &b->size)) {
        rc = gw_body_refuse(err, msg, HM_S3_INVALID_ARGUMENT,
                            b->chunked ? "Invalid x-amz-decoded-content-length"
                                       : "Invalid Content-Length",
                            HM_EPROTO);
        goto err_free;
    }

    const char *cmd5 = gw_header(r, "Content-MD5");
    if (cmd5 != NULL) {
        size_t n = 0;
        if (hm_base64_decode(cmd5, b->md5, sizeof(b->md5), &n) != 0 || n != sizeof(b->md5)) {
            rc = gw_body_refuse(err, msg, HM_S3_INVALID_DIGEST, NULL, HM_EPROTO);
            goto err_free;
        }
        b->has_md5 = true;
    }

    rc = gw_body_strip_encoding(gw_header(r, "Content-Encoding"), &b->encoding);
    if (rc != 0) {
        rc = gw_body_refuse(err, msg,
                            rc == HM_ENOMEM ? HM_S3_SERVICE_UNAVAILABLE : HM_S3_INVALID_ARGUMENT,
                            rc == HM_ENOMEM ? NULL : "Content-Encoding is too long", rc);
        goto err_free;
    }

    rc = gw_body_checksum_headers(r, b, mode, err, msg);
    if (rc != 0) {
        /* the message may live in b: keep it static for the caller */
        if (*msg == b->msg_buf) *msg = "The x-amz-checksum- header value is invalid.";
        goto err_free;
    }
    if (b->algo != HM_CKSUM_NONE && !b->from_trailer) {
        rc = hm_cksum_init(&b->ck, b->algo);
        if (rc != 0) {
            rc = gw_body_refuse(err, msg, hm_s3err_from_hm(rc), NULL, rc);
            goto err_free;
        }
        b->ck_active = true;
    }

    if (b->chunked) {
        hm_chunked_config cc = {
            .mode = mode,
            .decoded_length = b->size,
            .trailer_algo = b->from_trailer ? b->algo : HM_CKSUM_NONE,
            .signing_key = r->auth.signing_key,
            .amz_date = r->auth.amz_date,
            .scope = r->auth.scope,
            .seed_signature = r->auth.signature,
        };
        rc = hm_chunked_new(&b->dec, &cc);
        if (rc != 0) {
            rc = gw_body_refuse(err, msg,
                                rc == HM_ENOMEM ? HM_S3_SERVICE_UNAVAILABLE
                                                : HM_S3_INVALID_REQUEST,
                                rc == HM_ENOMEM ? NULL : "Unusable aws-chunked request", rc);
            goto err_free;
        }
    }
    *out = b;
    return 0;

err_free:
    gw_body_free(b);
    return rc;
}

uint64_t gw_body_size(const gw_body *b) { return b->size; }

const uint8_t *gw_body_content_md5(const gw_body *b) { return b->has_md5 ? b->md5 : NULL; }

const uint8_t *gw_body_sha256(const gw_body *b) { return b->has_sha256 ? b->sha256 : NULL; }

const char *gw_body_content_encoding(const gw_body *b) { return b->encoding; }

hm_cksum_algo gw_body_checksum_algo(const gw_body *b) { return b->algo; }

int gw_body_sink_put(void *ctx, const void *data, size_t len)
{
    return hm_objsvc_put_write(ctx, data, len);
}

static int gw_body_fail(gw_body *b, int rc, hm_s3err s3, const char *msg)
{
    if (b->err != 0) return b->err;
    b->err = rc != 0 ? rc : HM_EINTERNAL;
    b->s3 = s3;
    b->msg = msg;
    return b->err;
}

/* The S3 error of a sink failure (the store refused a write). */
static int gw_body_sink_fail(gw_body *b, int rc)
{
    if (rc == HM_ETOOBIG)
        return gw_body_fail(b, rc, HM_S3_INVALID_REQUEST,
                            "The body is longer than its Content-Length");
    return gw_body_fail(b, rc, hm_s3err_from_hm(rc), NULL);
}

/* Decoded bytes: the header checksum, then the caller's sink. */
static int gw_body_decoded(void *ctx, const void *data, size_t len)
{
    gw_body *b = ctx;
    if (b->ck_active && hm_cksum_update(&b->ck, data, len) != 0) return HM_EINTERNAL;
    return b->sink != NULL ? b->sink(b->sink_ctx, data, len) : 0;
}

/* The one mapping from a decoder failure to the S3 error. */
static int gw_body_chunked_fail(gw_body *b, int rc)
{
    switch (hm_chunked_reason_of(b->dec)) {
    case HM_CHUNKED_MALFORMED:
        return gw_body_fail(b, rc, HM_S3_INVALID_ARGUMENT,
                            "The aws-chunked body is malformed");
    case HM_CHUNKED_CHUNK_TOO_BIG:
        return gw_body_fail(b, rc, HM_S3_INVALID_CHUNK_SIZE,
                            "A chunk is larger than the largest allowed (16 MiB)");
    case HM_CHUNKED_TOO_LONG:
        return gw_body_fail(b, rc, HM_S3_INVALID_ARGUMENT,
                            "The body is longer than x-amz-decoded-content-length");
    case HM_CHUNKED_INCOMPLETE:
        return gw_body_fail(b, rc, HM_S3_INCOMPLETE_BODY,
                            "You did not provide the number of bytes specified by the "
                            "x-amz-decoded-content-length HTTP header.");
    case HM_CHUNKED_SIGNATURE:
        return gw_body_fail(b, rc, HM_S3_SIGNATURE_DOES_NOT_MATCH, NULL);
    case HM_CHUNKED_BAD_TRAILER: return gw_body_fail(b, rc, HM_S3_MALFORMED_TRAILER, NULL);
    case HM_CHUNKED_BAD_DIGEST:
        snprintf(b->msg_buf, sizeof(b->msg_buf),
                 "The %s you specified did not match the calculated checksum.",
                 hm_cksum_name(b->algo));
        return gw_body_fail(b, rc, HM_S3_BAD_DIGEST, b->msg_buf);
    case HM_CHUNKED_SINK: return gw_body_sink_fail(b, rc);
    case HM_CHUNKED_OK:
    case HM_CHUNKED_INTERNAL: break;
    }
    return gw_body_fail(b, rc, HM_S3_INTERNAL_ERROR, NULL);
}

int gw_body_feed(gw_body *b, const void *data, size_t len, gw_body_sink sink, void *ctx)
{
    if (b->err != 0) return b->err;
    if (b->chunked) {
        b->sink = sink;
        b->sink_ctx = ctx;
        int rc = hm_chunked_feed(b->dec, data, len, gw_body_decoded, b);
        b->sink = NULL;
        b->sink_ctx = NULL;
        return rc != 0 ? gw_body_chunked_fail(b, rc) : 0;
    }
    if (len > b->size - b->seen)
        return gw_body_fail(b, HM_ETOOBIG, HM_S3_INVALID_REQUEST,
                            "The body is longer than its Content-Length");
    b->seen += len;
    if (b->ck_active && hm_cksum_update(&b->ck, data, len) != 0)
        return gw_body_fail(b, HM_EINTERNAL, HM_S3_INTERNAL_ERROR, NULL);
    if (sink != NULL) {
        int rc = sink(ctx, data, len);
        if (rc != 0) return gw_body_sink_fail(b, rc);
    }
    return 0;
}

int gw_body_finish(gw_body *b, hm_cksum_value *cksum, bool *has_cksum)
{
    *has_cksum = false;
    if (b->err != 0) return b->err;
    if (b->chunked) {
        int rc = hm_chunked_finish(b->dec);
        if (rc != 0) return gw_body_chunked_fail(b, rc);
    } else if (b->seen != b->size) {
        return gw_body_fail(b, HM_EPROTO, HM_S3_INCOMPLETE_BODY, NULL);
    }
    if (b->algo == HM_CKSUM_NONE) return 0;
    if (b->from_trailer) {
        if (hm_chunked_trailer_checksum(b->dec, cksum) != 0)
            return gw_body_fail(b, HM_EINTERNAL, HM_S3_INTERNAL_ERROR, NULL);
        *has_cksum = true;
        return 0;
    }
    hm_cksum_value got;
    if (hm_cksum_final(&b->ck, &got) != 0)
        return gw_body_fail(b, HM_EINTERNAL, HM_S3_INTERNAL_ERROR, NULL);
    if (!hm_cksum_equal(&got, &b->want)) {
        snprintf(b->msg_buf, sizeof(b->msg_buf),
                 "The %s you specified did not match the calculated checksum.",
                 hm_cksum_name(b->algo));
        return gw_body_fail(b, HM_ECORRUPT, HM_S3_BAD_DIGEST, b->msg_buf);
    }
    *cksum = got;
    *has_cksum = true;
    return 0;
}

hm_s3err gw_body_error(const gw_body *b, const char **msg)
{
    if (msg != NULL) *msg = b->err != 0 ? b->msg : NULL;
    return b->err != 0 ? b->s3 : HM_S3_INTERNAL_ERROR;
}

void gw_body_free(gw_body *b)
{
    if (b == NULL) return;
    hm_chunked_free(b->dec);
    if (b->ck_active) hm_cksum_free(&b->ck);
    free(b->encoding);
    free(b);
}
