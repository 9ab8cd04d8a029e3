/* test_gw_list.c - ListObjects (v1), ListObjectsV2, ListBuckets,
 * GetBucketLocation and HeadBucket over real HTTP: keys that are hard to
 * carry (unicode, spaces, '+', '%', control characters, 1024 bytes) round
 * trip through PUT, LIST and GET, and the listing parameters behave as the
 * AWS S3 API Reference says. */
#include "test_gw_util.h"

#include "hm_limits.h"

static char long_key[HM_KEY_BYTES_MAX + 1];

/* Keys in byte order once sorted; the last is the 1024-byte key. */
static const char *hard_keys[] = {
    "ctrl\x01\x1f.txt",
    "dir/sub/\xc3\xbcn\xc3\xaf" "c\xc3\xb8" "d\xc3\xa9-\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab.txt",
    "emoji-\xf0\x9f\x98\x80",
    "percent%41.txt",
    "plus+sign.txt",
    "q?mark&amp=x#hash",
    "quote\"<>'&.xml",
    "tab\tand\nnewline",
    "with space.txt",
    long_key,
};
#define HARD_KEYS (sizeof(hard_keys) / sizeof(hard_keys[0]))

static void put_key(const char *bucket, const char *key, const char *body)
{
    char *esc = tgw_escape(key, true);
    size_t pl = strlen(esc) + 64;
    char *path = malloc(pl);
    snprintf(path, pl, "/%s/%s", bucket, esc);
    tgw_resp r;
    tgw_req("PUT", path, body, strlen(body), &r);
    ck_assert_msg(r.status == 200, "PUT %s -> %ld %s", path, r.status, r.body);
    free(r.body);
    free(path);
    free(esc);
}

static void get_path(const char *path, tgw_resp *r) { tgw_req("GET", path, NULL, 0, r); }

/* Every <Key> of a url-encoded listing page, decoded, appended to keys. */
static size_t collect_keys(const char *body, char **keys, size_t n, size_t cap)
{
    const char *at = body;
    char *k;
    while ((k = tgw_xml_text(at, "Key", &at)) != NULL) {
        ck_assert_uint_lt(n, cap);
        keys[n++] = tgw_unquote_plus(k, strlen(k));
        free(k);
    }
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Hard keys survive PUT, GET and an encoding-type=url listing byte for
 * byte, in byte order. */
START_TEST(test_hard_keys_round_trip)
{
    tgw_create_bucket("hard");
    for (size_t i = 0; i < HARD_KEYS; i++) put_key("hard", hard_keys[i], hard_keys[i]);
    for (size_t i = 0; i < HARD_KEYS; i++) {
        char *esc = tgw_escape(hard_keys[i], true);
        size_t pl = strlen(esc) + 64;
        char *path = malloc(pl);
        snprintf(path, pl, "/hard/%s", esc);
        tgw_resp r;
        get_path(path, &r);
        ck_assert_int_eq(r.status, 200);
        ck_assert_str_eq(r.body, hard_keys[i]);
        free(r.body);
        free(path);
        free(esc);
    }
    tgw_resp r;
    get_path("/hard?encoding-type=url&list-type=2", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<EncodingType>url</EncodingType>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<KeyCount>10</KeyCount>"));
    /* AWS's form: a space is '+', a '+' is %2B, control characters %XX */
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>with+space.txt</Key>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>plus%2Bsign.txt</Key>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>ctrl%01%1F.txt</Key>"));
    char *got[32];
    size_t n = collect_keys(r.body, got, 0, 32);
    free(r.body);
    ck_assert_uint_eq(n, HARD_KEYS);
    const char *want[HARD_KEYS];
    memcpy(want, hard_keys, sizeof(want));
    qsort(want, HARD_KEYS, sizeof(want[0]), cmp_str);
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(got[i], want[i]);
        free(got[i]);
    }
    /* Without url encoding, XML-special characters are escaped as XML. */
    get_path("/hard?list-type=2&prefix=quote", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>quote&quot;&lt;&gt;&apos;&amp;.xml</Key>"));
    free(r.body);
}
END_TEST

/* A 1025-byte key is KeyTooLongError; a key that is not UTF-8 is refused. */
START_TEST(test_key_limits)
{
    tgw_create_bucket("lim");
    char path[2048];
    int o = snprintf(path, sizeof(path), "/lim/");
    memset(path + o, 'k', HM_KEY_BYTES_MAX + 1);
    path[o + HM_KEY_BYTES_MAX + 1] = '\0';
    tgw_resp r;
    tgw_req("PUT", path, "x", 1, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>KeyTooLongError</Code>"));
    free(r.body);
    tgw_req("PUT", "/lim/bad%FFutf8", "x", 1, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidArgument</Code>"));
    free(r.body);
}
END_TEST

/* A delimiter may be any string; keys under it roll up into CommonPrefixes
 * counted in KeyCount; prefix and delimiter combine. */
START_TEST(test_any_delimiter)
{
    tgw_create_bucket("dlm");
    const char *keys[] = {"a--b--c", "a--d", "b::x", "b::y::z", "x"};
    for (size_t i = 0; i < 5; i++) put_key("dlm", keys[i], "v");
    tgw_resp r;
    get_path("/dlm?delimiter=--&list-type=2", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<CommonPrefixes><Prefix>a--</Prefix></CommonPrefixes>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>b::x</Key>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>x</Key>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Delimiter>--</Delimiter>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<KeyCount>4</KeyCount>"));
    free(r.body);
    get_path("/dlm?delimiter=%3A%3A&list-type=2&prefix=b%3A%3A", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>b::x</Key>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<CommonPrefixes><Prefix>b::y::</Prefix></CommonPrefixes>"));
    ck_assert_ptr_null(strstr(r.body, "<Key>x</Key>"));
    free(r.body);
    /* the delimiter and prefix are url-encoded too when asked */
    get_path("/dlm?delimiter=%20&encoding-type=url&list-type=2&prefix=a%2B", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<Delimiter>+</Delimiter>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Prefix>a%2B</Prefix>"));
    free(r.body);
}
END_TEST

/* max-keys: 0 lists nothing, above 1000 is clamped to 1000, negative or not
 * a number is InvalidArgument; so are a bad encoding-type and a bad
 * continuation token. */
START_TEST(test_max_keys_and_bad_params)
{
    tgw_create_bucket("maxk");
    put_key("maxk", "one", "1");
    tgw_resp r;
    get_path("/maxk?list-type=2&max-keys=0", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<MaxKeys>0</MaxKeys>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<KeyCount>0</KeyCount>"));
    ck_assert_ptr_null(strstr(r.body, "<Contents>"));
    free(r.body);
    get_path("/maxk?list-type=2&max-keys=5000", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "<MaxKeys>1000</MaxKeys>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>one</Key>"));
    free(r.body);
    const char *bad[] = {"/maxk?list-type=2&max-keys=-1", "/maxk?max-keys=abc",
                         "/maxk?list-type=2&max-keys=", "/maxk?list-type=2&max-keys=99999999999",
                         "/maxk?encoding-type=base64&list-type=2",
                         "/maxk?continuation-token=%21%21%21&list-type=2",
                         "/maxk?continuation-token=&list-type=2", "/maxk?list-type=3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        get_path(bad[i], &r);
        ck_assert_msg(r.status == 400, "%s -> %ld", bad[i], r.status);
        ck_assert_ptr_nonnull(strstr(r.body, "<Code>InvalidArgument</Code>"));
        free(r.body);
    }
}
END_TEST

/* ListObjects v1: with a delimiter a truncated page carries NextMarker
 * (possibly a common prefix) and following it visits every key and prefix
 * exactly once; without a delimiter there is no NextMarker and the last
 * key is the marker. */
START_TEST(test_v1_pagination)
{
    tgw_create_bucket("list-v1");
    char key[64];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), i % 4 == 0 ? "dir%02d/x" : "k%02d", i);
        put_key("list-v1", key, "v");
    }
    /* with a delimiter: 5 prefixes + 15 keys in pages of 6 */
    char marker[256] = "";
    size_t seen = 0, pages = 0;
    for (;;) {
        char path[512];
        char *em = tgw_escape(marker, false);
        snprintf(path, sizeof(path), "/list-v1?delimiter=%%2F&marker=%s&max-keys=6", em);
        free(em);
        tgw_resp r;
        get_path(path, &r);
        ck_assert_int_eq(r.status, 200);
        pages++;
        for (const char *p = r.body; (p = strstr(p, "<Key>")) != NULL; p++) seen++;
        for (const char *p = r.body; (p = strstr(p, "<CommonPrefixes>")) != NULL; p++) seen++;
        bool trunc = strstr(r.body, "<IsTruncated>true</IsTruncated>") != NULL;
        char *nm = tgw_xml_text(r.body, "NextMarker", NULL);
        free(r.body);
        if (!trunc) {
            ck_assert_ptr_null(nm);
            break;
        }
        ck_assert_ptr_nonnull(nm);
        snprintf(marker, sizeof(marker), "%s", nm);
        free(nm);
        ck_assert_uint_lt(pages, 10);
    }
    ck_assert_uint_eq(seen, 20);
    ck_assert_uint_eq(pages, 4);

    /* without a delimiter */
    tgw_resp r;
    get_path("/list-v1?max-keys=7", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<IsTruncated>true</IsTruncated>"));
    ck_assert_ptr_null(strstr(r.body, "<NextMarker>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Marker></Marker>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Owner><ID>"));
    free(r.body);
    get_path("/list-v1?marker=k13&max-keys=7", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<Marker>k13</Marker>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Key>k14</Key>"));
    ck_assert_ptr_null(strstr(r.body, "<Key>k13</Key>"));
    free(r.body);
}
END_TEST

/* ListObjectsV2: start-after is exclusive and echoed, continuation tokens
 * walk 1,200 keys in pages of 1000 at most, fetch-owner adds Owner. */
START_TEST(test_v2_pagination_and_owner)
{
    tgw_create_bucket("list-v2");
    char key[64];
    for (int i = 0; i < 1200; i++) {
        snprintf(key, sizeof(key), "key%05d", i);
        put_key("list-v2", key, "v");
    }
    tgw_resp r;
    get_path("/list-v2?list-type=2&start-after=key01197", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<StartAfter>key01197</StartAfter>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<KeyCount>2</KeyCount>"));
    ck_assert_ptr_null(strstr(r.body, "<Owner>"));
    free(r.body);
    get_path("/list-v2?fetch-owner=true&list-type=2&max-keys=1", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<Owner><ID>" TGW_AK "</ID><DisplayName>"));
    free(r.body);

    size_t total = 0, pages = 0;
    char token[2048] = "";
    for (;;) {
        char path[4096];
        char *et = tgw_escape(token, false);
        snprintf(path, sizeof(path), "/list-v2?%s%s%slist-type=2&max-keys=5000",
                 token[0] != '\0' ? "continuation-token=" : "", et,
                 token[0] != '\0' ? "&" : "");
        free(et);
        get_path(path, &r);
        ck_assert_int_eq(r.status, 200);
        pages++;
        char *kc = tgw_xml_text(r.body, "KeyCount", NULL);
        total += (size_t)atoi(kc);
        free(kc);
        if (token[0] != '\0') {
            char *ct = tgw_xml_text(r.body, "ContinuationToken", NULL);
            ck_assert_str_eq(ct, token);
            free(ct);
        }
        char *next = tgw_xml_text(r.body, "NextContinuationToken", NULL);
        free(r.body);
        if (next == NULL) break;
        snprintf(token, sizeof(token), "%s", next);
        free(next);
    }
    ck_assert_uint_eq(pages, 2);
    ck_assert_uint_eq(total, 1200);
}
END_TEST

/* ListBuckets carries the Owner; GetBucketLocation answers the empty
 * constraint for us-east-1; HeadBucket names the region. */
START_TEST(test_bucket_info)
{
    tgw_create_bucket("info");
    tgw_resp r;
    get_path("/", &r);
    ck_assert_ptr_nonnull(strstr(r.body, "<Owner><ID>" TGW_AK "</ID><DisplayName>" TGW_AK
                                         "</DisplayName></Owner>"));
    ck_assert_ptr_nonnull(strstr(r.body, "<Name>info</Name>"));
    free(r.body);
    get_path("/info?location=", &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/"
                             "2006-03-01/\"></LocationConstraint>") != NULL ||
              strstr(r.body, "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/"
                             "2006-03-01/\"/>") != NULL);
    free(r.body);
    tgw_req("HEAD", "/info", NULL, 0, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(tgw_has_header(&r, "x-amz-bucket-region: us-east-1"));
    free(r.body);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("gw_list");
    TCase *tc = tcase_create("list");
    tcase_add_checked_fixture(tc, tgw_setup, tgw_teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_hard_keys_round_trip);
    tcase_add_test(tc, test_key_limits);
    tcase_add_test(tc, test_any_delimiter);
    tcase_add_test(tc, test_max_keys_and_bad_params);
    tcase_add_test(tc, test_v1_pagination);
    tcase_add_test(tc, test_v2_pagination_and_owner);
    tcase_add_test(tc, test_bucket_info);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    memcpy(long_key, "zz-long/", 8);
    memset(long_key + 8, 'k', HM_KEY_BYTES_MAX - 8);
    long_key[HM_KEY_BYTES_MAX] = '\0';
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? 0 : 1;
}
