/* test_pki.c - cluster identity and certificates (common/hm_cluster.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "hm_cluster.h"
#include "hm_err.h"

static hm_env *env;
static char tmp[256];
static char data[300];

static void setup(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(tmp, sizeof(tmp), "%s/hm-pki-XXXXXX", t != NULL ? t : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    snprintf(data, sizeof(data), "%s/data", tmp);
    ck_assert_int_eq(hm_env_posix_new(&env), 0);
}

static void teardown(void)
{
    char cmd[512];
    hm_env_posix_free(env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
    ck_assert_int_eq(system(cmd), 0);
}

static int mode_of(const char *rel)
{
    char p[600];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", data, rel);
    if (stat(p, &st) != 0) return -1;
    return (int)(st.st_mode & 0777);
}

static void slurp(const char *rel, void **buf, size_t *len)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/%s", data, rel);
    ck_assert_int_eq(hm_env_read_file(env, p, 1 << 20, buf, len), 0);
}

static X509 *load_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ck_assert_ptr_nonnull(x);
    return x;
}

/* Verify cert against ca for the given purpose; returns the X509 result. */
static int verify(X509 *ca, X509 *cert, int purpose)
{
    X509_STORE *store = X509_STORE_new();
    X509_STORE_add_cert(store, ca);
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    X509_STORE_CTX_init(ctx, store, cert, NULL);
    X509_STORE_CTX_set_purpose(ctx, purpose);
    int ok = X509_verify_cert(ctx);
    int err = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return err;
}

/* init lays out the data directory: keys 0600, directories 0700, and a
 * cluster.pb naming the node. */
START_TEST(test_init_layout_and_modes)
{
    bool created = false;
    ck_assert_int_eq(hm_cluster_init(env, data, "node-1", "127.0.0.1:7000", "root-id", "s3cret",
                                     &created), 0);
    ck_assert(created);
    ck_assert_int_eq(mode_of("."), 0700);
    ck_assert_int_eq(mode_of("tls"), 0700);
    ck_assert_int_eq(mode_of("meta"), 0700);
    ck_assert_int_eq(mode_of("disks"), 0700);
    ck_assert_int_eq(mode_of("disks/disk0"), 0700);
    ck_assert_int_eq(mode_of("tls/ca.key"), 0600);
    ck_assert_int_eq(mode_of("tls/node.key"), 0600);
    ck_assert_int_ge(mode_of("tls/ca.crt"), 0);
    ck_assert_int_ge(mode_of("tls/node.crt"), 0);

    Hm__ClusterIdentity *id = NULL;
    ck_assert_int_eq(hm_cluster_check(env, data, "root-id", "s3cret", &id), 0);
    ck_assert_str_eq(id->node_name, "node-1");
    ck_assert_str_eq(id->listen, "127.0.0.1:7000");
    ck_assert_uint_eq(strlen(id->cluster_id), 32);
    ck_assert_uint_eq(strspn(id->cluster_id, "0123456789abcdef"), 32);
    ck_assert(id->has_format_version && id->format_version == HM_CLUSTER_FORMAT_VERSION);
    hm__cluster_identity__free_unpacked(id, NULL);
}
END_TEST

/* A second init changes nothing: same CA, same node certificate, same
 * identity, and created is false. */
START_TEST(test_init_idempotent)
{
    bool created = false;
    void *ca1, *ca2, *n1, *n2, *pb1, *pb2;
    size_t ca1l, ca2l, n1l, n2l, pb1l, pb2l;
    ck_assert_int_eq(hm_cluster_init(env, data, "node-1", "l", "root-id", "s3cret", &created), 0);
    slurp("tls/ca.crt", &ca1, &ca1l);
    slurp("tls/node.crt", &n1, &n1l);
    slurp("cluster.pb", &pb1, &pb1l);
    ck_assert_int_eq(hm_cluster_init(env, data, "node-1", "l", "root-id", "s3cret", &created), 0);
    ck_assert(!created);
    slurp("tls/ca.crt", &ca2, &ca2l);
    slurp("tls/node.crt", &n2, &n2l);
    slurp("cluster.pb", &pb2, &pb2l);
    ck_assert_uint_eq(ca1l, ca2l);
    ck_assert_mem_eq(ca1, ca2, ca1l);
    ck_assert_uint_eq(n1l, n2l);
    ck_assert_mem_eq(n1, n2, n1l);
    ck_assert_uint_eq(pb1l, pb2l);
    ck_assert_mem_eq(pb1, pb2, pb1l);
    free(ca1); free(ca2); free(n1); free(n2); free(pb1); free(pb2);
}
END_TEST

/* A CA left by an interrupted init (no cluster.pb yet) is kept, not
 * re-minted. */
START_TEST(test_init_keeps_existing_ca)
{
    char crt[600], key[600];
    bool created;
    void *a, *b;
    size_t al, bl;
    ck_assert_int_eq(mkdir(data, 0700), 0);
    snprintf(crt, sizeof(crt), "%s/tls", data);
    ck_assert_int_eq(mkdir(crt, 0700), 0);
    snprintf(crt, sizeof(crt), "%s/tls/ca.crt", data);
    snprintf(key, sizeof(key), "%s/tls/ca.key", data);
    ck_assert_int_eq(hm_pki_make_ca(crt, key, "pre", 0, 4102444800ll), 0);
    slurp("tls/ca.crt", &a, &al);
    ck_assert_int_eq(hm_cluster_init(env, data, "n", "l", "root-id", "s", &created), 0);
    ck_assert(created);
    slurp("tls/ca.crt", &b, &bl);
    ck_assert_uint_eq(al, bl);
    ck_assert_mem_eq(a, b, al);
    free(a);
    free(b);
}
END_TEST

/* A different root secret is refused with HM_EPERM, by check and by init. */
START_TEST(test_wrong_secret_refused)
{
    bool created;
    ck_assert_int_eq(hm_cluster_init(env, data, "node-1", "l", "root-id", "s3cret", &created), 0);
    ck_assert_int_eq(hm_cluster_check(env, data, "root-id", "s3cret", NULL), 0);
    ck_assert_int_eq(hm_cluster_check(env, data, "root-id", "s3creT", NULL), HM_EPERM);
    ck_assert_int_eq(hm_cluster_check(env, data, "root-id", "s3cret ", NULL), HM_EPERM);
    ck_assert_int_eq(hm_cluster_init(env, data, "node-1", "l", "root-id", "other", &created),
                     HM_EPERM);
}
END_TEST

/* check on a directory that was never initialised is HM_ENOENT. */
START_TEST(test_check_uninitialised)
{
    ck_assert_int_eq(hm_cluster_check(env, data, "root-id", "s", NULL), HM_ENOENT);
}
END_TEST

/* Node names that cannot be a DNS name (or would inject into the SAN) are
 * refused. */
START_TEST(test_bad_node_name)
{
    bool created;
    ck_assert_int_eq(hm_cluster_init(env, data, "a,DNS:evil", "l", "root-id", "s", &created),
                     HM_EINVAL);
    ck_assert_int_eq(hm_cluster_init(env, data, "", "l", "root-id", "s", &created), HM_EINVAL);
    ck_assert_int_eq(hm_cluster_init(env, data, "n", "l", "root-id", "", &created), HM_EINVAL);
}
END_TEST

/* The node certificate chains to the CA for both TLS roles, names the node
 * in CN and SAN, and is not a CA; the CA is one.  A certificate from
 * another CA does not verify (the negative control). */
START_TEST(test_node_cert_verifies)
{
    bool created;
    char p[600], q[600], r[600], s[600];
    ck_assert_int_eq(hm_cluster_init(env, data, "node-7", "l", "root-id", "s", &created), 0);
    snprintf(p, sizeof(p), "%s/tls/ca.crt", data);
    snprintf(q, sizeof(q), "%s/tls/node.crt", data);
    X509 *ca = load_cert(p);
    X509 *node = load_cert(q);
    ck_assert_int_eq(verify(ca, node, X509_PURPOSE_SSL_SERVER), X509_V_OK);
    ck_assert_int_eq(verify(ca, node, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    ck_assert_int_eq(X509_check_ca(ca), 1);
    ck_assert_int_eq(X509_check_ca(node), 0);
    ck_assert_int_eq(X509_check_host(node, "node-7", 0, 0, NULL), 1);
    ck_assert_int_ne(X509_check_host(node, "node-8", 0, 0, NULL), 1);
    char cn[64];
    ck_assert_int_gt(X509_NAME_get_text_by_NID(X509_get_subject_name(node),
                                               NID_commonName, cn, sizeof(cn)), 0);
    ck_assert_str_eq(cn, "node-7");
    ck_assert_int_eq(X509_get_version(node), X509_VERSION_3);
    const ASN1_INTEGER *serial = X509_get0_serialNumber(node);
    ck_assert_int_eq(serial->length, 16);

    /* Another CA and a node certificate signed by it. */
    snprintf(p, sizeof(p), "%s/other-ca.crt", tmp);
    snprintf(q, sizeof(q), "%s/other-ca.key", tmp);
    snprintf(r, sizeof(r), "%s/other.crt", tmp);
    snprintf(s, sizeof(s), "%s/other.key", tmp);
    ck_assert_int_eq(hm_pki_make_ca(p, q, "other", 0, 4102444800ll), 0);
    ck_assert_int_eq(hm_pki_make_node_cert(p, q, "node-7", 0, 4102444800ll, r, s), 0);
    X509 *foreign = load_cert(r);
    ck_assert_int_ne(verify(ca, foreign, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
    X509_free(foreign);
    X509_free(ca);
    X509_free(node);
}
END_TEST

/* A node certificate whose validity has ended does not verify. */
START_TEST(test_expired_cert_fails)
{
    char p[600], q[600], r[600], s[600];
    snprintf(p, sizeof(p), "%s/ca.crt", tmp);
    snprintf(q, sizeof(q), "%s/ca.key", tmp);
    snprintf(r, sizeof(r), "%s/n.crt", tmp);
    snprintf(s, sizeof(s), "%s/n.key", tmp);
    ck_assert_int_eq(hm_pki_make_ca(p, q, "ca", 0, 4102444800ll), 0);
    ck_assert_int_eq(hm_pki_make_node_cert(p, q, "n", 1000, 2000, r, s), 0);
    X509 *ca = load_cert(p);
    X509 *n = load_cert(r);
    ck_assert_int_eq(verify(ca, n, X509_PURPOSE_SSL_CLIENT), X509_V_ERR_CERT_HAS_EXPIRED);
    X509_free(ca);
    X509_free(n);
    /* An empty validity window is an argument error. */
    ck_assert_int_eq(hm_pki_make_node_cert(p, q, "n", 2000, 2000, r, s), HM_EINVAL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pki");
    TCase *tc = tcase_create("cluster");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_init_layout_and_modes);
    tcase_add_test(tc, test_init_idempotent);
    tcase_add_test(tc, test_init_keeps_existing_ca);
    tcase_add_test(tc, test_wrong_secret_refused);
    tcase_add_test(tc, test_check_uninitialised);
    tcase_add_test(tc, test_bad_node_name);
    tcase_add_test(tc, test_node_cert_verifies);
    tcase_add_test(tc, test_expired_cert_fails);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
