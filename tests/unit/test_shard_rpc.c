/* test_shard_rpc.c - the shard service and its RPC client over real mutual
 * TLS on loopback: the same put/get/stat/delete/info as the local binding,
 * a multi-frame shard, corruption reported mid-stream, and clients that
 * vanish mid-put.
 */
#include <check.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "test_disk_util.h"
#include "hm_cluster.h"
#include "hm_crc.h"
#include "hm_env.h"
#include "hm_err.h"
#include "hm_rpc.h"
#include "hm_shard_format.h"
#include "hm_shard_store.h"

#define B HM_SHARD_BLOCK_BYTES
#define BIG (5u << 20)

static hm_env *env;
static char root[256];
static char disk[300];
static hm_tls *srv_tls, *cli_tls;
static hm_shard_store *store;
static hm_rpc_server *srv;
static hm_shard_api *api;

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void path_in(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", root, name);
}

static void setup(void)
{
    char ca[400], cakey[400], scert[400], skey[400], ccert[400], ckey[400], addr[64];
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof root, "%s/hm_shard_rpc_XXXXXX", tmp != NULL ? tmp : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(root));
    snprintf(disk, sizeof disk, "%s/disk0", root);
    ck_assert_int_eq(hm_env_posix_new(&env), 0);

    path_in(ca, sizeof ca, "ca.crt");
    path_in(cakey, sizeof cakey, "ca.key");
    path_in(scert, sizeof scert, "shard.crt");
    path_in(skey, sizeof skey, "shard.key");
    path_in(ccert, sizeof ccert, "gw.crt");
    path_in(ckey, sizeof ckey, "gw.key");
    int64_t now = (int64_t)time(NULL);
    ck_assert_int_eq(hm_pki_make_ca(ca, cakey, "test-ca", now - 60, now + 3600), 0);
    ck_assert_int_eq(hm_pki_make_node_cert(ca, cakey, "shard-1", now - 60, now + 3600,
                                           scert, skey), 0);
    ck_assert_int_eq(hm_pki_make_node_cert(ca, cakey, "gw-1", now - 60, now + 3600,
                                           ccert, ckey), 0);
    ck_assert_int_eq(hm_tls_new(&srv_tls, ca, scert, skey), 0);
    ck_assert_int_eq(hm_tls_new(&cli_tls, ca, ccert, ckey), 0);

    ck_assert_int_eq(test_store_open(&store, env, disk), 0);
    ck_assert_int_eq(hm_rpc_server_start(&srv, srv_tls, "127.0.0.1:0",
                                         hm_shard_service_handle, store), 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", hm_rpc_server_bound_port(srv));
    ck_assert_int_eq(hm_shard_api_rpc_new(&api, cli_tls, addr), 0);
}

static void teardown(void)
{
    api->ops->free(api);
    hm_rpc_server_stop(srv);
    hm_shard_store_close(store);
    hm_tls_free(cli_tls);
    hm_tls_free(srv_tls);
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    hm_env_posix_free(env);
}

static void blob_of(uint8_t id[HM_BLOB_ID_BYTES], unsigned n)
{
    for (unsigned i = 0; i < HM_BLOB_ID_BYTES; i++) id[i] = (uint8_t)(n * 53 + i * 5 + 1);
}

static uint8_t *pattern(size_t len, unsigned seed)
{
    uint8_t *p = malloc(len + 1);
    ck_assert_ptr_nonnull(p);
    uint32_t x = seed * 2246822519u + 7;
    for (size_t i = 0; i < len; i++) {
        x = x * 1664525u + 1013904223u;
        p[i] = (uint8_t)(x >> 24);
    }
    return p;
}

static void header_of(Hm__ShardHeader *h, uint8_t id[HM_BLOB_ID_BYTES], uint32_t index)
{
    hm__shard_header__init(h);
    h->has_blob_id = true;
    h->blob_id.data = id;
    h->blob_id.len = HM_BLOB_ID_BYTES;
    h->has_shard_index = true;
    h->shard_index = index;
    h->bucket = "rpc";
    h->key = "k";
}

/* Put len bytes through the api in writes of chunk bytes; returns commit's
 * result. */
static int rpc_put(unsigned blob, uint32_t index, const uint8_t *data, size_t len,
                   size_t chunk)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h;
    hm_shard_put *p = NULL;
    uint64_t got_len = 0;
    uint32_t got_crc = 0;
    blob_of(id, blob);
    header_of(&h, id, index);
    int rc = api->ops->put_open(api, &h, &p);
    if (rc != 0) return rc;
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        rc = api->ops->put_write(p, data + off, n);
        if (rc != 0) {
            api->ops->put_abort(p);
            return rc;
        }
    }
    rc = api->ops->put_commit(p, &got_len, &got_crc);
    if (rc == 0) {
        ck_assert_uint_eq(got_len, len);
        ck_assert_uint_eq(got_crc, hm_crc32c(0, data, len));
    }
    return rc;
}

/* Read a range through the api in reads of cap bytes into a new buffer. */
static int rpc_get(unsigned blob, uint32_t index, uint64_t off, uint64_t len, size_t cap,
                   uint8_t **out, uint64_t *total)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    hm_shard_get *g = NULL;
    Hm__ShardHeader *h = NULL;
    blob_of(id, blob);
    int rc = api->ops->get_open(api, id, index, off, len, &g, total, &h);
    if (rc != 0) return rc;
    ck_assert_uint_eq(h->shard_index, index);
    hm__shard_header__free_unpacked(h, NULL);
    uint8_t *buf = malloc(*total + 1);
    size_t done = 0;
    for (;;) {
        size_t got = 0;
        rc = api->ops->get_read(g, buf + done, cap, &got);
        if (rc != 0 || got == 0) break;
        done += got;
        ck_assert_uint_le(done, *total);
        if (*total + 1 - done < cap) cap = *total + 1 - done;
    }
    api->ops->get_close(g);
    if (rc == 0) ck_assert_uint_eq(done, *total);
    *out = buf;
    return rc;
}

static int tmp_count_cb(void *arg, const char *name, bool is_dir)
{
    (void)name;
    (void)is_dir;
    (*(int *)arg)++;
    return 0;
}

static int tmp_entries(void)
{
    char path[400];
    int n = 0;
    snprintf(path, sizeof path, "%s/tmp", disk);
    ck_assert_int_eq(env->ops->list_dir(env, path, tmp_count_cb, &n), 0);
    return n;
}

/* Wait (up to 10 s) for the server to drop an abandoned put. */
static void wait_tmp_empty(void)
{
    for (int i = 0; i < 1000 && tmp_entries() != 0; i++) usleep(10000);
    ck_assert_int_eq(tmp_entries(), 0);
}

static uint64_t files_seen;

static int files_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)path;
    (void)sb;
    (void)ftw;
    if (flag == FTW_F) files_seen++;
    return 0;
}

/* Shard files on the disk, counted by walking it (the store keeps no
 * count). */
static uint64_t shards_on_disk(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/shards", disk);
    files_seen = 0;
    ck_assert_int_eq(nftw(path, files_cb, 16, FTW_PHYS), 0);
    return files_seen;
}

/* Shards of 0, 1, block+1 bytes and 5 MiB (several frames each way) round
 * trip through the RPC binding, whole and in ranges. */
START_TEST(test_put_get)
{
    const size_t sizes[] = {0, 1, B + 1, BIG};
    for (unsigned i = 0; i < 4; i++) {
        uint8_t *data = pattern(sizes[i], i);
        ck_assert_int_eq(rpc_put(i, 0, data, sizes[i], 300000), 0);
        uint8_t *back = NULL;
        uint64_t total = 0;
        ck_assert_int_eq(rpc_get(i, 0, 0, UINT64_MAX, 1u << 20, &back, &total), 0);
        ck_assert_uint_eq(total, sizes[i]);
        ck_assert(memcmp(back, data, sizes[i]) == 0);
        free(back);
        free(data);
    }
    uint8_t *data = pattern(BIG, 3);
    uint8_t *back = NULL;
    uint64_t total = 0;
    /* A range across frame and block boundaries, read in odd sizes. */
    ck_assert_int_eq(rpc_get(3, 0, B - 3, (2u << 20) + 11, 77777, &back, &total), 0);
    ck_assert_uint_eq(total, (2u << 20) + 11);
    ck_assert(memcmp(back, data + B - 3, total) == 0);
    free(back);
    ck_assert_int_eq(rpc_get(3, 0, BIG + 5, 10, 100, &back, &total), 0);
    ck_assert_uint_eq(total, 0);
    free(back);
    /* One write larger than a frame is split by the client. */
    ck_assert_int_eq(rpc_put(4, 1, data, BIG, BIG), 0);
    ck_assert_int_eq(rpc_get(4, 1, 0, UINT64_MAX, BIG, &back, &total), 0);
    ck_assert_uint_eq(total, BIG);
    ck_assert(memcmp(back, data, BIG) == 0);
    free(back);
    free(data);
    ck_assert_uint_eq(shards_on_disk(), 5);
}
END_TEST

/* Stat, info and delete answer as the local store does, including
 * HM_ENOENT for what is absent. */
START_TEST(test_stat_delete_info)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader *h = NULL;
    Hm__ShardInfoResp *r = NULL;
    uint8_t *data = pattern(1000, 9);
    ck_assert_int_eq(rpc_put(9, 2, data, 1000, 1000), 0);
    blob_of(id, 9);
    ck_assert_int_eq(api->ops->stat(api, id, 2, &h), 0);
    ck_assert_uint_eq(h->data_length, 1000);
    ck_assert_uint_eq(h->data_crc32c, hm_crc32c(0, data, 1000));
    ck_assert_str_eq(h->bucket, "rpc");
    hm__shard_header__free_unpacked(h, NULL);
    ck_assert_int_eq(api->ops->info(api, &r), 0);
    ck_assert_str_eq(r->disk_id, hm_shard_store_disk_id(store));
    ck_assert_ptr_nonnull(r->path); /* the gateway records it in the disk registry */
    ck_assert_str_eq(r->path, disk);
    ck_assert(!r->has_shard_count); /* not counted: see hm_shard_store_info */
    ck_assert_uint_gt(r->bytes_total, 0);
    hm__shard_info_resp__free_unpacked(r, NULL);
    ck_assert_int_eq(api->ops->del(api, id, 2), 0);
    ck_assert_int_eq(api->ops->del(api, id, 2), HM_ENOENT);
    ck_assert_int_eq(api->ops->stat(api, id, 2, &h), HM_ENOENT);
    uint8_t *back = NULL;
    uint64_t total = 0;
    ck_assert_int_eq(rpc_get(9, 2, 0, UINT64_MAX, 100, &back, &total), HM_ENOENT);
    ck_assert_uint_eq(shards_on_disk(), 0);
    /* The api still works after the errors. */
    ck_assert_int_eq(rpc_put(9, 3, data, 10, 10), 0);
    ck_assert_uint_eq(shards_on_disk(), 1);
    free(data);
}
END_TEST

/* A header without a proper blob id is refused before anything is sent. */
START_TEST(test_bad_header)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h;
    hm_shard_put *p = NULL;
    blob_of(id, 1);
    header_of(&h, id, 0);
    h.blob_id.len = 3;
    ck_assert_int_eq(api->ops->put_open(api, &h, &p), HM_EINVAL);
}
END_TEST

/* A put the server refuses (its header is too big) fails at commit with
 * the server's error code and leaves nothing on the disk. */
START_TEST(test_server_refuses_put)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h, *st = NULL;
    hm_shard_put *p = NULL;
    char *key = malloc(HM_SHARD_HEADER_BYTES_MAX + 1);
    memset(key, 'q', HM_SHARD_HEADER_BYTES_MAX);
    key[HM_SHARD_HEADER_BYTES_MAX] = '\0';
    blob_of(id, 2);
    header_of(&h, id, 0);
    h.key = key;
    uint8_t data[100] = {1};
    int rc = api->ops->put_open(api, &h, &p);
    if (rc == 0) {
        rc = api->ops->put_write(p, data, sizeof data);
        if (rc == 0) rc = api->ops->put_commit(p, NULL, NULL);
        else api->ops->put_abort(p);
    }
    ck_assert_int_eq(rc, HM_ETOOBIG);
    ck_assert_int_eq(api->ops->stat(api, id, 0, &st), HM_ENOENT);
    wait_tmp_empty();
    free(key);
}
END_TEST

/* A refused put far longer than the server will drain fails too (the
 * server gives up on the connection), leaves nothing, and the api goes on
 * working on a fresh connection. */
START_TEST(test_server_refuses_long_put)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h, *st = NULL;
    hm_shard_put *p = NULL;
    char *key = malloc(HM_SHARD_HEADER_BYTES_MAX + 1);
    memset(key, 'q', HM_SHARD_HEADER_BYTES_MAX);
    key[HM_SHARD_HEADER_BYTES_MAX] = '\0';
    blob_of(id, 3);
    header_of(&h, id, 0);
    h.key = key;
    uint8_t *data = pattern(1u << 20, 3);
    int rc = api->ops->put_open(api, &h, &p);
    for (int i = 0; rc == 0 && i < 16; i++) rc = api->ops->put_write(p, data, 1u << 20);
    if (rc == 0) rc = api->ops->put_commit(p, NULL, NULL);
    else api->ops->put_abort(p);
    ck_assert_int_ne(rc, 0);
    ck_assert_int_eq(api->ops->stat(api, id, 0, &st), HM_ENOENT);
    wait_tmp_empty();
    ck_assert_int_eq(rpc_put(3, 1, data, 1000, 1000), 0);
    ck_assert_uint_eq(shards_on_disk(), 1);
    free(data);
    free(key);
}
END_TEST

/* A client that aborts (disconnects) mid-put leaves nothing: no shard, no
 * temporary file, the count unchanged. */
START_TEST(test_disconnect_mid_put)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h, *st = NULL;
    hm_shard_put *p = NULL;
    uint8_t *data = pattern(3u << 20, 5);
    blob_of(id, 5);
    header_of(&h, id, 1);
    ck_assert_int_eq(api->ops->put_open(api, &h, &p), 0);
    ck_assert_int_eq(api->ops->put_write(p, data, 3u << 20), 0);
    /* The server has the put open: its temporary file exists. */
    for (int i = 0; i < 1000 && tmp_entries() == 0; i++) usleep(10000);
    ck_assert_int_eq(tmp_entries(), 1);
    api->ops->put_abort(p);
    wait_tmp_empty();
    ck_assert_int_eq(api->ops->stat(api, id, 1, &st), HM_ENOENT);
    ck_assert_uint_eq(shards_on_disk(), 0);
    free(data);
}
END_TEST

/* A raw connection that sends a put request and some data, then closes
 * without the final frame, leaves nothing either. */
START_TEST(test_raw_disconnect)
{
    char addr[64];
    hm_rpc_conn *c = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h, *st = NULL;
    blob_of(id, 6);
    header_of(&h, id, 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", hm_rpc_server_bound_port(srv));
    ck_assert_int_eq(hm_rpc_conn_connect(cli_tls, addr, 5000, &c), 0);
    Hm__ShardPutReq req = HM__SHARD_PUT_REQ__INIT;
    req.has_format_version = true;
    req.format_version = HM_FORMAT_VERSION;
    req.header = &h;
    ck_assert_int_eq(hm_rpc_send(c, HM__MSG_TYPE__MSG_SHARD_PUT_REQ, 7, HM_FRAME_F_MORE,
                                 &req.base, NULL, 0), 0);
    uint8_t chunk[4096] = {9};
    for (int i = 0; i < 40; i++) {
        ck_assert_int_eq(hm_rpc_send(c, HM__MSG_TYPE__MSG_DATA, 7, HM_FRAME_F_MORE, NULL,
                                     chunk, sizeof chunk), 0);
    }
    for (int i = 0; i < 1000 && tmp_entries() == 0; i++) usleep(10000);
    hm_rpc_conn_close(c);
    wait_tmp_empty();
    ck_assert_int_eq(api->ops->stat(api, id, 0, &st), HM_ENOENT);
}
END_TEST

/* A frame of another stream in the middle of a put is a protocol error:
 * the put is dropped and the server says why. */
START_TEST(test_put_out_of_step)
{
    char addr[64];
    hm_rpc_conn *c = NULL;
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h, *st = NULL;
    hm_frame f;
    blob_of(id, 8);
    header_of(&h, id, 0);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", hm_rpc_server_bound_port(srv));
    ck_assert_int_eq(hm_rpc_conn_connect(cli_tls, addr, 5000, &c), 0);
    Hm__ShardPutReq req = HM__SHARD_PUT_REQ__INIT;
    req.has_format_version = true;
    req.format_version = HM_FORMAT_VERSION;
    req.header = &h;
    ck_assert_int_eq(hm_rpc_send(c, HM__MSG_TYPE__MSG_SHARD_PUT_REQ, 7, HM_FRAME_F_MORE,
                                 &req.base, NULL, 0), 0);
    ck_assert_int_eq(hm_rpc_send(c, HM__MSG_TYPE__MSG_DATA, 8, 0, NULL, "x", 1), 0);
    hm_rpc_set_timeout(c, 5000);
    ck_assert_int_eq(hm_rpc_recv(c, &f), 0);
    ck_assert_uint_eq(f.hdr.type, HM__MSG_TYPE__MSG_ERROR);
    Hm__RpcError *e = NULL;
    ck_assert_int_eq(hm_rpc_unpack(&f, &hm__rpc_error__descriptor, (ProtobufCMessage **)&e),
                     0);
    ck_assert_int_eq(e->code, HM_EPROTO);
    hm__rpc_error__free_unpacked(e, NULL);
    hm_rpc_conn_close(c);
    wait_tmp_empty();
    ck_assert_int_eq(api->ops->stat(api, id, 0, &st), HM_ENOENT);
}
END_TEST

/* A flipped bit deep in a 5 MiB shard: the client gets every byte before
 * the bad block, then HM_ECORRUPT from the error frame in the stream, and
 * the api keeps working. */
START_TEST(test_corruption_mid_stream)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    char path[512];
    uint8_t *data = pattern(BIG, 11);
    ck_assert_int_eq(rpc_put(11, 0, data, BIG, 1u << 20), 0);
    blob_of(id, 11);
    ck_assert_int_eq(hm_shard_store_shard_path(store, id, 0, path, sizeof path), 0);
    const uint64_t bad_block = 40; /* in the third frame */
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    long off = (long)(HM_SHARD_DATA_OFFSET + bad_block * B + 99);
    fseek(f, off, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(ch ^ 0x40, f);
    fclose(f);

    hm_shard_get *g = NULL;
    uint64_t total = 0;
    ck_assert_int_eq(api->ops->get_open(api, id, 0, 0, UINT64_MAX, &g, &total, NULL), 0);
    ck_assert_uint_eq(total, BIG);
    uint8_t *buf = malloc(BIG);
    size_t done = 0, got = 0;
    int rc = 0;
    for (;;) {
        rc = api->ops->get_read(g, buf + done, BIG - done, &got);
        if (rc != 0 || got == 0) break;
        done += got;
    }
    api->ops->get_close(g);
    ck_assert_int_eq(rc, HM_ECORRUPT);
    ck_assert_uint_le(done, bad_block * B);
    ck_assert(memcmp(buf, data, done) == 0);
    /* Whole frames before the bad one arrived. */
    ck_assert_uint_ge(done, 2u << 20);
    uint8_t *back = NULL;
    ck_assert_int_eq(rpc_get(11, 0, 0, B, B, &back, &total), 0);
    ck_assert(memcmp(back, data, B) == 0);
    free(back);
    free(buf);
    free(data);
}
END_TEST

/* A get closed before its end does not confuse the next call on the api. */
START_TEST(test_get_closed_early)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    uint8_t *data = pattern(BIG, 12);
    ck_assert_int_eq(rpc_put(12, 0, data, BIG, 1u << 20), 0);
    blob_of(id, 12);
    hm_shard_get *g = NULL;
    uint64_t total = 0;
    uint8_t buf[1000];
    size_t got = 0;
    ck_assert_int_eq(api->ops->get_open(api, id, 0, 0, UINT64_MAX, &g, &total, NULL), 0);
    ck_assert_int_eq(api->ops->get_read(g, buf, sizeof buf, &got), 0);
    ck_assert_uint_eq(got, sizeof buf);
    api->ops->get_close(g);
    ck_assert_uint_eq(shards_on_disk(), 1);
    uint8_t *back = NULL;
    ck_assert_int_eq(rpc_get(12, 0, 1000, 5000, 5000, &back, &total), 0);
    ck_assert(memcmp(back, data + 1000, 5000) == 0);
    free(back);
    free(data);
}
END_TEST

/* The seal travels on the put's last frame: the header on disk then holds
 * the sealed ETag, checksum and commit time; a seal past its bounds fails
 * the put and leaves nothing behind. */
START_TEST(test_put_seal)
{
    uint8_t id[HM_BLOB_ID_BYTES];
    Hm__ShardHeader h;
    hm_shard_put *p = NULL;
    uint8_t *data = pattern(70000, 21);
    blob_of(id, 77);
    header_of(&h, id, 0);
    ck_assert_int_eq(api->ops->put_open(api, &h, &p), 0);
    ck_assert_int_eq(api->ops->put_write(p, data, 70000), 0);
    Hm__ShardHeader seal = HM__SHARD_HEADER__INIT;
    seal.etag = "0123456789abcdef0123456789abcdef";
    Hm__Checksum ck = HM__CHECKSUM__INIT;
    uint8_t v[4] = {1, 2, 3, 4};
    ck.algorithm = "CRC32";
    ck.has_value = true;
    ck.value.data = v;
    ck.value.len = sizeof v;
    Hm__Checksum *cks[1] = {&ck};
    seal.n_checksums = 1;
    seal.checksums = cks;
    seal.has_committed_ms = true;
    seal.committed_ms = 1234567;
    ck_assert_int_eq(api->ops->put_seal(p, &seal), 0);
    ck_assert_int_eq(api->ops->put_commit(p, NULL, NULL), 0);
    Hm__ShardHeader *got = NULL;
    ck_assert_int_eq(api->ops->stat(api, id, 0, &got), 0);
    ck_assert_str_eq(got->etag, "0123456789abcdef0123456789abcdef");
    ck_assert_uint_eq(got->n_checksums, 1);
    ck_assert_str_eq(got->checksums[0]->algorithm, "CRC32");
    ck_assert_int_eq(got->committed_ms, 1234567);
    ck_assert_str_eq(got->key, "k");
    hm__shard_header__free_unpacked(got, NULL);

    char big[HM_SHARD_SEAL_BYTES_MAX + 100];
    memset(big, 'e', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    seal.etag = big;
    blob_of(id, 78);
    header_of(&h, id, 0);
    ck_assert_int_eq(api->ops->put_open(api, &h, &p), 0);
    ck_assert_int_eq(api->ops->put_write(p, data, 100), 0);
    ck_assert_int_eq(api->ops->put_seal(p, &seal), HM_ETOOBIG);
    api->ops->put_abort(p);
    ck_assert_int_eq(api->ops->stat(api, id, 0, &got), HM_ENOENT);
    free(data);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("shard_rpc");
    TCase *tc = tcase_create("rpc");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_put_get);
    tcase_add_test(tc, test_put_seal);
    tcase_add_test(tc, test_stat_delete_info);
    tcase_add_test(tc, test_bad_header);
    tcase_add_test(tc, test_server_refuses_put);
    tcase_add_test(tc, test_server_refuses_long_put);
    tcase_add_test(tc, test_disconnect_mid_put);
    tcase_add_test(tc, test_raw_disconnect);
    tcase_add_test(tc, test_put_out_of_step);
    tcase_add_test(tc, test_corruption_mid_stream);
    tcase_add_test(tc, test_get_closed_early);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
