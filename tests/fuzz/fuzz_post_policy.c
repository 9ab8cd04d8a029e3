/* fuzz_post_policy.c - the POST policy path on hostile input: the strict
 * JSON parser on raw bytes, the policy parser on their base64, the
 * evaluator against a fixed form, the credential parser and ${filename}
 * substitution.  Accepted JSON must hold its own invariants. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_err.h"
#include "hm_post.h"

static size_t fuzz_json_walk(const hm_json_node *n, size_t depth)
{
    if (depth > HM_JSON_DEPTH_MAX) abort();
    if (n->type == HM_JSON_STRING && (n->str == NULL || strlen(n->str) != n->str_len)) abort();
    size_t count = 0, total = 1;
    for (const hm_json_node *c = n->first_child; c != NULL; c = c->next_sibling) {
        if ((n->type == HM_JSON_OBJECT) != (c->key != NULL)) abort();
        if (n->type == HM_JSON_OBJECT && hm_json_get(n, c->key) != c) abort();
        count++;
        total += fuzz_json_walk(c, depth + 1);
    }
    if (count != n->child_count) abort();
    return total;
}

static hm_post_form *fuzz_form;

static int fuzz_begin(void *ctx, const hm_post_form *f, const char *fn, const char *ct)
{
    (void)ctx, (void)f, (void)fn, (void)ct;
    return 0;
}
static int fuzz_data(void *ctx, const void *d, size_t n)
{
    (void)ctx, (void)d, (void)n;
    return 0;
}

static const hm_post_form *fuzz_fixed_form(void)
{
    if (fuzz_form != NULL) return fuzz_form;
    static const char body[] =
        "--b\r\nContent-Disposition: form-data; name=key\r\n\r\nuser/${filename}\r\n"
        "--b\r\nContent-Disposition: form-data; name=Content-Type\r\n\r\nimage/png\r\n"
        "--b\r\nContent-Disposition: form-data; name=x-amz-meta-a\r\n\r\nv\r\n"
        "--b\r\nContent-Disposition: form-data; name=file; filename=f.png\r\n\r\nxx\r\n--b--";
    hm_post_sink sink = {.file_begin = fuzz_begin, .file_data = fuzz_data};
    if (hm_post_form_new("multipart/form-data; boundary=b", &fuzz_form) != 0 ||
        hm_post_form_feed(fuzz_form, body, sizeof(body) - 1, &sink) != 0 ||
        hm_post_form_finish(fuzz_form) != 0)
        abort();
    return fuzz_form;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > HM_POST_POLICY_BYTES_MAX) return 0;
    hm_json_doc *doc = NULL;
    const char *why = NULL;
    int rc = hm_json_parse((const char *)data, size, &doc, &why);
    if (rc == 0) {
        if (fuzz_json_walk(hm_json_root(doc), 0) > HM_JSON_NODES_MAX) abort();
        hm_json_free(doc);
    } else if ((rc != HM_EPROTO && rc != HM_ETOOBIG && rc != HM_ENOMEM) || why == NULL) {
        abort();
    }

    /* the same bytes as a base64 policy */
    size_t cap = 4 * ((size + 2) / 3) + 1;
    char *b64 = malloc(cap);
    if (b64 == NULL) return 0;
    EVP_EncodeBlock((unsigned char *)b64, data, (int)size);
    hm_post_policy p;
    rc = hm_post_policy_parse(b64, &p, &why);
    if (rc == 0) {
        if (p.cond_count > HM_POST_CONDITIONS_MAX) abort();
        hm_post_check_args a = {.form = fuzz_fixed_form(), .bucket = "bucket",
                                .key = "user/f.png", .now_ms = 1893456000000LL};
        int64_t mn = -1, mx = -1;
        char msg[256];
        rc = hm_post_policy_check(&p, &a, &mn, &mx, msg, sizeof(msg));
        if (rc != 0 && rc != HM_EPERM) abort();
        if (rc == 0 && (mn < 0 || mx < 0)) abort();
        hm_post_policy_free(&p);
    } else if (rc != HM_EPROTO && rc != HM_EINVAL && rc != HM_ETOOBIG && rc != HM_ENOMEM) {
        abort();
    }
    /* the raw bytes as base64 text, a credential and a file name */
    char *s = malloc(size + 1);
    if (s != NULL) {
        memcpy(s, data, size);
        s[size] = '\0';
        if (hm_post_policy_parse(s, &p, NULL) == 0) hm_post_policy_free(&p);
        hm_post_credential c;
        (void)hm_post_credential_parse(s, &c);
        char *k = NULL;
        if (hm_post_key_substitute("a/${filename}/${filename}", s, &k) == 0) {
            if (strlen(k) > HM_KEY_BYTES_MAX) abort();
            free(k);
        }
        free(s);
    }
    free(b64);
    return 0;
}
