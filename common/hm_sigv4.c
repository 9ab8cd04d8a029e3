/* hm_sigv4.c - AWS Signature Version 4 for S3 (see hm_sigv4.h).
 *
 * Reference: AWS S3 API Reference, "Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk (AWS
 * Signature Version 4)" for the canonical request, string to sign and key
 * derivation; "Authenticating Requests: Using Query Parameters" for
 * presigned URLs; "Transferring Payload in Multiple Chunks" for the chunk
 * signature.
 *
 * Shaping decision: the canonical request goes through a sink that either
 * hashes (verify, sign) or copies into a caller buffer (tests, logs), so
 * the two can never disagree and verification needs no canonical-request
 * buffer.  Only the query needs scratch memory (its parameters are sorted),
 * allocated once after the query length is checked.
 */
#include "hm_sigv4.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "hm_err.h"

/* ---- small helpers ------------------------------------------------------ */

static int sigv4_hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int sigv4_lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

/* RFC 3986 section 2.3 unreserved characters: never percent-encoded. */
static bool sigv4_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

static bool sigv4_is_lower_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

/* Bounded strlen: returns max + 1 when s is longer than max. */
static size_t sigv4_strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n] != '\0')
        n++;
    return n;
}

/* Case-insensitive comparison of a header name against a lower-case name of
 * length n. */
static bool sigv4_name_eq(const char *name, const char *lower, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '\0' || sigv4_lower((unsigned char)name[i]) != lower[i])
            return false;
    }
    return name[n] == '\0';
}

/* The first header of that (lower-case) name, or NULL. */
static const char *sigv4_header(const hm_sigv4_request *req, const char *lower)
{
    size_t n = strlen(lower);
    for (size_t i = 0; i < req->header_count; i++) {
        const char *name = req->headers[i].name;
        if (name != NULL && sigv4_name_eq(name, lower, n))
            return req->headers[i].value != NULL ? req->headers[i].value : "";
    }
    return NULL;
}

/* Is the lower-case name in the ';'-separated signed list? */
static bool sigv4_list_has(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    while (*p != '\0') {
        const char *e = strchr(p, ';');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0)
            return true;
        if (e == NULL)
            break;
        p = e + 1;
    }
    return false;
}

/* RFC 7230 token characters, lower case only (a SignedHeaders name). */
static bool sigv4_lower_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Validate a SignedHeaders list: non-empty lower-case names, strictly
 * ascending (sorted and unique), at most HM_SIGV4_SIGNED_HEADERS_MAX.
 * Returns the count, or 0 when invalid. */
static size_t sigv4_check_signed_list(const char *s, size_t len)
{
    size_t count = 0;
    const char *prev = NULL;
    size_t prev_len = 0;
    size_t i = 0;
    if (len == 0 || len > HM_SIGV4_SIGNED_HEADERS_BYTES_MAX)
        return 0;
    while (i <= len) {
        size_t start = i;
        while (i < len && s[i] != ';') {
            if (!sigv4_lower_tchar((unsigned char)s[i]))
                return 0;
            i++;
        }
        size_t n = i - start;
        if (n == 0 || n > HM_SIGV4_HEADER_NAME_BYTES_MAX)
            return 0;
        if (prev != NULL) {
            size_t m = n < prev_len ? n : prev_len;
            int c = memcmp(prev, s + start, m);
            if (c > 0 || (c == 0 && prev_len >= n))
                return 0;
        }
        if (++count > HM_SIGV4_SIGNED_HEADERS_MAX)
            return 0;
        prev = s + start;
        prev_len = n;
        i++; /* skip ';' (or step past the end) */
    }
    return count;
}

/* ---- time --------------------------------------------------------------- */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t sigv4_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void sigv4_civil_from_days(int64_t z, int64_t *y, unsigned *m,
                                  unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned sigv4_days_in_month(int64_t y, unsigned m)
{
    static const unsigned days[12] = {31, 28, 31, 30, 31, 30,
                                      31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return days[m - 1];
}

/* n decimal digits at s, or -1. */
static int64_t sigv4_digits(const char *s, size_t n)
{
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int sigv4_make_time(int64_t y, int64_t mo, int64_t d, int64_t h,
                           int64_t mi, int64_t s, int64_t *out)
{
    if (y < 1970 || y > 9999 || mo < 1 || mo > 12 || d < 1 || h < 0 ||
        h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59)
        return HM_EINVAL;
    if ((uint64_t)d > sigv4_days_in_month(y, (unsigned)mo))
        return HM_EINVAL;
    int64_t days = sigv4_days_from_civil(y, (unsigned)mo, (unsigned)d);
    *out = ((days * 24 + h) * 60 + mi) * 60000 + s * 1000;
    return 0;
}

int hm_sigv4_parse_amz_date(const char *s, int64_t *unix_ms_out)
{
    if (s == NULL || sigv4_strnlen(s, HM_SIGV4_AMZ_DATE_BYTES) !=
                         HM_SIGV4_AMZ_DATE_BYTES)
        return HM_EINVAL;
    if (s[8] != 'T' || s[15] != 'Z')
        return HM_EINVAL;
    int64_t y = sigv4_digits(s, 4), mo = sigv4_digits(s + 4, 2),
            d = sigv4_digits(s + 6, 2), h = sigv4_digits(s + 9, 2),
            mi = sigv4_digits(s + 11, 2), se = sigv4_digits(s + 13, 2);
    return sigv4_make_time(y, mo, d, h, mi, se, unix_ms_out);
}

int hm_sigv4_parse_http_date(const char *s, int64_t *unix_ms_out)
{
    /* IMF-fixdate, RFC 7231 section 7.1.1.1: "Sun, 06 Nov 1994 08:49:37 GMT" */
    static const char *const wdays[7] = {"Mon", "Tue", "Wed", "Thu",
                                         "Fri", "Sat", "Sun"};
    static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr",
                                           "May", "Jun", "Jul", "Aug",
                                           "Sep", "Oct", "Nov", "Dec"};
    if (s == NULL || sigv4_strnlen(s, 29) != 29)
        return HM_EINVAL;
    bool wd_ok = false;
    for (size_t i = 0; i < 7; i++)
        wd_ok = wd_ok || memcmp(s, wdays[i], 3) == 0;
    if (!wd_ok || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' ||
        s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':' ||
        memcmp(s + 25, " GMT", 4) != 0)
        return HM_EINVAL;
    int64_t mo = -1;
    for (size_t i = 0; i < 12; i++) {
        if (memcmp(s + 8, months[i], 3) == 0)
            mo = (int64_t)i + 1;
    }
    int64_t d = sigv4_digits(s + 5, 2), y = sigv4_digits(s + 12, 4),
            h = sigv4_digits(s + 17, 2), mi = sigv4_digits(s + 20, 2),
            se = sigv4_digits(s + 23, 2);
    return sigv4_make_time(y, mo, d, h, mi, se, unix_ms_out);
}

int hm_sigv4_format_amz_date(int64_t unix_ms, char out[HM_SIGV4_AMZ_DATE_BYTES + 1])
{
    if (unix_ms < 0)
        return HM_EINVAL;
    int64_t secs = unix_ms / 1000;
    int64_t days = secs / 86400, rem = secs % 86400;
    int64_t y;
    unsigned m, d;
    sigv4_civil_from_days(days, &y, &m, &d);
    if (y > 9999)
        return HM_EINVAL;
    /* digit by digit: every field is range-checked, so exactly 16 bytes */
    unsigned fields[6] = {(unsigned)y, m, d, (unsigned)(rem / 3600),
                          (unsigned)(rem / 60 % 60), (unsigned)(rem % 60)};
    static const unsigned widths[6] = {4, 2, 2, 2, 2, 2};
    size_t o = 0;
    for (size_t f = 0; f < 6; f++) {
        for (unsigned k = widths[f]; k > 0; k--) {
            unsigned div = 1;
            for (unsigned j = 1; j < k; j++)
                div *= 10;
            out[o++] = (char)('0' + fields[f] / div % 10);
        }
        if (f == 2)
            out[o++] = 'T';
    }
    out[o++] = 'Z';
    out[o] = '\0';
    return 0;
}

/* ---- crypto ------------------------------------------------------------- */

/* HMAC-SHA256.  Fetching the MAC and the digest by name costs more than
 * the HMAC of a short message (provider lookups under locks), so one
 * context with the digest set is made once and duplicated per call. */
static EVP_MAC_CTX *sigv4_hmac_template;
static pthread_once_t sigv4_hmac_once = PTHREAD_ONCE_INIT;

static void sigv4_hmac_init(void)
{
    EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    if (mac == NULL) return;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac); /* the context holds its own reference */
    if (ctx == NULL) return;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
        EVP_MAC_CTX_free(ctx);
        return;
    }
    sigv4_hmac_template = ctx;
}

static int sigv4_hmac(const void *key, size_t key_len, const void *msg,
                      size_t msg_len, uint8_t out[HM_SIGV4_KEY_BYTES])
{
    size_t out_len = 0;
    (void)pthread_once(&sigv4_hmac_once, sigv4_hmac_init);
    if (sigv4_hmac_template == NULL) {
        if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, key_len, msg,
                      msg_len, out, HM_SIGV4_KEY_BYTES, &out_len) == NULL ||
            out_len != HM_SIGV4_KEY_BYTES)
            return HM_EINTERNAL;
        return 0;
    }
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(sigv4_hmac_template);
    if (ctx == NULL) return HM_ENOMEM;
    int ok = EVP_MAC_init(ctx, key, key_len, NULL) == 1 &&
             EVP_MAC_update(ctx, msg, msg_len) == 1 &&
             EVP_MAC_final(ctx, out, &out_len, HM_SIGV4_KEY_BYTES) == 1 &&
             out_len == HM_SIGV4_KEY_BYTES;
    EVP_MAC_CTX_free(ctx);
    return ok ? 0 : HM_EINTERNAL;
}

/* Derived signing keys, which depend only on (secret, date, region,
 * service): a busy client signs every request of a day with the same one,
 * so deriving it (four HMACs) once per day and key is enough.  A small
 * table with round-robin replacement; the secret itself is part of the
 * entry, so a changed secret never matches.  Entries live as long as the
 * process, like the key store's own copies of the secrets. */
#define SIGV4_KEY_CACHE_SLOTS 32u

typedef struct sigv4_key_slot {
    bool used;
    size_t secret_len;
    char secret[HM_SIGV4_SECRET_BYTES_MAX];
    char date[HM_SIGV4_DATE_BYTES];
    char region[HM_SIGV4_REGION_BYTES_MAX + 1];
    char service[HM_SIGV4_SERVICE_BYTES_MAX + 1];
    uint8_t key[HM_SIGV4_KEY_BYTES];
} sigv4_key_slot;

static pthread_mutex_t sigv4_key_mu = PTHREAD_MUTEX_INITIALIZER;
static sigv4_key_slot sigv4_key_cache[SIGV4_KEY_CACHE_SLOTS];
static unsigned sigv4_key_next;

static bool sigv4_key_slot_is(const sigv4_key_slot *e, const char *secret, size_t sl,
                              const char *date8, const char *region, const char *service)
{
    return e->used && e->secret_len == sl && memcmp(e->date, date8, HM_SIGV4_DATE_BYTES) == 0 &&
           strcmp(e->region, region) == 0 && strcmp(e->service, service) == 0 &&
           CRYPTO_memcmp(e->secret, secret, sl) == 0;
}

static bool sigv4_key_cache_get(const char *secret, size_t sl, const char *date8,
                                const char *region, const char *service,
                                uint8_t key_out[HM_SIGV4_KEY_BYTES])
{
    bool hit = false;
    pthread_mutex_lock(&sigv4_key_mu);
    for (unsigned i = 0; i < SIGV4_KEY_CACHE_SLOTS && !hit; i++) {
        if (sigv4_key_slot_is(&sigv4_key_cache[i], secret, sl, date8, region, service)) {
            memcpy(key_out, sigv4_key_cache[i].key, HM_SIGV4_KEY_BYTES);
            hit = true;
        }
    }
    pthread_mutex_unlock(&sigv4_key_mu);
    return hit;
}

static void sigv4_key_cache_put(const char *secret, size_t sl, const char *date8,
                                const char *region, size_t rl, const char *service,
                                size_t vl, const uint8_t key[HM_SIGV4_KEY_BYTES])
{
    pthread_mutex_lock(&sigv4_key_mu);
    sigv4_key_slot *e = &sigv4_key_cache[sigv4_key_next];
    sigv4_key_next = (sigv4_key_next + 1) % SIGV4_KEY_CACHE_SLOTS;
    OPENSSL_cleanse(e, sizeof *e);
    e->used = true;
    e->secret_len = sl;
    memcpy(e->secret, secret, sl);
    memcpy(e->date, date8, HM_SIGV4_DATE_BYTES);
    memcpy(e->region, region, rl);
    e->region[rl] = '\0';
    memcpy(e->service, service, vl);
    e->service[vl] = '\0';
    memcpy(e->key, key, HM_SIGV4_KEY_BYTES);
    pthread_mutex_unlock(&sigv4_key_mu);
}

static void sigv4_hex(const uint8_t *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

int hm_sigv4_sha256_hex(const void *data, size_t len,
                        char hex_out[HM_SIGV4_HEX_BYTES + 1])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    if (EVP_Digest(data, len, md, &md_len, EVP_sha256(), NULL) != 1 ||
        md_len != 32)
        return HM_EINTERNAL;
    sigv4_hex(md, 32, hex_out);
    return 0;
}

int hm_sigv4_signing_key(const char *secret, const char *date8,
                         const char *region, const char *service,
                         uint8_t key_out[HM_SIGV4_KEY_BYTES])
{
    char k0[4 + HM_SIGV4_SECRET_BYTES_MAX];
    uint8_t a[HM_SIGV4_KEY_BYTES], b[HM_SIGV4_KEY_BYTES];
    if (secret == NULL || date8 == NULL || region == NULL || service == NULL)
        return HM_EINVAL;
    size_t sl = sigv4_strnlen(secret, HM_SIGV4_SECRET_BYTES_MAX);
    size_t dl = sigv4_strnlen(date8, HM_SIGV4_DATE_BYTES);
    size_t rl = sigv4_strnlen(region, HM_SIGV4_REGION_BYTES_MAX);
    size_t vl = sigv4_strnlen(service, HM_SIGV4_SERVICE_BYTES_MAX);
    if (sl > HM_SIGV4_SECRET_BYTES_MAX || dl != HM_SIGV4_DATE_BYTES ||
        rl == 0 || rl > HM_SIGV4_REGION_BYTES_MAX || vl == 0 ||
        vl > HM_SIGV4_SERVICE_BYTES_MAX)
        return HM_EINVAL;
    if (sigv4_key_cache_get(secret, sl, date8, region, service, key_out))
        return 0;
    memcpy(k0, "AWS4", 4);
    memcpy(k0 + 4, secret, sl);
    int rc = sigv4_hmac(k0, 4 + sl, date8, dl, a);
    if (rc == 0)
        rc = sigv4_hmac(a, sizeof a, region, rl, b);
    if (rc == 0)
        rc = sigv4_hmac(b, sizeof b, service, vl, a);
    if (rc == 0)
        rc = sigv4_hmac(a, sizeof a, "aws4_request", 12, key_out);
    if (rc == 0)
        sigv4_key_cache_put(secret, sl, date8, region, rl, service, vl, key_out);
    OPENSSL_cleanse(k0, sizeof k0);
    OPENSSL_cleanse(a, sizeof a);
    OPENSSL_cleanse(b, sizeof b);
    return rc;
}

int hm_sigv4_signature_hex(const uint8_t key[HM_SIGV4_KEY_BYTES],
                           const char *msg, size_t msg_len,
                           char sig_out[HM_SIGV4_HEX_BYTES + 1])
{
    uint8_t mac[HM_SIGV4_KEY_BYTES];
    int rc = sigv4_hmac(key, HM_SIGV4_KEY_BYTES, msg, msg_len, mac);
    if (rc != 0)
        return rc;
    sigv4_hex(mac, sizeof mac, sig_out);
    return 0;
}

static bool sigv4_scope_part_ok(const char *s, size_t max)
{
    size_t n = sigv4_strnlen(s, max);
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f || c == '/')
            return false;
    }
    return true;
}

int hm_sigv4_scope(const char *date8, const char *region, const char *service,
                   char out[HM_SIGV4_SCOPE_BYTES_MAX + 1])
{
    if (date8 == NULL || region == NULL || service == NULL ||
        sigv4_strnlen(date8, HM_SIGV4_DATE_BYTES) != HM_SIGV4_DATE_BYTES ||
        sigv4_digits(date8, HM_SIGV4_DATE_BYTES) < 0 ||
        !sigv4_scope_part_ok(region, HM_SIGV4_REGION_BYTES_MAX) ||
        !sigv4_scope_part_ok(service, HM_SIGV4_SERVICE_BYTES_MAX))
        return HM_EINVAL;
    snprintf(out, HM_SIGV4_SCOPE_BYTES_MAX + 1, "%s/%s/%s/aws4_request", date8,
             region, service);
    return 0;
}

/* "AWS4-HMAC-SHA256\n" amz_date "\n" scope "\n" canonical_hash_hex */
static int sigv4_sts_from_hash(const char *amz_date, const char *scope,
                               const char *hash_hex, char *out, size_t cap,
                               size_t *len_out)
{
    int n = snprintf(out, cap, HM_SIGV4_ALGORITHM "\n%s\n%s\n%s", amz_date,
                     scope, hash_hex);
    if (n < 0 || (size_t)n >= cap)
        return HM_ETOOBIG;
    if (len_out != NULL)
        *len_out = (size_t)n;
    return 0;
}

int hm_sigv4_string_to_sign(const char *amz_date, const char *scope,
                            const char *canonical, size_t canonical_len,
                            char *out, size_t cap, size_t *len_out)
{
    char hash[HM_SIGV4_HEX_BYTES + 1];
    if (amz_date == NULL || scope == NULL || canonical == NULL || out == NULL ||
        sigv4_strnlen(amz_date, HM_SIGV4_AMZ_DATE_BYTES) !=
            HM_SIGV4_AMZ_DATE_BYTES ||
        sigv4_strnlen(scope, HM_SIGV4_SCOPE_BYTES_MAX) > HM_SIGV4_SCOPE_BYTES_MAX)
        return HM_EINVAL;
    int rc = hm_sigv4_sha256_hex(canonical, canonical_len, hash);
    if (rc != 0)
        return rc;
    return sigv4_sts_from_hash(amz_date, scope, hash, out, cap, len_out);
}

/* The chained signatures of aws-chunked: a chunk signs the empty-string
 * hash then the chunk's hash; the trailer signs the trailer's hash. */
static int sigv4_chained_signature(const uint8_t key[HM_SIGV4_KEY_BYTES],
                                   const char *algorithm, bool with_empty,
                                   const char *amz_date, const char *scope,
                                   const char *prev_signature,
                                   const char *sha256_hex,
                                   char sig_out[HM_SIGV4_HEX_BYTES + 1])
{
    char sts[64 + HM_SIGV4_AMZ_DATE_BYTES + HM_SIGV4_SCOPE_BYTES_MAX +
             3 * HM_SIGV4_HEX_BYTES];
    if (key == NULL || amz_date == NULL || scope == NULL ||
        prev_signature == NULL || sha256_hex == NULL || sig_out == NULL ||
        sigv4_strnlen(amz_date, HM_SIGV4_AMZ_DATE_BYTES) !=
            HM_SIGV4_AMZ_DATE_BYTES ||
        sigv4_strnlen(scope, HM_SIGV4_SCOPE_BYTES_MAX) > HM_SIGV4_SCOPE_BYTES_MAX ||
        sigv4_strnlen(prev_signature, HM_SIGV4_HEX_BYTES) != HM_SIGV4_HEX_BYTES ||
        sigv4_strnlen(sha256_hex, HM_SIGV4_HEX_BYTES) != HM_SIGV4_HEX_BYTES)
        return HM_EINVAL;
    int n = snprintf(sts, sizeof sts, "%s\n%s\n%s\n%s\n%s%s", algorithm,
                     amz_date, scope, prev_signature,
                     with_empty ? HM_SIGV4_EMPTY_SHA256 "\n" : "", sha256_hex);
    if (n < 0 || (size_t)n >= sizeof sts)
        return HM_EINVAL;
    return hm_sigv4_signature_hex(key, sts, (size_t)n, sig_out);
}

int hm_sigv4_chunk_signature(const uint8_t key[HM_SIGV4_KEY_BYTES],
                             const char *amz_date, const char *scope,
                             const char *prev_signature,
                             const char *chunk_sha256_hex,
                             char sig_out[HM_SIGV4_HEX_BYTES + 1])
{
    return sigv4_chained_signature(key, "AWS4-HMAC-SHA256-PAYLOAD", true,
                                   amz_date, scope, prev_signature,
                                   chunk_sha256_hex, sig_out);
}

int hm_sigv4_trailer_signature(const uint8_t key[HM_SIGV4_KEY_BYTES],
                               const char *amz_date, const char *scope,
                               const char *prev_signature,
                               const char *trailer_sha256_hex,
                               char sig_out[HM_SIGV4_HEX_BYTES + 1])
{
    return sigv4_chained_signature(key, "AWS4-HMAC-SHA256-TRAILER", false,
                                   amz_date, scope, prev_signature,
                                   trailer_sha256_hex, sig_out);
}

/* ---- the canonical request sink ----------------------------------------- */

typedef struct sigv4_sink {
    char *buf;          /* copy mode: caller buffer */
    size_t cap;
    EVP_MD_CTX *md;     /* hash mode */
    char stage[512];    /* hash mode: batches small writes */
    size_t staged;
    size_t len;         /* bytes produced so far */
    int err;
} sigv4_sink;

static void sigv4_sink_flush(sigv4_sink *s)
{
    if (s->md != NULL && s->staged > 0 && s->err == 0) {
        if (EVP_DigestUpdate(s->md, s->stage, s->staged) != 1)
            s->err = HM_EINTERNAL;
    }
    s->staged = 0;
}

static void sigv4_put(sigv4_sink *s, const char *p, size_t n)
{
    if (s->err != 0)
        return;
    if (n > HM_SIGV4_CANONICAL_BYTES_MAX - s->len) {
        s->err = HM_EPROTO;
        return;
    }
    if (s->md == NULL) {
        if (n >= s->cap - s->len) {
            s->err = HM_ETOOBIG;
            return;
        }
        memcpy(s->buf + s->len, p, n);
        s->buf[s->len + n] = '\0';
    } else if (n > sizeof s->stage - s->staged) {
        sigv4_sink_flush(s);
        if (s->err == 0 && EVP_DigestUpdate(s->md, p, n) != 1)
            s->err = HM_EINTERNAL;
    } else {
        memcpy(s->stage + s->staged, p, n);
        s->staged += n;
    }
    s->len += n;
}

static void sigv4_putc(sigv4_sink *s, char c)
{
    sigv4_put(s, &c, 1);
}

static void sigv4_put_str(sigv4_sink *s, const char *str)
{
    sigv4_put(s, str, strlen(str));
}

static void sigv4_put_pct(sigv4_sink *s, unsigned char c)
{
    static const char digits[] = "0123456789ABCDEF";
    char e[3] = {'%', digits[c >> 4], digits[c & 15]};
    sigv4_put(s, e, 3);
}

/* Canonical URI (S3 rules, see hm_sigv4.h): decode once, re-encode once.
 * A raw '/' stays '/', an encoded "%2F" stays "%2F", unreserved characters
 * are literal, everything else is %XX upper case. */
static void sigv4_put_path(sigv4_sink *s, const char *path)
{
    size_t n = sigv4_strnlen(path, HM_SIGV4_PATH_BYTES_MAX);
    if (n > HM_SIGV4_PATH_BYTES_MAX) {
        s->err = s->err != 0 ? s->err : HM_EPROTO;
        return;
    }
    if (n == 0) {
        sigv4_putc(s, '/');
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f) {
            s->err = s->err != 0 ? s->err : HM_EPROTO;
            return;
        }
        if (c == '%') {
            if (n - i < 3) {
                s->err = s->err != 0 ? s->err : HM_EPROTO;
                return;
            }
            int h = sigv4_hexval((unsigned char)path[i + 1]);
            int l = sigv4_hexval((unsigned char)path[i + 2]);
            if (h < 0 || l < 0) {
                s->err = s->err != 0 ? s->err : HM_EPROTO;
                return;
            }
            unsigned char d = (unsigned char)(h * 16 + l);
            if (sigv4_unreserved(d))
                sigv4_putc(s, (char)d);
            else
                sigv4_put_pct(s, d);
            i += 2;
        } else if (c == '/' || sigv4_unreserved(c)) {
            sigv4_putc(s, (char)c);
        } else {
            sigv4_put_pct(s, c);
        }
    }
}

/* One query parameter, its name and value already in canonical encoding. */
typedef struct sigv4_param {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} sigv4_param;

/* Decode raw[0..n) once and append it, canonically encoded, to out.
 * Returns the bytes written or -1 on a bad %XX or control character. */
static long sigv4_encode_component(const char *raw, size_t n, char *out)
{
    static const char digits[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (c == '%') {
            if (n - i < 3)
                return -1;
            int h = sigv4_hexval((unsigned char)raw[i + 1]);
            int l = sigv4_hexval((unsigned char)raw[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (unsigned char)(h * 16 + l);
            i += 2;
        }
        if (sigv4_unreserved(c)) {
            out[o++] = (char)c;
        } else {
            out[o++] = '%';
            out[o++] = digits[c >> 4];
            out[o++] = digits[c & 15];
        }
    }
    return (long)o;
}

static int sigv4_param_cmp(const void *pa, const void *pb)
{
    const sigv4_param *a = pa, *b = pb;
    size_t m = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(a->name, b->name, m);
    if (c != 0)
        return c;
    if (a->name_len != b->name_len)
        return a->name_len < b->name_len ? -1 : 1;
    m = a->value_len < b->value_len ? a->value_len : b->value_len;
    c = memcmp(a->value, b->value, m);
    if (c != 0)
        return c;
    if (a->value_len != b->value_len)
        return a->value_len < b->value_len ? -1 : 1;
    return 0;
}

/* Canonical query: every parameter name and value decoded once and
 * URI-encoded (RFC 3986 unreserved kept), sorted by name then value,
 * "name=value" joined by '&', a valueless parameter as "name=".  A raw '+'
 * is taken literally (%2B): SDKs send spaces as %20. */
static void sigv4_put_query(sigv4_sink *s, const char *query, bool presigned)
{
    if (s->err != 0 || query == NULL || query[0] == '\0')
        return;
    size_t qlen = sigv4_strnlen(query, HM_SIGV4_QUERY_BYTES_MAX);
    if (qlen > HM_SIGV4_QUERY_BYTES_MAX) {
        s->err = HM_EPROTO;
        return;
    }
    /* qlen is bounded above, so this allocation is too: encoded text is at
     * most three bytes per raw byte. */
    size_t params_bytes = HM_SIGV4_QUERY_PARAMS_MAX * sizeof(sigv4_param);
    char *mem = malloc(params_bytes + 3 * qlen + 1);
    if (mem == NULL) {
        s->err = HM_ENOMEM;
        return;
    }
    sigv4_param *params = (sigv4_param *)(void *)mem;
    char *text = mem + params_bytes;
    size_t used = 0, count = 0;
    size_t i = 0;
    while (i < qlen) {
        size_t start = i;
        while (i < qlen && query[i] != '&')
            i++;
        size_t seg = i - start;
        i++; /* past '&' */
        if (seg == 0)
            continue;
        const char *p = query + start;
        const char *eq = memchr(p, '=', seg);
        size_t nl = eq != NULL ? (size_t)(eq - p) : seg;
        if (presigned && nl == 15 && memcmp(p, "X-Amz-Signature", 15) == 0)
            continue;
        if (count == HM_SIGV4_QUERY_PARAMS_MAX) {
            s->err = HM_EPROTO;
            goto out;
        }
        sigv4_param *pr = &params[count];
        long w = sigv4_encode_component(p, nl, text + used);
        if (w < 0) {
            s->err = HM_EPROTO;
            goto out;
        }
        pr->name = text + used;
        pr->name_len = (size_t)w;
        used += (size_t)w;
        if (presigned && pr->name_len == 15 &&
            memcmp(pr->name, "X-Amz-Signature", 15) == 0)
            continue; /* an encoded spelling of the same name */
        size_t vl = eq != NULL ? seg - nl - 1 : 0;
        w = sigv4_encode_component(eq != NULL ? eq + 1 : p + seg, vl,
                                   text + used);
        if (w < 0) {
            s->err = HM_EPROTO;
            goto out;
        }
        pr->value = text + used;
        pr->value_len = (size_t)w;
        used += (size_t)w;
        count++;
    }
    qsort(params, count, sizeof *params, sigv4_param_cmp);
    for (size_t k = 0; k < count; k++) {
        if (k > 0)
            sigv4_putc(s, '&');
        sigv4_put(s, params[k].name, params[k].name_len);
        sigv4_putc(s, '=');
        sigv4_put(s, params[k].value, params[k].value_len);
    }
out:
    free(mem);
}

/* Append a header value trimmed, with runs of spaces and tabs collapsed to
 * one space ("Trimall" in the AWS page).  Control characters other than
 * TAB are refused. */
static void sigv4_put_header_value(sigv4_sink *s, const char *v)
{
    size_t n = sigv4_strnlen(v, HM_HTTP_HEADERS_BYTES_MAX);
    if (n > HM_HTTP_HEADERS_BYTES_MAX) {
        s->err = s->err != 0 ? s->err : HM_EPROTO;
        return;
    }
    bool pending_space = false, any = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == ' ' || c == '\t') {
            pending_space = any;
            continue;
        }
        if (c < 0x20 || c == 0x7f) {
            s->err = s->err != 0 ? s->err : HM_EPROTO;
            return;
        }
        if (pending_space)
            sigv4_putc(s, ' ');
        pending_space = false;
        any = true;
        sigv4_putc(s, (char)c);
    }
}

/* Canonical headers: for each signed name (already sorted lower-case),
 * "name:" + values of every request header of that name, trimmed and
 * joined by ',' + "\n".  A signed header the request lacks -> HM_ENOENT. */
static void sigv4_put_headers(sigv4_sink *s, const hm_sigv4_request *req,
                              const char *signed_headers)
{
    const char *p = signed_headers;
    while (s->err == 0 && *p != '\0') {
        const char *e = strchr(p, ';');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        bool found = false;
        sigv4_put(s, p, n);
        sigv4_putc(s, ':');
        for (size_t i = 0; i < req->header_count; i++) {
            const char *name = req->headers[i].name;
            if (name == NULL || !sigv4_name_eq(name, p, n))
                continue;
            if (found)
                sigv4_putc(s, ',');
            found = true;
            sigv4_put_header_value(s, req->headers[i].value != NULL
                                          ? req->headers[i].value
                                          : "");
        }
        if (!found && s->err == 0)
            s->err = HM_ENOENT;
        sigv4_putc(s, '\n');
        if (e == NULL)
            break;
        p = e + 1;
    }
}

static bool sigv4_method_ok(const char *m)
{
    size_t n = sigv4_strnlen(m, HM_SIGV4_METHOD_BYTES_MAX);
    if (n == 0 || n > HM_SIGV4_METHOD_BYTES_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)m[i];
        if (c <= ' ' || c >= 0x7f)
            return false;
    }
    return true;
}

static int sigv4_canonical(const hm_sigv4_request *req,
                           const char *signed_headers,
                           const char *payload_hash, bool presigned,
                           sigv4_sink *s)
{
    if (req == NULL || req->method == NULL || signed_headers == NULL ||
        payload_hash == NULL || (req->header_count > 0 && req->headers == NULL))
        return HM_EINVAL;
    size_t sl = sigv4_strnlen(signed_headers, HM_SIGV4_SIGNED_HEADERS_BYTES_MAX);
    size_t pl = sigv4_strnlen(payload_hash, HM_SIGV4_PAYLOAD_HASH_BYTES_MAX);
    if (!sigv4_method_ok(req->method) ||
        sigv4_check_signed_list(signed_headers, sl) == 0 ||
        pl > HM_SIGV4_PAYLOAD_HASH_BYTES_MAX)
        return HM_EPROTO;
    sigv4_put_str(s, req->method);
    sigv4_putc(s, '\n');
    sigv4_put_path(s, req->path != NULL ? req->path : "/");
    sigv4_putc(s, '\n');
    sigv4_put_query(s, req->query, presigned);
    sigv4_putc(s, '\n');
    sigv4_put_headers(s, req, signed_headers);
    sigv4_putc(s, '\n');
    sigv4_put(s, signed_headers, sl);
    sigv4_putc(s, '\n');
    sigv4_put(s, payload_hash, pl);
    sigv4_sink_flush(s);
    return s->err;
}

int hm_sigv4_canonical_request(const hm_sigv4_request *req,
                               const char *signed_headers,
                               const char *payload_hash, bool presigned,
                               char *out, size_t cap, size_t *len_out)
{
    if (out == NULL || cap == 0)
        return HM_EINVAL;
    sigv4_sink s = {.buf = out, .cap = cap};
    out[0] = '\0';
    int rc = sigv4_canonical(req, signed_headers, payload_hash, presigned, &s);
    if (rc == 0 && len_out != NULL)
        *len_out = s.len;
    return rc;
}

/* Hash the canonical request straight into hash_hex. */
static int sigv4_canonical_hash(const hm_sigv4_request *req,
                                const char *signed_headers,
                                const char *payload_hash, bool presigned,
                                char hash_hex[HM_SIGV4_HEX_BYTES + 1])
{
    sigv4_sink s = {0};
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned md_len = 0;
    s.md = EVP_MD_CTX_new();
    if (s.md == NULL)
        return HM_ENOMEM;
    int rc = HM_EINTERNAL;
    if (EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1)
        goto out;
    rc = sigv4_canonical(req, signed_headers, payload_hash, presigned, &s);
    if (rc != 0)
        goto out;
    if (EVP_DigestFinal_ex(s.md, md, &md_len) != 1 || md_len != 32) {
        rc = HM_EINTERNAL;
        goto out;
    }
    sigv4_hex(md, 32, hash_hex);
out:
    EVP_MD_CTX_free(s.md);
    return rc;
}

/* The signature of a request: canonical hash -> string to sign -> HMAC. */
static int sigv4_compute(const hm_sigv4_request *req,
                         const char *signed_headers, const char *payload_hash,
                         bool presigned, const char *amz_date,
                         const char *scope,
                         const uint8_t key[HM_SIGV4_KEY_BYTES],
                         char sig_out[HM_SIGV4_HEX_BYTES + 1])
{
    char hash[HM_SIGV4_HEX_BYTES + 1];
    char sts[64 + HM_SIGV4_AMZ_DATE_BYTES + HM_SIGV4_SCOPE_BYTES_MAX +
             HM_SIGV4_HEX_BYTES];
    size_t sts_len = 0;
    int rc = sigv4_canonical_hash(req, signed_headers, payload_hash, presigned,
                                  hash);
    if (rc == 0)
        rc = sigv4_sts_from_hash(amz_date, scope, hash, sts, sizeof sts,
                                 &sts_len);
    if (rc == 0)
        rc = hm_sigv4_signature_hex(key, sts, sts_len, sig_out);
    return rc;
}

/* ---- parsing ------------------------------------------------------------ */

const char *hm_sigv4_reason_name(hm_sigv4_reason reason)
{
    switch (reason) {
    case HM_SIGV4_OK: return "OK";
    case HM_SIGV4_MALFORMED: return "MALFORMED";
    case HM_SIGV4_BAD_ALGORITHM: return "BAD_ALGORITHM";
    case HM_SIGV4_QUERY_MALFORMED: return "QUERY_MALFORMED";
    case HM_SIGV4_BAD_SCOPE: return "BAD_SCOPE";
    case HM_SIGV4_MISSING_DATE: return "MISSING_DATE";
    case HM_SIGV4_BAD_CONTENT_SHA: return "BAD_CONTENT_SHA";
    case HM_SIGV4_MISSING_CONTENT_SHA: return "MISSING_CONTENT_SHA";
    case HM_SIGV4_UNSIGNED_HEADER: return "UNSIGNED_HEADER";
    case HM_SIGV4_UNKNOWN_KEY: return "UNKNOWN_KEY";
    case HM_SIGV4_SKEWED: return "SKEWED";
    case HM_SIGV4_EXPIRED: return "EXPIRED";
    case HM_SIGV4_NOT_YET_VALID: return "NOT_YET_VALID";
    case HM_SIGV4_MISMATCH: return "MISMATCH";
    case HM_SIGV4_MULTIPLE_AUTH: return "MULTIPLE_AUTH";
    case HM_SIGV4_INTERNAL: return "INTERNAL";
    }
    return "UNKNOWN";
}

/* Copy s[0..n) into dst (cap includes the NUL) if it fits. */
static bool sigv4_copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return false;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return true;
}

/* Access key id characters: visible ASCII except the separators of the
 * credential and the header ('/', ',', '='). */
static bool sigv4_ak_char(unsigned char c)
{
    return c > ' ' && c < 0x7f && c != '/' && c != ',' && c != '=';
}

static bool sigv4_region_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* "AK/YYYYMMDD/region/service/aws4_request" into out. */
static bool sigv4_parse_credential(const char *s, size_t n, hm_sigv4_auth *out)
{
    const char *parts[5];
    size_t lens[5];
    size_t k = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '/') {
            if (k == 5)
                return false;
            parts[k] = s + start;
            lens[k] = i - start;
            k++;
            start = i + 1;
        }
    }
    if (k != 5)
        return false;
    if (lens[0] == 0 ||
        !sigv4_copy(out->access_key_id, sizeof out->access_key_id, parts[0],
                    lens[0]))
        return false;
    for (size_t i = 0; i < lens[0]; i++) {
        if (!sigv4_ak_char((unsigned char)parts[0][i]))
            return false;
    }
    if (lens[1] != HM_SIGV4_DATE_BYTES || sigv4_digits(parts[1], lens[1]) < 0)
        return false;
    sigv4_copy(out->date, sizeof out->date, parts[1], lens[1]);
    if (lens[2] == 0 ||
        !sigv4_copy(out->region, sizeof out->region, parts[2], lens[2]))
        return false;
    for (size_t i = 0; i < lens[2]; i++) {
        if (!sigv4_region_char((unsigned char)parts[2][i]))
            return false;
    }
    if (lens[3] == 0 ||
        !sigv4_copy(out->service, sizeof out->service, parts[3], lens[3]))
        return false;
    for (size_t i = 0; i < lens[3]; i++) {
        if (!sigv4_region_char((unsigned char)parts[3][i]))
            return false;
    }
    return lens[4] == 12 && memcmp(parts[4], "aws4_request", 12) == 0;
}

static bool sigv4_parse_signed(const char *s, size_t n, hm_sigv4_auth *out)
{
    size_t count = sigv4_check_signed_list(s, n);
    if (count == 0 ||
        !sigv4_copy(out->signed_headers, sizeof out->signed_headers, s, n))
        return false;
    out->signed_header_count = count;
    return true;
}

static bool sigv4_parse_sig(const char *s, size_t n, hm_sigv4_auth *out)
{
    if (n != HM_SIGV4_HEX_BYTES || !sigv4_is_lower_hex(s, n))
        return false;
    return sigv4_copy(out->signature, sizeof out->signature, s, n);
}

static int sigv4_fail(hm_sigv4_reason *reason, hm_sigv4_reason r, int rc)
{
    if (reason != NULL)
        *reason = r;
    return rc;
}

int hm_sigv4_parse_auth_header(const char *authorization, hm_sigv4_auth *out,
                               hm_sigv4_reason *reason)
{
    if (authorization == NULL || out == NULL)
        return sigv4_fail(reason, HM_SIGV4_MALFORMED, HM_EPROTO);
    memset(out, 0, sizeof *out);
    size_t n = sigv4_strnlen(authorization, HM_SIGV4_AUTH_BYTES_MAX);
    if (n > HM_SIGV4_AUTH_BYTES_MAX)
        return sigv4_fail(reason, HM_SIGV4_MALFORMED, HM_EPROTO);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)authorization[i];
        if (c < 0x20 || c >= 0x7f)
            return sigv4_fail(reason, HM_SIGV4_MALFORMED, HM_EPROTO);
    }
    const char *a = authorization;
    size_t i = 0;
    while (i < n && a[i] != ' ')
        i++;
    if (i == 0)
        return sigv4_fail(reason, HM_SIGV4_MALFORMED, HM_EPROTO);
    if (i != strlen(HM_SIGV4_ALGORITHM) ||
        memcmp(a, HM_SIGV4_ALGORITHM, i) != 0)
        return sigv4_fail(reason, HM_SIGV4_BAD_ALGORITHM, HM_EPROTO);
    bool have_cred = false, have_signed = false, have_sig = false;
    bool first = true;
    while (i < n) {
        /* separator: spaces, and a ',' before every part but the first */
        while (i < n && a[i] == ' ')
            i++;
        if (!first) {
            if (i >= n)
                break;
            if (a[i] != ',')
                return sigv4_fail(reason, HM_SIGV4_MALFORMED, HM_EPROTO);
            i++;
            while (i < n && a[i] == ' ')
                i++;
            if (i >= n) /* a trailing ',' */
                return sigv4_fail(reason, HM_SIGV4_MALFORMED, HM_EPROTO);
        }
        if (i >= n)
            break;
        first = false;
        size_t start = i;
        while (i < n && a[i] != '=' && a[i] != ',' && a[i] != ' ')
            i++;
        if (i >= n || a[i] != '=')
            return sigv4_fail(reason, HM_SIGV4_MALFORMED, HM_EPROTO);
        const char *key = a + start;
        size_t kl = i - start;
        i++;
        size_t vstart = i;
        while (i < n && a[i] != ',' && a[i] != ' ')
            i++;
        const char *v = a + vstart;
        size_t vl = i - vstart;
        bool ok;
        if (kl == 10 && memcmp(key, "Credential", 10) == 0) {
            ok = !have_cred && sigv4_parse_credential(v, vl, out);
            have_cred = true;
        } else if (kl == 13 && memcmp(key, "SignedHeaders", 13) == 0) {
            ok = !have_signed && sigv4_parse_signed(v, vl, out);
            have_signed = true;
        } else if (kl == 9 && memcmp(key, "Signature", 9) == 0) {
            ok = !have_sig && sigv4_parse_sig(v, vl, out);
            have_sig = true;
        } else {
            ok = false;
        }
        if (!ok)
            return sigv4_fail(reason, HM_SIGV4_MALFORMED, HM_EPROTO);
    }
    if (!have_cred || !have_signed || !have_sig)
        return sigv4_fail(reason, HM_SIGV4_MALFORMED, HM_EPROTO);
    out->presigned = false;
    return sigv4_fail(reason, HM_SIGV4_OK, 0);
}

/* Percent-decode raw[0..n) into dst (cap includes the NUL); refuses
 * control characters and NULs.  '+' is literal. */
static bool sigv4_decode_into(const char *raw, size_t n, char *dst, size_t cap,
                              size_t *len_out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '%') {
            if (n - i < 3)
                return false;
            int h = sigv4_hexval((unsigned char)raw[i + 1]);
            int l = sigv4_hexval((unsigned char)raw[i + 2]);
            if (h < 0 || l < 0)
                return false;
            c = (unsigned char)(h * 16 + l);
            i += 2;
        }
        if (c < 0x20 || c == 0x7f || o + 1 >= cap)
            return false;
        dst[o++] = (char)c;
    }
    dst[o] = '\0';
    if (len_out != NULL)
        *len_out = o;
    return true;
}

enum {
    SIGV4_Q_ALGORITHM,
    SIGV4_Q_CREDENTIAL,
    SIGV4_Q_DATE,
    SIGV4_Q_EXPIRES,
    SIGV4_Q_SIGNED,
    SIGV4_Q_SIGNATURE,
    SIGV4_Q_COUNT
};

static const char *const sigv4_q_names[SIGV4_Q_COUNT] = {
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date",
    "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature"};

int hm_sigv4_parse_presigned_query(const char *query, hm_sigv4_auth *out,
                                   hm_sigv4_reason *reason)
{
    /* decoded name buffer: the longest name we care about is 19 bytes */
    char name[32];
    char value[HM_SIGV4_SIGNED_HEADERS_BYTES_MAX + 1];
    bool seen[SIGV4_Q_COUNT] = {false};
    bool dup = false, bad = false;
    if (out == NULL)
        return sigv4_fail(reason, HM_SIGV4_QUERY_MALFORMED, HM_EPROTO);
    memset(out, 0, sizeof *out);
    if (query == NULL)
        return sigv4_fail(reason, HM_SIGV4_OK, HM_ENOENT);
    size_t qlen = sigv4_strnlen(query, HM_SIGV4_QUERY_BYTES_MAX);
    if (qlen > HM_SIGV4_QUERY_BYTES_MAX)
        return sigv4_fail(reason, HM_SIGV4_QUERY_MALFORMED, HM_EPROTO);
    size_t i = 0;
    while (i < qlen) {
        size_t start = i;
        while (i < qlen && query[i] != '&')
            i++;
        size_t seg = i - start;
        i++;
        if (seg == 0)
            continue;
        const char *p = query + start;
        const char *eq = memchr(p, '=', seg);
        size_t nl = eq != NULL ? (size_t)(eq - p) : seg;
        size_t dn = 0;
        if (nl >= 3 * sizeof name ||
            !sigv4_decode_into(p, nl, name, sizeof name, &dn))
            continue; /* not one of ours (the canonical query checks it) */
        int which = -1;
        for (int k = 0; k < SIGV4_Q_COUNT; k++) {
            if (strcmp(name, sigv4_q_names[k]) == 0)
                which = k;
        }
        if (which < 0)
            continue;
        if (seen[which])
            dup = true;
        seen[which] = true;
        size_t vl = 0;
        if (eq == NULL ||
            !sigv4_decode_into(eq + 1, seg - nl - 1, value, sizeof value, &vl)) {
            bad = true;
            continue;
        }
        bool ok = true;
        switch (which) {
        case SIGV4_Q_ALGORITHM:
            if (strcmp(value, HM_SIGV4_ALGORITHM) != 0)
                return sigv4_fail(reason, HM_SIGV4_BAD_ALGORITHM, HM_EPROTO);
            break;
        case SIGV4_Q_CREDENTIAL:
            ok = sigv4_parse_credential(value, vl, out);
            break;
        case SIGV4_Q_DATE: {
            int64_t t;
            ok = hm_sigv4_parse_amz_date(value, &t) == 0 &&
                 sigv4_copy(out->amz_date, sizeof out->amz_date, value, vl);
            break;
        }
        case SIGV4_Q_EXPIRES: {
            int64_t e = vl >= 1 && vl <= 6 ? sigv4_digits(value, vl) : -1;
            ok = e >= 1 && e <= HM_SIGV4_EXPIRES_S_MAX;
            out->expires_s = e;
            break;
        }
        case SIGV4_Q_SIGNED:
            ok = sigv4_parse_signed(value, vl, out);
            break;
        case SIGV4_Q_SIGNATURE:
            ok = sigv4_parse_sig(value, vl, out);
            break;
        default:
            ok = false;
            break;
        }
        if (!ok)
            bad = true;
    }
    if (!seen[SIGV4_Q_ALGORITHM] && !seen[SIGV4_Q_SIGNATURE] &&
        !seen[SIGV4_Q_CREDENTIAL])
        return sigv4_fail(reason, HM_SIGV4_OK, HM_ENOENT);
    for (int k = 0; k < SIGV4_Q_COUNT; k++) {
        if (!seen[k])
            bad = true;
    }
    if (bad || dup)
        return sigv4_fail(reason, HM_SIGV4_QUERY_MALFORMED, HM_EPROTO);
    out->presigned = true;
    return sigv4_fail(reason, HM_SIGV4_OK, 0);
}

/* ---- verify ------------------------------------------------------------- */

static int sigv4_refuse(hm_sigv4_verified *out, hm_sigv4_reason r,
                        const char *detail, int rc)
{
    out->reason = r;
    out->detail = detail;
    return rc;
}

/* x-amz-content-sha256: 64 hex digits or one of the keywords of the
 * AWS pages on single-chunk, multiple-chunk and trailer uploads. */
static bool sigv4_payload_hash_ok(const char *h)
{
    static const char *const words[] = {
        "UNSIGNED-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER",
    };
    size_t n = sigv4_strnlen(h, HM_SIGV4_PAYLOAD_HASH_BYTES_MAX);
    if (n == HM_SIGV4_HEX_BYTES) {
        for (size_t i = 0; i < n; i++) {
            if (sigv4_hexval((unsigned char)h[i]) < 0)
                return false;
        }
        return true;
    }
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (strcmp(h, words[i]) == 0)
            return true;
    }
    return false;
}

/* A bad scope is reported in the terms of where it came from. */
static hm_sigv4_reason sigv4_scope_reason(const hm_sigv4_auth *auth)
{
    return auth->presigned ? HM_SIGV4_QUERY_MALFORMED : HM_SIGV4_BAD_SCOPE;
}

int hm_sigv4_verify(const hm_sigv4_request *req, const hm_sigv4_auth *auth,
                    const hm_sigv4_verify_config *cfg, hm_sigv4_verified *out)
{
    if (out == NULL)
        return HM_EINVAL;
    memset(out, 0, sizeof *out);
    if (req == NULL || auth == NULL || cfg == NULL || cfg->lookup == NULL ||
        (req->header_count > 0 && req->headers == NULL))
        return sigv4_refuse(out, HM_SIGV4_INTERNAL, "bad verify arguments",
                            HM_EINVAL);

    /* 1. scope */
    if (strcmp(auth->service, "s3") != 0)
        return sigv4_refuse(out, sigv4_scope_reason(auth),
                            "credential scope service is not s3", HM_EPROTO);

    /* 2. timestamp */
    int64_t t_ms = 0;
    const char *date_header_name = NULL;
    if (auth->presigned) {
        if (hm_sigv4_parse_amz_date(auth->amz_date, &t_ms) != 0)
            return sigv4_refuse(out, HM_SIGV4_QUERY_MALFORMED,
                                "X-Amz-Date is invalid", HM_EPROTO);
        memcpy(out->amz_date, auth->amz_date, sizeof out->amz_date);
    } else {
        const char *xd = sigv4_header(req, "x-amz-date");
        if (xd != NULL) {
            if (hm_sigv4_parse_amz_date(xd, &t_ms) != 0)
                return sigv4_refuse(out, HM_SIGV4_MISSING_DATE,
                                    "x-amz-date is invalid", HM_EPROTO);
            date_header_name = "x-amz-date";
        } else {
            const char *d = sigv4_header(req, "date");
            if (d == NULL || hm_sigv4_parse_http_date(d, &t_ms) != 0)
                return sigv4_refuse(out, HM_SIGV4_MISSING_DATE,
                                    "no valid x-amz-date or Date", HM_EPROTO);
            date_header_name = "date";
        }
        if (hm_sigv4_format_amz_date(t_ms, out->amz_date) != 0)
            return sigv4_refuse(out, HM_SIGV4_MISSING_DATE,
                                "date out of range", HM_EPROTO);
    }
    if (memcmp(out->amz_date, auth->date, HM_SIGV4_DATE_BYTES) != 0)
        return sigv4_refuse(out, sigv4_scope_reason(auth),
                            "credential scope date is not the request date",
                            HM_EPROTO);

    /* 3. payload hash */
    const char *payload = req->payload_hash;
    if (payload == NULL && !auth->presigned) {
        payload = sigv4_header(req, "x-amz-content-sha256");
        if (payload == NULL)
            return sigv4_refuse(out, HM_SIGV4_MISSING_CONTENT_SHA,
                                "x-amz-content-sha256 is missing", HM_EPROTO);
    }
    if (payload == NULL)
        payload = HM_SIGV4_UNSIGNED_PAYLOAD;
    if (!sigv4_payload_hash_ok(payload))
        return sigv4_refuse(out, HM_SIGV4_BAD_CONTENT_SHA,
                            "x-amz-content-sha256 is invalid", HM_EPROTO);
    snprintf(out->payload_hash, sizeof out->payload_hash, "%s", payload);

    /* 4. headers that must be signed */
    if (!sigv4_list_has(auth->signed_headers, "host"))
        return sigv4_refuse(out, HM_SIGV4_UNSIGNED_HEADER, "host is not signed",
                            HM_EPERM);
    if (!auth->presigned) {
        if (!sigv4_list_has(auth->signed_headers, date_header_name))
            return sigv4_refuse(out, HM_SIGV4_UNSIGNED_HEADER,
                                "the request date is not signed", HM_EPERM);
        if (sigv4_header(req, "x-amz-content-sha256") != NULL &&
            !sigv4_list_has(auth->signed_headers, "x-amz-content-sha256"))
            return sigv4_refuse(out, HM_SIGV4_UNSIGNED_HEADER,
                                "x-amz-content-sha256 is not signed", HM_EPERM);
        if (sigv4_header(req, "x-amz-date") != NULL &&
            !sigv4_list_has(auth->signed_headers, "x-amz-date"))
            return sigv4_refuse(out, HM_SIGV4_UNSIGNED_HEADER,
                                "x-amz-date is not signed", HM_EPERM);
    }

    /* 5. the key */
    char secret[HM_SIGV4_SECRET_BYTES_MAX + 1];
    memset(secret, 0, sizeof secret);
    int rc = cfg->lookup(cfg->lookup_ctx, auth->access_key_id, secret,
                         sizeof secret);
    if (rc == HM_ENOENT) {
        OPENSSL_cleanse(secret, sizeof secret);
        return sigv4_refuse(out, HM_SIGV4_UNKNOWN_KEY, "unknown access key",
                            HM_EPERM);
    }
    if (rc != 0) {
        OPENSSL_cleanse(secret, sizeof secret);
        return sigv4_refuse(out, HM_SIGV4_INTERNAL, "key lookup failed",
                            rc < 0 ? rc : HM_EINTERNAL);
    }
    secret[HM_SIGV4_SECRET_BYTES_MAX] = '\0';
    rc = hm_sigv4_signing_key(secret, auth->date, auth->region, auth->service,
                              out->signing_key);
    OPENSSL_cleanse(secret, sizeof secret);
    if (rc != 0)
        return sigv4_refuse(out, HM_SIGV4_INTERNAL, "signing key", rc);
    snprintf(out->access_key_id, sizeof out->access_key_id, "%s",
             auth->access_key_id);
    snprintf(out->region, sizeof out->region, "%s", auth->region);
    if (hm_sigv4_scope(auth->date, auth->region, auth->service, out->scope) != 0)
        return sigv4_refuse(out, sigv4_scope_reason(auth), "credential scope",
                            HM_EPROTO);

    /* 6. time */
    int64_t skew = cfg->skew_ms_max > 0 ? cfg->skew_ms_max : HM_CLOCK_SKEW_MS_MAX;
    int64_t now = cfg->now_ms;
    if (auth->presigned) {
        if (t_ms - skew > now)
            return sigv4_refuse(out, HM_SIGV4_NOT_YET_VALID,
                                "request is not valid yet", HM_EPERM);
        if (now > t_ms + auth->expires_s * 1000)
            return sigv4_refuse(out, HM_SIGV4_EXPIRED, "request has expired",
                                HM_EPERM);
    } else if (now - t_ms > skew || t_ms - now > skew) {
        return sigv4_refuse(out, HM_SIGV4_SKEWED, "request time too skewed",
                            HM_EPERM);
    }

    /* 7. the signature */
    rc = sigv4_compute(req, auth->signed_headers, payload, auth->presigned,
                       out->amz_date, out->scope, out->signing_key,
                       out->signature);
    if (rc == HM_ENOENT)
        return sigv4_refuse(out, HM_SIGV4_MISMATCH,
                            "a signed header is missing", HM_EPERM);
    if (rc == HM_EPROTO)
        return sigv4_refuse(out, HM_SIGV4_MALFORMED,
                            "request cannot be canonicalized", HM_EPROTO);
    if (rc != 0)
        return sigv4_refuse(out, HM_SIGV4_INTERNAL, "signature computation",
                            rc);
    if (CRYPTO_memcmp(out->signature, auth->signature, HM_SIGV4_HEX_BYTES) != 0)
        return sigv4_refuse(out, HM_SIGV4_MISMATCH, "signature does not match",
                            HM_EPERM);
    return sigv4_refuse(out, HM_SIGV4_OK, "ok", 0);
}

int hm_sigv4_authenticate(const hm_sigv4_request *req,
                          const hm_sigv4_verify_config *cfg,
                          hm_sigv4_verified *out)
{
    hm_sigv4_auth auth;
    hm_sigv4_reason reason = HM_SIGV4_OK;
    if (out == NULL)
        return HM_EINVAL;
    memset(out, 0, sizeof *out);
    if (req == NULL || (req->header_count > 0 && req->headers == NULL))
        return sigv4_refuse(out, HM_SIGV4_INTERNAL, "bad arguments", HM_EINVAL);
    const char *authz = sigv4_header(req, "authorization");
    int qrc = hm_sigv4_parse_presigned_query(req->query, &auth, &reason);
    if (authz != NULL) {
        if (qrc != HM_ENOENT)
            return sigv4_refuse(out, HM_SIGV4_MULTIPLE_AUTH,
                                "only one auth mechanism allowed", HM_EPROTO);
        int rc = hm_sigv4_parse_auth_header(authz, &auth, &reason);
        if (rc != 0)
            return sigv4_refuse(out, reason, "authorization header", rc);
    } else if (qrc == HM_ENOENT) {
        return sigv4_refuse(out, HM_SIGV4_OK, "anonymous", HM_ENOENT);
    } else if (qrc != 0) {
        return sigv4_refuse(out, reason, "presigned query", qrc);
    }
    return hm_sigv4_verify(req, &auth, cfg, out);
}

/* ---- sign --------------------------------------------------------------- */

typedef struct sigv4_name {
    char name[HM_SIGV4_HEADER_NAME_BYTES_MAX + 1];
} sigv4_name;

static int sigv4_name_cmp(const void *a, const void *b)
{
    return strcmp(((const sigv4_name *)a)->name, ((const sigv4_name *)b)->name);
}

/* Every request header name, lower-cased, sorted and deduplicated, into
 * out as a ';' list. */
static int sigv4_all_signed(const hm_sigv4_request *req, char *out, size_t cap)
{
    if (req->header_count == 0 || req->header_count > HM_SIGV4_SIGNED_HEADERS_MAX)
        return HM_EINVAL;
    sigv4_name *names = calloc(req->header_count, sizeof *names);
    if (names == NULL)
        return HM_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < req->header_count && rc == 0; i++) {
        const char *n = req->headers[i].name;
        size_t len = n != NULL ? sigv4_strnlen(n, HM_SIGV4_HEADER_NAME_BYTES_MAX) : 0;
        if (len == 0 || len > HM_SIGV4_HEADER_NAME_BYTES_MAX) {
            rc = HM_EINVAL;
            break;
        }
        for (size_t k = 0; k < len; k++)
            names[i].name[k] = (char)sigv4_lower((unsigned char)n[k]);
    }
    size_t o = 0;
    if (rc == 0) {
        qsort(names, req->header_count, sizeof *names, sigv4_name_cmp);
        out[0] = '\0';
        for (size_t i = 0; i < req->header_count && rc == 0; i++) {
            if (i > 0 && strcmp(names[i].name, names[i - 1].name) == 0)
                continue;
            size_t len = strlen(names[i].name);
            if (o + len + 2 > cap) {
                rc = HM_ETOOBIG;
                break;
            }
            if (o > 0)
                out[o++] = ';';
            memcpy(out + o, names[i].name, len + 1);
            o += len;
        }
    }
    free(names);
    return rc;
}

/* Shared by both signing forms: the signed list, the scope and the key. */
static int sigv4_sign_prepare(const hm_sigv4_request *req,
                              const char *signed_headers,
                              const hm_sigv4_credentials *cred,
                              const char *amz_date, char *list,
                              char *scope, uint8_t key[HM_SIGV4_KEY_BYTES])
{
    int64_t t;
    if (req == NULL || cred == NULL || cred->access_key_id == NULL ||
        cred->secret == NULL || cred->region == NULL || amz_date == NULL ||
        hm_sigv4_parse_amz_date(amz_date, &t) != 0)
        return HM_EINVAL;
    size_t akl = sigv4_strnlen(cred->access_key_id, HM_SIGV4_ACCESS_KEY_BYTES_MAX);
    if (akl == 0 || akl > HM_SIGV4_ACCESS_KEY_BYTES_MAX)
        return HM_EINVAL;
    for (size_t i = 0; i < akl; i++) {
        if (!sigv4_ak_char((unsigned char)cred->access_key_id[i]))
            return HM_EINVAL;
    }
    const char *service = cred->service != NULL ? cred->service : "s3";
    char date8[HM_SIGV4_DATE_BYTES + 1];
    memcpy(date8, amz_date, HM_SIGV4_DATE_BYTES);
    date8[HM_SIGV4_DATE_BYTES] = '\0';
    if (signed_headers != NULL) {
        size_t n = sigv4_strnlen(signed_headers, HM_SIGV4_SIGNED_HEADERS_BYTES_MAX);
        if (sigv4_check_signed_list(signed_headers, n) == 0)
            return HM_EINVAL;
        memcpy(list, signed_headers, n + 1);
    } else {
        int rc = sigv4_all_signed(req, list, HM_SIGV4_SIGNED_HEADERS_BYTES_MAX + 1);
        if (rc != 0)
            return rc;
    }
    if (hm_sigv4_scope(date8, cred->region, service, scope) != 0)
        return HM_EINVAL;
    return hm_sigv4_signing_key(cred->secret, date8, cred->region, service, key);
}

int hm_sigv4_sign_headers(const hm_sigv4_request *req,
                          const char *signed_headers,
                          const hm_sigv4_credentials *cred,
                          const char *amz_date, char *out, size_t cap,
                          char signature_out[HM_SIGV4_HEX_BYTES + 1])
{
    char list[HM_SIGV4_SIGNED_HEADERS_BYTES_MAX + 1];
    char scope[HM_SIGV4_SCOPE_BYTES_MAX + 1];
    char sig[HM_SIGV4_HEX_BYTES + 1];
    uint8_t key[HM_SIGV4_KEY_BYTES];
    if (out == NULL || cap == 0)
        return HM_EINVAL;
    out[0] = '\0';
    int rc = sigv4_sign_prepare(req, signed_headers, cred, amz_date, list,
                                scope, key);
    if (rc != 0)
        goto done;
    const char *payload = req->payload_hash != NULL
                              ? req->payload_hash
                              : sigv4_header(req, "x-amz-content-sha256");
    if (payload == NULL) {
        rc = HM_EINVAL;
        goto done;
    }
    rc = sigv4_compute(req, list, payload, false, amz_date, scope, key, sig);
    if (rc != 0)
        goto done;
    int n = snprintf(out, cap,
                     HM_SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, "
                                        "Signature=%s",
                     cred->access_key_id, scope, list, sig);
    if (n < 0 || (size_t)n >= cap) {
        out[0] = '\0';
        rc = HM_ETOOBIG;
        goto done;
    }
    if (signature_out != NULL)
        memcpy(signature_out, sig, sizeof sig);
done:
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}

/* Append s percent-encoded (every byte outside the unreserved set). */
static bool sigv4_append_encoded(char *out, size_t cap, size_t *o, const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        size_t need = sigv4_unreserved(c) ? 1 : 3;
        if (cap - *o <= need)
            return false;
        if (need == 1) {
            out[(*o)++] = (char)c;
        } else {
            out[(*o)++] = '%';
            out[(*o)++] = digits[c >> 4];
            out[(*o)++] = digits[c & 15];
        }
    }
    out[*o] = '\0';
    return true;
}

static bool sigv4_append(char *out, size_t cap, size_t *o, const char *s)
{
    size_t n = strlen(s);
    if (cap - *o <= n)
        return false;
    memcpy(out + *o, s, n + 1);
    *o += n;
    return true;
}

int hm_sigv4_presign_query(const hm_sigv4_request *req,
                           const char *signed_headers,
                           const hm_sigv4_credentials *cred,
                           const char *amz_date, int64_t expires_s,
                           char *out, size_t cap)
{
    char list[HM_SIGV4_SIGNED_HEADERS_BYTES_MAX + 1];
    char scope[HM_SIGV4_SCOPE_BYTES_MAX + 1];
    char cred_s[HM_SIGV4_ACCESS_KEY_BYTES_MAX + HM_SIGV4_SCOPE_BYTES_MAX + 2];
    char sig[HM_SIGV4_HEX_BYTES + 1];
    char num[24];
    uint8_t key[HM_SIGV4_KEY_BYTES];
    size_t o = 0;
    if (out == NULL || cap == 0 || expires_s < 1 ||
        expires_s > HM_SIGV4_EXPIRES_S_MAX)
        return HM_EINVAL;
    out[0] = '\0';
    int rc = sigv4_sign_prepare(req, signed_headers, cred, amz_date, list,
                                scope, key);
    if (rc != 0)
        goto done;
    if (!sigv4_list_has(list, "host")) {
        rc = HM_EINVAL;
        goto done;
    }
    snprintf(cred_s, sizeof cred_s, "%s/%s", cred->access_key_id, scope);
    snprintf(num, sizeof num, "%lld", (long long)expires_s);
    bool ok = true;
    if (req->query != NULL && req->query[0] != '\0')
        ok = sigv4_append(out, cap, &o, req->query) &&
             sigv4_append(out, cap, &o, "&");
    ok = ok && sigv4_append(out, cap, &o, "X-Amz-Algorithm=" HM_SIGV4_ALGORITHM
                                          "&X-Amz-Credential=") &&
         sigv4_append_encoded(out, cap, &o, cred_s) &&
         sigv4_append(out, cap, &o, "&X-Amz-Date=") &&
         sigv4_append(out, cap, &o, amz_date) &&
         sigv4_append(out, cap, &o, "&X-Amz-Expires=") &&
         sigv4_append(out, cap, &o, num) &&
         sigv4_append(out, cap, &o, "&X-Amz-SignedHeaders=") &&
         sigv4_append_encoded(out, cap, &o, list);
    if (!ok) {
        rc = HM_ETOOBIG;
        goto done;
    }
    hm_sigv4_request signed_req = *req;
    signed_req.query = out;
    rc = sigv4_compute(&signed_req, list,
                       req->payload_hash != NULL ? req->payload_hash
                                                 : HM_SIGV4_UNSIGNED_PAYLOAD,
                       true, amz_date, scope, key, sig);
    if (rc != 0)
        goto done;
    if (!sigv4_append(out, cap, &o, "&X-Amz-Signature=") ||
        !sigv4_append(out, cap, &o, sig))
        rc = HM_ETOOBIG;
done:
    if (rc != 0)
        out[0] = '\0';
    OPENSSL_cleanse(key, sizeof key);
    return rc;
}
