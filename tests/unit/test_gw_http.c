/* test_gw_http.c - the gateway over real HTTP on 127.0.0.1, with an
 * in-process metadata node and shard store, driven by libcurl's own SigV4
 * signer (an implementation independent of ours). */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <dirent.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <pthread.h>
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
#include "test_gw_util.h"

#define AK TGW_AK
#define SECRET TGW_SECRET
#define UNSIGNED TGW_UNSIGNED

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
    snprintf(p, sizeof(p), "%s/disk0/shards", tgw_dir);
    int n = count_files(p);
    snprintf(p, sizeof(p), "%s/disk0/tmp", tgw_dir);
    return n + count_files(p);
}

/* One request to host (NULL: 127.0.0.1; any other name resolves to
 * 127.0.0.1 and is sent as the Host).  userpwd NULL sends it unsigned;
 * headers is NULL-terminated. */
static void http_at(const char *host, const char *method, const char *path, const void *body,
                    size_t blen, const char *const *headers, const char *userpwd,
                    tgw_resp *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    char url[8192];
    snprintf(url, sizeof(url), "http://%s:%d%s", host != NULL ? host : "127.0.0.1", tgw_port, path);
    struct curl_slist *resolve = NULL;
    if (host != NULL) {
        char line[300];
        snprintf(line, sizeof(line), "%s:%d:127.0.0.1", host, tgw_port);
        resolve = curl_slist_append(resolve, line);
        curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tgw_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, tgw_on_header);
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
    curl_slist_free_all(resolve);
    curl_easy_cleanup(c);
    if (out->body == NULL) out->body = calloc(1, 1);
}

static void http(const char *method, const char *path, const void *body, size_t blen,
                 const char *const *headers, const char *userpwd, tgw_resp *out)
{
    http_at(NULL, method, path, body, blen, headers, userpwd, out);
}

static const char *const unsigned_hdr[] = {UNSIGNED, NULL};

static void req(const char *method, const char *path, const void *body, size_t blen,
                tgw_resp *out)
{
    http(method, path, body, blen, unsigned_hdr, AK ":" SECRET, out);
}

/* The basic path: create bucket, put, get, head, list, delete, then the
 * object is gone with a NoSuchKey XML carrying the request id. */
START_TEST(test_object_lifecycle)
{
    tgw_resp r;
    tgw_create_bucket("bkt");
    req("PUT", "/bkt/hello.txt", "hello world", 11, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(tgw_has_header(&r, "ETag: \"5eb63bbbe01eeed093cb22bb8f5acdc3\""));
    ck_assert(tgw_has_header(&r, "x-amz-request-id: "));
    free(r.body);

    req("GET", "/bkt/hello.txt", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "hello world");
    ck_assert(tgw_has_header(&r, "Content-Type: binary/octet-stream"));
    ck_assert(tgw_has_header(&r, "Last-Modified: "));
    ck_assert(tgw_has_header(&r, "Accept-Ranges: bytes"));
    free(r.body);

    req("HEAD", "/bkt/hello.txt", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(tgw_has_header(&r, "Content-Length: 11"));
    ck_assert(tgw_has_header(&r, "ETag: \"5eb63bbbe01eeed093cb22bb8f5acdc3\""));
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
    tgw_resp r;
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
    tgw_resp r;
    http("GET", "/", NULL, 0, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>AccessDenied</Code>"));
    free(r.body);
}
END_TEST

/* Bad bucket names get InvalidBucketName; missing buckets NoSuchBucket. */
START_TEST(test_bucket_errors)
{
    tgw_resp r;
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
    tgw_create_bucket("dup");
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
    tgw_create_bucket("big");
    tgw_resp r;
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
    ck_assert(tgw_has_header(&r, "Content-Range: bytes 1000000-1000099/3145728"));
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
    tgw_create_bucket("sha");
    const char *bad[] = {"x-amz-content-sha256: "
                         "0000000000000000000000000000000000000000000000000000000000000000",
                         NULL};
    tgw_resp r;
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
    /* aws-chunked without x-amz-decoded-content-length has no length */
    http("PUT", "/sha/obj2", "payload", 7, stream, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 411);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>MissingContentLength</Code>"));
    free(r.body);
}
END_TEST

/* User metadata and Content-Type come back on GET; a wrong Content-MD5 is
 * BadDigest. */
START_TEST(test_metadata_and_md5)
{
    tgw_create_bucket("meta");
    const char *h[] = {UNSIGNED, "Content-Type: text/plain", "x-amz-meta-Color: blue",
                       "Cache-Control: no-cache", NULL};
    tgw_resp r;
    http("PUT", "/meta/m", "abc", 3, h, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    req("GET", "/meta/m", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(tgw_has_header(&r, "Content-Type: text/plain"));
    ck_assert(tgw_has_header(&r, "x-amz-meta-color: blue"));
    ck_assert(tgw_has_header(&r, "Cache-Control: no-cache"));
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
    tgw_create_bucket("lst");
    const char *keys[] = {"a/1", "a/2", "b", "c"};
    tgw_resp r;
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
    tgw_resp r;
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
    tgw_create_bucket("cut");
    char host[64], amz_date[HM_SIGV4_AMZ_DATE_BYTES + 1], auth[HM_SIGV4_AUTH_BYTES_MAX + 1];
    snprintf(host, sizeof(host), "127.0.0.1:%d", tgw_port);
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
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)tgw_port)};
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
    tgw_resp r;
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
    tgw_create_bucket("nim");
    tgw_resp r;
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
    tgw_create_bucket("pre");
    tgw_resp r;
    req("PUT", "/pre/obj", "presigned", 9, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    char host[64], amz_date[HM_SIGV4_AMZ_DATE_BYTES + 1], query[4096];
    snprintf(host, sizeof(host), "127.0.0.1:%d", tgw_port);
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

/* Base64 of the MD5 of len bytes, for Content-MD5. */
static void md5_b64(const void *data, size_t len, char out[32])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    ck_assert_int_eq(EVP_Digest(data, len, md, &mdlen, EVP_md5(), NULL), 1);
    EVP_EncodeBlock((unsigned char *)out, md, (int)mdlen);
}

static void put_ok(const char *path, const char *body)
{
    tgw_resp r;
    req("PUT", path, body, strlen(body), &r);
    ck_assert_msg(r.status == 200, "PUT %s -> %ld", path, r.status);
    free(r.body);
}

static long get_status(const char *path)
{
    tgw_resp r;
    req("GET", path, NULL, 0, &r);
    free(r.body);
    return r.status;
}

/* POST /b?delete with the given body and extra header (NULL: none). */
static void post_delete(const char *bucket, const char *body, const char *hdr, tgw_resp *r)
{
    char path[128];
    snprintf(path, sizeof(path), "/%s?delete=", bucket);
    const char *h[] = {UNSIGNED, hdr, NULL};
    http("POST", path, body, strlen(body), h, AK ":" SECRET, r);
}

/* DeleteObjects needs Content-MD5 or a checksum and verifies it; it reports
 * every key, absent ones as Deleted, only errors in Quiet mode, and
 * refuses more than 1000 keys or a malformed document as MalformedXML. */
START_TEST(test_delete_objects)
{
    tgw_create_bucket("batch");
    put_ok("/batch/k1", "1");
    put_ok("/batch/k2", "2");
    put_ok("/batch/keep", "3");
    const char *doc = "<Delete><Object><Key>k1</Key></Object><Object><Key>k2</Key></Object>"
                      "<Object><Key>never-there</Key></Object></Delete>";
    tgw_resp r;
    post_delete("batch", doc, NULL, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidRequest</Code>"));
    ck_assert_ptr_nonnull(strstr(r.body, "Missing required header for this request: Content-MD5"));
    free(r.body);
    post_delete("batch", doc, "Content-MD5: AAAAAAAAAAAAAAAAAAAAAA==", &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>BadDigest</Code>"));
    free(r.body);
    post_delete("batch", doc, "x-amz-checksum-crc32: AAAAAA==", &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>BadDigest</Code>"));
    free(r.body);
    ck_assert_int_eq(get_status("/batch/k1"), 200);

    char md5[32], hdr[64];
    md5_b64(doc, strlen(doc), md5);
    snprintf(hdr, sizeof(hdr), "Content-MD5: %s", md5);
    post_delete("batch", doc, hdr, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<DeleteResult xmlns="));
    ck_assert_ptr_nonnull(strstr(r.body, "<Deleted><Key>k1</Key></Deleted>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Deleted><Key>k2</Key></Deleted>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Deleted><Key>never-there</Key></Deleted>"));
    free(r.body);
    ck_assert_int_eq(get_status("/batch/k1"), 404);
    ck_assert_int_eq(get_status("/batch/k2"), 404);
    ck_assert_int_eq(get_status("/batch/keep"), 200);

    /* quiet: nothing but errors; a bad version id is a per-key error */
    const char *quiet = "<Delete><Quiet>true</Quiet><Object><Key>keep</Key></Object>"
                        "<Object><Key>x</Key><VersionId>v9</VersionId></Object></Delete>";
    md5_b64(quiet, strlen(quiet), md5);
    snprintf(hdr, sizeof(hdr), "Content-MD5: %s", md5);
    post_delete("batch", quiet, hdr, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(strstr(r.body, "<Deleted>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Error><Key>x</Key><VersionId>v9</VersionId>"
                                         "<Code>InvalidArgument</Code>"));
    free(r.body);
    ck_assert_int_eq(get_status("/batch/keep"), 404);

    const char *bad[] = {"<Delete></Delete>", "<Delete><Object></Object></Delete>",
                         "<Remove><Object><Key>a</Key></Object></Remove>",
                         "<Delete><Quiet>yes</Quiet><Object><Key>a</Key></Object></Delete>",
                         "<Delete><Object><Key>a</Key>"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        md5_b64(bad[i], strlen(bad[i]), md5);
        snprintf(hdr, sizeof(hdr), "Content-MD5: %s", md5);
        post_delete("batch", bad[i], hdr, &r);
        ck_assert_msg(r.status == 400, "%s -> %ld", bad[i], r.status);
        ck_assert_ptr_nonnull(strstr(r.body, "<Code>MalformedXML</Code>"));
        free(r.body);
    }
    md5_b64(doc, strlen(doc), md5);
    snprintf(hdr, sizeof(hdr), "Content-MD5: %s", md5);
    post_delete("missing-bucket", doc, hdr, &r);
    ck_assert_int_eq(r.status, 404);
    free(r.body);

    /* 1000 keys in one request work; 1001 are refused */
    size_t cap = 1001 * 64 + 64;
    char *big = malloc(cap);
    for (int n = 1001; n >= 1000; n--) {
        size_t o = (size_t)snprintf(big, cap, "<Delete>");
        for (int i = 0; i < n; i++) {
            char key[32];
            snprintf(key, sizeof(key), "/batch/many%04d", i);
            if (n == 1000) put_ok(key, "m");
            o += (size_t)snprintf(big + o, cap - o, "<Object><Key>%s</Key></Object>", key + 7);
        }
        snprintf(big + o, cap - o, "</Delete>");
        md5_b64(big, strlen(big), md5);
        snprintf(hdr, sizeof(hdr), "Content-MD5: %s", md5);
        post_delete("batch", big, hdr, &r);
        if (n == 1001) {
            ck_assert_int_eq(r.status, 400);
            ck_assert_ptr_nonnull(strstr(r.body, "<Code>MalformedXML</Code>"));
        } else {
            ck_assert_int_eq(r.status, 200);
            ck_assert_ptr_nonnull(strstr(r.body, "<Deleted><Key>many0999</Key></Deleted>"));
        }
        free(r.body);
    }
    free(big);
    req("GET", "/batch?list-type=2", NULL, 0, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<KeyCount>0</KeyCount>"));
    free(r.body);
}
END_TEST

typedef struct race_arg {
    int index;
    long status;
} race_arg;

static void *race_put(void *arg)
{
    race_arg *a = arg;
    char body[32];
    snprintf(body, sizeof(body), "writer-%d", a->index);
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/cond/race", tgw_port);
    tgw_upload u = {.data = (const uint8_t *)body, .len = strlen(body)};
    tgw_resp out;
    memset(&out, 0, sizeof(out));
    struct curl_slist *hl = curl_slist_append(NULL, UNSIGNED);
    hl = curl_slist_append(hl, "If-None-Match: *");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
    curl_easy_setopt(c, CURLOPT_USERPWD, AK ":" SECRET);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, tgw_on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &u);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)u.len);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tgw_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
    a->status = curl_easy_perform(c) == CURLE_OK ? 0 : -1;
    if (a->status == 0) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    free(out.body);
    return NULL;
}

/* Conditional PUT: If-None-Match: * creates only once, If-Match needs the
 * current ETag (404 NoSuchKey when the key is absent), other forms are
 * NotImplemented; of racing conditional creates exactly one wins. */
START_TEST(test_conditional_put)
{
    tgw_create_bucket("cond");
    const char *inm[] = {UNSIGNED, "If-None-Match: *", NULL};
    tgw_resp r;
    http("PUT", "/cond/k", "first", 5, inm, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    http("PUT", "/cond/k", "second", 6, inm, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 412);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>PreconditionFailed</Code>"));
    free(r.body);
    req("GET", "/cond/k", NULL, 0, &r);
    ck_assert_str_eq(r.body, "first");
    free(r.body);

    const char *wrong[] = {UNSIGNED, "If-Match: \"00000000000000000000000000000000\"", NULL};
    http("PUT", "/cond/k", "third", 5, wrong, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 412);
    free(r.body);
    /* md5("first") */
    const char *right[] = {UNSIGNED, "If-Match: \"8b04d5e3775d298e78455efc5ca404d5\"", NULL};
    http("PUT", "/cond/k", "third", 5, right, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    http("PUT", "/cond/absent", "x", 1, right, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>NoSuchKey</Code>"));
    free(r.body);
    const char *etag_inm[] = {UNSIGNED, "If-None-Match: \"abc\"", NULL};
    http("PUT", "/cond/k", "x", 1, etag_inm, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 501);
    free(r.body);
    /* a deleted key can be created again */
    req("DELETE", "/cond/k", NULL, 0, &r);
    free(r.body);
    http("PUT", "/cond/k", "again", 5, inm, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);

    enum { RACERS = 8 };
    pthread_t t[RACERS];
    race_arg a[RACERS];
    for (int i = 0; i < RACERS; i++) {
        a[i] = (race_arg){.index = i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, race_put, &a[i]), 0);
    }
    int won = -1, lost = 0;
    for (int i = 0; i < RACERS; i++) {
        pthread_join(t[i], NULL);
        if (a[i].status == 200) {
            ck_assert_int_eq(won, -1);
            won = i;
        } else {
            ck_assert_int_eq(a[i].status, 412);
            lost++;
        }
    }
    ck_assert_int_ge(won, 0);
    ck_assert_int_eq(lost, RACERS - 1);
    char want[32];
    snprintf(want, sizeof(want), "writer-%d", won);
    req("GET", "/cond/race", NULL, 0, &r);
    ck_assert_str_eq(r.body, want);
    free(r.body);
}
END_TEST

/* Conditional GET follows RFC 9110 precedence: If-Match decides before
 * If-Unmodified-Since and If-None-Match before If-Modified-Since; 304
 * carries ETag and Last-Modified and no body; HEAD errors have no body. */
START_TEST(test_conditional_get)
{
    tgw_create_bucket("cget");
    put_ok("/cget/o", "first");
    const char *etag = "\"8b04d5e3775d298e78455efc5ca404d5\"";
    char im[96], inm[96];
    snprintf(im, sizeof(im), "If-Match: %s", etag);
    snprintf(inm, sizeof(inm), "If-None-Match: %s", etag);
    const char *past = "Mon, 01 Jan 2001 00:00:00 GMT";
    const char *future = "Fri, 01 Jan 2100 00:00:00 GMT";
    char ius_past[64], ims_future[64], ims_past[64];
    snprintf(ius_past, sizeof(ius_past), "If-Unmodified-Since: %s", past);
    snprintf(ims_future, sizeof(ims_future), "If-Modified-Since: %s", future);
    snprintf(ims_past, sizeof(ims_past), "If-Modified-Since: %s", past);
    tgw_resp r;
    const char *h1[] = {UNSIGNED, im, ius_past, NULL};
    http("GET", "/cget/o", NULL, 0, h1, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    const char *h2[] = {UNSIGNED, ius_past, NULL};
    http("GET", "/cget/o", NULL, 0, h2, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 412);
    free(r.body);
    const char *h3[] = {UNSIGNED, "If-None-Match: \"other\"", ims_future, NULL};
    http("GET", "/cget/o", NULL, 0, h3, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    const char *h4[] = {UNSIGNED, inm, ims_past, NULL};
    http("GET", "/cget/o", NULL, 0, h4, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 304);
    ck_assert_uint_eq(r.len, 0);
    ck_assert(tgw_has_header(&r, "ETag: \"8b04d5e3775d298e78455efc5ca404d5\""));
    ck_assert(tgw_has_header(&r, "Last-Modified: "));
    free(r.body);
    const char *h5[] = {UNSIGNED, ims_future, NULL};
    http("GET", "/cget/o", NULL, 0, h5, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 304);
    free(r.body);
    const char *h6[] = {UNSIGNED, "If-Match: \"nope\"", NULL};
    http("HEAD", "/cget/o", NULL, 0, h6, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 412);
    ck_assert_uint_eq(r.len, 0);
    free(r.body);
}
END_TEST

/* Range edge cases: open-ended, suffix longer than the object and a last
 * byte past the end clamp; multiple ranges and garbage serve the whole
 * object with 200; an unsatisfiable range is 416 with Content-Range
 * bytes * /size. */
START_TEST(test_range_edges)
{
    tgw_create_bucket("rng");
    char data[100];
    for (int i = 0; i < 100; i++) data[i] = (char)('a' + i % 26);
    tgw_resp r;
    req("PUT", "/rng/o", data, sizeof(data), &r);
    free(r.body);
    static const struct {
        const char *range;
        long status;
        const char *content_range;
        size_t off, len;
    } cases[] = {
        {"Range: bytes=0-", 206, "Content-Range: bytes 0-99/100", 0, 100},
        {"Range: bytes=90-200", 206, "Content-Range: bytes 90-99/100", 90, 10},
        {"Range: bytes=-200", 206, "Content-Range: bytes 0-99/100", 0, 100},
        {"Range: bytes=5-5", 206, "Content-Range: bytes 5-5/100", 5, 1},
        {"Range: bytes=0-1,5-6", 200, NULL, 0, 100},
        {"Range: bytes=abc", 200, NULL, 0, 100},
        {"Range: bytes=100-", 416, "Content-Range: bytes */100", 0, 0},
        {"Range: bytes=-0", 416, "Content-Range: bytes */100", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *h[] = {UNSIGNED, cases[i].range, NULL};
        http("GET", "/rng/o", NULL, 0, h, AK ":" SECRET, &r);
        ck_assert_msg(r.status == cases[i].status, "%s -> %ld", cases[i].range, r.status);
        if (cases[i].content_range != NULL)
            ck_assert_msg(tgw_has_header(&r, cases[i].content_range), "%s: %s", cases[i].range,
                          r.headers);
        if (cases[i].status != 416) {
            ck_assert_uint_eq(r.len, cases[i].len);
            ck_assert(memcmp(r.body, data + cases[i].off, cases[i].len) == 0);
        } else {
            ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidRange</Code>"));
        }
        free(r.body);
    }
}
END_TEST

/* Stored representation headers come back, user metadata names fold to
 * lower case, response-* parameters override on GET, and metadata over
 * 2 KB is MetadataTooLarge. */
START_TEST(test_headers_and_overrides)
{
    tgw_create_bucket("hdrs");
    const char *h[] = {UNSIGNED, "Content-Encoding: gzip", "Content-Disposition: inline",
                       "Content-Language: de", "Expires: Thu, 01 Dec 2094 16:00:00 GMT",
                       "Cache-Control: max-age=60", "x-amz-meta-MiXeD-Case: Value", NULL};
    tgw_resp r;
    http("PUT", "/hdrs/o", "abc", 3, h, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    req("HEAD", "/hdrs/o", NULL, 0, &r);
    ck_assert(tgw_has_header(&r, "Content-Encoding: gzip"));
    ck_assert(tgw_has_header(&r, "Content-Disposition: inline"));
    ck_assert(tgw_has_header(&r, "Content-Language: de"));
    ck_assert(tgw_has_header(&r, "Expires: Thu, 01 Dec 2094 16:00:00 GMT"));
    ck_assert(tgw_has_header(&r, "Cache-Control: max-age=60"));
    ck_assert_ptr_nonnull(strstr(r.headers, "x-amz-meta-mixed-case: Value"));
    free(r.body);
    req("GET",
        "/hdrs/o?response-cache-control=no-store&response-content-disposition=attachment"
        "&response-content-encoding=identity&response-content-language=fr"
        "&response-content-type=text%2Fplain&response-expires=0",
        NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(tgw_has_header(&r, "Content-Type: text/plain"));
    ck_assert(tgw_has_header(&r, "Cache-Control: no-store"));
    ck_assert(tgw_has_header(&r, "Content-Disposition: attachment"));
    ck_assert(tgw_has_header(&r, "Content-Encoding: identity"));
    ck_assert(tgw_has_header(&r, "Content-Language: fr"));
    ck_assert(tgw_has_header(&r, "Expires: 0"));
    free(r.body);
    char big[2100], line[2200];
    memset(big, 'v', 2040);
    big[2040] = '\0';
    snprintf(line, sizeof(line), "x-amz-meta-k: %s", big);
    const char *ok[] = {UNSIGNED, line, NULL};
    http("PUT", "/hdrs/fits", "a", 1, ok, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    memset(big, 'v', 2048);
    big[2048] = '\0';
    snprintf(line, sizeof(line), "x-amz-meta-k: %s", big);
    const char *over[] = {UNSIGNED, line, NULL};
    http("PUT", "/hdrs/over", "a", 1, over, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>MetadataTooLarge</Code>"));
    free(r.body);
}
END_TEST

/* PUT ?tagging with a body and its content hash. */
static void put_tagging(const char *path, const char *xml, tgw_resp *r)
{
    const char *h[] = {UNSIGNED, NULL};
    http("PUT", path, xml, strlen(xml), h, AK ":" SECRET, r);
}

/* Tags given with x-amz-tagging on PUT are stored and counted on GET and
 * HEAD; PutObjectTagging replaces the set, DeleteObjectTagging empties it;
 * sets breaking AWS's limits are InvalidTag; bucket tagging is
 * NotImplemented. */
START_TEST(test_tagging)
{
    tgw_create_bucket("tags");
    const char *h[] = {UNSIGNED, "x-amz-tagging: project=hamster&note=two%20words&empty=",
                       NULL};
    tgw_resp r;
    http("PUT", "/tags/o", "abc", 3, h, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    req("HEAD", "/tags/o", NULL, 0, &r);
    ck_assert(tgw_has_header(&r, "x-amz-tagging-count: 3"));
    free(r.body);
    req("GET", "/tags/o?tagging=", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<Tagging xmlns=\"http://s3.amazonaws.com/doc/"
                                         "2006-03-01/\"><TagSet><Tag><Key>project</Key>"
                                         "<Value>hamster</Value></Tag><Tag><Key>note</Key>"
                                         "<Value>two words</Value></Tag>"));
    free(r.body);

    put_tagging("/tags/o?tagging=",
                "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>", &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    req("GET", "/tags/o?tagging=", NULL, 0, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<TagSet><Tag><Key>k</Key><Value>v</Value></Tag>"
                                         "</TagSet>"));
    free(r.body);
    req("GET", "/tags/o", NULL, 0, &r);
    ck_assert(tgw_has_header(&r, "x-amz-tagging-count: 1"));
    ck_assert_str_eq(r.body, "abc");
    ck_assert(tgw_has_header(&r, "ETag: \"900150983cd24fb0d6963f7d28e17f72\""));
    free(r.body);
    req("DELETE", "/tags/o?tagging=", NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    free(r.body);
    req("GET", "/tags/o?tagging=", NULL, 0, &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<TagSet></TagSet>"));
    free(r.body);
    req("HEAD", "/tags/o", NULL, 0, &r);
    ck_assert_ptr_null(strcasestr(r.headers, "x-amz-tagging-count"));
    free(r.body);

    char eleven[2048];
    size_t o = (size_t)snprintf(eleven, sizeof(eleven), "<Tagging><TagSet>");
    for (int i = 0; i < 11; i++)
        o += (size_t)snprintf(eleven + o, sizeof(eleven) - o,
                              "<Tag><Key>k%d</Key><Value>v</Value></Tag>", i);
    snprintf(eleven + o, sizeof(eleven) - o, "</TagSet></Tagging>");
    char longkey[512], longval[512];
    memset(longval, 'v', 257);
    longval[257] = '\0';
    char kx[130];
    memset(kx, 'k', 129);
    kx[129] = '\0';
    snprintf(longkey, sizeof(longkey),
             "<Tagging><TagSet><Tag><Key>%s</Key><Value>v</Value></Tag></TagSet></Tagging>", kx);
    char lv[700];
    snprintf(lv, sizeof(lv),
             "<Tagging><TagSet><Tag><Key>k</Key><Value>%s</Value></Tag></TagSet></Tagging>",
             longval);
    const char *invalid[] = {
        eleven, longkey, lv,
        "<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>a</Key>"
        "<Value>2</Value></Tag></TagSet></Tagging>",
    };
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        put_tagging("/tags/o?tagging=", invalid[i], &r);
        ck_assert_msg(r.status == 400, "case %zu -> %ld", i, r.status);
        ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidTag</Code>"));
        free(r.body);
    }
    /* 128 characters of a two-byte letter are allowed: limits count characters */
    char wide[1024];
    o = (size_t)snprintf(wide, sizeof(wide), "<Tagging><TagSet><Tag><Key>");
    for (int i = 0; i < 128; i++) o += (size_t)snprintf(wide + o, sizeof(wide) - o, "\xc3\xa9");
    snprintf(wide + o, sizeof(wide) - o, "</Key><Value>v</Value></Tag></TagSet></Tagging>");
    put_tagging("/tags/o?tagging=", wide, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    put_tagging("/tags/o?tagging=", "<Tagging><Tag/></Tagging>", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>MalformedXML</Code>"));
    free(r.body);
    put_tagging("/tags/absent?tagging=", "<Tagging><TagSet/></Tagging>", &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>NoSuchKey</Code>"));
    free(r.body);
    const char *dup[] = {UNSIGNED, "x-amz-tagging: a=1&a=2", NULL};
    http("PUT", "/tags/dup", "x", 1, dup, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidTag</Code>"));
    free(r.body);
    ck_assert_int_eq(get_status("/tags/dup"), 404);
    req("GET", "/tags?tagging=", NULL, 0, &r);
    ck_assert_int_eq(r.status, 501);
    free(r.body);
}
END_TEST

static const char *const cors_doc =
    "<CORSConfiguration><CORSRule><AllowedOrigin>https://*.example.com</AllowedOrigin>"
    "<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>"
    "<AllowedHeader>*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>"
    "<MaxAgeSeconds>600</MaxAgeSeconds></CORSRule></CORSConfiguration>";

/* CORS over HTTP: the configuration is stored in normal form and removed;
 * the unauthenticated preflight is allowed only for a matching rule; an
 * actual request from a matching Origin gets the Access-Control headers. */
START_TEST(test_cors_http)
{
    tgw_create_bucket("web");
    put_ok("/web/page", "hello");
    tgw_resp r;
    req("GET", "/web?cors=", NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>NoSuchCORSConfiguration</Code>"));
    free(r.body);
    const char *pre[] = {"Origin: https://app.example.com",
                         "Access-Control-Request-Method: PUT",
                         "Access-Control-Request-Headers: content-type, x-amz-date", NULL};
    http("OPTIONS", "/web/page", NULL, 0, pre, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>AccessForbidden</Code>"));
    free(r.body);

    const char *h[] = {UNSIGNED, NULL};
    http("PUT", "/web?cors=", cors_doc, strlen(cors_doc), h, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    req("GET", "/web?cors=", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<CORSConfiguration xmlns=\"http://s3.amazonaws.com/"
                                         "doc/2006-03-01/\"><CORSRule><AllowedHeader>*"));
    ck_assert_ptr_nonnull(strstr(r.body, "<MaxAgeSeconds>600</MaxAgeSeconds>"));
    free(r.body);

    http("OPTIONS", "/web/page", NULL, 0, pre, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(tgw_has_header(&r, "Access-Control-Allow-Origin: https://app.example.com"));
    ck_assert(tgw_has_header(&r, "Access-Control-Allow-Methods: GET, PUT"));
    ck_assert(tgw_has_header(&r, "Access-Control-Allow-Headers: content-type, x-amz-date"));
    ck_assert(tgw_has_header(&r, "Access-Control-Max-Age: 600"));
    ck_assert(tgw_has_header(&r, "Access-Control-Expose-Headers: ETag"));
    ck_assert(tgw_has_header(&r, "Vary: Origin"));
    free(r.body);
    const char *wrong_origin[] = {"Origin: https://evil.org", "Access-Control-Request-Method: GET",
                                  NULL};
    http("OPTIONS", "/web/page", NULL, 0, wrong_origin, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "CORSResponse: This CORS request is not allowed."));
    free(r.body);
    const char *wrong_method[] = {"Origin: https://app.example.com",
                                  "Access-Control-Request-Method: DELETE", NULL};
    http("OPTIONS", "/web/page", NULL, 0, wrong_method, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    free(r.body);
    const char *no_origin[] = {"Access-Control-Request-Method: GET", NULL};
    http("OPTIONS", "/web/page", NULL, 0, no_origin, NULL, &r);
    ck_assert_int_eq(r.status, 400);
    free(r.body);

    const char *actual[] = {UNSIGNED, "Origin: https://app.example.com", NULL};
    http("GET", "/web/page", NULL, 0, actual, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(tgw_has_header(&r, "Access-Control-Allow-Origin: https://app.example.com"));
    ck_assert(tgw_has_header(&r, "Access-Control-Expose-Headers: ETag"));
    free(r.body);
    const char *other[] = {UNSIGNED, "Origin: https://evil.org", NULL};
    http("GET", "/web/page", NULL, 0, other, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_null(strcasestr(r.headers, "Access-Control-Allow-Origin"));
    free(r.body);

    const char *bad = "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                      "<AllowedMethod>PATCH</AllowedMethod></CORSRule></CORSConfiguration>";
    http("PUT", "/web?cors=", bad, strlen(bad), h, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidRequest</Code>"));
    free(r.body);
    http("PUT", "/web?cors=", "<CORSConfiguration/>", 20, h, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>MalformedXML</Code>"));
    free(r.body);

    req("DELETE", "/web?cors=", NULL, 0, &r);
    ck_assert_int_eq(r.status, 204);
    free(r.body);
    req("GET", "/web?cors=", NULL, 0, &r);
    ck_assert_int_eq(r.status, 404);
    free(r.body);
    http("OPTIONS", "/web/page", NULL, 0, pre, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    free(r.body);
}
END_TEST

/* A presigned URL for method/path, signed at now_s valid for expires_s. */
static void presign(const char *method, const char *path, int64_t now_s, int64_t expires_s,
                    char *out, size_t cap)
{
    char host[64], amz_date[HM_SIGV4_AMZ_DATE_BYTES + 1], query[4096];
    snprintf(host, sizeof(host), "127.0.0.1:%d", tgw_port);
    ck_assert_int_eq(hm_sigv4_format_amz_date(now_s * 1000, amz_date), 0);
    hm_sigv4_header hs[] = {{"host", host}};
    hm_sigv4_request sr = {.method = method, .path = path, .headers = hs, .header_count = 1};
    hm_sigv4_credentials cr = {.access_key_id = AK, .secret = SECRET, .region = "us-east-1"};
    ck_assert_int_eq(hm_sigv4_presign_query(&sr, NULL, &cr, amz_date, expires_s, query,
                                            sizeof(query)),
                     0);
    snprintf(out, cap, "%s?%s", path, query);
}

/* Presigned PUT, GET, HEAD and DELETE work without credentials; a week is
 * the longest validity; an expired URL is AccessDenied "Request has
 * expired". */
START_TEST(test_presigned_methods)
{
    tgw_create_bucket("pres");
    int64_t now = (int64_t)time(NULL);
    char url[4300];
    tgw_resp r;
    presign("PUT", "/pres/obj", now, 604800, url, sizeof(url));
    http("PUT", url, "via presign", 11, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    presign("GET", "/pres/obj", now, 60, url, sizeof(url));
    http("GET", url, NULL, 0, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "via presign");
    free(r.body);
    /* the signature binds the method */
    http("DELETE", url, NULL, 0, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>SignatureDoesNotMatch</Code>"));
    free(r.body);
    presign("HEAD", "/pres/obj", now, 60, url, sizeof(url));
    http("HEAD", url, NULL, 0, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(tgw_has_header(&r, "Content-Length: 11"));
    free(r.body);
    presign("GET", "/pres/obj", now - 7200, 60, url, sizeof(url));
    http("GET", url, NULL, 0, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 403);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>AccessDenied</Code>"));
    ck_assert_ptr_nonnull(strstr(r.body, "Request has expired"));
    free(r.body);
    /* a hand-made URL claiming more than a week is refused */
    presign("GET", "/pres/obj", now, 604800, url, sizeof(url));
    char *e = strstr(url, "X-Amz-Expires=604800");
    ck_assert_ptr_nonnull(e);
    memcpy(e, "X-Amz-Expires=604801", 20);
    http("GET", url, NULL, 0, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>AuthorizationQueryParametersError</Code>"));
    free(r.body);
    presign("DELETE", "/pres/obj", now, 60, url, sizeof(url));
    http("DELETE", url, NULL, 0, NULL, NULL, &r);
    ck_assert_int_eq(r.status, 204);
    free(r.body);
    ck_assert_int_eq(get_status("/pres/obj"), 404);
}
END_TEST

/* Virtual-hosted style: <bucket>.<domain>:<port> names the bucket, signed
 * with the Host as sent; path style keeps working beside it. */
START_TEST(test_virtual_host)
{
    tgw_create_bucket("vh-bkt");
    tgw_resp r;
    http_at("vh-bkt.s3.test", "PUT", "/dir/obj", "virtual", 7, unsigned_hdr, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    free(r.body);
    req("GET", "/vh-bkt/dir/obj", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "virtual");
    free(r.body);
    http_at("VH-BKT.S3.TEST", "GET", "/dir/obj", NULL, 0, unsigned_hdr, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "virtual");
    free(r.body);
    http_at("vh-bkt.s3.test", "GET", "/?list-type=2", NULL, 0, unsigned_hdr, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<Name>vh-bkt</Name>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>dir/obj</Key>"));
    free(r.body);
    http_at("nope-bkt.s3.test", "GET", "/x", NULL, 0, unsigned_hdr, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>NoSuchBucket</Code>"));
    free(r.body);
    /* the service itself at the bare domain */
    http_at("s3.test", "GET", "/", NULL, 0, unsigned_hdr, AK ":" SECRET, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<Name>vh-bkt</Name>"));
    free(r.body);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gw_http");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, tgw_setup, tgw_teardown);
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
    tcase_add_test(tc, test_delete_objects);
    tcase_add_test(tc, test_conditional_put);
    tcase_add_test(tc, test_conditional_get);
    tcase_add_test(tc, test_range_edges);
    tcase_add_test(tc, test_headers_and_overrides);
    tcase_add_test(tc, test_tagging);
    tcase_add_test(tc, test_cors_http);
    tcase_add_test(tc, test_presigned_methods);
    tcase_add_test(tc, test_virtual_host);
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
