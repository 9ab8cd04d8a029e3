/* test_gw_objsvc_fixture.h - the fixture shared by the object-service unit
 * tests: an object service over an in-process metadata node and DISKS
 * in-process shard stores on a temporary directory, plus file-counting and
 * test-data helpers. */
#ifndef TEST_GW_OBJSVC_FIXTURE_H
#define TEST_GW_OBJSVC_FIXTURE_H

#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_disk_util.h"
#include "hm_limits.h"
#include "hm_meta_node.h"
#include "hm_objsvc.h"
#include "hm_shard_store.h"

#define DISKS 2
/* Shard files of one blob: two disks give the 1+1 profile. */
#define SHARDS_PER_BLOB 2

static char tmpdir[256];
static hm_env *env;
static hm_meta_node *node;
static hm_meta_api *meta;
static hm_shard_store *stores[DISKS];
static hm_shard_api *shards[DISKS];
static hm_objsvc *svc;

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

/* Regular files below path (recursively). */
static int count_files(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char sub[1024];
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        struct stat st;
        if (stat(sub, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) n += count_files(sub);
        else if (S_ISREG(st.st_mode)) n++;
    }
    closedir(d);
    return n;
}

/* Shard files (committed or temporary) on every disk. */
static int shard_files(void)
{
    int n = 0;
    for (int i = 0; i < DISKS; i++) {
        char p[512];
        snprintf(p, sizeof(p), "%s/disk%d/shards", tmpdir, i);
        n += count_files(p);
        snprintf(p, sizeof(p), "%s/disk%d/tmp", tmpdir, i);
        n += count_files(p);
    }
    return n;
}

/* Open the node, the stores and the service under a fresh directory made
 * from tmpl (a mkdtemp template), and create bucket "bkt". */
static void objsvc_fixture_setup(const char *tmpl)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    ck_assert_int_eq(hm_env_posix_new(&env), 0);
    char p[512];
    snprintf(p, sizeof(p), "%s/meta", tmpdir);
    mkdir(p, 0700);
    ck_assert_int_eq(hm_meta_node_open(&node, env, p), 0);
    ck_assert_int_eq(hm_meta_api_local_new(&meta, node), 0);
    for (int i = 0; i < DISKS; i++) {
        snprintf(p, sizeof(p), "%s/disk%d", tmpdir, i);
        mkdir(p, 0700);
        ck_assert_int_eq(test_store_open(&stores[i], env, p), 0);
        ck_assert_int_eq(hm_shard_api_local_new(&shards[i], stores[i]), 0);
    }
    hm_objsvc_config cfg = {
        .env = env,
        .meta = meta,
        .shards = shards,
        .shard_count = DISKS,
        .gc_grace_ms = 0,
        .intent_ttl_ms = HM_INTENT_TTL_MS,
    };
    ck_assert_int_eq(hm_objsvc_new(&svc, &cfg), 0);
    ck_assert_int_eq(hm_objsvc_bucket_create(svc, "t", "bkt", "us-east-1", "AK"), 0);
}

static void objsvc_fixture_teardown(void)
{
    hm_objsvc_free(svc);
    for (int i = 0; i < DISKS; i++) {
        shards[i]->ops->free(shards[i]);
        hm_shard_store_close(stores[i]);
    }
    meta->ops->free(meta);
    hm_meta_node_close(node);
    hm_env_posix_free(env);
    rm_rf(tmpdir);
}

/* n bytes of a deterministic pattern varied by seed; free() it. */
static uint8_t *pattern(size_t n, unsigned seed)
{
    uint8_t *b = malloc(n > 0 ? n : 1);
    ck_assert_ptr_nonnull(b);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)((i * 131u + seed + (i >> 12)) & 0xff);
    return b;
}

#endif
