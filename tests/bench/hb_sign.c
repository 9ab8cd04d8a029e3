/* hb_sign.c - hamster-bench request signing through common/hm_sigv4.h.
 *
 * The benchmark signs with the project's own SigV4 code, so a signing bug
 * shows up as failed requests against a third-party store too.  PUT bodies
 * are sent as UNSIGNED-PAYLOAD: hashing every byte with SHA-256 would make
 * the client, not the server, the bound on upload throughput.
 */
#include "hb.h"

#include <stdio.h>
#include <string.h>

#include "hm_sigv4.h"

int hb_sign(const hb_creds *c, const char *method, const char *host,
            const char *path, const char *query, bool has_body, int64_t now,
            char lines[HB_SIGN_LINES_MAX][HB_SIGN_LINE_BYTES])
{
    char amz_date[HM_SIGV4_AMZ_DATE_BYTES + 1];
    if (hm_sigv4_format_amz_date(now * 1000, amz_date) != 0) return -1;
    const char *payload = has_body ? HM_SIGV4_UNSIGNED_PAYLOAD : HM_SIGV4_EMPTY_SHA256;
    hm_sigv4_header headers[] = {
        {"host", host},
        {"x-amz-content-sha256", payload},
        {"x-amz-date", amz_date},
    };
    hm_sigv4_request req = {
        .method = method,
        .path = path,
        .query = query,
        .headers = headers,
        .header_count = sizeof headers / sizeof headers[0],
        .payload_hash = NULL,
    };
    hm_sigv4_credentials cred = {
        .access_key_id = c->access_key,
        .secret = c->secret_key,
        .region = c->region,
        .service = "s3",
    };
    char auth[HM_SIGV4_AUTH_BYTES_MAX + 1];
    if (hm_sigv4_sign_headers(&req, NULL, &cred, amz_date, auth, sizeof auth, NULL) != 0)
        return -1;
    int n0 = snprintf(lines[0], HB_SIGN_LINE_BYTES, "x-amz-date: %s", amz_date);
    int n1 = snprintf(lines[1], HB_SIGN_LINE_BYTES, "x-amz-content-sha256: %s", payload);
    int n2 = snprintf(lines[2], HB_SIGN_LINE_BYTES, "Authorization: %s", auth);
    if (n0 < 0 || n1 < 0 || n2 < 0 || n0 >= HB_SIGN_LINE_BYTES ||
        n1 >= HB_SIGN_LINE_BYTES || n2 >= HB_SIGN_LINE_BYTES)
        return -1;
    return 3;
}
