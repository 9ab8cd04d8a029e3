/* test_meta_keys_access.c - access keys: the sealing of secrets (known
 * answers computed independently with Python's hmac and cryptography), the
 * keys table's commands and queries in the state machine, the permission
 * rule, and the golden bytes of the version-1 key records.
 *
 * With HM_GOLDEN_UPDATE=1 the golden test writes its files; otherwise it
 * compares byte for byte (a change is a format change). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_keyseal.h"
#include "hm_limits.h"
#include "hm_meta_akeys.h"
#include "test_meta_util.h"

/* ---- sealing -------------------------------------------------------------- */

static void unhex(const char *h, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v = 0;
        ck_assert_int_eq(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* HKDF-SHA256(ikm "rootsecret123", salt "hamster-keyseal", info "hamster
 * access key secret v1") as RFC 5869 defines it, computed with Python. */
static const char kat_seal_key[] =
    "cda6582abcd4574440ee2ad5cf752fcaa0793dbafd25209e829ef33a61abea17";
/* AES-256-GCM of "secret-of-HKTESTKEY0001" under that key, nonce 00..0b,
 * AAD "HKTESTKEY0001", as nonce | ciphertext | tag (Python cryptography). */
static const char kat_sealed[] =
    "000102030405060708090a0b03143fcfce9928de3fc068f9d56ab3ddedc3a733d33addd8ca57d7"
    "265f68de4b6c3e793324ab12";

/* The seal key is HKDF-SHA256 of the root secret with the fixed salt and info. */
START_TEST(test_seal_key_derivation)
{
    uint8_t key[HM_KEYSEAL_KEY_BYTES], want[HM_KEYSEAL_KEY_BYTES];
    ck_assert_int_eq(hm_keyseal_derive("rootsecret123", key), 0);
    unhex(kat_seal_key, want, sizeof want);
    ck_assert_mem_eq(key, want, sizeof want);
    ck_assert_int_eq(hm_keyseal_derive("rootsecret124", key), 0);
    ck_assert_int_ne(memcmp(key, want, sizeof want), 0);
    ck_assert_int_eq(hm_keyseal_derive("", key), HM_EINVAL);
}
END_TEST

/* Sealing with a given nonce gives exactly AES-256-GCM's bytes, and opens
 * back to the secret. */
START_TEST(test_seal_known_answer)
{
    uint8_t key[HM_KEYSEAL_KEY_BYTES], nonce[HM_KEYSEAL_NONCE_BYTES];
    uint8_t out[HM_KEYSEAL_SEALED_BYTES_MAX], want[51];
    for (size_t i = 0; i < sizeof nonce; i++) nonce[i] = (uint8_t)i;
    ck_assert_int_eq(hm_keyseal_derive("rootsecret123", key), 0);
    size_t len = 0;
    ck_assert_int_eq(hm_keyseal_seal(key, "HKTESTKEY0001", "secret-of-HKTESTKEY0001", nonce,
                                     out, sizeof out, &len),
                     0);
    unhex(kat_sealed, want, sizeof want);
    ck_assert_uint_eq(len, sizeof want);
    ck_assert_mem_eq(out, want, sizeof want);
    char secret[HM_KEYSEAL_SECRET_BYTES_MAX + 1];
    ck_assert_int_eq(hm_keyseal_open(key, "HKTESTKEY0001", out, len, secret, sizeof secret), 0);
    ck_assert_str_eq(secret, "secret-of-HKTESTKEY0001");
}
END_TEST

/* A sealed secret opens only for its own key id, under its own root
 * secret, with every byte intact. */
START_TEST(test_seal_refusals)
{
    uint8_t key[HM_KEYSEAL_KEY_BYTES], other[HM_KEYSEAL_KEY_BYTES];
    uint8_t nonce[HM_KEYSEAL_NONCE_BYTES] = {9};
    uint8_t out[HM_KEYSEAL_SEALED_BYTES_MAX];
    char secret[HM_KEYSEAL_SECRET_BYTES_MAX + 1];
    size_t len = 0;
    ck_assert_int_eq(hm_keyseal_derive("root-one-secret", key), 0);
    ck_assert_int_eq(hm_keyseal_derive("root-two-secret", other), 0);
    ck_assert_int_eq(hm_keyseal_seal(key, "HKAAA", "s3cr3t-value", nonce, out, sizeof out, &len),
                     0);
    ck_assert_int_eq(hm_keyseal_open(key, "HKBBB", out, len, secret, sizeof secret), HM_EPERM);
    ck_assert_str_eq(secret, "");
    ck_assert_int_eq(hm_keyseal_open(other, "HKAAA", out, len, secret, sizeof secret),
                     HM_EPERM);
    for (size_t i = 0; i < len; i++) {
        out[i] ^= 0x01;
        ck_assert_int_eq(hm_keyseal_open(key, "HKAAA", out, len, secret, sizeof secret),
                         HM_EPERM);
        out[i] ^= 0x01;
    }
    ck_assert_int_eq(hm_keyseal_open(key, "HKAAA", out, len - 1, secret, sizeof secret),
                     HM_EPERM);
    ck_assert_int_eq(hm_keyseal_open(key, "HKAAA", out, 28, secret, sizeof secret),
                     HM_ECORRUPT);
    ck_assert_int_eq(hm_keyseal_open(key, "HKAAA", out, len, secret, 5), HM_ETOOBIG);
    ck_assert_int_eq(hm_keyseal_open(key, "HKAAA", out, len, secret, sizeof secret), 0);
    ck_assert_str_eq(secret, "s3cr3t-value");
    /* Bounds on the way in. */
    char big[HM_KEYSEAL_SECRET_BYTES_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(hm_keyseal_seal(key, "HKAAA", big, nonce, out, sizeof out, &len), HM_EINVAL);
    ck_assert_int_eq(hm_keyseal_seal(key, "HKAAA", "", nonce, out, sizeof out, &len), HM_EINVAL);
    ck_assert_int_eq(hm_keyseal_seal(key, "HKAAA", "abc", nonce, out, 20, &len), HM_ETOOBIG);
}
END_TEST

/* ---- state machine ---------------------------------------------------------- */

static Hm__MetaResponse *t_apply(tmu_sm *t, Hm__MetaCommand *c)
{
    return tmu_sm_apply(t, c);
}

static Hm__MetaResponse *key_create(tmu_sm *t, const char *id)
{
    uint8_t sealed[40];
    memset(sealed, 0xAB, sizeof sealed);
    Hm__KeyRecord k = HM__KEY_RECORD__INIT;
    k.access_key_id = (char *)id;
    k.has_sealed_secret = true;
    k.sealed_secret.data = sealed;
    k.sealed_secret.len = sizeof sealed;
    k.has_seal_version = true;
    k.seal_version = HM_KEYSEAL_VERSION;
    k.has_created_ms = true;
    k.created_ms = 5000;
    Hm__KeyCreate kc = HM__KEY_CREATE__INIT;
    kc.key = &k;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_KEY_CREATE;
    c.key_create = &kc;
    return t_apply(t, &c);
}

static Hm__MetaResponse *key_grant(tmu_sm *t, const char *id, const char *bucket,
                                   uint32_t rights, bool revoke)
{
    Hm__KeyGrantSet g = HM__KEY_GRANT_SET__INIT;
    g.access_key_id = (char *)id;
    g.bucket = (char *)bucket;
    g.has_rights = true;
    g.rights = rights;
    g.has_revoke = true;
    g.revoke = revoke;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_KEY_GRANT;
    c.key_grant = &g;
    return t_apply(t, &c);
}

static Hm__MetaResponse *key_delete(tmu_sm *t, const char *id)
{
    Hm__KeyDelete d = HM__KEY_DELETE__INIT;
    d.access_key_id = (char *)id;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_KEY_DELETE;
    c.key_delete = &d;
    return t_apply(t, &c);
}

static Hm__MetaResponse *key_get(tmu_sm *t, const char *id)
{
    Hm__KeyGet g = HM__KEY_GET__INIT;
    g.access_key_id = (char *)id;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_KEY_GET;
    q.key_get = &g;
    return tmu_sm_query(t, &q);
}

static Hm__MetaResponse *bucket_create(tmu_sm *t, const char *name, const char *owner)
{
    Hm__BucketRecord b = HM__BUCKET_RECORD__INIT;
    b.name = (char *)name;
    b.owner = (char *)owner;
    Hm__BucketCreate bc = HM__BUCKET_CREATE__INIT;
    bc.bucket = &b;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_CREATE;
    c.bucket_create = &bc;
    return t_apply(t, &c);
}

static Hm__MetaResponse *bucket_delete(tmu_sm *t, const char *name)
{
    Hm__BucketDelete bd = HM__BUCKET_DELETE__INIT;
    bd.name = (char *)name;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_BUCKET_DELETE;
    c.bucket_delete = &bd;
    return t_apply(t, &c);
}

/* The rights key id holds on bucket, read back through KeyGet. */
static uint32_t rights_of(tmu_sm *t, const char *id, const char *bucket)
{
    Hm__MetaResponse *r = key_get(t, id);
    ck_assert_int_eq(r->err, 0);
    uint32_t v = hm_meta_akey_rights(r->key, bucket);
    tmu_done(r);
    return v;
}

/* Create stores the record as sent (sealed secret, time) with no grants;
 * a second create of the same id and bad records are refused. */
START_TEST(test_key_create_get)
{
    tmu_sm *t = tmu_sm_open();
    Hm__MetaResponse *r = key_create(t, "HKALPHA");
    ck_assert_int_eq(r->err, 0);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_KEY);
    tmu_done(r);
    r = key_get(t, "HKALPHA");
    ck_assert_int_eq(r->err, 0);
    ck_assert_str_eq(r->key->access_key_id, "HKALPHA");
    ck_assert_uint_eq(r->key->format_version, HM_FORMAT_VERSION);
    ck_assert_uint_eq(r->key->sealed_secret.len, 40);
    ck_assert_uint_eq(r->key->sealed_secret.data[0], 0xAB);
    ck_assert_int_eq(r->key->created_ms, 5000);
    ck_assert_uint_eq(r->key->n_grants, 0);
    tmu_done(r);
    ck_assert_int_eq(tmu_done(key_create(t, "HKALPHA")), HM_EEXIST);
    ck_assert_int_eq(tmu_done(key_create(t, "a:b")), HM_EINVAL);
    ck_assert_int_eq(tmu_done(key_create(t, "a/bc")), HM_EINVAL);
    ck_assert_int_eq(tmu_done(key_create(t, "ab")), HM_EINVAL);
    ck_assert_int_eq(tmu_done(key_get(t, "HKNOPE")), HM_ENOENT);

    /* An unsealed (too short) secret or an unknown seal version. */
    Hm__KeyRecord k = HM__KEY_RECORD__INIT;
    uint8_t raw[8] = {0};
    k.access_key_id = (char *)"HKBETA";
    k.has_sealed_secret = true;
    k.sealed_secret.data = raw;
    k.sealed_secret.len = sizeof raw;
    k.has_seal_version = true;
    k.seal_version = HM_KEYSEAL_VERSION;
    Hm__KeyCreate kc = HM__KEY_CREATE__INIT;
    kc.key = &k;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.op_case = HM__META_COMMAND__OP_KEY_CREATE;
    c.key_create = &kc;
    ck_assert_int_eq(tmu_done(t_apply(t, &c)), HM_EINVAL);
    k.seal_version = 2;
    ck_assert_int_eq(tmu_done(t_apply(t, &c)), HM_EINVAL);
    ck_assert_int_eq(tmu_done(key_get(t, "HKBETA")), HM_ENOENT);
    tmu_sm_close(t);
}
END_TEST

/* Grants add bits, revokes remove them (none named: all), grants need an
 * existing key and bucket, and owner implies read and write. */
START_TEST(test_key_grant_revoke)
{
    tmu_sm *t = tmu_sm_open();
    tmu_done(key_create(t, "HKALPHA"));
    tmu_done(bucket_create(t, "photos", "root"));
    tmu_done(bucket_create(t, "alpha", "root"));
    ck_assert_uint_eq(rights_of(t, "HKALPHA", "photos"), 0);
    ck_assert_int_eq(tmu_done(key_grant(t, "HKALPHA", "photos", HM_KEY_RIGHT_READ, false)), 0);
    ck_assert_uint_eq(rights_of(t, "HKALPHA", "photos"), HM_KEY_RIGHT_READ);
    ck_assert_int_eq(tmu_done(key_grant(t, "HKALPHA", "photos", HM_KEY_RIGHT_WRITE, false)), 0);
    ck_assert_uint_eq(rights_of(t, "HKALPHA", "photos"), HM_KEY_RIGHT_READ | HM_KEY_RIGHT_WRITE);
    ck_assert_uint_eq(rights_of(t, "HKALPHA", "alpha"), 0);
    ck_assert_int_eq(tmu_done(key_grant(t, "HKALPHA", "alpha", HM_KEY_RIGHT_OWNER, false)), 0);
    ck_assert_uint_eq(rights_of(t, "HKALPHA", "alpha"), HM_KEY_RIGHTS_ALL);

    /* Sorted by bucket, one entry per bucket. */
    Hm__MetaResponse *r = key_get(t, "HKALPHA");
    ck_assert_uint_eq(r->key->n_grants, 2);
    ck_assert_str_eq(r->key->grants[0]->bucket, "alpha");
    ck_assert_str_eq(r->key->grants[1]->bucket, "photos");
    ck_assert(hm_meta_akey_allows(r->key, "photos", HM_KEY_RIGHT_READ | HM_KEY_RIGHT_WRITE));
    ck_assert(!hm_meta_akey_allows(r->key, "photos", HM_KEY_RIGHT_OWNER));
    ck_assert(!hm_meta_akey_allows(r->key, "photo", HM_KEY_RIGHT_READ));
    ck_assert(!hm_meta_akey_allows(r->key, "photos", 0));
    tmu_done(r);

    ck_assert_int_eq(tmu_done(key_grant(t, "HKALPHA", "photos", HM_KEY_RIGHT_READ, true)), 0);
    ck_assert_uint_eq(rights_of(t, "HKALPHA", "photos"), HM_KEY_RIGHT_WRITE);
    ck_assert_int_eq(tmu_done(key_grant(t, "HKALPHA", "alpha", 0, true)), 0);
    ck_assert_uint_eq(rights_of(t, "HKALPHA", "alpha"), 0);
    r = key_get(t, "HKALPHA");
    ck_assert_uint_eq(r->key->n_grants, 1);
    tmu_done(r);

    ck_assert_int_eq(tmu_done(key_grant(t, "HKNOPE", "photos", 1, false)), HM_ENOENT);
    ck_assert_int_eq(tmu_done(key_grant(t, "HKALPHA", "nosuchbucket", 1, false)), HM_ENOBUCKET);
    ck_assert_int_eq(tmu_done(key_grant(t, "HKALPHA", "photos", 8, false)), HM_EINVAL);
    ck_assert_int_eq(tmu_done(key_grant(t, "HKALPHA", "photos", 0, false)), HM_EINVAL);
    ck_assert_int_eq(tmu_done(key_grant(t, "HKALPHA", "ab", 1, false)), HM_EINVAL);
    tmu_sm_close(t);
}
END_TEST

/* A bucket's creating key becomes its owner; deleting the bucket removes
 * every grant on it, so a re-created bucket of that name starts clean. */
START_TEST(test_bucket_hooks)
{
    tmu_sm *t = tmu_sm_open();
    tmu_done(key_create(t, "HKALPHA"));
    tmu_done(key_create(t, "HKBRAVO"));
    ck_assert_int_eq(tmu_done(bucket_create(t, "shared", "HKALPHA")), 0);
    ck_assert_uint_eq(rights_of(t, "HKALPHA", "shared"), HM_KEY_RIGHTS_ALL);
    ck_assert_uint_eq(rights_of(t, "HKBRAVO", "shared"), 0);
    tmu_done(key_grant(t, "HKBRAVO", "shared", HM_KEY_RIGHT_READ, false));
    /* Root (not in the table) creating a bucket changes no key. */
    ck_assert_int_eq(tmu_done(bucket_create(t, "rootbucket", "rootkey")), 0);
    ck_assert_uint_eq(rights_of(t, "HKALPHA", "rootbucket"), 0);
    /* A refused create (exists) grants nothing. */
    ck_assert_int_eq(tmu_done(bucket_create(t, "rootbucket", "HKBRAVO")), HM_EBUCKETEXISTS);
    ck_assert_uint_eq(rights_of(t, "HKBRAVO", "rootbucket"), 0);

    ck_assert_int_eq(tmu_done(bucket_delete(t, "shared")), 0);
    ck_assert_uint_eq(rights_of(t, "HKALPHA", "shared"), 0);
    ck_assert_uint_eq(rights_of(t, "HKBRAVO", "shared"), 0);
    Hm__MetaResponse *r = key_get(t, "HKBRAVO");
    ck_assert_uint_eq(r->key->n_grants, 0);
    tmu_done(r);
    ck_assert_int_eq(tmu_done(bucket_create(t, "shared", "rootkey")), 0);
    ck_assert_uint_eq(rights_of(t, "HKBRAVO", "shared"), 0);
    tmu_sm_close(t);
}
END_TEST

/* Delete removes the key at once; list returns every key in id order. */
START_TEST(test_key_delete_list)
{
    tmu_sm *t = tmu_sm_open();
    tmu_done(key_create(t, "HKCHARLIE"));
    tmu_done(key_create(t, "HKALPHA"));
    tmu_done(key_create(t, "HKBRAVO"));
    Hm__KeyList kl = HM__KEY_LIST__INIT;
    Hm__MetaRequest q = HM__META_REQUEST__INIT;
    q.op_case = HM__META_REQUEST__OP_KEY_LIST;
    q.key_list = &kl;
    Hm__MetaResponse *r = tmu_sm_query(t, &q);
    ck_assert_int_eq(r->result_case, HM__META_RESPONSE__RESULT_KEYS);
    ck_assert_uint_eq(r->keys->n_keys, 3);
    ck_assert_str_eq(r->keys->keys[0]->access_key_id, "HKALPHA");
    ck_assert_str_eq(r->keys->keys[2]->access_key_id, "HKCHARLIE");
    tmu_done(r);
    ck_assert_int_eq(tmu_done(key_delete(t, "HKBRAVO")), 0);
    ck_assert_int_eq(tmu_done(key_get(t, "HKBRAVO")), HM_ENOENT);
    ck_assert_int_eq(tmu_done(key_delete(t, "HKBRAVO")), HM_ENOENT);
    r = tmu_sm_query(t, &q);
    ck_assert_uint_eq(r->keys->n_keys, 2);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

/* Key ids: 3..128 printable bytes, no space, ':' or '/'. */
START_TEST(test_key_id_rule)
{
    ck_assert(hm_meta_akey_id_ok("HKAAAAAAAAAAAAAAAAAA"));
    ck_assert(hm_meta_akey_id_ok("abc"));
    ck_assert(!hm_meta_akey_id_ok("ab"));
    ck_assert(!hm_meta_akey_id_ok("a b c"));
    ck_assert(!hm_meta_akey_id_ok("abc\x7f"));
    ck_assert(!hm_meta_akey_id_ok(NULL));
    char id[HM_KEY_ID_BYTES_MAX + 2];
    memset(id, 'A', sizeof id - 1);
    id[sizeof id - 1] = '\0';
    ck_assert(!hm_meta_akey_id_ok(id));
    id[HM_KEY_ID_BYTES_MAX] = '\0';
    ck_assert(hm_meta_akey_id_ok(id));
}
END_TEST

/* ---- golden bytes ------------------------------------------------------------ */

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
    uint8_t want[4096];
    size_t n = fread(want, 1, sizeof want, f);
    fclose(f);
    ck_assert_msg(n == len, "%s: %zu bytes, golden has %zu", name, len, n);
    ck_assert_msg(memcmp(want, buf, len) == 0, "%s differs from the golden bytes", name);
}

static uint8_t fixed_sealed[51];

static void fixed_record(Hm__KeyRecord *k, Hm__KeyGrant *g, Hm__KeyGrant **gs)
{
    unhex(kat_sealed, fixed_sealed, sizeof fixed_sealed);
    hm__key_record__init(k);
    hm__key_grant__init(&g[0]);
    hm__key_grant__init(&g[1]);
    g[0].bucket = (char *)"alpha";
    g[0].has_rights = true;
    g[0].rights = HM_KEY_RIGHT_OWNER;
    g[1].bucket = (char *)"photos";
    g[1].has_rights = true;
    g[1].rights = HM_KEY_RIGHT_READ | HM_KEY_RIGHT_WRITE;
    gs[0] = &g[0];
    gs[1] = &g[1];
    k->has_format_version = true;
    k->format_version = 1;
    k->access_key_id = (char *)"HKTESTKEY0001";
    k->has_sealed_secret = true;
    k->sealed_secret.data = fixed_sealed;
    k->sealed_secret.len = sizeof fixed_sealed;
    k->has_seal_version = true;
    k->seal_version = 1;
    k->has_created_ms = true;
    k->created_ms = 1700000000000;
    k->description = (char *)"backup job";
    k->grants = gs;
    k->n_grants = 2;
}

static void golden_msg(const char *name, const ProtobufCMessage *m)
{
    uint8_t buf[1024];
    size_t n = protobuf_c_message_get_packed_size(m);
    ck_assert_uint_le(n, sizeof buf);
    protobuf_c_message_pack(m, buf);
    golden(name, buf, n);
    /* And it reads back. */
    ProtobufCMessage *u = protobuf_c_message_unpack(m->descriptor, NULL, n, buf);
    ck_assert_ptr_nonnull(u);
    protobuf_c_message_free_unpacked(u, NULL);
}

/* The version-1 key record and the three key commands, byte for byte. */
START_TEST(test_golden_key_records)
{
    Hm__KeyRecord k;
    Hm__KeyGrant g[2];
    Hm__KeyGrant *gs[2];
    fixed_record(&k, g, gs);
    golden_msg("meta_key_record_v1.bin", &k.base);

    Hm__KeyRecord created = k;
    created.grants = NULL;
    created.n_grants = 0;
    Hm__KeyCreate kc = HM__KEY_CREATE__INIT;
    kc.key = &created;
    Hm__MetaCommand c = HM__META_COMMAND__INIT;
    c.has_format_version = true;
    c.format_version = 1;
    c.op_case = HM__META_COMMAND__OP_KEY_CREATE;
    c.key_create = &kc;
    golden_msg("meta_command_key_create_v1.bin", &c.base);

    Hm__KeyGrantSet gr = HM__KEY_GRANT_SET__INIT;
    gr.access_key_id = (char *)"HKTESTKEY0001";
    gr.bucket = (char *)"photos";
    gr.has_rights = true;
    gr.rights = HM_KEY_RIGHT_READ;
    gr.has_revoke = true;
    gr.revoke = false;
    Hm__MetaCommand cg = HM__META_COMMAND__INIT;
    cg.has_format_version = true;
    cg.format_version = 1;
    cg.op_case = HM__META_COMMAND__OP_KEY_GRANT;
    cg.key_grant = &gr;
    golden_msg("meta_command_key_grant_v1.bin", &cg.base);

    Hm__KeyDelete kd = HM__KEY_DELETE__INIT;
    kd.access_key_id = (char *)"HKTESTKEY0001";
    Hm__MetaCommand cd = HM__META_COMMAND__INIT;
    cd.has_format_version = true;
    cd.format_version = 1;
    cd.op_case = HM__META_COMMAND__OP_KEY_DELETE;
    cd.key_delete = &kd;
    golden_msg("meta_command_key_delete_v1.bin", &cd.base);
}
END_TEST

/* A grant rewrites the record from its unpacked form: a field a newer
 * version added (unknown here) survives. */
START_TEST(test_unknown_field_survives_grant)
{
    tmu_sm *t = tmu_sm_open();
    tmu_done(bucket_create(t, "photos", "rootkey"));
    Hm__KeyRecord k;
    Hm__KeyGrant g[2];
    Hm__KeyGrant *gs[2];
    fixed_record(&k, g, gs);
    k.grants = NULL;
    k.n_grants = 0;
    uint8_t buf[1024];
    size_t n = hm__key_record__pack(&k, buf);
    /* field 99, varint 7: a newer version's field */
    buf[n++] = (uint8_t)(99 << 3 & 0x7f) | 0x80;
    buf[n++] = (uint8_t)(99 >> 4);
    buf[n++] = 7;
    hm_kv_txn *txn = NULL;
    ck_assert_int_eq(t->env->ops->kv_begin(t->kv, true, &txn), 0);
    ck_assert_int_eq(t->env->ops->kv_put(txn, HM_KV_KEYS, "HKTESTKEY0001", 13, buf, n), 0);
    ck_assert_int_eq(t->env->ops->kv_commit(txn, false), 0);
    ck_assert_int_eq(tmu_done(key_grant(t, "HKTESTKEY0001", "photos", HM_KEY_RIGHT_READ, false)),
                     0);
    Hm__MetaResponse *r = key_get(t, "HKTESTKEY0001");
    ck_assert_int_eq(r->err, 0);
    ck_assert_uint_eq(r->key->n_grants, 1);
    ck_assert_uint_eq(r->key->base.n_unknown_fields, 1);
    ck_assert_uint_eq(r->key->base.unknown_fields[0].tag, 99);
    tmu_done(r);
    tmu_sm_close(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_keys_access");
    TCase *tc = tcase_create("keys");
    tcase_add_test(tc, test_seal_key_derivation);
    tcase_add_test(tc, test_seal_known_answer);
    tcase_add_test(tc, test_seal_refusals);
    tcase_add_test(tc, test_key_create_get);
    tcase_add_test(tc, test_key_grant_revoke);
    tcase_add_test(tc, test_bucket_hooks);
    tcase_add_test(tc, test_key_delete_list);
    tcase_add_test(tc, test_key_id_rule);
    tcase_add_test(tc, test_golden_key_records);
    tcase_add_test(tc, test_unknown_field_survives_grant);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
