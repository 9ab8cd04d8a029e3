/* test_meta_rpc.c - the metadata RPC binding (hamster-meta/hm_meta_service.c
 * and hm_meta_client.c) over real mutual-TLS sockets on loopback: answers
 * match the in-process binding, and bad frames get errors. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_cluster.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_node.h"
#include "hm_rpc.h"
#include "hm_rpc.pb-c.h"
#include "test_meta_util.h"

static char *dir;
static hm_env *env;
static hm_tls *tls;
static hm_meta_node *node;
static hm_rpc_server *srv;
static char addr[64];

static void setup(void)
{
    dir = tmu_mkdtemp();
    env = tmu_env();
    char ca[600], cak[600], crt[600], key[600], meta[600];
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(cak, sizeof cak, "%s/ca.key", dir);
    snprintf(crt, sizeof crt, "%s/node.crt", dir);
    snprintf(key, sizeof key, "%s/node.key", dir);
    snprintf(meta, sizeof meta, "%s/meta", dir);
    int64_t now = hm_wall_ms(env) / 1000;
    ck_assert_int_eq(hm_pki_make_ca(ca, cak, "test-ca", now - 60, now + 3600), 0);
    ck_assert_int_eq(hm_pki_make_node_cert(ca, cak, "node1", now - 60, now + 3600, crt, key), 0);
    ck_assert_int_eq(hm_tls_new(&tls, ca, crt, key), 0);
    ck_assert_int_eq(hm_meta_node_open(&node, env, meta), 0);
    ck_assert_int_eq(hm_rpc_server_start(&srv, tls, "127.0.0.1:0", hm_meta_service_handle, node), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", hm_rpc_server_bound_port(srv));
}

static void teardown(void)
{
    hm_rpc_server_stop(srv);
    hm_meta_node_close(node);
    hm_tls_free(tls);
    hm_env_posix_free(env);
    tmu_rmdir(dir);
}

static Hm__MetaResponse *must_call(hm_meta_api *api, Hm__MetaRequest *q)
{
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_meta_call(api, q, &r), 0);
    return r;
}

/* The same requests through the RPC and the local binding give the same
 * packed responses (modulo the log index each command was applied at). */
START_TEST(test_rpc_matches_local)
{
    hm_meta_api *rpc = NULL, *local = NULL;
    ck_assert_int_eq(hm_meta_api_rpc_new(&rpc, tls, addr), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&local, node), 0);

    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.name = (char *)"bkt";
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &b;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    c.bucket_create = &bc;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.has_format_version = true;
    q.format_version = HM_FORMAT_VERSION;
    q.op_case = HM__META_REQUEST__OP_COMMAND;
    q.command = &c;
    Hm__MetaResponse *r = must_call(rpc, &q);
    ck_assert_int_eq(r->err, 0);
    ck_assert_str_eq(r->bucket->name, "bkt");
    hm__meta_response__free_unpacked(r, NULL);
    r = must_call(local, &q);
    ck_assert_int_eq(r->err, HM_EBUCKETEXISTS);
    hm__meta_response__free_unpacked(r, NULL);
    r = must_call(rpc, &q);
    ck_assert_int_eq(r->err, HM_EBUCKETEXISTS);
    ck_assert_str_eq(r->err_msg, hm_err_msg(HM_EBUCKETEXISTS));
    hm__meta_response__free_unpacked(r, NULL);

    Hm__BucketGet g = HM__BUCKET_GET__INIT;
    g.name = (char *)"bkt";
    Hm__MetaRequest gq = HM__META_REQUEST__INIT;
    gq.op_case = HM__META_REQUEST__OP_BUCKET_GET;
    gq.bucket_get = &g;
    Hm__MetaResponse *a = must_call(rpc, &gq), *l = must_call(local, &gq);
    uint8_t ba[512], bl[512];
    size_t na = hm__meta_response__pack(a, ba), nl = hm__meta_response__pack(l, bl);
    ck_assert_uint_eq(na, nl);
    ck_assert_mem_eq(ba, bl, na);
    hm__meta_response__free_unpacked(a, NULL);
    hm__meta_response__free_unpacked(l, NULL);
    rpc->ops->free(rpc);
    local->ops->free(local);
}
END_TEST

/* A frame of a type the service does not serve gets an MSG_ERROR with
 * HM_EPROTO and the connection stays usable. */
START_TEST(test_rpc_bad_frames)
{
    hm_rpc_client *cl = NULL;
    ck_assert_int_eq(hm_rpc_client_new(&cl, tls, addr), 0);
    hm_rpc_conn *conn = NULL;
    ck_assert_int_eq(hm_rpc_client_acquire(cl, 5000, &conn), 0);
    ck_assert_int_eq(hm_rpc_send(conn, HM__MSG_TYPE__MSG_SHARD_INFO_REQ, 7, 0, NULL, NULL, 0), 0);
    hm_frame f;
    ck_assert_int_eq(hm_rpc_recv(conn, &f), 0);
    ck_assert_uint_eq(f.hdr.type, HM__MSG_TYPE__MSG_ERROR);
    ck_assert_uint_eq(f.hdr.req_id, 7);
    ProtobufCMessage *m = NULL;
    ck_assert_int_eq(hm_rpc_unpack(&f, &hm__rpc_error__descriptor, &m), 0);
    ck_assert_int_eq(((Hm__RpcError *)m)->code, HM_EPROTO);
    protobuf_c_message_free_unpacked(m, NULL);

    /* on the same connection: an empty MetaRequest parses and is answered
     * as an unknown request, with the request id echoed */
    Hm__MetaRequest empty = HM__META_REQUEST__INIT;
    ck_assert_int_eq(hm_rpc_send(conn, HM__MSG_TYPE__MSG_META_REQ, 8, 0, &empty.base, NULL, 0), 0);
    ck_assert_int_eq(hm_rpc_recv(conn, &f), 0);
    ck_assert_uint_eq(f.hdr.req_id, 8);
    ck_assert_uint_eq(f.hdr.type, HM__MSG_TYPE__MSG_META_RESP);
    Hm__MetaResponse *r = NULL;
    ck_assert_int_eq(hm_rpc_unpack(&f, &hm__meta_response__descriptor, (ProtobufCMessage **)&r), 0);
    ck_assert_int_eq(r->err, HM_EINVAL);
    hm__meta_response__free_unpacked(r, NULL);
    hm_rpc_client_release(cl, conn, false);
    hm_rpc_client_free(cl);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_rpc");
    TCase *tc = tcase_create("rpc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_rpc_matches_local);
    tcase_add_test(tc, test_rpc_bad_frames);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
