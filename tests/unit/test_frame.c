/* test_frame.c - the RPC frame header: round trip, refusals, golden bytes.
 *
 * The golden file tests/golden/rpc_frame_v1.bin pins the 32 bytes of one
 * fixed header of wire version 1; any change to the layout, the byte order
 * or the CRC breaks it.  HM_GOLDEN_UPDATE=1 rewrites it (only do that for a
 * new wire version, never to make this test pass).
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_crc.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_rpc.h"

static const hm_frame_hdr golden_hdr = {
    .type = 22, /* MSG_SHARD_PUT_REQ */
    .req_id = 0x0102030405060708ull,
    .flags = HM_FRAME_F_MORE,
    .proto_len = 0x1234,
    .bulk_len = 0x10000,
};

/* Re-seal a header whose bytes the test edited, so only the edit is wrong. */
static void reseal(uint8_t b[32])
{
    uint32_t crc = hm_crc32c(0, b, 28);
    for (int i = 0; i < 4; i++) b[28 + i] = (uint8_t)(crc >> (8 * i));
}

/* Encoding then decoding gives back every field. */
START_TEST(test_round_trip)
{
    uint8_t b[32];
    hm_frame_hdr out;
    hm_frame_hdr_encode(&golden_hdr, b);
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), 0);
    ck_assert_uint_eq(out.type, golden_hdr.type);
    ck_assert_uint_eq(out.req_id, golden_hdr.req_id);
    ck_assert_uint_eq(out.flags, golden_hdr.flags);
    ck_assert_uint_eq(out.proto_len, golden_hdr.proto_len);
    ck_assert_uint_eq(out.bulk_len, golden_hdr.bulk_len);
}
END_TEST

/* The limits themselves are accepted: proto and bulk at exactly the max. */
START_TEST(test_limits_accepted)
{
    hm_frame_hdr h = {.type = 3, .req_id = UINT64_MAX, .flags = 0,
                      .proto_len = HM_RPC_PROTO_BYTES_MAX,
                      .bulk_len = HM_RPC_BULK_BYTES_MAX};
    uint8_t b[32];
    hm_frame_hdr out;
    hm_frame_hdr_encode(&h, b);
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), 0);
    ck_assert_uint_eq(out.req_id, UINT64_MAX);
    ck_assert_uint_eq(out.proto_len, HM_RPC_PROTO_BYTES_MAX);
}
END_TEST

/* The header is little-endian at the documented offsets. */
START_TEST(test_layout)
{
    uint8_t b[32];
    hm_frame_hdr_encode(&golden_hdr, b);
    static const uint8_t want[28] = {
        0x48, 0x4d, 0x52, 0x50, /* "HMRP" */
        0x01, 0x00,             /* wire version */
        0x16, 0x00,             /* type 22 */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
        0x01, 0x00, 0x00, 0x00, /* MORE */
        0x34, 0x12, 0x00, 0x00, /* proto_len */
        0x00, 0x00, 0x01, 0x00, /* bulk_len */
    };
    ck_assert_mem_eq(b, want, sizeof(want));
    uint32_t crc = hm_crc32c(0, b, 28);
    ck_assert_uint_eq(b[28] | (b[29] << 8) | (b[30] << 16) | ((uint32_t)b[31] << 24), crc);
}
END_TEST

/* A wrong magic is refused as malformed. */
START_TEST(test_bad_magic)
{
    uint8_t b[32];
    hm_frame_hdr out;
    hm_frame_hdr_encode(&golden_hdr, b);
    b[0] ^= 0x20;
    reseal(b);
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), HM_EPROTO);
}
END_TEST

/* A wire version we do not speak is refused as HM_EVERSION. */
START_TEST(test_bad_version)
{
    uint8_t b[32];
    hm_frame_hdr out;
    hm_frame_hdr_encode(&golden_hdr, b);
    b[4] = 2;
    reseal(b);
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), HM_EVERSION);
    b[4] = 0;
    reseal(b);
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), HM_EVERSION);
}
END_TEST

/* Any single flipped bit in the first 28 bytes fails the CRC (or the magic). */
START_TEST(test_bad_crc)
{
    uint8_t b[32];
    hm_frame_hdr out;
    hm_frame_hdr_encode(&golden_hdr, b);
    for (int bit = 0; bit < 32 * 8; bit++) {
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_int_eq(hm_frame_hdr_decode(b, &out), HM_EPROTO);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), 0);
}
END_TEST

/* A protobuf length one past the limit is refused. */
START_TEST(test_proto_too_long)
{
    hm_frame_hdr h = golden_hdr, out;
    uint8_t b[32];
    h.proto_len = HM_RPC_PROTO_BYTES_MAX + 1;
    hm_frame_hdr_encode(&h, b);
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), HM_EPROTO);
    h.proto_len = UINT32_MAX;
    hm_frame_hdr_encode(&h, b);
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), HM_EPROTO);
}
END_TEST

/* A bulk length one past the limit is refused. */
START_TEST(test_bulk_too_long)
{
    hm_frame_hdr h = golden_hdr, out;
    uint8_t b[32];
    h.bulk_len = HM_RPC_BULK_BYTES_MAX + 1;
    hm_frame_hdr_encode(&h, b);
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), HM_EPROTO);
    h.bulk_len = UINT32_MAX;
    hm_frame_hdr_encode(&h, b);
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), HM_EPROTO);
}
END_TEST

/* Every flag bit this version does not define is refused, one by one. */
START_TEST(test_unknown_flags)
{
    for (int bit = 1; bit < 32; bit++) {
        hm_frame_hdr h = golden_hdr, out;
        uint8_t b[32];
        h.flags = 1u << bit;
        hm_frame_hdr_encode(&h, b);
        ck_assert_int_eq(hm_frame_hdr_decode(b, &out), HM_EPROTO);
    }
}
END_TEST

/* A failed decode leaves the output untouched. */
START_TEST(test_failed_decode_no_output)
{
    uint8_t b[32];
    hm_frame_hdr out = {.type = 77};
    hm_frame_hdr_encode(&golden_hdr, b);
    b[31] ^= 1;
    ck_assert_int_eq(hm_frame_hdr_decode(b, &out), HM_EPROTO);
    ck_assert_uint_eq(out.type, 77);
}
END_TEST

/* The fixed header encodes to exactly the bytes in rpc_frame_v1.bin. */
START_TEST(test_golden)
{
    const char *dir = getenv("HM_GOLDEN_DIR");
    ck_assert_msg(dir != NULL, "HM_GOLDEN_DIR is not set (run through ctest)");
    char path[4096];
    snprintf(path, sizeof(path), "%s/rpc_frame_v1.bin", dir);
    uint8_t b[32];
    hm_frame_hdr_encode(&golden_hdr, b);

    const char *update = getenv("HM_GOLDEN_UPDATE");
    if (update != NULL && strcmp(update, "1") == 0) {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(b, 1, sizeof(b), f), sizeof(b));
        ck_assert_int_eq(fclose(f), 0);
    }
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "missing golden file %s", path);
    uint8_t g[33];
    size_t n = fread(g, 1, sizeof(g), f);
    fclose(f);
    ck_assert_uint_eq(n, 32);
    ck_assert_mem_eq(g, b, 32);
    hm_frame_hdr out;
    ck_assert_int_eq(hm_frame_hdr_decode(g, &out), 0);
    ck_assert_uint_eq(out.req_id, golden_hdr.req_id);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("frame");
    TCase *tc = tcase_create("header");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_limits_accepted);
    tcase_add_test(tc, test_layout);
    tcase_add_test(tc, test_bad_magic);
    tcase_add_test(tc, test_bad_version);
    tcase_add_test(tc, test_bad_crc);
    tcase_add_test(tc, test_proto_too_long);
    tcase_add_test(tc, test_bulk_too_long);
    tcase_add_test(tc, test_unknown_flags);
    tcase_add_test(tc, test_failed_decode_no_output);
    tcase_add_test(tc, test_golden);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
