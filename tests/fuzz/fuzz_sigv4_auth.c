/* fuzz_sigv4_auth.c - the SigV4 parsers on hostile text: the Authorization
 * header, the presigned query, the x-amz-date and IMF-fixdate parsers, and
 * the canonical request over a fuzzed path and query.  Every result must be
 * a clean code; a parsed auth must hold NUL-terminated, bounded fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_sigv4.h"

#define FUZZ_INPUT_BYTES_MAX (HM_SIGV4_QUERY_BYTES_MAX + 64u)

static void fuzz_check_auth(const hm_sigv4_auth *a)
{
    if (strlen(a->access_key_id) == 0 || strlen(a->access_key_id) > HM_SIGV4_ACCESS_KEY_BYTES_MAX)
        abort();
    if (strlen(a->date) != HM_SIGV4_DATE_BYTES) abort();
    if (strlen(a->signature) != HM_SIGV4_HEX_BYTES) abort();
    if (strlen(a->region) > HM_SIGV4_REGION_BYTES_MAX) abort();
    if (strlen(a->signed_headers) > HM_SIGV4_SIGNED_HEADERS_BYTES_MAX) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_BYTES_MAX) return 0;
    char *s = malloc(size + 1);
    if (s == NULL) return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    hm_sigv4_auth auth;
    hm_sigv4_reason reason = HM_SIGV4_OK;
    if (hm_sigv4_parse_auth_header(s, &auth, &reason) == 0) fuzz_check_auth(&auth);
    else if (reason == HM_SIGV4_OK) abort();

    reason = HM_SIGV4_OK;
    int rc = hm_sigv4_parse_presigned_query(s, &auth, &reason);
    if (rc == 0) {
        fuzz_check_auth(&auth);
        if (!auth.presigned || auth.expires_s < 1 || auth.expires_s > HM_SIGV4_EXPIRES_S_MAX)
            abort();
    } else if (rc != HM_ENOENT && reason == HM_SIGV4_OK) {
        abort();
    }

    int64_t ms = 0;
    if (hm_sigv4_parse_amz_date(s, &ms) == 0) {
        /* a parsed date formats back to the same text */
        char back[HM_SIGV4_AMZ_DATE_BYTES + 1];
        if (ms < 0 || hm_sigv4_format_amz_date(ms, back) != 0) abort();
        if (ms % 1000 == 0 && strcmp(back, s) != 0) abort();
    }
    (void)hm_sigv4_parse_http_date(s, &ms);

    /* canonical request: the input as a path and a query */
    static char canon[HM_SIGV4_CANONICAL_BYTES_MAX];
    hm_sigv4_header hdrs[1] = {{"host", "example.com"}};
    hm_sigv4_request req = {.method = "GET", .path = s, .query = s, .headers = hdrs,
                            .header_count = 1};
    size_t cl = 0;
    if (hm_sigv4_canonical_request(&req, "host", HM_SIGV4_UNSIGNED_PAYLOAD, size % 2 == 0, canon,
                                   sizeof(canon), &cl) == 0 &&
        cl >= sizeof(canon))
        abort();
    free(s);
    return 0;
}
