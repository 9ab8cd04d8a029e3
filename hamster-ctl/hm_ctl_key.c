/* hm_ctl_key.c - `key`: access keys and their per-bucket grants.
 *
 *   key create  -data-dir D [-meta ADDR] [-description TEXT]
 *   key list    -data-dir D [-meta ADDR]
 *   key delete  KEYID -data-dir D [-meta ADDR]
 *   key grant   KEYID -bucket B [-read] [-write] [-owner] -data-dir D [-meta ADDR]
 *   key revoke  KEYID -bucket B [-read] [-write] [-owner] -data-dir D [-meta ADDR]
 *
 * How the verbs reach the store: over the cluster's mutual-TLS RPC to the
 * running metadata service (hamster-meta, or `hamster serve`, which serves
 * its metadata on its -listen address), at -meta or else the address the
 * data directory recorded at init.  The admin's credentials are the data
 * directory's own node certificate and the root key from the environment
 * (checked against the cluster fingerprint), so whoever can read the data
 * directory and knows the root secret administers keys, and nobody else.
 * The commands go through the metadata log like every other mutation, so
 * they replicate unchanged under Raft.  A stopped server is not edited
 * behind its back: with nothing listening the verbs say so and change
 * nothing.
 *
 * The secret is generated here, shown once, and sealed here (common/
 * hm_keyseal.h) before it leaves the process: the log and the table only
 * ever hold the sealed form.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "hm_cluster.h"
#include "hm_ctl.h"
#include "hm_env.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_keyseal.h"
#include "hm_limits.h"
#include "hm_log.h"
#include "hm_meta_akeys.h"
#include "hm_meta_api.h"
#include "hm_rpc.h"

#define KEY_ID_PREFIX "HK"
#define KEY_ID_RANDOM_CHARS 18u     /* 20 characters, like AWS's key ids */
#define KEY_SECRET_CHARS 40u        /* ~238 bits */

typedef struct key_session {
    hm_env *env;
    hm_tls *tls;
    hm_meta_api *meta;
    const char *root_ak;
    const char *root_sk;
    char addr[256];
} key_session;

static void key_usage(void)
{
    fprintf(stderr,
            "usage: key <verb> [KEYID] -data-dir DIR [-meta ADDR] [flags]\n"
            "verbs:\n"
            "  create [-description TEXT]             make a key; prints its id and secret once\n"
            "  list                                    every key and its grants\n"
            "  delete KEYID                            the key stops working at once\n"
            "  grant  KEYID -bucket B -read|-write|-owner   add rights on bucket B\n"
            "  revoke KEYID -bucket B [-read|-write|-owner] remove them (none named: all)\n"
            "The metadata service must be running (hamster serve, or hamster-meta);\n"
            "-meta defaults to the RPC address recorded in DIR at init.\n"
            "The root key (HAMSTER_ACCESS_KEY_ID, HAMSTER_SECRET_ACCESS_KEY) must be set.\n");
}

static void key_session_close(key_session *s)
{
    if (s->meta != NULL) s->meta->ops->free(s->meta);
    hm_tls_free(s->tls);
    if (s->env != NULL) hm_env_posix_free(s->env);
    memset(s, 0, sizeof *s);
}

/* Check the data directory and root key, and open the RPC client. */
static int key_session_open(key_session *s, const char *data_dir, const char *meta_addr)
{
    memset(s, 0, sizeof *s);
    if (hm_ctl_root_key(&s->root_ak, &s->root_sk) != 0) return 1;
    int rc = hm_env_posix_new(&s->env);
    if (rc != 0) {
        fprintf(stderr, "hamster: environment: %s\n", hm_err_msg(rc));
        return 1;
    }
    Hm__ClusterIdentity *id = NULL;
    rc = hm_cluster_check(s->env, data_dir, s->root_ak, s->root_sk, &id);
    if (rc == HM_ENOENT) {
        fprintf(stderr, "hamster: %s is not an initialised data directory\n", data_dir);
        return 1;
    }
    if (rc == HM_EPERM) {
        fprintf(stderr, "hamster: %s does not match the cluster's root key in %s\n",
                HM_ENV_SECRET_KEY, data_dir);
        return 1;
    }
    if (rc != 0) {
        fprintf(stderr, "hamster: cluster identity in %s: %s\n", data_dir, hm_err_msg(rc));
        return 1;
    }
    const char *addr = meta_addr != NULL ? meta_addr : id->listen;
    snprintf(s->addr, sizeof s->addr, "%s", addr != NULL ? addr : "");
    hm__cluster_identity__free_unpacked(id, NULL);
    if (s->addr[0] == '\0') {
        fprintf(stderr, "hamster: %s records no RPC address: pass -meta ADDR\n", data_dir);
        return 1;
    }
    rc = hm_tls_new_from_data_dir(&s->tls, data_dir);
    if (rc != 0) {
        fprintf(stderr, "hamster: certificates in %s/tls: %s\n", data_dir, hm_err_msg(rc));
        return 1;
    }
    rc = hm_meta_api_rpc_new(&s->meta, s->tls, s->addr);
    if (rc != 0) {
        fprintf(stderr, "hamster: metadata client for %s: %s\n", s->addr, hm_err_msg(rc));
        return 1;
    }
    return 0;
}

/* One request; prints the failure and returns non-zero, or 0 with *out. */
static int key_call(key_session *s, Hm__MetaRequest *req, Hm__MetaResponse **out,
                    const char *what)
{
    req->has_format_version = true;
    req->format_version = HM_FORMAT_VERSION;
    req->request_id = (char *)"ctl-key";
    if (req->op_case == HM__META_REQUEST__OP_COMMAND) {
        req->command->has_format_version = true;
        req->command->format_version = HM_FORMAT_VERSION;
    }
    Hm__MetaResponse *resp = NULL;
    int rc = hm_meta_call(s->meta, req, &resp);
    if (rc != 0) {
        fprintf(stderr,
                "hamster: cannot reach the metadata service at %s (%s): is hamster serve "
                "or hamster-meta running there? (-meta ADDR)\n",
                s->addr, hm_err_msg(rc));
        return 1;
    }
    if (resp->has_err && resp->err != 0) {
        fprintf(stderr, "hamster: %s: %s\n", what,
                resp->err_msg != NULL ? resp->err_msg : hm_err_msg(resp->err));
        hm__meta_response__free_unpacked(resp, NULL);
        return 1;
    }
    *out = resp;
    return 0;
}

/* n characters from alphabet, uniformly (rejection sampling). */
static void key_random_chars(hm_env *env, const char *alphabet, char *out, size_t n)
{
    size_t m = strlen(alphabet);
    unsigned limit = 256u - 256u % (unsigned)m;
    size_t o = 0;
    while (o < n) {
        uint8_t b[64];
        hm_random(env, b, sizeof b);
        for (size_t i = 0; i < sizeof b && o < n; i++)
            if (b[i] < limit) out[o++] = alphabet[b[i] % m];
        OPENSSL_cleanse(b, sizeof b);
    }
    out[n] = '\0';
}

static void key_rights_str(uint32_t r, char out[4])
{
    size_t n = 0;
    if (r & HM_KEY_RIGHT_READ) out[n++] = 'r';
    if (r & HM_KEY_RIGHT_WRITE) out[n++] = 'w';
    if (r & HM_KEY_RIGHT_OWNER) out[n++] = 'o';
    out[n] = '\0';
}

static int key_create(key_session *s, const char *description)
{
    char id[sizeof KEY_ID_PREFIX + KEY_ID_RANDOM_CHARS];
    char secret[KEY_SECRET_CHARS + 1];
    memcpy(id, KEY_ID_PREFIX, sizeof KEY_ID_PREFIX - 1);
    key_random_chars(s->env, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", id + sizeof KEY_ID_PREFIX - 1,
                     KEY_ID_RANDOM_CHARS);
    key_random_chars(s->env,
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                     secret, KEY_SECRET_CHARS);
    uint8_t seal_key[HM_KEYSEAL_KEY_BYTES], nonce[HM_KEYSEAL_NONCE_BYTES];
    uint8_t sealed[HM_KEYSEAL_SEALED_BYTES_MAX];
    size_t sealed_len = 0;
    hm_random(s->env, nonce, sizeof nonce);
    int rc = hm_keyseal_derive(s->root_sk, seal_key);
    if (rc == 0)
        rc = hm_keyseal_seal(seal_key, id, secret, nonce, sealed, sizeof sealed, &sealed_len);
    OPENSSL_cleanse(seal_key, sizeof seal_key);
    if (rc != 0) {
        OPENSSL_cleanse(secret, sizeof secret);
        fprintf(stderr, "hamster: cannot seal the new secret: %s\n", hm_err_msg(rc));
        return 1;
    }
    Hm__KeyRecord rec = HM__KEY_RECORD__INIT;
    rec.has_format_version = true;
    rec.format_version = HM_FORMAT_VERSION;
    rec.access_key_id = id;
    rec.has_sealed_secret = true;
    rec.sealed_secret.data = sealed;
    rec.sealed_secret.len = sealed_len;
    rec.has_seal_version = true;
    rec.seal_version = HM_KEYSEAL_VERSION;
    rec.has_created_ms = true;
    rec.created_ms = hm_wall_ms(s->env);
    rec.description = (char *)description;
    Hm__KeyCreate kc = HM__KEY_CREATE__INIT;
    kc.key = &rec;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_KEY_CREATE;
    cmd.key_create = &kc;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_COMMAND;
    req.command = &cmd;
    Hm__MetaResponse *resp = NULL;
    if (key_call(s, &req, &resp, "create") != 0) {
        OPENSSL_cleanse(secret, sizeof secret);
        return 1;
    }
    hm__meta_response__free_unpacked(resp, NULL);
    printf("AccessKeyId: %s\nSecretAccessKey: %s\n", id, secret);
    fprintf(stderr, "hamster: the secret is shown only now; the key has no rights until "
                    "granted (key grant %s -bucket B -read|-write|-owner)\n", id);
    OPENSSL_cleanse(secret, sizeof secret);
    return 0;
}

static int key_list(key_session *s)
{
    Hm__KeyList kl = HM__KEY_LIST__INIT;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_KEY_LIST;
    req.key_list = &kl;
    Hm__MetaResponse *resp = NULL;
    if (key_call(s, &req, &resp, "list") != 0) return 1;
    printf("%-22s %-20s %s\n", "ACCESS KEY ID", "CREATED (UTC)", "GRANTS (r read, w write, o owner)");
    printf("%-22s %-20s %s\n", s->root_ak, "-", "* (root key from the environment: every right)");
    const Hm__KeyListResult *r =
        resp->result_case == HM__META_RESPONSE__RESULT_KEYS ? resp->keys : NULL;
    for (size_t i = 0; r != NULL && i < r->n_keys; i++) {
        const Hm__KeyRecord *k = r->keys[i];
        char when[32] = "-";
        if (k->has_created_ms) {
            time_t t = (time_t)(k->created_ms / 1000);
            struct tm tm;
            if (gmtime_r(&t, &tm) != NULL) strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
        }
        printf("%-22s %-20s", k->access_key_id != NULL ? k->access_key_id : "?", when);
        if (k->n_grants == 0) printf(" (none)");
        for (size_t g = 0; g < k->n_grants; g++) {
            char rs[4];
            key_rights_str(k->grants[g]->rights, rs);
            printf("%s%s:%s", g == 0 ? " " : ",", k->grants[g]->bucket, rs);
        }
        if (k->description != NULL && k->description[0] != '\0')
            printf("  # %s", k->description);
        printf("\n");
    }
    hm__meta_response__free_unpacked(resp, NULL);
    return 0;
}

static int key_delete(key_session *s, const char *id)
{
    if (strcmp(id, s->root_ak) == 0) {
        fprintf(stderr, "hamster: %s is the root key: it comes from the environment and "
                        "cannot be deleted here\n", id);
        return 1;
    }
    Hm__KeyDelete kd = HM__KEY_DELETE__INIT;
    kd.access_key_id = (char *)id;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_KEY_DELETE;
    cmd.key_delete = &kd;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_COMMAND;
    req.command = &cmd;
    Hm__MetaResponse *resp = NULL;
    char what[200];
    snprintf(what, sizeof what, "delete %s", id);
    if (key_call(s, &req, &resp, what) != 0) return 1;
    hm__meta_response__free_unpacked(resp, NULL);
    printf("deleted %s\n", id);
    return 0;
}

static int key_grant(key_session *s, const char *id, const char *bucket, uint32_t rights,
                     bool revoke)
{
    if (strcmp(id, s->root_ak) == 0) {
        fprintf(stderr, "hamster: %s is the root key: it holds every right already\n", id);
        return 1;
    }
    Hm__KeyGrantSet g = HM__KEY_GRANT_SET__INIT;
    g.access_key_id = (char *)id;
    g.bucket = (char *)bucket;
    g.has_rights = true;
    g.rights = rights;
    g.has_revoke = true;
    g.revoke = revoke;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_KEY_GRANT;
    cmd.key_grant = &g;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_COMMAND;
    req.command = &cmd;
    Hm__MetaResponse *resp = NULL;
    char what[300];
    snprintf(what, sizeof what, "%s %s on %s", revoke ? "revoke" : "grant", id, bucket);
    if (key_call(s, &req, &resp, what) != 0) return 1;
    uint32_t now = resp->result_case == HM__META_RESPONSE__RESULT_KEY
                       ? hm_meta_akey_rights(resp->key, bucket)
                       : 0;
    hm__meta_response__free_unpacked(resp, NULL);
    char rs[4];
    key_rights_str(now, rs);
    printf("%s on %s: %s\n", id, bucket, rs[0] != '\0' ? rs : "(none)");
    return 0;
}

int hm_ctl_key(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "-help") == 0 ||
        strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0) {
        key_usage();
        return argc < 1 ? 2 : 0;
    }
    const char *verb = argv[0];
    const char *data_dir = NULL, *meta = NULL, *bucket = NULL, *description = NULL;
    bool r = false, w = false, o = false, help = false;
    const hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "data directory of a node of the cluster"},
        {"meta", HM_FLAG_STR, &meta, "metadata RPC address (default: the one recorded at init)"},
        {"bucket", HM_FLAG_STR, &bucket, "grant, revoke: the bucket"},
        {"read", HM_FLAG_BOOL, &r, "grant, revoke: list, get, head"},
        {"write", HM_FLAG_BOOL, &w, "grant, revoke: put, delete, multipart, copy into"},
        {"owner", HM_FLAG_BOOL, &o, "grant, revoke: bucket delete and configuration (implies read, write)"},
        {"description", HM_FLAG_STR, &description, "create: a note kept with the key"},
        {"h", HM_FLAG_BOOL, &help, "show this help"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    const char *id = NULL;
    int rest = 1;
    /* Flags may come before and after the one positional KEYID. */
    while (rest < argc) {
        if (hm_flags_parse(flags, nflags, argc, argv, rest, &rest) != 0) {
            key_usage();
            return 2;
        }
        if (rest >= argc) break;
        if (id != NULL) {
            fprintf(stderr, "hamster: unexpected argument %s\n", argv[rest]);
            return 2;
        }
        id = argv[rest++];
    }
    if (help) {
        key_usage();
        hm_flags_usage(stderr, "key <verb> [KEYID] -data-dir DIR", flags, nflags);
        return 0;
    }
    bool needs_id = strcmp(verb, "delete") == 0 || strcmp(verb, "grant") == 0 ||
                    strcmp(verb, "revoke") == 0;
    bool known = needs_id || strcmp(verb, "create") == 0 || strcmp(verb, "list") == 0;
    if (!known) {
        fprintf(stderr, "hamster: unknown key verb %s\n", verb);
        key_usage();
        return 2;
    }
    if (data_dir == NULL) {
        fprintf(stderr, "hamster: key %s needs -data-dir\n", verb);
        return 2;
    }
    if (needs_id != (id != NULL)) {
        fprintf(stderr, needs_id ? "hamster: key %s needs a KEYID\n"
                                 : "hamster: key %s takes no KEYID\n", verb);
        return 2;
    }
    bool grants = strcmp(verb, "grant") == 0 || strcmp(verb, "revoke") == 0;
    uint32_t rights = (r ? HM_KEY_RIGHT_READ : 0) | (w ? HM_KEY_RIGHT_WRITE : 0) |
                      (o ? HM_KEY_RIGHT_OWNER : 0);
    if (grants && bucket == NULL) {
        fprintf(stderr, "hamster: key %s needs -bucket\n", verb);
        return 2;
    }
    if (strcmp(verb, "grant") == 0 && rights == 0) {
        fprintf(stderr, "hamster: key grant needs -read, -write and/or -owner\n");
        return 2;
    }
    if (!grants && (bucket != NULL || rights != 0)) {
        fprintf(stderr, "hamster: -bucket, -read, -write and -owner go with grant and revoke\n");
        return 2;
    }
    key_session s;
    int rc = key_session_open(&s, data_dir, meta);
    if (rc == 0) {
        if (strcmp(verb, "create") == 0) rc = key_create(&s, description);
        else if (strcmp(verb, "list") == 0) rc = key_list(&s);
        else if (strcmp(verb, "delete") == 0) rc = key_delete(&s, id);
        else rc = key_grant(&s, id, bucket, rights, strcmp(verb, "revoke") == 0);
    }
    key_session_close(&s);
    return rc;
}
