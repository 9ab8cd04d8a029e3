/* test_blob.c - erasure-coded blobs (hm_blob) over several in-process shard
 * stores on a temporary directory: every profile's round trip at the sizes
 * around stripe boundaries, reads with up to m disks lost (and m+1
 * refused), a corrupt and a swapped shard read through parity, range reads
 * that load only their stripes, the degraded-write floor, a disk that
 * stalls past the deadline, and the planted ack-with-k bug.
 */
#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_blob.h"
#include "hm_ec.h"
#include "hm_err.h"
#include "hm_limits.h"
#include "hm_shard_format.h"
#include "hm_shard_store.h"
#include "test_disk_util.h"

#define DISKS_MAX 13

static char tmpdir[256];
static hm_env *env;
static hm_shard_store *stores[DISKS_MAX];
static hm_shard_api *apis[DISKS_MAX];
static const char *ids[DISKS_MAX];
static size_t ndisks;
/* disks a reader cannot reach: its find answers HM_EUNAVAIL */
static bool lost[DISKS_MAX];
/* write_blob tells the writer the blob's size at open */
static bool size_hint;

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

static void disks_open(size_t n)
{
    ndisks = n;
    for (size_t i = 0; i < n; i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/disk%zu", tmpdir, i);
        mkdir(p, 0700);
        ck_assert_int_eq(test_disk_format(env, p, (uint32_t)i), 0);
        ck_assert_int_eq(hm_shard_store_open(&stores[i], env, p), 0);
        ck_assert_int_eq(hm_shard_api_local_new(&apis[i], stores[i]), 0);
        ids[i] = hm_shard_store_disk_id(stores[i]);
        lost[i] = false;
    }
}

static void disks_close(void)
{
    for (size_t i = 0; i < ndisks; i++) {
        apis[i]->ops->free(apis[i]);
        hm_shard_store_close(stores[i]);
        char p[512];
        snprintf(p, sizeof(p), "%s/disk%zu", tmpdir, i);
        rm_rf(p);
    }
    ndisks = 0;
}

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/hm-blob-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_int_eq(hm_env_posix_new(&env), 0);
    hm_blob_plant_ack_with_k = false;
    size_hint = false;
}

static void teardown(void)
{
    if (ndisks > 0) disks_close();
    hm_env_posix_free(env);
    rm_rf(tmpdir);
    hm_blob_plant_ack_with_k = false;
}

static int find(void *ctx, const char *disk_id, hm_shard_api **out)
{
    (void)ctx;
    for (size_t i = 0; i < ndisks; i++) {
        if (strcmp(ids[i], disk_id) != 0) continue;
        if (lost[i]) return HM_EUNAVAIL;
        *out = apis[i];
        return 0;
    }
    return HM_EUNAVAIL;
}

static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *b = malloc(n > 0 ? n : 1);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)((i * 131u + seed + (i >> 12)) & 0xff);
    return b;
}

/* ---- an api that fails every call, and one that stalls its writes ------ */

static int failed_info(hm_shard_api *a, Hm__ShardInfoResp **o) { (void)a; (void)o; return HM_EUNAVAIL; }
static int failed_put_open(hm_shard_api *a, const Hm__ShardHeader *h, hm_shard_put **o)
{
    (void)a; (void)h; (void)o;
    return HM_EUNAVAIL;
}
static int failed_get_open(hm_shard_api *a, const uint8_t *b, uint32_t i, uint64_t o, uint64_t l,
                           hm_shard_get **g, uint64_t *t, Hm__ShardHeader **h)
{
    (void)a; (void)b; (void)i; (void)o; (void)l; (void)g; (void)t; (void)h;
    return HM_EUNAVAIL;
}
static int failed_del(hm_shard_api *a, const uint8_t *b, uint32_t i)
{
    (void)a; (void)b; (void)i;
    return HM_EUNAVAIL;
}
static const struct hm_shard_api_ops failed_ops = {
    .info = failed_info, .put_open = failed_put_open, .get_open = failed_get_open,
    .del = failed_del,
};
static hm_shard_api failed_api = {.ops = &failed_ops};

/* Stalls: the put_write of a local api, after sleeping. */
static struct hm_shard_api_ops stall_ops;
static const struct hm_shard_api_ops *stall_inner;
static int stall_put_write(hm_shard_put *p, const void *buf, size_t len)
{
    usleep(600 * 1000);
    return stall_inner->put_write(p, buf, len);
}

/* ---- helpers ------------------------------------------------------------- */

typedef struct written {
    uint8_t id[HM_BLOB_ID_BYTES];
    hm_blob_result r;  /* the writer's result, in storage the test owns */
    hm_blob_plan plan;
} written;

/* Write data[0..n) as a blob over api_set/ids; the writer's result. */
static int write_blob(hm_shard_api *const *api_set, const char *const *id_set, size_t count,
                      const uint8_t *data, size_t n, unsigned seed, int64_t deadline_ms,
                      bool serial, written *w)
{
    memset(w, 0, sizeof(*w));
    for (size_t i = 0; i < HM_BLOB_ID_BYTES; i++) w->id[i] = (uint8_t)(seed * 7 + i * 13 + 1);
    hm_blob_disks d = {.apis = api_set, .disk_ids = id_set, .count = count};
    ck_assert_int_eq(hm_blob_plan_make(&d, w->id, &w->plan), 0);
    Hm__ShardHeader h = HM__SHARD_HEADER__INIT;
    h.has_format_version = true;
    h.format_version = HM_FORMAT_VERSION;
    h.has_blob_id = true;
    h.blob_id.data = w->id;
    h.blob_id.len = HM_BLOB_ID_BYTES;
    h.has_block_bytes = true;
    h.block_bytes = HM_SHARD_BLOCK_BYTES;
    h.bucket = "bkt";
    h.key = "k";
    h.has_role = true;
    h.role = HM__SHARD_ROLE__SHARD_ROLE_OBJECT;
    hm_blob_write_args a = {.disks = &d, .plan = &w->plan, .tmpl = &h,
                            .deadline_ms = deadline_ms, .serial = serial, .req_id = "t",
                            .size_known = size_hint, .size = n};
    hm_blob_writer *bw = NULL;
    int rc = hm_blob_writer_open(&a, &bw);
    if (rc != 0) return rc;
    /* in uneven pieces, so stripes are cut across writes */
    size_t at = 0, piece = 1;
    while (rc == 0 && at < n) {
        size_t len = n - at < piece ? n - at : piece;
        rc = hm_blob_writer_write(bw, data + at, len);
        at += len;
        piece = piece * 3 + 7;
    }
    if (rc != 0) {
        hm_blob_writer_abort(bw);
        return rc;
    }
    rc = hm_blob_writer_finish(bw, NULL);
    if (rc == 0) {
        ck_assert_uint_eq(hm_blob_writer_size(bw), n);
        hm_blob_writer_result(bw, &w->r);
    }
    hm_blob_writer_free(bw);
    if (rc == 0) {
        /* the result owns its blob id: nothing points into the freed writer */
        ck_assert_ptr_eq(w->r.blob.blob_id.data, w->r.blob_id);
        ck_assert_mem_eq(w->r.blob.blob_id.data, w->id, HM_BLOB_ID_BYTES);
        ck_assert_ptr_eq(w->r.blob.shards, w->r.ref_ptrs);
    }
    return rc;
}

static int write_default(const uint8_t *data, size_t n, unsigned seed, written *w)
{
    return write_blob(apis, ids, ndisks, data, n, seed, 0, false, w);
}

/* Read [off, off+len) of w's blob; 0 and the bytes, or the error. */
static int read_blob(const written *w, uint64_t off, uint64_t len, uint8_t **out)
{
    hm_blob_reader *r = NULL;
    int rc = hm_blob_reader_open(&w->r.blob, off, len, find, NULL, "t", &r);
    if (rc != 0) return rc;
    uint8_t *b = malloc(len + 1);
    size_t n = 0;
    for (;;) {
        size_t got = 0;
        rc = hm_blob_reader_read(r, b + n, (size_t)(len + 1 - n), &got);
        if (rc != 0 || got == 0) break;
        n += got;
    }
    hm_blob_reader_close(r);
    if (rc == 0 && n != len) rc = HM_ECORRUPT;
    if (rc != 0) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

static void assert_reads(const written *w, const uint8_t *data, size_t n)
{
    uint8_t *back = NULL;
    int rc = read_blob(w, 0, n, &back);
    ck_assert_msg(rc == 0, "read: %s", hm_err_name(rc));
    ck_assert(n == 0 || memcmp(back, data, n) == 0);
    free(back);
}

/* The disk index holding shard i of w. */
static size_t disk_of(const written *w, uint32_t i) { return w->plan.disk[i]; }

/* ---- tests ------------------------------------------------------------------- */

/* Every profile the table gives (1 to 13 disks) writes k+m shards on
 * distinct disks and reads back every size around the stripe boundaries. */
START_TEST(test_every_profile_roundtrip)
{
    for (size_t d = 1; d <= DISKS_MAX; d++) {
        disks_open(d);
        hm_ec_profile p = hm_ec_profile_for_domains(d);
        size_t sb = p.stripe_bytes;
        size_t sizes[] = {0, 1, sb - 1, sb, sb + 1, 2 * sb + 12345};
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            uint8_t *data = pattern(sizes[s], (unsigned)(d * 10 + s));
            written w;
            ck_assert_int_eq(write_default(data, sizes[s], (unsigned)(d * 10 + s), &w), 0);
            ck_assert_uint_eq(w.r.blob.k, p.k);
            ck_assert_uint_eq(w.r.blob.m, p.m);
            ck_assert_uint_eq(w.r.blob.stripe_bytes, p.stripe_bytes);
            ck_assert_uint_eq(w.r.blob.n_shards, p.k + p.m);
            ck_assert_uint_eq(w.r.n_missing, 0);
            bool used[DISKS_MAX] = {false};
            for (uint32_t i = 0; i < p.k + p.m; i++) {
                ck_assert(!used[disk_of(&w, i)]); /* distinct disks */
                used[disk_of(&w, i)] = true;
                ck_assert(w.r.refs[i].has_length && w.r.refs[i].has_crc32c);
            }
            ck_assert_int_eq(hm_blob_check(&w.r.blob), 0);
            assert_reads(&w, data, sizes[s]);
            free(data);
        }
        disks_close();
    }
}
END_TEST

/* Shard i of w as its store holds it (the data, without the header). */
static uint8_t *read_shard(const written *w, uint32_t i, uint64_t len)
{
    hm_shard_api *api = apis[disk_of(w, i)];
    hm_shard_get *g = NULL;
    uint64_t total = 0;
    Hm__ShardHeader *h = NULL;
    uint8_t *b = malloc(len > 0 ? len : 1);
    ck_assert_ptr_nonnull(b);
    if (len == 0) return b;
    ck_assert_int_eq(api->ops->get_open(api, w->id, i, 0, len, &g, &total, &h), 0);
    if (h != NULL) hm__shard_header__free_unpacked(h, NULL);
    ck_assert_uint_eq(total, len);
    for (uint64_t have = 0; have < len;) {
        size_t got = 0;
        ck_assert_int_eq(api->ops->get_read(g, b + have, (size_t)(len - have), &got), 0);
        ck_assert_uint_gt(got, 0);
        have += got;
    }
    api->ops->get_close(g);
    return b;
}

/* Parity written in pieces as a blob's bytes arrive is byte for byte the
 * one-shot encode of its stripes, and the data shards hold the layout of
 * docs/erasure-coding.md: every profile with parity, sizes that end in a
 * short last stripe (down to one byte, fewer than k) or on a stripe
 * boundary, with the size told at open and without. */
START_TEST(test_parity_matches_one_shot)
{
    hm_ec_profile last = {0, 0, 0, 0};
    for (size_t d = 2; d <= DISKS_MAX; d++) {
        hm_ec_profile p = hm_ec_profile_for_domains(d);
        if (p.k == last.k && p.m == last.m) continue;
        last = p;
        disks_open(d);
        const hm_ec_codec *c;
        ck_assert_int_eq(hm_ec_codec_get(p.k, p.m, &c), 0);
        size_t sb = p.stripe_bytes;
        size_t sizes[] = {1, p.k + 1, 100003, sb - 1, sb, 2 * sb + 12345};
        for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
            for (int hint = 0; hint < 2; hint++) {
                size_t n = sizes[si];
                unsigned seed = (unsigned)(d * 100 + si * 2 + (size_t)hint);
                uint8_t *data = pattern(n, seed);
                size_hint = hint != 0;
                written w;
                ck_assert_int_eq(write_default(data, n, seed, &w), 0);
                hm_ec_layout l;
                ck_assert_int_eq(hm_ec_layout_make(&p, n, &l), 0);
                uint8_t *sh[HM_EC_SHARDS_MAX];
                for (uint32_t i = 0; i < p.k + p.m; i++) sh[i] = read_shard(&w, i, l.shard_bytes);
                uint8_t *want = malloc((size_t)p.m * p.chunk_bytes);
                uint8_t *dat = malloc(sb);
                for (uint64_t s = 0; s < l.stripes; s++) {
                    uint32_t chunk = hm_ec_layout_chunk(&l, s);
                    uint64_t off = hm_ec_layout_shard_offset(&l, s);
                    uint64_t have = hm_ec_layout_stripe_data(&l, s);
                    memset(dat, 0, (size_t)p.k * chunk);
                    memcpy(dat, data + s * sb, (size_t)have);
                    const uint8_t *dp[HM_EC_K_MAX];
                    uint8_t *pp[HM_EC_M_MAX];
                    for (uint32_t i = 0; i < p.k; i++) {
                        dp[i] = dat + (size_t)i * chunk;
                        ck_assert_msg(memcmp(sh[i] + off, dp[i], chunk) == 0,
                                      "%u+%u size %zu hint %d stripe %llu: data shard %u", p.k,
                                      p.m, n, hint, (unsigned long long)s, i);
                    }
                    for (uint32_t j = 0; j < p.m; j++) pp[j] = want + (size_t)j * chunk;
                    hm_ec_encode(c, chunk, dp, pp);
                    for (uint32_t j = 0; j < p.m; j++)
                        ck_assert_msg(memcmp(sh[p.k + j] + off, pp[j], chunk) == 0,
                                      "%u+%u size %zu hint %d stripe %llu: parity %u", p.k, p.m,
                                      n, hint, (unsigned long long)s, j);
                }
                for (uint32_t i = 0; i < p.k + p.m; i++) free(sh[i]);
                free(want);
                free(dat);
                free(data);
            }
        }
        disks_close();
    }
}
END_TEST

/* A writer told the blob's size refuses bytes past it; a body that ends
 * before it is still laid out and encoded as the size it has. */
START_TEST(test_size_hint_mismatch)
{
    disks_open(6);
    hm_ec_profile p = hm_ec_profile_for_domains(6);
    size_t n = 2 * (size_t)p.stripe_bytes + 777;
    uint8_t *data = pattern(n + 10, 9);
    uint8_t id[HM_BLOB_ID_BYTES] = {1, 2, 3};
    hm_blob_disks d = {.apis = apis, .disk_ids = ids, .count = ndisks};
    hm_blob_plan plan;
    ck_assert_int_eq(hm_blob_plan_make(&d, id, &plan), 0);
    Hm__ShardHeader h = HM__SHARD_HEADER__INIT;
    h.has_format_version = true;
    h.format_version = HM_FORMAT_VERSION;
    h.has_blob_id = true;
    h.blob_id.data = id;
    h.blob_id.len = HM_BLOB_ID_BYTES;
    h.has_block_bytes = true;
    h.block_bytes = HM_SHARD_BLOCK_BYTES;
    h.bucket = "bkt";
    h.key = "k";
    h.has_role = true;
    h.role = HM__SHARD_ROLE__SHARD_ROLE_OBJECT;
    hm_blob_write_args a = {.disks = &d, .plan = &plan, .tmpl = &h, .req_id = "t",
                            .size_known = true, .size = n};
    hm_blob_writer *bw = NULL;
    ck_assert_int_eq(hm_blob_writer_open(&a, &bw), 0);
    ck_assert_int_eq(hm_blob_writer_write(bw, data, n - 5), 0);
    ck_assert_int_eq(hm_blob_writer_write(bw, data + n - 5, 6), HM_EINVAL);
    hm_blob_writer_abort(bw);

    /* ends inside the last stripe, and inside an earlier one */
    size_t ends[] = {n - 300, (size_t)p.stripe_bytes + 5};
    for (size_t e = 0; e < 2; e++) {
        id[0] = (uint8_t)(10 + e); /* a blob of its own */
        ck_assert_int_eq(hm_blob_plan_make(&d, id, &plan), 0);
        ck_assert_int_eq(hm_blob_writer_open(&a, &bw), 0);
        ck_assert_int_eq(hm_blob_writer_write(bw, data, ends[e]), 0);
        ck_assert_int_eq(hm_blob_writer_finish(bw, NULL), 0);
        written w;
        memset(&w, 0, sizeof w);
        memcpy(w.id, id, sizeof id);
        w.plan = plan;
        hm_blob_writer_result(bw, &w.r);
        hm_blob_writer_free(bw);
        ck_assert_uint_eq(w.r.blob.size, ends[e]);
        /* every data shard lost but one: the read decodes from parity */
        for (uint32_t i = 1; i < p.k; i++) lost[disk_of(&w, i)] = true;
        assert_reads(&w, data, ends[e]);
        for (size_t i = 0; i < ndisks; i++) lost[i] = false;
    }
    free(data);
}
END_TEST

/* Encode counters of profile k+m; zeros when it has not encoded. */
static hm_blob_encode_stat encode_stat(uint32_t k, uint32_t m)
{
    hm_blob_encode_stat st[HM_EC_K_MAX * HM_EC_M_MAX];
    size_t n = hm_blob_encode_stats(st, sizeof st / sizeof st[0]);
    ck_assert_uint_le(n, sizeof st / sizeof st[0]);
    for (size_t i = 0; i < n; i++)
        if (st[i].k == k && st[i].m == m) return st[i];
    hm_blob_encode_stat none = {k, m, 0, 0};
    return none;
}

/* A write counts its encode time and the data bytes its parity covers,
 * a short last stripe's padding included, under its profile; 1+0 counts
 * nothing. */
START_TEST(test_encode_counters)
{
    disks_open(6); /* 3+2 */
    hm_ec_profile p = hm_ec_profile_for_domains(6);
    size_t n = 2 * (size_t)p.stripe_bytes + 12345;
    uint8_t *data = pattern(n, 5);
    hm_blob_encode_stat before = encode_stat(p.k, p.m);
    written w;
    ck_assert_int_eq(write_default(data, n, 5, &w), 0);
    hm_blob_encode_stat after = encode_stat(p.k, p.m);
    uint64_t tail = (12345 + p.k - 1) / p.k;
    ck_assert_uint_eq(after.bytes - before.bytes, 2 * (uint64_t)p.stripe_bytes + p.k * tail);
    ck_assert_uint_gt(after.ns, before.ns);
    disks_close();

    disks_open(1); /* 1+0: no parity, nothing counted */
    size_t profiles = hm_blob_encode_stats(NULL, 0);
    ck_assert_int_eq(write_default(data, n, 6, &w), 0);
    ck_assert_uint_eq(hm_blob_encode_stats(NULL, 0), profiles);
    ck_assert_uint_eq(encode_stat(1, 0).bytes, 0);
    free(data);
}
END_TEST

/* Placement rotates with the blob id: over many blobs every disk holds
 * data shard 0 of some. */
START_TEST(test_placement_spreads)
{
    disks_open(6);
    bool first[6] = {false};
    uint64_t rng = 42;
    for (unsigned s = 0; s < 64; s++) {
        uint8_t id[HM_BLOB_ID_BYTES];
        for (size_t i = 0; i < sizeof id; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            id[i] = (uint8_t)(rng >> 56); /* blob ids are random */
        }
        hm_blob_disks d = {.apis = apis, .disk_ids = ids, .count = 6};
        hm_blob_plan plan;
        ck_assert_int_eq(hm_blob_plan_make(&d, id, &plan), 0);
        first[plan.disk[0]] = true;
    }
    for (size_t i = 0; i < 6; i++) ck_assert(first[i]);
}
END_TEST

/* 3+2 on six disks: any two disks lost, the bytes come back (decoded);
 * three lost is HM_EUNAVAIL. */
START_TEST(test_lose_up_to_m)
{
    disks_open(6);
    size_t n = 3 * (1u << 20) + 777;
    uint8_t *data = pattern(n, 5);
    written w;
    ck_assert_int_eq(write_default(data, n, 5, &w), 0);
    ck_assert_uint_eq(w.r.blob.k, 3);
    ck_assert_uint_eq(w.r.blob.m, 2);
    for (uint32_t a = 0; a < 5; a++) {
        for (uint32_t b = a + 1; b < 5; b++) {
            memset(lost, 0, sizeof lost);
            lost[disk_of(&w, a)] = true;
            lost[disk_of(&w, b)] = true;
            uint64_t decoded = atomic_load(&hm_blob_stripes_decoded);
            assert_reads(&w, data, n);
            if (a < 3) ck_assert_uint_gt(atomic_load(&hm_blob_stripes_decoded), decoded);
        }
    }
    memset(lost, 0, sizeof lost);
    lost[disk_of(&w, 0)] = lost[disk_of(&w, 3)] = lost[disk_of(&w, 4)] = true;
    uint8_t *back = NULL;
    ck_assert_int_eq(read_blob(&w, 0, n, &back), HM_EUNAVAIL);
    free(data);
}
END_TEST

/* The healthy path reads the data shards only and decodes nothing. */
START_TEST(test_healthy_no_decode)
{
    disks_open(6);
    size_t n = 2 * (1u << 20);
    uint8_t *data = pattern(n, 8);
    written w;
    ck_assert_int_eq(write_default(data, n, 8, &w), 0);
    /* the parity disks may be gone: nothing asks them */
    lost[disk_of(&w, 3)] = lost[disk_of(&w, 4)] = true;
    uint64_t decoded = atomic_load(&hm_blob_stripes_decoded);
    assert_reads(&w, data, n);
    ck_assert_uint_eq(atomic_load(&hm_blob_stripes_decoded), decoded);
    free(data);
}
END_TEST

/* A flipped byte in a data shard fails its block CRC: the stripe is read
 * through parity and the bytes are right. */
START_TEST(test_corrupt_shard)
{
    disks_open(6);
    size_t n = 1u << 20;
    uint8_t *data = pattern(n, 9);
    written w;
    ck_assert_int_eq(write_default(data, n, 9, &w), 0);
    char path[600];
    size_t d1 = disk_of(&w, 1);
    ck_assert_int_eq(hm_shard_store_shard_path(stores[d1], w.id, 1, path, sizeof path), 0);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, HM_SHARD_DATA_OFFSET + 1000, SEEK_SET);
    int c = fgetc(f);
    fseek(f, HM_SHARD_DATA_OFFSET + 1000, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
    uint64_t decoded = atomic_load(&hm_blob_stripes_decoded);
    assert_reads(&w, data, n);
    ck_assert_uint_gt(atomic_load(&hm_blob_stripes_decoded), decoded);
    free(data);
}
END_TEST

/* Flip one byte in the middle of shard i's chunk of stripe s. */
static void flip_chunk(const written *w, uint32_t i, uint64_t s)
{
    char path[600];
    ck_assert_int_eq(hm_shard_store_shard_path(stores[disk_of(w, i)], w->id, i, path,
                                               sizeof path), 0);
    uint64_t chunk = w->r.blob.stripe_bytes / w->r.blob.k;
    long at = (long)(HM_SHARD_DATA_OFFSET + s * chunk + chunk / 2);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x5a, f);
    fclose(f);
}

/* Rot is one block, not a whole shard: with one disk gone and a different
 * data shard rotted in each stripe, every stripe still has k good chunks,
 * so a shard that failed on an earlier stripe is tried again. */
START_TEST(test_rot_per_stripe)
{
    disks_open(6);
    size_t n = 3 * (1u << 20);
    uint8_t *data = pattern(n, 12);
    written w;
    ck_assert_int_eq(write_default(data, n, 12, &w), 0);
    ck_assert_uint_eq(w.r.blob.k, 3);
    flip_chunk(&w, 0, 0);
    flip_chunk(&w, 1, 1);
    flip_chunk(&w, 2, 2);
    lost[disk_of(&w, 3)] = true;
    assert_reads(&w, data, n);
    free(data);
}
END_TEST

/* A stripe short of k good chunks answers HM_ECORRUPT only when every
 * missing chunk is rot; rot with an unreachable disk (which may come
 * back) is HM_EUNAVAIL, also when the disk failed on an earlier stripe. */
START_TEST(test_short_stripe_answer)
{
    disks_open(6);
    size_t n = 2 * (1u << 20);
    uint8_t *data = pattern(n, 13);
    written w;
    ck_assert_int_eq(write_default(data, n, 13, &w), 0);
    flip_chunk(&w, 0, 0); /* stripe 0 reads parity 3 (lost) and 4 */
    flip_chunk(&w, 1, 1);
    flip_chunk(&w, 2, 1); /* stripe 1: 1, 2 rot, 3 unreachable */
    lost[disk_of(&w, 3)] = true;
    uint8_t *back = NULL;
    ck_assert_int_eq(read_blob(&w, 0, n, &back), HM_EUNAVAIL);
    /* the disk back: stripe 1 has 0, 3 and 4 */
    lost[disk_of(&w, 3)] = false;
    assert_reads(&w, data, n);
    /* rot in three of five chunks of stripe 1, nothing unreachable */
    flip_chunk(&w, 3, 1);
    ck_assert_int_eq(read_blob(&w, 0, n, &back), HM_ECORRUPT);
    free(data);
}
END_TEST

/* A shard file holding another shard's bytes (here shard 2's under shard
 * 0's name) is caught by its header and read around. */
START_TEST(test_swapped_shard)
{
    disks_open(6);
    size_t n = 1u << 20;
    uint8_t *data = pattern(n, 10);
    written w;
    ck_assert_int_eq(write_default(data, n, 10, &w), 0);
    char p0[600], p2[600];
    ck_assert_int_eq(hm_shard_store_shard_path(stores[disk_of(&w, 0)], w.id, 0, p0, sizeof p0), 0);
    ck_assert_int_eq(hm_shard_store_shard_path(stores[disk_of(&w, 2)], w.id, 2, p2, sizeof p2), 0);
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", p2, p0);
    ck_assert_int_eq(system(cmd), 0);
    uint64_t decoded = atomic_load(&hm_blob_stripes_decoded);
    assert_reads(&w, data, n);
    ck_assert_uint_gt(atomic_load(&hm_blob_stripes_decoded), decoded);
    free(data);
}
END_TEST

/* A range loads only the stripes it covers. */
START_TEST(test_range_counts_stripes)
{
    disks_open(6);
    hm_ec_profile p = hm_ec_profile_for_domains(6);
    size_t sb = p.stripe_bytes;
    size_t n = 5 * sb + 100;
    uint8_t *data = pattern(n, 11);
    written w;
    ck_assert_int_eq(write_default(data, n, 11, &w), 0);
    struct { uint64_t off, len, stripes; } cases[] = {
        {2 * sb + 10, 100, 1},       /* inside stripe 2 */
        {sb - 1, 2, 2},              /* across a boundary */
        {5 * sb, 100, 1},            /* the short last stripe */
        {0, n, 6},                   /* everything */
        {sb, 3 * sb, 3},             /* exactly stripes 1..3 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t before = atomic_load(&hm_blob_stripes_read);
        uint8_t *back = NULL;
        ck_assert_int_eq(read_blob(&w, cases[i].off, cases[i].len, &back), 0);
        ck_assert(memcmp(back, data + cases[i].off, cases[i].len) == 0);
        free(back);
        ck_assert_uint_eq(atomic_load(&hm_blob_stripes_read) - before, cases[i].stripes);
    }
    free(data);
}
END_TEST

/* Six disks (3+2, floor 4).  Two disks failed at run time: written with
 * four shards, the missing one reported with its disk (unknown here: the
 * failed disks never told their id).  Three failed: refused with
 * HM_EFLOOR, nothing left on the disks that took shards. */
START_TEST(test_degraded_write_floor)
{
    disks_open(6);
    size_t n = (1u << 20) + 5;
    uint8_t *data = pattern(n, 12);
    hm_shard_api *set[6];
    const char *idset[6];
    memcpy(set, apis, sizeof set);
    memcpy(idset, ids, sizeof idset);
    /* two failed (they do not answer info: no id): the spare covers one,
     * the other shard goes missing */
    set[1] = set[4] = &failed_api;
    idset[1] = idset[4] = NULL;
    written w;
    ck_assert_int_eq(write_blob(set, idset, 6, data, n, 12, 0, false, &w), 0);
    ck_assert_uint_eq(w.r.n_missing, 1);
    uint32_t miss = w.r.missing[0];
    ck_assert(disk_of(&w, miss) == 1 || disk_of(&w, miss) == 4);
    ck_assert_ptr_null(w.r.missing_disk[0]);
    size_t durable = 0;
    for (size_t i = 0; i < w.r.blob.n_shards; i++) durable += w.r.blob.shards[i]->has_length;
    ck_assert_uint_eq(durable, 4);
    ck_assert_int_eq(hm_blob_check(&w.r.blob), 0);
    assert_reads(&w, data, n);

    /* three failed: below the floor */
    set[2] = &failed_api;
    ck_assert_int_eq(write_blob(set, idset, 6, data, n, 13, 0, false, &w), HM_EFLOOR);
    for (size_t d = 0; d < 6; d++) {
        Hm__ShardHeader *h = NULL;
        for (uint32_t i = 0; i < 5; i++) {
            ck_assert_int_eq(apis[d]->ops->stat(apis[d], w.id, i, &h), HM_ENOENT);
        }
    }
    /* the planted bug acknowledges with k */
    hm_blob_plant_ack_with_k = true;
    ck_assert_int_eq(write_blob(set, idset, 6, data, n, 14, 0, false, &w), 0);
    ck_assert_uint_eq(w.r.n_missing, 2);
    hm_blob_plant_ack_with_k = false;
    free(data);
}
END_TEST

/* A disk whose writes stall past the deadline is dropped; the write goes
 * on and is acknowledged degraded.  Serially, the same data and no
 * deadline give the same bytes. */
START_TEST(test_stalled_disk_dropped)
{
    disks_open(6);
    size_t n = 2 * (1u << 20);
    uint8_t *data = pattern(n, 15);
    stall_inner = apis[0]->ops;
    stall_ops = *apis[0]->ops;
    stall_ops.put_write = stall_put_write;
    hm_shard_api stall = {.ops = &stall_ops, .impl = apis[0]->impl};
    hm_shard_api *set[6];
    memcpy(set, apis, sizeof set);
    set[0] = &stall;
    written w;
    int rc = write_blob(set, ids, 6, data, n, 16, 100, false, &w);
    ck_assert_msg(rc == 0, "write: %s", hm_err_name(rc));
    bool on0 = false;
    for (uint32_t i = 0; i < w.plan.n; i++) on0 = on0 || disk_of(&w, i) == 0;
    if (on0) {
        ck_assert_uint_eq(w.r.n_missing, 1);
        ck_assert_uint_eq(disk_of(&w, w.r.missing[0]), 0);
        ck_assert_str_eq(w.r.missing_disk[0], ids[0]); /* its repair item's disk */
    }
    assert_reads(&w, data, n);
    ck_assert_int_eq(write_blob(apis, ids, 6, data, n, 17, 0, true, &w), 0);
    ck_assert_uint_eq(w.r.n_missing, 0);
    assert_reads(&w, data, n);
    sleep(2); /* let the dropped thread finish before its store closes */
    free(data);
}
END_TEST

/* Manifests are hostile: a profile out of range, a ref twice, a length
 * that is not the layout's, too few durable shards. */
START_TEST(test_check_hostile)
{
    disks_open(3);
    size_t n = 300000;
    uint8_t *data = pattern(n, 18);
    written w;
    ck_assert_int_eq(write_default(data, n, 18, &w), 0);
    ck_assert_int_eq(hm_blob_check(&w.r.blob), 0);
    Hm__Blob b = w.r.blob;
    b.k = 99;
    ck_assert_int_ne(hm_blob_check(&b), 0);
    b = w.r.blob;
    b.stripe_bytes = 1000;
    ck_assert_int_ne(hm_blob_check(&b), 0);
    b = w.r.blob;
    Hm__ShardRef r1 = *w.r.ref_ptrs[1];
    r1.index = w.r.ref_ptrs[0]->index;
    Hm__ShardRef *rp[3] = {w.r.ref_ptrs[0], &r1, w.r.ref_ptrs[2]};
    b.shards = rp;
    ck_assert_int_eq(hm_blob_check(&b), HM_ECORRUPT);
    r1 = *w.r.ref_ptrs[1];
    r1.length += 1;
    ck_assert_int_eq(hm_blob_check(&b), HM_ECORRUPT);
    b.shards = w.r.ref_ptrs;
    b.n_shards = 1; /* 2+1 with one shard */
    ck_assert_int_eq(hm_blob_check(&b), HM_ECORRUPT);
    free(data);
}
END_TEST

static Suite *blob_suite(void)
{
    Suite *s = suite_create("blob");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_profile_roundtrip);
    tcase_add_test(tc, test_placement_spreads);
    tcase_add_test(tc, test_encode_counters);
    tcase_add_test(tc, test_parity_matches_one_shot);
    tcase_add_test(tc, test_size_hint_mismatch);
    tcase_add_test(tc, test_lose_up_to_m);
    tcase_add_test(tc, test_healthy_no_decode);
    tcase_add_test(tc, test_corrupt_shard);
    tcase_add_test(tc, test_rot_per_stripe);
    tcase_add_test(tc, test_short_stripe_answer);
    tcase_add_test(tc, test_swapped_shard);
    tcase_add_test(tc, test_range_counts_stripes);
    tcase_add_test(tc, test_degraded_write_floor);
    tcase_add_test(tc, test_stalled_disk_dropped);
    tcase_add_test(tc, test_check_hostile);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(blob_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
