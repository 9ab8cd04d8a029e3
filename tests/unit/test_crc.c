/* test_crc.c - CRC32C: the standard check value, RFC 3720 vectors, chaining.
 *
 * The vectors come from RFC 3720 appendix B.4; the chaining property is the
 * one the shard store relies on when it checksums a block in pieces.
 */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hm_crc.h"

/* The CRC32C of "123456789" is the catalogue check value 0xE3069283. */
START_TEST(test_check_value)
{
    ck_assert_uint_eq(hm_crc32c(0, "123456789", 9), 0xE3069283u);
}
END_TEST

/* The CRC of nothing is 0, and a zero-length update leaves a CRC unchanged. */
START_TEST(test_empty)
{
    ck_assert_uint_eq(hm_crc32c(0, "", 0), 0);
    ck_assert_uint_eq(hm_crc32c(0xE3069283u, "", 0), 0xE3069283u);
}
END_TEST

/* 32 bytes of zeros give 0x8A9136AA (RFC 3720 B.4). */
START_TEST(test_rfc3720_zeros)
{
    uint8_t b[32];
    memset(b, 0, sizeof(b));
    ck_assert_uint_eq(hm_crc32c(0, b, sizeof(b)), 0x8A9136AAu);
}
END_TEST

/* 32 bytes of 0xFF give 0x62A8AB43 (RFC 3720 B.4). */
START_TEST(test_rfc3720_ones)
{
    uint8_t b[32];
    memset(b, 0xff, sizeof(b));
    ck_assert_uint_eq(hm_crc32c(0, b, sizeof(b)), 0x62A8AB43u);
}
END_TEST

/* 32 incrementing bytes 0..31 give 0x46DD794E (RFC 3720 B.4). */
START_TEST(test_rfc3720_incrementing)
{
    uint8_t b[32];
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)i;
    ck_assert_uint_eq(hm_crc32c(0, b, sizeof(b)), 0x46DD794Eu);
}
END_TEST

/* 32 decrementing bytes 31..0 give 0x113FDB5C (RFC 3720 B.4). */
START_TEST(test_rfc3720_decrementing)
{
    uint8_t b[32];
    for (int i = 0; i < 32; i++) b[i] = (uint8_t)(31 - i);
    ck_assert_uint_eq(hm_crc32c(0, b, sizeof(b)), 0x113FDB5Cu);
}
END_TEST

/* Feeding a buffer in two pieces at every split point gives the CRC of the
 * whole. */
START_TEST(test_chaining)
{
    uint8_t b[200];
    for (size_t i = 0; i < sizeof(b); i++) b[i] = (uint8_t)(i * 7 + 3);
    uint32_t whole = hm_crc32c(0, b, sizeof(b));
    for (size_t split = 0; split <= sizeof(b); split++) {
        uint32_t c = hm_crc32c(hm_crc32c(0, b, split), b + split, sizeof(b) - split);
        ck_assert_uint_eq(c, whole);
    }
}
END_TEST

/* A single flipped bit changes the CRC. */
START_TEST(test_bit_flip_detected)
{
    uint8_t b[64];
    memset(b, 0x5a, sizeof(b));
    uint32_t ref = hm_crc32c(0, b, sizeof(b));
    for (size_t bit = 0; bit < sizeof(b) * 8; bit++) {
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_uint_ne(hm_crc32c(0, b, sizeof(b)), ref);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crc");
    TCase *tc = tcase_create("crc32c");
    tcase_add_test(tc, test_check_value);
    tcase_add_test(tc, test_empty);
    tcase_add_test(tc, test_rfc3720_zeros);
    tcase_add_test(tc, test_rfc3720_ones);
    tcase_add_test(tc, test_rfc3720_incrementing);
    tcase_add_test(tc, test_rfc3720_decrementing);
    tcase_add_test(tc, test_chaining);
    tcase_add_test(tc, test_bit_flip_detected);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
