/* fuzz_sigv2_auth.c - the SigV2 parsers and verifier on hostile text: the
 * "AWS AK:sig" header, the presigned query, the string to sign over a
 * fuzzed path, query and header values, and a full verify.  Every result
 * must be a clean code; a parsed auth must hold bounded fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_sigv2.h"

#define FUZZ_INPUT_BYTES_MAX (HM_SIGV4_QUERY_BYTES_MAX + 64u)

static int fuzz_lookup(void *ctx, const char *ak, char *out, size_t cap)
{
    (void)ctx;
    if (strcmp(ak, "AKID") != 0) return HM_ENOENT;
    if (cap < 8) return HM_EINVAL;
    strcpy(out, "secret1");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_INPUT_BYTES_MAX) return 0;
    char *s = malloc(size + 1);
    if (s == NULL) return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    hm_sigv2_auth auth;
    hm_sigv4_reason reason = HM_SIGV4_OK;
    int rc = hm_sigv2_parse_auth_header(s, &auth, &reason);
    if (rc == 0) {
        if (strlen(auth.access_key_id) == 0 ||
            strlen(auth.access_key_id) > HM_SIGV4_ACCESS_KEY_BYTES_MAX ||
            strlen(auth.signature) != HM_SIGV2_SIGNATURE_BYTES)
            abort();
    } else if (rc != HM_ENOENT && reason == HM_SIGV4_OK) {
        abort();
    }
    reason = HM_SIGV4_OK;
    rc = hm_sigv2_parse_presigned_query(s, &auth, &reason);
    if (rc == 0) {
        if (!auth.presigned || auth.expires_s < 0 ||
            strlen(auth.signature) != HM_SIGV2_SIGNATURE_BYTES)
            abort();
    } else if (rc != HM_ENOENT && reason == HM_SIGV4_OK) {
        abort();
    }

    /* The input as path, query and header values, then a verify. */
    static char sts[HM_SIGV2_STS_BYTES_MAX + 1];
    hm_sigv4_header hdrs[4] = {{"Date", "Tue, 27 Mar 2007 19:36:42 GMT"},
                               {"x-amz-meta-a", s},
                               {"Content-Type", s},
                               {"Authorization", s}};
    hm_sigv4_request req = {.method = "GET", .path = s, .query = s, .headers = hdrs,
                            .header_count = 4};
    size_t len = 0;
    if (hm_sigv2_string_to_sign(&req, size % 3 == 0 ? "bucket" : NULL, size % 2 == 0, NULL,
                                sts, sizeof sts, &len) == 0 &&
        (len >= sizeof sts || strlen(sts) != len))
        abort();
    hm_sigv4_verify_config cfg = {.now_ms = 1175024202000, .lookup = fuzz_lookup};
    hm_sigv4_verified out;
    rc = hm_sigv2_authenticate(&req, NULL, &cfg, &out);
    if (rc == 0 && out.reason != HM_SIGV4_OK) abort();
    free(s);
    return 0;
}
