/* hm_chunked.c - the resumable aws-chunked decoder; see hm_chunked.h.
 *
 * Reference: AWS S3 API Reference, "Signature Calculations for the
 * Authorization Header: Transferring Payload in Multiple Chunks (Chunked
 * Upload) (AWS Signature Version 4)".  The state machine follows nginx's
 * ngx_http_parse_chunked: one byte of state per position, nothing buffered
 * but the current control line, overflow checked before the size grows.
 */
#include "hm_chunked.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hm_err.h"

#define CK_SIG_EXT ";chunk-signature="
#define CK_SIG_EXT_BYTES (sizeof(CK_SIG_EXT) - 1)
#define CK_TRAILER_SIG "x-amz-trailer-signature"

_Static_assert(HM_CHUNKED_LINE_BYTES_MAX >= 16 + CK_SIG_EXT_BYTES + HM_SIGV4_HEX_BYTES,
               "a chunk header with a 16-digit size fits a line");
_Static_assert(HM_CHUNKED_LINE_BYTES_MAX >= sizeof("x-amz-checksum-crc64nvme:") +
                                                HM_CKSUM_TEXT_BYTES_MAX,
               "every checksum trailer fits a line");

enum ck_state {
    CK_HEADER,       /* reading a chunk header line */
    CK_DATA,         /* chunk data, left bytes to go */
    CK_DATA_CR,      /* the CR after the data */
    CK_DATA_LF,      /* the LF after the data */
    CK_TRAILER,      /* reading trailer lines after the final chunk */
    CK_DONE,
    CK_FAILED,
};

struct hm_chunked {
    hm_chunked_config cfg;          /* pointers below replace the borrowed ones */
    uint8_t key[HM_SIGV4_KEY_BYTES];
    char amz_date[HM_SIGV4_AMZ_DATE_BYTES + 1];
    char scope[HM_SIGV4_SCOPE_BYTES_MAX + 1];
    bool is_signed;
    enum ck_state state;
    int err;
    hm_chunked_reason reason;
    /* the control line being read */
    char line[HM_CHUNKED_LINE_BYTES_MAX];
    size_t line_len;
    bool line_cr;
    /* the current chunk */
    uint64_t left;
    uint64_t total;
    char prev_sig[HM_SIGV4_HEX_BYTES + 1];   /* seed, then each chunk's */
    char want_sig[HM_SIGV4_HEX_BYTES + 1];   /* the current chunk's */
    EVP_MD_CTX *chunk_md;
    EVP_MD_CTX *trailer_md;
    /* trailers */
    hm_cksum data_ck;                        /* over the decoded bytes */
    bool ck_active;
    bool trailer_ck_seen;
    bool trailer_sig_seen;
    size_t trailer_lines;
    hm_cksum_value trailer_ck;
    hm_cksum_value computed_ck;
};

static const char *const ck_reason_names[] = {
    [HM_CHUNKED_OK] = "OK",
    [HM_CHUNKED_MALFORMED] = "MALFORMED",
    [HM_CHUNKED_CHUNK_TOO_BIG] = "CHUNK_TOO_BIG",
    [HM_CHUNKED_TOO_LONG] = "TOO_LONG",
    [HM_CHUNKED_INCOMPLETE] = "INCOMPLETE",
    [HM_CHUNKED_SIGNATURE] = "SIGNATURE",
    [HM_CHUNKED_BAD_TRAILER] = "BAD_TRAILER",
    [HM_CHUNKED_BAD_DIGEST] = "BAD_DIGEST",
    [HM_CHUNKED_SINK] = "SINK",
    [HM_CHUNKED_INTERNAL] = "INTERNAL",
};

const char *hm_chunked_reason_name(hm_chunked_reason reason)
{
    if ((unsigned)reason >= sizeof(ck_reason_names) / sizeof(ck_reason_names[0]))
        return "UNKNOWN";
    return ck_reason_names[reason];
}

int hm_chunked_mode_parse(const char *content_sha256, hm_chunked_mode *out)
{
    if (content_sha256 == NULL) return HM_EINVAL;
    if (strcmp(content_sha256, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0)
        *out = HM_CHUNKED_SIGNED;
    else if (strcmp(content_sha256, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER") == 0)
        *out = HM_CHUNKED_SIGNED_TRAILER;
    else if (strcmp(content_sha256, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0)
        *out = HM_CHUNKED_UNSIGNED_TRAILER;
    else
        return HM_EINVAL;
    return 0;
}

static bool ck_is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

int hm_chunked_new(hm_chunked **out, const hm_chunked_config *cfg)
{
    if (cfg == NULL || cfg->mode < HM_CHUNKED_SIGNED || cfg->mode > HM_CHUNKED_UNSIGNED_TRAILER ||
        cfg->trailer_algo < HM_CKSUM_NONE || cfg->trailer_algo >= HM_CKSUM_ALGO_COUNT)
        return HM_EINVAL;
    /* the plain signed form has no trailers */
    if (cfg->mode == HM_CHUNKED_SIGNED && cfg->trailer_algo != HM_CKSUM_NONE) return HM_EINVAL;
    bool is_signed = cfg->mode != HM_CHUNKED_UNSIGNED_TRAILER;
    if (is_signed &&
        (cfg->signing_key == NULL || cfg->amz_date == NULL || cfg->scope == NULL ||
         cfg->seed_signature == NULL || strlen(cfg->amz_date) != HM_SIGV4_AMZ_DATE_BYTES ||
         strlen(cfg->scope) > HM_SIGV4_SCOPE_BYTES_MAX ||
         strlen(cfg->seed_signature) != HM_SIGV4_HEX_BYTES ||
         !ck_is_lower_hex(cfg->seed_signature, HM_SIGV4_HEX_BYTES)))
        return HM_EINVAL;
    hm_chunked *d = calloc(1, sizeof(*d));
    if (d == NULL) return HM_ENOMEM;
    int rc = HM_ENOMEM;
    d->cfg = *cfg;
    d->is_signed = is_signed;
    if (is_signed) {
        memcpy(d->key, cfg->signing_key, sizeof(d->key));
        memcpy(d->amz_date, cfg->amz_date, HM_SIGV4_AMZ_DATE_BYTES + 1);
        memcpy(d->scope, cfg->scope, strlen(cfg->scope) + 1);
        memcpy(d->prev_sig, cfg->seed_signature, HM_SIGV4_HEX_BYTES + 1);
        d->chunk_md = EVP_MD_CTX_new();
        d->trailer_md = EVP_MD_CTX_new();
        if (d->chunk_md == NULL || d->trailer_md == NULL) goto err_free;
    }
    d->cfg.signing_key = NULL;
    d->cfg.amz_date = d->amz_date;
    d->cfg.scope = d->scope;
    d->cfg.seed_signature = NULL;
    if (cfg->trailer_algo != HM_CKSUM_NONE) {
        rc = hm_cksum_init(&d->data_ck, cfg->trailer_algo);
        if (rc != 0) goto err_free;
        d->ck_active = true;
    }
    d->state = CK_HEADER;
    *out = d;
    return 0;

err_free:
    hm_chunked_free(d);
    return rc;
}

void hm_chunked_free(hm_chunked *d)
{
    if (d == NULL) return;
    EVP_MD_CTX_free(d->chunk_md);
    EVP_MD_CTX_free(d->trailer_md);
    if (d->ck_active) hm_cksum_free(&d->data_ck);
    OPENSSL_cleanse(d->key, sizeof(d->key));
    free(d);
}

static int ck_fail(hm_chunked *d, hm_chunked_reason reason, int rc)
{
    d->state = CK_FAILED;
    d->reason = reason;
    d->err = rc;
    return rc;
}

static void ck_hex(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Check the current chunk's signature against the hash of its data and
 * advance the chain. */
static int ck_check_chunk_sig(hm_chunked *d)
{
    uint8_t md[32];
    unsigned n = 0;
    char hash[HM_SIGV4_HEX_BYTES + 1], sig[HM_SIGV4_HEX_BYTES + 1];
    if (EVP_DigestFinal_ex(d->chunk_md, md, &n) != 1 || n != sizeof(md))
        return ck_fail(d, HM_CHUNKED_INTERNAL, HM_EINTERNAL);
    ck_hex(md, sizeof(md), hash);
    if (hm_sigv4_chunk_signature(d->key, d->amz_date, d->scope, d->prev_sig, hash, sig) != 0)
        return ck_fail(d, HM_CHUNKED_INTERNAL, HM_EINTERNAL);
    if (CRYPTO_memcmp(sig, d->want_sig, HM_SIGV4_HEX_BYTES) != 0)
        return ck_fail(d, HM_CHUNKED_SIGNATURE, HM_EPERM);
    memcpy(d->prev_sig, sig, sizeof(sig));
    return 0;
}

/* A complete chunk header line: "<hex>[;chunk-signature=<64 hex>]". */
static int ck_header_line(hm_chunked *d)
{
    const char *s = d->line;
    size_t n = d->line_len, i = 0;
    uint64_t size = 0;
    for (; i < n; i++) {
        char c = s[i];
        unsigned v;
        if (c >= '0' && c <= '9') v = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v = (unsigned)(c - 'A' + 10);
        else break;
        /* overflow and the cap checked before the size grows */
        if (size > (HM_CHUNKED_CHUNK_BYTES_MAX - v) / 16)
            return ck_fail(d, HM_CHUNKED_CHUNK_TOO_BIG, HM_ETOOBIG);
        size = size * 16 + v;
    }
    if (i == 0) return ck_fail(d, HM_CHUNKED_MALFORMED, HM_EPROTO);
    if (d->is_signed) {
        if (n - i != CK_SIG_EXT_BYTES + HM_SIGV4_HEX_BYTES ||
            memcmp(s + i, CK_SIG_EXT, CK_SIG_EXT_BYTES) != 0 ||
            !ck_is_lower_hex(s + i + CK_SIG_EXT_BYTES, HM_SIGV4_HEX_BYTES))
            return ck_fail(d, HM_CHUNKED_MALFORMED, HM_EPROTO);
        memcpy(d->want_sig, s + i + CK_SIG_EXT_BYTES, HM_SIGV4_HEX_BYTES);
        d->want_sig[HM_SIGV4_HEX_BYTES] = '\0';
        if (EVP_DigestInit_ex(d->chunk_md, EVP_sha256(), NULL) != 1)
            return ck_fail(d, HM_CHUNKED_INTERNAL, HM_EINTERNAL);
    } else if (i != n) {
        return ck_fail(d, HM_CHUNKED_MALFORMED, HM_EPROTO);
    }
    if (size > d->cfg.decoded_length - d->total)
        return ck_fail(d, HM_CHUNKED_TOO_LONG, HM_ETOOBIG);
    if (size > 0) {
        d->left = size;
        d->state = CK_DATA;
        return 0;
    }
    /* the final chunk */
    if (d->total != d->cfg.decoded_length)
        return ck_fail(d, HM_CHUNKED_INCOMPLETE, HM_EPROTO);
    if (d->is_signed) {
        int rc = ck_check_chunk_sig(d);
        if (rc != 0) return rc;
        if (EVP_DigestInit_ex(d->trailer_md, EVP_sha256(), NULL) != 1)
            return ck_fail(d, HM_CHUNKED_INTERNAL, HM_EINTERNAL);
    }
    d->state = CK_TRAILER;
    return 0;
}

/* The empty line ending the trailers: everything declared must be there,
 * and the checksum must match the data. */
static int ck_trailers_end(hm_chunked *d)
{
    if (d->cfg.mode == HM_CHUNKED_SIGNED_TRAILER && !d->trailer_sig_seen)
        return ck_fail(d, HM_CHUNKED_BAD_TRAILER, HM_EPROTO);
    if (d->ck_active) {
        if (!d->trailer_ck_seen) return ck_fail(d, HM_CHUNKED_BAD_TRAILER, HM_EPROTO);
        if (hm_cksum_final(&d->data_ck, &d->computed_ck) != 0)
            return ck_fail(d, HM_CHUNKED_INTERNAL, HM_EINTERNAL);
        if (!hm_cksum_equal(&d->computed_ck, &d->trailer_ck))
            return ck_fail(d, HM_CHUNKED_BAD_DIGEST, HM_ECORRUPT);
    }
    d->state = CK_DONE;
    return 0;
}

/* One complete trailer line (not the empty one). */
static int ck_trailer_line(hm_chunked *d)
{
    const char *s = d->line;
    size_t n = d->line_len;
    /* the plain signed form has no trailers; nothing follows the signature */
    if (d->cfg.mode == HM_CHUNKED_SIGNED) return ck_fail(d, HM_CHUNKED_MALFORMED, HM_EPROTO);
    if (d->trailer_sig_seen || d->trailer_lines == HM_CHUNKED_TRAILERS_MAX)
        return ck_fail(d, HM_CHUNKED_BAD_TRAILER, HM_EPROTO);
    d->trailer_lines++;
    const char *colon = memchr(s, ':', n);
    if (colon == NULL || colon == s) return ck_fail(d, HM_CHUNKED_BAD_TRAILER, HM_EPROTO);
    size_t nl = (size_t)(colon - s);
    const char *v = colon + 1;
    size_t vl = n - nl - 1;
    /* optional whitespace around the value (RFC 9110 §5.5) */
    while (vl > 0 && (*v == ' ' || *v == '\t')) v++, vl--;
    while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t')) vl--;

    if (nl == sizeof(CK_TRAILER_SIG) - 1 && strncasecmp(s, CK_TRAILER_SIG, nl) == 0) {
        if (d->cfg.mode != HM_CHUNKED_SIGNED_TRAILER || vl != HM_SIGV4_HEX_BYTES ||
            !ck_is_lower_hex(v, vl))
            return ck_fail(d, HM_CHUNKED_BAD_TRAILER, HM_EPROTO);
        uint8_t md[32];
        unsigned mdn = 0;
        char hash[HM_SIGV4_HEX_BYTES + 1], sig[HM_SIGV4_HEX_BYTES + 1];
        if (EVP_DigestFinal_ex(d->trailer_md, md, &mdn) != 1 || mdn != sizeof(md))
            return ck_fail(d, HM_CHUNKED_INTERNAL, HM_EINTERNAL);
        ck_hex(md, sizeof(md), hash);
        if (hm_sigv4_trailer_signature(d->key, d->amz_date, d->scope, d->prev_sig, hash,
                                       sig) != 0)
            return ck_fail(d, HM_CHUNKED_INTERNAL, HM_EINTERNAL);
        if (CRYPTO_memcmp(sig, v, HM_SIGV4_HEX_BYTES) != 0)
            return ck_fail(d, HM_CHUNKED_SIGNATURE, HM_EPERM);
        d->trailer_sig_seen = true;
        return 0;
    }

    hm_cksum_algo algo;
    if (hm_cksum_from_header(s, nl, &algo) != 0 || !d->ck_active ||
        algo != d->cfg.trailer_algo || d->trailer_ck_seen ||
        hm_cksum_parse(algo, v, vl, &d->trailer_ck) != 0)
        return ck_fail(d, HM_CHUNKED_BAD_TRAILER, HM_EPROTO);
    d->trailer_ck_seen = true;
    /* the trailer signature covers each line as sent, ended by "\n" */
    if (d->cfg.mode == HM_CHUNKED_SIGNED_TRAILER &&
        (EVP_DigestUpdate(d->trailer_md, s, n) != 1 ||
         EVP_DigestUpdate(d->trailer_md, "\n", 1) != 1))
        return ck_fail(d, HM_CHUNKED_INTERNAL, HM_EINTERNAL);
    return 0;
}

/* Take one byte of a control line.  *done set when the line is complete
 * (CRLF seen, not stored). */
static int ck_line_byte(hm_chunked *d, unsigned char c, bool *done)
{
    *done = false;
    if (d->line_cr) {
        if (c != '\n') return ck_fail(d, HM_CHUNKED_MALFORMED, HM_EPROTO);
        d->line_cr = false;
        *done = true;
        return 0;
    }
    if (c == '\r') {
        d->line_cr = true;
        return 0;
    }
    if (c < 0x20 || c == 0x7f) return ck_fail(d, HM_CHUNKED_MALFORMED, HM_EPROTO);
    if (d->line_len == sizeof(d->line)) {
        return ck_fail(d, d->state == CK_TRAILER ? HM_CHUNKED_BAD_TRAILER : HM_CHUNKED_MALFORMED,
                       HM_EPROTO);
    }
    d->line[d->line_len++] = (char)c;
    return 0;
}

int hm_chunked_feed(hm_chunked *d, const void *in, size_t len, hm_chunked_sink sink, void *ctx)
{
    const unsigned char *p = in;
    if (d->state == CK_FAILED) return d->err;
    while (len > 0) {
        int rc = 0;
        bool done = false;
        switch (d->state) {
        case CK_HEADER:
        case CK_TRAILER:
            rc = ck_line_byte(d, *p, &done);
            p++;
            len--;
            if (rc != 0) return rc;
            if (!done) break;
            if (d->state == CK_HEADER) rc = ck_header_line(d);
            else if (d->line_len == 0) rc = ck_trailers_end(d);
            else rc = ck_trailer_line(d);
            d->line_len = 0;
            if (rc != 0) return rc;
            break;
        case CK_DATA: {
            size_t n = d->left < len ? (size_t)d->left : len;
            if (d->is_signed && EVP_DigestUpdate(d->chunk_md, p, n) != 1)
                return ck_fail(d, HM_CHUNKED_INTERNAL, HM_EINTERNAL);
            if (d->ck_active && hm_cksum_update(&d->data_ck, p, n) != 0)
                return ck_fail(d, HM_CHUNKED_INTERNAL, HM_EINTERNAL);
            if (sink != NULL) {
                rc = sink(ctx, p, n);
                if (rc != 0) return ck_fail(d, HM_CHUNKED_SINK, rc);
            }
            d->left -= n;
            d->total += n;
            p += n;
            len -= n;
            if (d->left == 0) d->state = CK_DATA_CR;
            break;
        }
        case CK_DATA_CR:
            if (*p != '\r') return ck_fail(d, HM_CHUNKED_MALFORMED, HM_EPROTO);
            p++;
            len--;
            d->state = CK_DATA_LF;
            break;
        case CK_DATA_LF:
            if (*p != '\n') return ck_fail(d, HM_CHUNKED_MALFORMED, HM_EPROTO);
            p++;
            len--;
            if (d->is_signed) {
                rc = ck_check_chunk_sig(d);
                if (rc != 0) return rc;
            }
            d->state = CK_HEADER;
            break;
        case CK_DONE:
            /* bytes after the end of the encoding */
            return ck_fail(d, HM_CHUNKED_MALFORMED, HM_EPROTO);
        case CK_FAILED:
            return d->err;
        }
    }
    return 0;
}

int hm_chunked_finish(hm_chunked *d)
{
    if (d->state == CK_FAILED) return d->err;
    if (d->state == CK_DONE) return 0;
    /* the final empty line may be missing at the very end */
    if (d->state == CK_TRAILER && d->line_len == 0 && !d->line_cr) return ck_trailers_end(d);
    if (d->state == CK_TRAILER && d->line_len > 0)
        return ck_fail(d, HM_CHUNKED_BAD_TRAILER, HM_EPROTO);
    return ck_fail(d, HM_CHUNKED_INCOMPLETE, HM_EPROTO);
}

hm_chunked_reason hm_chunked_reason_of(const hm_chunked *d)
{
    return d->state == CK_FAILED ? d->reason : HM_CHUNKED_OK;
}

int hm_chunked_trailer_checksum(const hm_chunked *d, hm_cksum_value *out)
{
    if (!d->ck_active || d->state != CK_DONE) return HM_ENOENT;
    *out = d->computed_ck;
    return 0;
}

uint64_t hm_chunked_decoded(const hm_chunked *d)
{
    return d->total;
}
