/* test_gw_http.c - the gateway over real HTTP on 127.0.0.1, with an
 * in-process metadata node and shard store, driven by libcurl's own SigV4
 * signer (an implementation independent of ours). */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hm_err.h"
#include "hm_gw.h"
#include "hm_limits.h"
#include "hm_meta_node.h"
#include "hm_shard_store.h"
#include "hm_sigv4.h"

#define AK "AKIDTEST"
#define SECRET "secret-test-key"
#define UNSIGNED "x-amz-content-sha256: UNSIGNED-PAYLOAD"

static char tmpdir[256];
static hm_env *env;
static hm_meta_node *node;
static hm_meta_api *meta;
static hm_shard_store *store;
static hm_shard_api *shard;
static hm_gw *gw;
static int port;

typedef struct http_resp {
    long status;
    char *body;
    size_t len;
    char headers[16384];
    size_t hlen;
} http_resp;

typedef struct upload {
    const uint8_t *data;
    size_t len;
    size_t off;
} upload;

static void rm_rf(const char *path)
{
    DIR *d = opendir(path);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char sub[1024];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int count_files(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char sub[1024];
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        struct stat st;
        if (stat(sub, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) n += count_files(sub);
        else if (S_ISREG(st.st_mode)) n++;
    }
    closedir(d);
    return n;
}

static int shard_files(void)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/disk0/shards", tmpdir);
    int n = count_files(p);
    snprintf(p, sizeof(p), "%s/disk0/tmp", tmpdir);
    return n + count_files(p);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hm-gwhttp-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_int_eq(hm_env_posix_new(&env), 0);
    char p[512];
    snprintf(p, sizeof(p), "%s/meta", tmpdir);
    mkdir(p, 0700);
    ck_assert_int_eq(hm_meta_node_open(&node, env, p), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&meta, node), 0);
    snprintf(p, sizeof(p), "%s/disk0", tmpdir);
    mkdir(p, 0700);
    ck_assert_int_eq(hm_shard_store_open(&store, env, p), 0);
    ck_assert_int_eq(hm_shard_api_local_new(&shard, store), 0);
    hm_gw_config cfg = {
        .s3_addr = "127.0.0.1:0",
        .region = "us-east-1",
        .access_key_id = AK,
        .secret_key = SECRET,
        .env = env,
        .meta = meta,
        .shards = &shard,
        .shard_count = 1,
    };
    ck_assert_int_eq(hm_gw_start(&gw, &cfg), 0);
    port = hm_gw_bound_port(gw);
    ck_assert_int_gt(port, 0);
}

static void teardown(void)
{
    hm_gw_stop(gw);
    shard->ops->free(shard);
    hm_shard_store_close(store);
    meta->ops->free(meta);
    hm_meta_node_close(node);
    hm_env_posix_free(env);
    rm_rf(tmpdir);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    http_resp *r = ud;
    size_t add = sz * n;
    char *nb = realloc(r->body, r->len + add + 1);
    if (nb == NULL) return 0;
    memcpy(nb + r->len, p, add);
    r->body = nb;
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    http_resp *r = ud;
    size_t add = sz * n;
    if (add < sizeof(r->headers) - r->hlen) {
        memcpy(r->headers + r->hlen, p, add);
        r->hlen += add;
        r->headers[r->hlen] = '\0';
    }
    return add;
}

static size_t on_read(char *buf, size_t sz, size_t n, void *ud)
{
    upload *u = ud;
    size_t k = sz * n;
    if (k > u->len - u->off) k = u->len - u->off;
    memcpy(buf, u->data + u->off, k);
    u->off += k;
    return k;
}

/* One request.  userpwd NULL sends it unsigned; headers is NULL-terminated. */
static void http(const char *method, const char *path, const void *body, size_t blen,
                 const char *const *headers, const char *userpwd, http_resp *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    char url[4096];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    if (userpwd != NULL) {
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
        curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    }
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    upload u = {.data = body, .len = blen};
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &u);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)blen);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode cc = curl_easy_perform(c);
    ck_assert_msg(cc == CURLE_OK, "curl: %s", curl_easy_strerror(cc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (out->body == NULL) out->body = calloc(1, 1);
}

static const char *const unsigned_hdr[] = {UNSIGNED, NULL};

static void req(const char *method, const char *path, const void *body, size_t blen,
                http_resp *out)
{
    http(method, path, body, blen, unsigned_hdr, AK ":" SECRET, out);
}

static void create_bucket(const char *name)
{
    char path[128];
    snprintf(path, sizeof(path), "/%s", name);
    http_resp r;
    req("PUT", path, "", 0, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
}

static bool has_header(const http_resp *r, const char *line)
{
    return strcasestr(r->headers, line) != NULL;
}

/* The basic path: create bucket, put, get, head, list, delete, then the
 * object is gone with a NoSuchKey XML carrying the request id. */
START_TEST(test_object_lifecycle)
{
    http_resp r;
    create_bucket("bkt");
    req("PUT", "/bkt/hello.txt", "hello world", 11, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(has_header(&r, "ETag: \"5eb63bbbe01eeed093cb22bb8f5acdc3\""));
    ck_assert(has_header(&r, "x-amz-request-id: "));
    free(r.body);

    req("GET", "/bkt/hello.txt", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "hello world");
    ck_assert(has_header(&r, "Content-Type: binary/octet-stream"));
    ck_assert(has_header(&r, "Last-Modified: "));
    ck_assert(has_header(&r, "Accept-Ranges: bytes"));
    free(r.body);

    req("HEAD", "/bkt/hello.txt", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(has_header(&r, "Content-Length: 11"));
    ck_assert(has_header(&r, "ETag: \"5eb63bbbe01eeed093cb22bb8f5acdc3\""));
    ck_assert_uint_eq(r.len, 0);
    free(r.body);

    req("GET", "/bkt?list-type=2", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>hello.txt</Key>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<KeyCount>1</KeyCount>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Size>11</Size>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<StorageClass>STANDARD</StorageClass>"));
    free(r.body);

    req("DELETE", "/bkt/hello.txt", NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    free(r.body);

    req("GET", "/bkt/hello.txt", NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>NoSuchKey</Code>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<RequestId>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>hello.txt</Key>"));
    free(r.body);

    req("HEAD", "/bkt/hello.txt", NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_uint_eq(r.len, 0);
    free(r.body);

    req("DELETE", "/bkt", NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    free(r.body);
    req("HEAD", "/bkt", NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    free(r.body);
}
END_TEST

/* A request signed with the wrong secret is refused with
 * SignatureDoesNotMatch; an unknown key with InvalidAccessKeyId. */
START_TEST(test_wrong_secret)
{
    http_resp r;
    http("GET", "/", NULL, 0, unsigned_hdr, AK ":not-the-secret", &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>SignatureDoesNotMatch</Code>"));
    free(r.body);
    http("GET", "/", NULL, 0, unsigned_hdr, "NOBODY:" SECRET, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidAccessKeyId</Code>"));
    free(r.body);
}
END_TEST

/* An unsigned request is refused with AccessDenied. */
START_TEST(test_unsigned)
{
    http_resp r;
    http("GET", "/", NULL, 0, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>AccessDenied</Code>"));
    free(r.body);
}
END_TEST

/* Bad bucket names get InvalidBucketName; missing buckets NoSuchBucket. */
START_TEST(test_bucket_errors)
{
    http_resp r;
    req("PUT", "/Bad_Bucket", "", 0, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidBucketName</Code>"));
    free(r.body);
    req("PUT", "/ab", "", 0, &r);
    ck_assert_int_eq(r.status, 400);
    free(r.body);
    req("GET", "/missing?list-type=2", NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>NoSuchBucket</Code>"));
    free(r.body);
    create_bucket("dup");
    req("PUT", "/dup", "", 0, &r);
    ck_assert_int_eq(r.status, 409);
    free(r.body);
    req("GET", "/", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<Name>dup</Name>"));
    free(r.body);
}
END_TEST

/* A 3 MiB object streams in and out intact; single byte ranges answer 206
 * with Content-Range and unsatisfiable ones 416. */
START_TEST(test_large_and_ranges)
{
    size_t n = 3u << 20;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 7 + (i >> 10));
    create_bucket("big");
    http_resp r;
    req("PUT", "/big/blob", data, n, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    req("GET", "/big/blob", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, n);
    ck_assert(memcmp(r.body, data, n) == 0);
    free(r.body);

    const char *h1[] = {UNSIGNED, "Range: bytes=1000000-1000099", NULL};
    http("GET", "/big/blob", NULL, 0, h1, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 206);
    ck_assert_uint_eq(r.len, 100);
    ck_assert(memcmp(r.body, data + 1000000, 100) == 0);
    ck_assert(has_header(&r, "Content-Range: bytes 1000000-1000099/3145728"));
    free(r.body);

    const char *h2[] = {UNSIGNED, "Range: bytes=-10", NULL};
    http("GET", "/big/blob", NULL, 0, h2, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 206);
    ck_assert_uint_eq(r.len, 10);
    ck_assert(memcmp(r.body, data + n - 10, 10) == 0);
    free(r.body);

    const char *h3[] = {UNSIGNED, "Range: bytes=3145728-", NULL};
    http("GET", "/big/blob", NULL, 0, h3, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 416);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidRange</Code>"));
    free(r.body);
    free(data);
}
END_TEST

/* A signed payload hash that does not match the body is refused with
 * XAmzContentSHA256Mismatch and nothing is stored; the right hash works. */
START_TEST(test_payload_hash)
{
    create_bucket("sha");
    const char *bad[] = {"x-amz-content-sha256: "
                         "0000000000000000000000000000000000000000000000000000000000000000",
                         NULL};
    http_resp r;
    http("PUT", "/sha/obj", "payload", 7, bad, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>XAmzContentSHA256Mismatch</Code>"));
    free(r.body);
    req("GET", "/sha/obj", NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    free(r.body);

    char hex[65], line[128];
    ck_assert_int_eq(hm_sigv4_sha256_hex("payload", 7, hex), 0);
    snprintf(line, sizeof(line), "x-amz-content-sha256: %s", hex);
    const char *good[] = {line, NULL};
    http("PUT", "/sha/obj", "payload", 7, good, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    const char *stream[] = {"x-amz-content-sha256: STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                            NULL};
    http("PUT", "/sha/obj2", "payload", 7, stream, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 501);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>NotImplemented</Code>"));
    free(r.body);
}
END_TEST

/* User metadata and Content-Type come back on GET; a wrong Content-MD5 is
 * BadDigest. */
START_TEST(test_metadata_and_md5)
{
    create_bucket("meta");
    const char *h[] = {UNSIGNED, "Content-Type: text/plain", "x-amz-meta-Color: blue",
                       "Cache-Control: no-cache", NULL};
    http_resp r;
    http("PUT", "/meta/m", "abc", 3, h, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    req("GET", "/meta/m", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(has_header(&r, "Content-Type: text/plain"));
    ck_assert(has_header(&r, "x-amz-meta-color: blue"));
    ck_assert(has_header(&r, "Cache-Control: no-cache"));
    free(r.body);
    const char *bad[] = {UNSIGNED, "Content-MD5: AAAAAAAAAAAAAAAAAAAAAA==", NULL};
    http("PUT", "/meta/m", "abc", 3, bad, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>BadDigest</Code>"));
    free(r.body);
    const char *inv[] = {UNSIGNED, "Content-MD5: nope", NULL};
    http("PUT", "/meta/m", "abc", 3, inv, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidDigest</Code>"));
    free(r.body);
}
END_TEST

/* Listing with a delimiter rolls up prefixes; max-keys truncates and the
 * continuation token resumes where the last page ended. */
START_TEST(test_list_pages)
{
    create_bucket("lst");
    const char *keys[] = {"a/1", "a/2", "b", "c"};
    http_resp r;
    for (size_t i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/lst/%s", keys[i]);
        req("PUT", path, "x", 1, &r);
        ck_assert_int_eq(r.status, 200);
        free(r.body);
    }
    req("GET", "/lst?delimiter=%2F&list-type=2", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes>"));
    ck_assert_ptr_null(strstr(r.body, "<Key>a/1</Key>"));
    free(r.body);
    req("GET", "/lst?list-type=2&max-keys=2", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<IsTruncated>true</IsTruncated>"));
    char *t = strstr(r.body, "<NextContinuationToken>");
    ck_assert_ptr_nonnull(t);
    t += strlen("<NextContinuationToken>");
    char token[256];
    size_t tl = strcspn(t, "<");
    ck_assert_uint_lt(tl, 100);
    /* percent-encode the base64 for the query */
    size_t o = 0;
    for (size_t i = 0; i < tl; i++) {
        if (t[i] == '=' || t[i] == '+' || t[i] == '/') o += (size_t)sprintf(token + o, "%%%02X", t[i]);
        else token[o++] = t[i];
    }
    token[o] = '\0';
    free(r.body);
    char path[512];
    snprintf(path, sizeof(path), "/lst?continuation-token=%s&list-type=2&max-keys=2", token);
    req("GET", path, NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>b</Key>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>c</Key>"));
    ck_assert_ptr_null(strstr(r.body, "<Key>a/2</Key>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<IsTruncated>false</IsTruncated>"));
    free(r.body);
    req("GET", "/lst", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>a/1</Key>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Marker></Marker>"));
    free(r.body);
}
END_TEST

/* A header section over the limit gets a clean HTTP error and the server
 * keeps serving. */
START_TEST(test_oversized_headers)
{
    size_t n = 40000;
    char *big = malloc(n + 16);
    strcpy(big, "x-big: ");
    memset(big + 7, 'a', n);
    big[7 + n] = '\0';
    const char *h[] = {UNSIGNED, big, NULL};
    http_resp r;
    http("GET", "/", NULL, 0, h, AK ":" SECRET, &r);
    ck_assert_int_ge(r.status, 400);
    ck_assert_int_lt(r.status, 500);
    free(r.body);
    free(big);
    req("GET", "/", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
}
END_TEST

/* A client that disconnects mid-body leaves no object and no shard file. */
START_TEST(test_disconnect_mid_body)
{
    create_bucket("cut");
    char host[64], amz_date[HM_SIGV4_AMZ_DATE_BYTES + 1], auth[HM_SIGV4_AUTH_BYTES_MAX + 1];
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);
    ck_assert_int_eq(hm_sigv4_format_amz_date((int64_t)time(NULL) * 1000, amz_date), 0);
    hm_sigv4_header hs[] = {
        {"host", host},
        {"x-amz-date", amz_date},
        {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"},
    };
    hm_sigv4_request sr = {.method = "PUT", .path = "/cut/obj", .query = NULL,
                           .headers = hs, .header_count = 3};
    hm_sigv4_credentials cr = {.access_key_id = AK, .secret = SECRET, .region = "us-east-1"};
    ck_assert_int_eq(hm_sigv4_sign_headers(&sr, NULL, &cr, amz_date, auth, sizeof(auth), NULL),
                     0);
    size_t total = 2u << 20, sent_body = 600000;
    char head[8192];
    int hl = snprintf(head, sizeof(head),
                      "PUT /cut/obj HTTP/1.1\r\nHost: %s\r\nx-amz-date: %s\r\n"
                      "x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nAuthorization: %s\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      host, amz_date, auth, total);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(write(fd, head, (size_t)hl), hl);
    char *chunk = calloc(1, sent_body);
    ck_assert_int_eq(write(fd, chunk, sent_body), (ssize_t)sent_body);
    free(chunk);
    /* Let the gateway stream part of it into the shard store, then cut. */
    usleep(300000);
    close(fd);
    int files = -1;
    for (int i = 0; i < 100 && files != 0; i++) {
        usleep(50000);
        files = shard_files();
    }
    ck_assert_int_eq(files, 0);
    http_resp r;
    req("GET", "/cut/obj", NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    free(r.body);
    req("GET", "/cut?list-type=2", NULL, 0, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<KeyCount>0</KeyCount>"));
    free(r.body);
}
END_TEST

/* Unknown sub-resources are NotImplemented; a PUT without a length is
 * MissingContentLength. */
START_TEST(test_not_implemented_and_length)
{
    create_bucket("nim");
    http_resp r;
    req("GET", "/nim?versioning=", NULL, 0, &r);
    ck_assert_int_eq(r.status, 501);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>NotImplemented</Code>"));
    free(r.body);
    req("PATCH", "/nim/k", NULL, 0, &r);
    ck_assert_int_eq(r.status, 405);
    free(r.body);
    const char *h[] = {UNSIGNED, "Transfer-Encoding: chunked", NULL};
    http("PUT", "/nim/k", "abc", 3, h, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 411);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>MissingContentLength</Code>"));
    free(r.body);
}
END_TEST

/* A presigned GET (query-string SigV4) reads the object without an
 * Authorization header; a tampered signature is refused. */
START_TEST(test_presigned_get)
{
    create_bucket("pre");
    http_resp r;
    req("PUT", "/pre/obj", "presigned", 9, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    char host[64], amz_date[HM_SIGV4_AMZ_DATE_BYTES + 1], query[4096];
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);
    ck_assert_int_eq(hm_sigv4_format_amz_date((int64_t)time(NULL) * 1000, amz_date), 0);
    hm_sigv4_header hs[] = {{"host", host}};
    hm_sigv4_request sr = {.method = "GET", .path = "/pre/obj", .headers = hs,
                           .header_count = 1};
    hm_sigv4_credentials cr = {.access_key_id = AK, .secret = SECRET, .region = "us-east-1"};
    ck_assert_int_eq(hm_sigv4_presign_query(&sr, NULL, &cr, amz_date, 300, query,
                                            sizeof(query)),
                     0);
    char path[4200];
    snprintf(path, sizeof(path), "/pre/obj?%s", query);
    http("GET", path, NULL, 0, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "presigned");
    free(r.body);
    char *sig = strstr(path, "X-Amz-Signature=");
    ck_assert_ptr_nonnull(sig);
    sig += strlen("X-Amz-Signature=");
    *sig = *sig == '0' ? '1' : '0';
    http("GET", path, NULL, 0, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>SignatureDoesNotMatch</Code>"));
    free(r.body);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gw_http");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_object_lifecycle);
    tcase_add_test(tc, test_wrong_secret);
    tcase_add_test(tc, test_unsigned);
    tcase_add_test(tc, test_bucket_errors);
    tcase_add_test(tc, test_large_and_ranges);
    tcase_add_test(tc, test_payload_hash);
    tcase_add_test(tc, test_metadata_and_md5);
    tcase_add_test(tc, test_list_pages);
    tcase_add_test(tc, test_oversized_headers);
    tcase_add_test(tc, test_disconnect_mid_body);
    tcase_add_test(tc, test_not_implemented_and_length);
    tcase_add_test(tc, test_presigned_get);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? 0 : 1;
}
