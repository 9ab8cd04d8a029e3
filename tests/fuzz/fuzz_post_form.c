/* fuzz_post_form.c - the multipart/form-data parser fed hostile bodies in
 * random slices.  The slicing must not change the outcome: the same body
 * fed whole gives the same result, fields and file bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_post.h"

#define FUZZ_BODY_BYTES_MAX (256u << 10)

typedef struct fuzz_out {
    uint64_t file_bytes;
    uint32_t file_hash;     /* FNV-1a of the file bytes */
    int begins;
} fuzz_out;

static int fuzz_begin(void *ctx, const hm_post_form *f, const char *filename, const char *ct)
{
    fuzz_out *o = ctx;
    o->begins++;
    if (strlen(filename) > HM_POST_HEADER_LINE_BYTES_MAX) abort();
    if (ct != NULL && strlen(ct) > HM_POST_HEADER_LINE_BYTES_MAX) abort();
    if (hm_post_form_count(f) > HM_POST_FIELDS_MAX) abort();
    return 0;
}

static int fuzz_data(void *ctx, const void *d, size_t n)
{
    fuzz_out *o = ctx;
    if (n == 0) abort();
    const uint8_t *p = d;
    for (size_t i = 0; i < n; i++) o->file_hash = (o->file_hash ^ p[i]) * 16777619u;
    o->file_bytes += n;
    return 0;
}

static int fuzz_run(const uint8_t *body, size_t len, const uint8_t *cuts, size_t ncuts,
                    fuzz_out *o, hm_post_form **out)
{
    hm_post_form *f = NULL;
    int rc = hm_post_form_new("multipart/form-data; boundary=\"b-1\"", &f);
    if (rc != 0) abort();
    hm_post_sink sink = {.file_begin = fuzz_begin, .file_data = fuzz_data, .ctx = o};
    o->file_hash = 2166136261u;
    size_t at = 0;
    for (size_t i = 0; rc == 0 && at < len; i++) {
        size_t n = i < ncuts ? (size_t)cuts[i] + 1 : len - at;
        if (n > len - at) n = len - at;
        rc = hm_post_form_feed(f, body + at, n, &sink);
        at += n;
    }
    if (rc == 0) rc = hm_post_form_finish(f);
    *out = f;
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* first byte: how many slice lengths follow; then the lengths; then the body */
    if (size < 1) return 0;
    size_t ncuts = data[0];
    if (size - 1 < ncuts) return 0;
    const uint8_t *cuts = data + 1;
    const uint8_t *body = data + 1 + ncuts;
    size_t len = size - 1 - ncuts;
    if (len > FUZZ_BODY_BYTES_MAX) return 0;

    fuzz_out a = {0}, b = {0};
    hm_post_form *fa = NULL, *fb = NULL;
    int ra = fuzz_run(body, len, cuts, ncuts, &a, &fa);
    int rb = fuzz_run(body, len, NULL, 0, &b, &fb);
    if (ra != rb || a.begins != b.begins || a.begins > 1) abort();
    if (a.file_bytes != b.file_bytes || a.file_bytes > len) abort();
    if (ra == 0 && a.file_hash != b.file_hash) abort();
    if (ra == 0) {
        if (hm_post_form_count(fa) != hm_post_form_count(fb)) abort();
        for (size_t i = 0; i < hm_post_form_count(fa); i++) {
            if (strcmp(hm_post_form_name(fa, i), hm_post_form_name(fb, i)) != 0) abort();
            if (strcmp(hm_post_form_value(fa, i), hm_post_form_value(fb, i)) != 0) abort();
            if (hm_post_form_get(fa, hm_post_form_name(fa, i)) == NULL) abort();
        }
    }
    hm_post_form_free(fa);
    hm_post_form_free(fb);
    /* The Content-Type parser on the same bytes. */
    if (len < 512) {
        char ct[512];
        memcpy(ct, body, len);
        ct[len] = '\0';
        hm_post_form *f = NULL;
        if (hm_post_form_new(ct, &f) == 0) hm_post_form_free(f);
    }
    return 0;
}
