/* test_cluster_identity.c - the root key is the whole key: cluster.pb
 * versions 1 and 2 (common/hm_cluster.c), pinned by
 * tests/golden/cluster_identity_v1.bin and _v2.bin.
 *
 * The fingerprints are computed here with OpenSSL directly from the rule
 * in hm_cluster.h, so the test checks the rule, not the code against
 * itself.  With HM_GOLDEN_UPDATE=1 the golden files are written instead of
 * compared; a change that alters them is a format change. */
#include <check.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hm_cluster.h"
#include "hm_err.h"

#define GOLDEN_CLUSTER_ID "00112233445566778899aabbccddeeff"
#define GOLDEN_SECRET "golden-secret-key"
#define GOLDEN_KEY_ID "golden-access-key"

static hm_env *env;
static char tmp[256];
static char data[300];

static void setup(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/hm-cid-XXXXXX", t != NULL ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(data, sizeof(data), "%s/data", tmp);
    ck_assert_int_eq(mkdir(data, 0700), 0);
    ck_assert_int_eq(hm_env_posix_new(&env), 0);
}

static void teardown(void)
{
    char cmd[512];
    hm_env_posix_free(env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

/* HMAC-SHA256(secret, msg[0..n)). */
static void hmac(const char *secret, const void *msg, size_t n, uint8_t out[32])
{
    unsigned len = 0;
    ck_assert_ptr_nonnull(HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, out, &len));
    ck_assert_uint_eq(len, 32);
}

/* The fixed identity of the golden files; version 2 adds the key id's
 * fingerprint.  Returns the packed bytes (free them). */
static uint8_t *golden_identity(unsigned version, size_t *len)
{
    static uint8_t fp[32], kfp[32];
    char msg[128];
    hmac(GOLDEN_SECRET, GOLDEN_CLUSTER_ID, strlen(GOLDEN_CLUSTER_ID), fp);
    int n = snprintf(msg, sizeof msg, "%s%c%s", GOLDEN_CLUSTER_ID, 0, GOLDEN_KEY_ID);
    hmac(GOLDEN_SECRET, msg, (size_t)n, kfp);
    Hm__ClusterIdentity ci = HM__CLUSTER_IDENTITY__INIT;
    ci.has_format_version = 1;
    ci.format_version = version;
    ci.cluster_id = (char *)GOLDEN_CLUSTER_ID;
    ci.node_name = (char *)"node1";
    ci.listen = (char *)"127.0.0.1:7400";
    ci.has_root_key_fingerprint = 1;
    ci.root_key_fingerprint.data = fp;
    ci.root_key_fingerprint.len = sizeof fp;
    ci.has_created_ms = 1;
    ci.created_ms = 1764806400000; /* 2025-12-04T00:00:00Z */
    ci.has_epoch = 1;
    ci.epoch = 1;
    if (version >= 2) {
        ci.has_root_key_id_fingerprint = 1;
        ci.root_key_id_fingerprint.data = kfp;
        ci.root_key_id_fingerprint.len = sizeof kfp;
    }
    *len = hm__cluster_identity__get_packed_size(&ci);
    uint8_t *buf = malloc(*len);
    ck_assert_ptr_nonnull(buf);
    hm__cluster_identity__pack(&ci, buf);
    return buf;
}

static void golden(const char *name, const uint8_t *buf, size_t len)
{
    const char *gdir = getenv("HM_GOLDEN_DIR");
    ck_assert_msg(gdir != NULL, "HM_GOLDEN_DIR is not set (ctest sets it)");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", gdir, name);
    const char *upd = getenv("HM_GOLDEN_UPDATE");
    if (upd != NULL && strcmp(upd, "1") == 0) {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
        ck_assert_int_eq(fclose(f), 0);
        return;
    }
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "missing golden file %s", path);
    uint8_t want[1024];
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    ck_assert_msg(n == len, "%s: %zu bytes, golden has %zu", name, len, n);
    ck_assert_msg(memcmp(want, buf, len) == 0, "%s differs from the golden bytes", name);
}

static void write_pb(const uint8_t *buf, size_t len)
{
    char p[400];
    snprintf(p, sizeof p, "%s/cluster.pb", data);
    ck_assert_int_eq(hm_env_write_file_atomic(env, p, buf, len), 0);
}

static void read_pb(void **buf, size_t *len)
{
    char p[400];
    snprintf(p, sizeof p, "%s/cluster.pb", data);
    ck_assert_int_eq(hm_env_read_file(env, p, 1 << 20, buf, len), 0);
}

/* Both versions' bytes are pinned. */
START_TEST(test_golden_bytes)
{
    size_t l1, l2;
    uint8_t *v1 = golden_identity(1, &l1), *v2 = golden_identity(2, &l2);
    golden("cluster_identity_v1.bin", v1, l1);
    golden("cluster_identity_v2.bin", v2, l2);
    free(v1);
    free(v2);
}
END_TEST

/* A version-1 data directory (only the secret recorded) still starts with
 * its secret, and gains the access key id's fingerprint: the file becomes
 * exactly the version-2 golden bytes. */
START_TEST(test_v1_upgraded_on_first_check)
{
    size_t l1, l2, got_len;
    uint8_t *v1 = golden_identity(1, &l1), *v2 = golden_identity(2, &l2);
    void *got;
    write_pb(v1, l1);
    ck_assert_int_eq(hm_cluster_check(env, data, GOLDEN_KEY_ID, GOLDEN_SECRET, NULL), 0);
    read_pb(&got, &got_len);
    ck_assert_uint_eq(got_len, l2);
    ck_assert_mem_eq(got, v2, l2);
    free(got);
    /* From now on another key id with the same secret is refused. */
    ck_assert_int_eq(hm_cluster_check(env, data, "another-id", GOLDEN_SECRET, NULL), HM_EPERM);
    ck_assert_int_eq(hm_cluster_check(env, data, GOLDEN_KEY_ID, GOLDEN_SECRET, NULL), 0);
    free(v1);
    free(v2);
}
END_TEST

/* A version-1 directory with the wrong secret is refused and left as it
 * was: nobody without the secret can pin an access key id. */
START_TEST(test_v1_wrong_secret_untouched)
{
    size_t l1, got_len;
    uint8_t *v1 = golden_identity(1, &l1);
    void *got;
    write_pb(v1, l1);
    ck_assert_int_eq(hm_cluster_check(env, data, GOLDEN_KEY_ID, "wrong-secret", NULL), HM_EPERM);
    read_pb(&got, &got_len);
    ck_assert_uint_eq(got_len, l1);
    ck_assert_mem_eq(got, v1, l1);
    free(got);
    free(v1);
}
END_TEST

/* A version-2 identity refuses a changed key id, a changed secret and a
 * key id that is a prefix or extension of the real one. */
START_TEST(test_v2_checks_both_halves)
{
    size_t l2;
    uint8_t *v2 = golden_identity(2, &l2);
    write_pb(v2, l2);
    ck_assert_int_eq(hm_cluster_check(env, data, GOLDEN_KEY_ID, GOLDEN_SECRET, NULL), 0);
    ck_assert_int_eq(hm_cluster_check(env, data, "golden-access-ke", GOLDEN_SECRET, NULL),
                     HM_EPERM);
    ck_assert_int_eq(hm_cluster_check(env, data, "golden-access-keyx", GOLDEN_SECRET, NULL),
                     HM_EPERM);
    ck_assert_int_eq(hm_cluster_check(env, data, GOLDEN_KEY_ID, "golden-secret-kez", NULL),
                     HM_EPERM);
    free(v2);
}
END_TEST

/* A version-2 file without the key id's fingerprint is damaged, and a
 * version past the newest is refused as such. */
START_TEST(test_bad_versions)
{
    size_t l;
    uint8_t *v = golden_identity(2, &l);
    Hm__ClusterIdentity *ci = hm__cluster_identity__unpack(NULL, l, v);
    ck_assert_ptr_nonnull(ci);
    ci->has_root_key_id_fingerprint = 0;
    uint8_t buf[1024];
    size_t n = hm__cluster_identity__pack(ci, buf);
    write_pb(buf, n);
    ck_assert_int_eq(hm_cluster_check(env, data, GOLDEN_KEY_ID, GOLDEN_SECRET, NULL),
                     HM_ECORRUPT);
    ci->has_root_key_id_fingerprint = 1;
    ci->format_version = HM_CLUSTER_FORMAT_VERSION + 1;
    n = hm__cluster_identity__pack(ci, buf);
    write_pb(buf, n);
    ck_assert_int_eq(hm_cluster_check(env, data, GOLDEN_KEY_ID, GOLDEN_SECRET, NULL),
                     HM_EVERSION);
    hm__cluster_identity__free_unpacked(ci, NULL);
    free(v);
}
END_TEST

/* init writes version 2, and a restart with another key id (same secret)
 * is refused by init too. */
START_TEST(test_init_writes_v2)
{
    bool created = false;
    Hm__ClusterIdentity *id = NULL;
    ck_assert_int_eq(hm_cluster_init(env, data, "node1", "l", "id-one", "s3cret-s3cret", &created),
                     0);
    ck_assert(created);
    ck_assert_int_eq(hm_cluster_check(env, data, "id-one", "s3cret-s3cret", &id), 0);
    ck_assert_uint_eq(id->format_version, 2);
    ck_assert(id->has_root_key_id_fingerprint);
    hm__cluster_identity__free_unpacked(id, NULL);
    ck_assert_int_eq(hm_cluster_init(env, data, "node1", "l", "id-two", "s3cret-s3cret", &created),
                     HM_EPERM);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cluster_identity");
    TCase *tc = tcase_create("identity");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_golden_bytes);
    tcase_add_test(tc, test_v1_upgraded_on_first_check);
    tcase_add_test(tc, test_v1_wrong_secret_untouched);
    tcase_add_test(tc, test_v2_checks_both_halves);
    tcase_add_test(tc, test_bad_versions);
    tcase_add_test(tc, test_init_writes_v2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
