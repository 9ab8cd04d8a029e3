/* test_gw_util.h - helpers shared by the gateway's HTTP-level unit tests:
 * a gateway on 127.0.0.1 over an in-process metadata node and shard store,
 * and one-call libcurl requests signed by libcurl's own SigV4 signer (an
 * implementation independent of ours). */
#ifndef TEST_GW_UTIL_H
#define TEST_GW_UTIL_H

#include <check.h>
#include <curl/curl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_disk_util.h"
#include "hm_err.h"
#include "hm_gw.h"
#include "hm_meta_node.h"
#include "hm_shard_store.h"

#define TGW_AK "AKIDTEST"
#define TGW_SECRET "secret-test-key"
#define TGW_UNSIGNED "x-amz-content-sha256: UNSIGNED-PAYLOAD"
#define TGW_DOMAIN "s3.test"

static char tgw_dir[256];
static hm_env *tgw_env;
static hm_meta_node *tgw_node;
static hm_meta_api *tgw_meta;
static hm_shard_store *tgw_store;
static hm_shard_api *tgw_shard;
static hm_gw *tgw_gw;
static int tgw_port;

typedef struct tgw_resp {
    long status;
    char *body;
    size_t len;
    char headers[16384];
    size_t hlen;
} tgw_resp;

typedef struct tgw_upload {
    const uint8_t *data;
    size_t len;
    size_t off;
} tgw_upload;

static int tgw_rm_fn(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Start a gateway (virtual-hosted base domain TGW_DOMAIN). */
static void tgw_setup(void)
{
    snprintf(tgw_dir, sizeof(tgw_dir), "/tmp/hm-gwtest-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tgw_dir));
    ck_assert_int_eq(hm_env_posix_new(&tgw_env), 0);
    char p[512];
    snprintf(p, sizeof(p), "%s/meta", tgw_dir);
    mkdir(p, 0700);
    ck_assert_int_eq(hm_meta_node_open(&tgw_node, tgw_env, p), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&tgw_meta, tgw_node), 0);
    snprintf(p, sizeof(p), "%s/disk0", tgw_dir);
    mkdir(p, 0700);
    ck_assert_int_eq(test_store_open(&tgw_store, tgw_env, p), 0);
    ck_assert_int_eq(hm_shard_api_local_new(&tgw_shard, tgw_store), 0);
    hm_gw_config cfg = {
        .s3_addr = "127.0.0.1:0",
        .domain = TGW_DOMAIN,
        .region = "us-east-1",
        .access_key_id = TGW_AK,
        .secret_key = TGW_SECRET,
        .env = tgw_env,
        .meta = tgw_meta,
        .shards = &tgw_shard,
        .shard_count = 1,
    };
    ck_assert_int_eq(hm_gw_start(&tgw_gw, &cfg), 0);
    tgw_port = hm_gw_bound_port(tgw_gw);
    ck_assert_int_gt(tgw_port, 0);
}

static void tgw_teardown(void)
{
    hm_gw_stop(tgw_gw);
    tgw_shard->ops->free(tgw_shard);
    hm_shard_store_close(tgw_store);
    tgw_meta->ops->free(tgw_meta);
    hm_meta_node_close(tgw_node);
    hm_env_posix_free(tgw_env);
    nftw(tgw_dir, tgw_rm_fn, 16, FTW_DEPTH | FTW_PHYS);
}

static size_t tgw_on_body(char *p, size_t sz, size_t n, void *ud)
{
    tgw_resp *r = ud;
    size_t add = sz * n;
    char *nb = realloc(r->body, r->len + add + 1);
    if (nb == NULL) return 0;
    memcpy(nb + r->len, p, add);
    r->body = nb;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t tgw_on_header(char *p, size_t sz, size_t n, void *ud)
{
    tgw_resp *r = ud;
    size_t add = sz * n;
    if (add < sizeof(r->headers) - r->hlen) {
        memcpy(r->headers + r->hlen, p, add);
        r->hlen += add;
        r->headers[r->hlen] = '\0';
    }
    return add;
}

static size_t tgw_on_read(char *buf, size_t sz, size_t n, void *ud)
{
    tgw_upload *u = ud;
    size_t k = sz * n;
    if (k > u->len - u->off) k = u->len - u->off;
    memcpy(buf, u->data + u->off, k);
    u->off += k;
    return k;
}

/* One request to http://<host>:<port><path>, host NULL meaning 127.0.0.1
 * (any other host resolves to 127.0.0.1).  signed_req false sends it
 * without credentials; headers is NULL-terminated. */
static void tgw_http_host(const char *host, const char *method, const char *path,
                          const void *body, size_t blen, const char *const *headers,
                          bool signed_req, tgw_resp *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    size_t ul = strlen(path) + 512;
    char *url = malloc(ul);
    snprintf(url, ul, "http://%s:%d%s", host != NULL ? host : "127.0.0.1", tgw_port, path);
    struct curl_slist *res = NULL;
    if (host != NULL) {
        char line[300];
        snprintf(line, sizeof(line), "%s:%d:127.0.0.1", host, tgw_port);
        res = curl_slist_append(res, line);
        curl_easy_setopt(c, CURLOPT_RESOLVE, res);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tgw_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, tgw_on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    if (signed_req) {
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
        curl_easy_setopt(c, CURLOPT_USERPWD, TGW_AK ":" TGW_SECRET);
    }
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    tgw_upload u = {.data = body, .len = blen};
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, tgw_on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &u);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)blen);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode cc = curl_easy_perform(c);
    ck_assert_msg(cc == CURLE_OK, "curl: %s", curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_slist_free_all(res);
    curl_easy_cleanup(c);
    free(url);
    if (out->body == NULL) out->body = calloc(1, 1);
}

/* A signed request (payload unsigned) to 127.0.0.1. */
static void tgw_req(const char *method, const char *path, const void *body, size_t blen,
                    tgw_resp *out)
{
    static const char *const h[] = {TGW_UNSIGNED, NULL};
    tgw_http_host(NULL, method, path, body, blen, h, true, out);
}

static void tgw_create_bucket(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/%s", name);
    tgw_resp r;
    tgw_req("PUT", path, "", 0, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
}

static bool tgw_has_header(const tgw_resp *r, const char *line)
{
    return strcasestr(r->headers, line) != NULL;
}

/* Percent-encode every byte of s except RFC 3986 unreserved ones (and '/'
 * when keep_slash) into a new string. */
static inline char *tgw_escape(const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *o = malloc(3 * n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
            o[j++] = (char)c;
        } else {
            o[j++] = '%';
            o[j++] = hex[c >> 4];
            o[j++] = hex[c & 15];
        }
    }
    o[j] = '\0';
    return o;
}

/* Decode n bytes of %XX / '+' (application/x-www-form-urlencoded, as
 * clients decode encoding-type=url listings) into a new string. */
static inline char *tgw_unquote_plus(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            o[j++] = ' ';
        } else if (s[i] == '%' && i + 2 < n) {
            char h[3] = {s[i + 1], s[i + 2], 0};
            o[j++] = (char)strtol(h, NULL, 16);
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    return o;
}

/* The text of the first <tag>..</tag> at or after from, as a new string, or
 * NULL; *next (optional) points past it. */
static inline char *tgw_xml_text(const char *from, const char *tag, const char **next)
{
    char open[64], close[64];
    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = strstr(from, open);
    if (a == NULL) return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (b == NULL) return NULL;
    if (next != NULL) *next = b + strlen(close);
    return strndup(a, (size_t)(b - a));
}

#endif
