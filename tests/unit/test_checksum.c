/* test_checksum.c - the S3 flexible checksums (hm_checksum.h): the standard
 * check values, the values S3 sends for known inputs, streaming in odd
 * slices, strict base64 parsing, the CRC combine and the multipart
 * COMPOSITE and FULL_OBJECT forms. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_checksum.h"
#include "hm_crc.h"
#include "hm_err.h"

static const char check_input[] = "123456789";

static void render(const hm_cksum_value *v, char *out)
{
    ck_assert_int_eq(hm_cksum_render(v, out), 0);
}

static void expect_b64(hm_cksum_algo algo, const char *in, size_t len, const char *want)
{
    hm_cksum_value v;
    char text[HM_CKSUM_TEXT_BYTES_MAX];
    ck_assert_int_eq(hm_cksum_buf(algo, in, len, &v), 0);
    render(&v, text);
    ck_assert_msg(strcmp(text, want) == 0, "%s of %zu bytes: %s, want %s", hm_cksum_name(algo),
                  len, text, want);
}

/* The catalogued check values of "123456789" for the three CRCs. */
START_TEST(check_values)
{
    ck_assert_uint_eq(hm_crc32(0, check_input, 9), 0xCBF43926u);
    ck_assert_uint_eq(hm_crc32c(0, check_input, 9), 0xE3069283u);
    ck_assert(hm_crc64nvme(0, check_input, 9) == 0xAE8B14860A799888ull);
    ck_assert_uint_eq(hm_crc32(0, "", 0), 0);
    ck_assert(hm_crc64nvme(0, "", 0) == 0);
}
END_TEST

/* Base64 values as S3 sends them in x-amz-checksum-* (CRCs big-endian),
 * for the empty body, the check input and "Hello world". */
START_TEST(s3_values)
{
    expect_b64(HM_CKSUM_CRC32, "", 0, "AAAAAA==");
    expect_b64(HM_CKSUM_CRC32C, "", 0, "AAAAAA==");
    expect_b64(HM_CKSUM_CRC64NVME, "", 0, "AAAAAAAAAAA=");
    expect_b64(HM_CKSUM_SHA1, "", 0, "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    expect_b64(HM_CKSUM_SHA256, "", 0, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    expect_b64(HM_CKSUM_CRC32, check_input, 9, "y/Q5Jg==");
    expect_b64(HM_CKSUM_CRC32C, check_input, 9, "4waSgw==");
    expect_b64(HM_CKSUM_CRC64NVME, check_input, 9, "rosUhgp5mIg=");
    expect_b64(HM_CKSUM_SHA1, check_input, 9, "98O8HYCOBHMq32eZZczDTKeuNEE=");
    expect_b64(HM_CKSUM_SHA256, check_input, 9, "FeKw08M4keuw8e9gnsQZQgwg4yDOlMZfvIwzEkSOsiU=");
    expect_b64(HM_CKSUM_CRC32, "Hello world", 11, "i9aeUg==");
    expect_b64(HM_CKSUM_CRC32C, "Hello world", 11, "crUfeA==");
    expect_b64(HM_CKSUM_CRC64NVME, "Hello world", 11, "OOJZ0D8xKts=");
}
END_TEST

/* Streaming in odd slice sizes gives the one-shot value for every
 * algorithm, across the 8-byte stride of the CRC64 tables. */
START_TEST(streaming_equals_one_shot)
{
    size_t n = 100003;
    unsigned char *buf = malloc(n);
    ck_assert_ptr_nonnull(buf);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 16);
    }
    static const size_t slices[] = {1, 3, 7, 8, 9, 63, 4096, 65537};
    for (int a = HM_CKSUM_CRC32; a < HM_CKSUM_ALGO_COUNT; a++) {
        hm_cksum_value one, str;
        ck_assert_int_eq(hm_cksum_buf((hm_cksum_algo)a, buf, n, &one), 0);
        for (size_t s = 0; s < sizeof(slices) / sizeof(slices[0]); s++) {
            hm_cksum c;
            ck_assert_int_eq(hm_cksum_init(&c, (hm_cksum_algo)a), 0);
            size_t off = 0, step = slices[s];
            while (off < n) {
                size_t k = n - off < step ? n - off : step;
                ck_assert_int_eq(hm_cksum_update(&c, buf + off, k), 0);
                off += k;
                step = step * 3 % 9973 + 1; /* vary the slices */
            }
            ck_assert_int_eq(hm_cksum_final(&c, &str), 0);
            hm_cksum_free(&c);
            ck_assert_msg(hm_cksum_equal(&one, &str), "%s slice %zu", hm_cksum_name(a),
                          slices[s]);
        }
    }
    free(buf);
}
END_TEST

/* Parsing accepts exactly the canonical base64 of the algorithm's size and
 * refuses wrong lengths, bad characters, misplaced or missing padding and
 * non-zero pad bits. */
START_TEST(parse_strict)
{
    hm_cksum_value v;
    ck_assert_int_eq(hm_cksum_parse(HM_CKSUM_CRC32, "y/Q5Jg==", 8, &v), 0);
    ck_assert_uint_eq(v.len, 4);
    ck_assert(v.raw[0] == 0xCB && v.raw[1] == 0xF4 && v.raw[2] == 0x39 && v.raw[3] == 0x26);
    ck_assert_int_eq(hm_cksum_parse(HM_CKSUM_CRC64NVME, "rosUhgp5mIg=", 12, &v), 0);
    ck_assert_int_eq(
        hm_cksum_parse(HM_CKSUM_SHA256, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", 44, &v),
        0);
    ck_assert_int_eq(hm_cksum_parse(HM_CKSUM_CRC32, "y/Q5Jg=", 7, &v), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_parse(HM_CKSUM_CRC32, "y/Q5Jg===", 9, &v), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_parse(HM_CKSUM_CRC32, "y/Q5Jgg=", 8, &v), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_parse(HM_CKSUM_CRC32, "y/Q5Jh==", 8, &v), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_parse(HM_CKSUM_CRC32, "y/Q5J!==", 8, &v), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_parse(HM_CKSUM_CRC32, "y/Q\0Jg==", 8, &v), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_parse(HM_CKSUM_CRC32C, "rosUhgp5mIg=", 12, &v), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_parse(HM_CKSUM_NONE, "", 0, &v), HM_EINVAL);
}
END_TEST

/* Names, headers and XML element names map both ways, case-insensitively,
 * and the type/algorithm headers are not mistaken for values. */
START_TEST(names)
{
    hm_cksum_algo a;
    ck_assert_int_eq(hm_cksum_from_name("crc64nvme", 9, &a), 0);
    ck_assert_int_eq(a, HM_CKSUM_CRC64NVME);
    ck_assert_int_eq(hm_cksum_from_name("CRC32C", 6, &a), 0);
    ck_assert_int_eq(a, HM_CKSUM_CRC32C);
    ck_assert_int_eq(hm_cksum_from_name("CRC3", 4, &a), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_from_name("MD5", 3, &a), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_from_header("X-Amz-Checksum-SHA1", 19, &a), 0);
    ck_assert_int_eq(a, HM_CKSUM_SHA1);
    ck_assert_int_eq(hm_cksum_from_header("x-amz-checksum-type", 19, &a), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_from_header("x-amz-checksum-algorithm", 24, &a), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_from_header("x-amz-checksum-", 15, &a), HM_EINVAL);
    ck_assert_str_eq(hm_cksum_header(HM_CKSUM_CRC32), "x-amz-checksum-crc32");
    ck_assert_str_eq(hm_cksum_xml_name(HM_CKSUM_CRC64NVME), "ChecksumCRC64NVME");
    ck_assert_ptr_null(hm_cksum_name(HM_CKSUM_NONE));
    ck_assert_uint_eq(hm_cksum_size(HM_CKSUM_SHA1), 20);
}
END_TEST

/* crc(a || b) == combine(crc(a), crc(b), len(b)) for all three CRCs, for
 * empty and non-empty halves and every split of a buffer. */
START_TEST(crc_combine)
{
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++) buf[i] = (unsigned char)(i * 7 + 3);
    size_t n = sizeof(buf);
    uint32_t c32 = hm_crc32(0, buf, n), c32c = hm_crc32c(0, buf, n);
    uint64_t c64 = hm_crc64nvme(0, buf, n);
    for (size_t split = 0; split <= n; split++) {
        size_t lb = n - split;
        ck_assert_uint_eq(hm_crc32_combine(hm_crc32(0, buf, split),
                                           hm_crc32(0, buf + split, lb), lb),
                          c32);
        ck_assert_uint_eq(hm_crc32c_combine(hm_crc32c(0, buf, split),
                                            hm_crc32c(0, buf + split, lb), lb),
                          c32c);
        ck_assert(hm_crc64nvme_combine(hm_crc64nvme(0, buf, split),
                                       hm_crc64nvme(0, buf + split, lb), lb) == c64);
    }
    /* a large second half exercises many squarings: 5 MiB of zeros */
    size_t big = 5u << 20;
    unsigned char *z = calloc(1, big);
    ck_assert_ptr_nonnull(z);
    ck_assert(hm_crc64nvme_combine(hm_crc64nvme(0, buf, n), hm_crc64nvme(0, z, big), big) ==
              hm_crc64nvme(hm_crc64nvme(0, buf, n), z, big));
    ck_assert_uint_eq(hm_crc32_combine(c32, hm_crc32(0, z, big), big), hm_crc32(c32, z, big));
    free(z);
}
END_TEST

/* A FULL_OBJECT multipart CRC equals the CRC of the whole object; a
 * COMPOSITE one is the checksum of the concatenated raw part values,
 * rendered with "-N"; disallowed pairs are refused. */
START_TEST(multipart)
{
    static const char *parts[] = {"first part ", "", "second, longer part of the object"};
    char whole[128] = "";
    for (size_t i = 0; i < 3; i++) strcat(whole, parts[i]);
    for (int a = HM_CKSUM_CRC32; a <= HM_CKSUM_CRC64NVME; a++) {
        hm_cksum_multi m;
        ck_assert_int_eq(hm_cksum_multi_init(&m, (hm_cksum_algo)a, true), 0);
        for (size_t i = 0; i < 3; i++) {
            hm_cksum_value pv;
            ck_assert_int_eq(hm_cksum_buf((hm_cksum_algo)a, parts[i], strlen(parts[i]), &pv),
                             0);
            ck_assert_int_eq(hm_cksum_multi_add(&m, &pv, strlen(parts[i])), 0);
        }
        hm_cksum_value got, want;
        ck_assert_int_eq(hm_cksum_multi_final(&m, &got), 0);
        hm_cksum_multi_free(&m);
        ck_assert_int_eq(hm_cksum_buf((hm_cksum_algo)a, whole, strlen(whole), &want), 0);
        ck_assert(hm_cksum_equal(&got, &want));
        ck_assert(!got.composite);
    }

    /* composite SHA256 over two parts, computed independently */
    hm_cksum_multi m;
    ck_assert_int_eq(hm_cksum_multi_init(&m, HM_CKSUM_SHA256, false), 0);
    unsigned char cat[64];
    for (size_t i = 0; i < 2; i++) {
        hm_cksum_value pv;
        ck_assert_int_eq(hm_cksum_buf(HM_CKSUM_SHA256, parts[2 * i], strlen(parts[2 * i]), &pv),
                         0);
        memcpy(cat + 32 * i, pv.raw, 32);
        ck_assert_int_eq(hm_cksum_multi_add(&m, &pv, strlen(parts[2 * i])), 0);
    }
    hm_cksum_value got, want;
    ck_assert_int_eq(hm_cksum_multi_final(&m, &got), 0);
    hm_cksum_multi_free(&m);
    ck_assert_int_eq(hm_cksum_buf(HM_CKSUM_SHA256, cat, sizeof(cat), &want), 0);
    ck_assert(hm_cksum_equal(&got, &want));
    ck_assert(got.composite);
    ck_assert_uint_eq(got.parts, 2);
    char text[HM_CKSUM_TEXT_BYTES_MAX];
    render(&got, text);
    ck_assert_uint_eq(strlen(text), 46);
    ck_assert_str_eq(text + 44, "-2");

    /* the widest rendering fits */
    got.parts = HM_CKSUM_PARTS_MAX;
    render(&got, text);
    ck_assert_str_eq(text + 44, "-10000");
    got.parts = HM_CKSUM_PARTS_MAX + 1;
    ck_assert_int_eq(hm_cksum_render(&got, text), HM_EINVAL);

    ck_assert_int_eq(hm_cksum_multi_init(&m, HM_CKSUM_SHA1, true), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_multi_init(&m, HM_CKSUM_CRC64NVME, false), HM_EINVAL);
    ck_assert(hm_cksum_default_full_object(HM_CKSUM_CRC64NVME));
    ck_assert(!hm_cksum_default_full_object(HM_CKSUM_CRC32));

    /* a part of another algorithm, and no parts at all, are refused */
    ck_assert_int_eq(hm_cksum_multi_init(&m, HM_CKSUM_CRC32, false), 0);
    hm_cksum_value other;
    ck_assert_int_eq(hm_cksum_buf(HM_CKSUM_CRC32C, "x", 1, &other), 0);
    ck_assert_int_eq(hm_cksum_multi_add(&m, &other, 1), HM_EINVAL);
    ck_assert_int_eq(hm_cksum_multi_final(&m, &got), HM_EINVAL);
    hm_cksum_multi_free(&m);
}
END_TEST

static Suite *checksum_suite(void)
{
    Suite *s = suite_create("checksum");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, check_values);
    tcase_add_test(tc, s3_values);
    tcase_add_test(tc, streaming_equals_one_shot);
    tcase_add_test(tc, parse_strict);
    tcase_add_test(tc, names);
    tcase_add_test(tc, crc_combine);
    tcase_add_test(tc, multipart);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(checksum_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
