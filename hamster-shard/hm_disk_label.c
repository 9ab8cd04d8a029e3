/* hm_disk_label.c - disk labels: parse, check, and the explicit format.
 *
 * The shaping decision: opening a disk never writes to it.  Only
 * hm_disk_format creates a directory or a label, and it refuses anything
 * that already holds a label or data, so a lost, swapped or foreign disk is
 * reported by hm_disk_check and never papered over with an empty one.
 * Everything goes through hm_env, so the simulator's crash model covers the
 * format's durable sequence too.
 */
#include "hm_disk_label.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_daemon.h"
#include "hm_err.h"
#include "hm_shard.pb-c.h"

#define LABEL_PATH_BYTES 4096u

static bool label_is_hex_id(const char *s)
{
    if (s == NULL || strlen(s) != HM_DISK_ID_HEX_BYTES) return false;
    for (size_t i = 0; i < HM_DISK_ID_HEX_BYTES; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

static void label_reason(char *reason, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void label_reason(char *reason, size_t cap, const char *fmt, ...)
{
    if (reason == NULL || cap == 0) return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(reason, cap, fmt, ap);
    va_end(ap);
}

static int label_join(char *out, size_t cap, const char *dir, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n < 0 || (size_t)n >= cap ? HM_ETOOBIG : 0;
}

int hm_disk_label_parse(const void *buf, size_t len, hm_disk_label *out)
{
    if (len > HM_DISK_LABEL_BYTES_MAX) return HM_ECORRUPT;
    Hm__DiskIdentity *id = hm__disk_identity__unpack(NULL, len, buf);
    if (id == NULL) return HM_ECORRUPT;
    int rc = HM_ECORRUPT;
    hm_disk_label l;
    memset(&l, 0, sizeof l);
    if (!id->has_format_version) goto done;
    if (id->format_version < HM_DISK_LABEL_VERSION_MIN ||
        id->format_version > HM_DISK_LABEL_VERSION) {
        rc = HM_EVERSION;
        goto done;
    }
    l.format_version = id->format_version;
    if (!label_is_hex_id(id->disk_id)) goto done;
    memcpy(l.disk_id, id->disk_id, HM_DISK_ID_HEX_BYTES + 1);
    l.created_ms = id->has_created_ms ? id->created_ms : 0;
    l.slot = HM_DISK_SLOT_ANY;
    if (id->cluster_id != NULL) {
        if (!label_is_hex_id(id->cluster_id)) goto done;
        memcpy(l.cluster_id, id->cluster_id, HM_DISK_ID_HEX_BYTES + 1);
    }
    if (l.format_version >= 2) {
        if (l.cluster_id[0] == '\0' || !id->has_slot || id->slot > HM_DISK_SLOT_MAX) goto done;
        l.slot = id->slot;
    }
    *out = l;
    rc = 0;
done:
    hm__disk_identity__free_unpacked(id, NULL);
    return rc;
}

int hm_disk_label_pack(const hm_disk_label *l, uint8_t *buf, size_t cap, size_t *len)
{
    if (l->format_version < HM_DISK_LABEL_VERSION_MIN || l->format_version > HM_DISK_LABEL_VERSION ||
        !label_is_hex_id(l->disk_id))
        return HM_EINVAL;
    Hm__DiskIdentity id = HM__DISK_IDENTITY__INIT;
    id.has_format_version = true;
    id.format_version = l->format_version;
    id.disk_id = (char *)l->disk_id;
    id.has_created_ms = true;
    id.created_ms = l->created_ms;
    if (l->cluster_id[0] != '\0') {
        if (!label_is_hex_id(l->cluster_id)) return HM_EINVAL;
        id.cluster_id = (char *)l->cluster_id;
    }
    if (l->format_version >= 2) {
        if (l->cluster_id[0] == '\0' || l->slot > HM_DISK_SLOT_MAX) return HM_EINVAL;
        id.has_slot = true;
        id.slot = l->slot;
    }
    size_t n = hm__disk_identity__get_packed_size(&id);
    if (n > cap) return HM_ETOOBIG;
    *len = hm__disk_identity__pack(&id, buf);
    return 0;
}

int hm_disk_label_read(hm_env *env, const char *disk_dir, hm_disk_label *out)
{
    char path[LABEL_PATH_BYTES];
    int rc = label_join(path, sizeof path, disk_dir, HM_DISK_LABEL_FILE);
    if (rc != 0) return rc;
    void *buf = NULL;
    size_t len = 0;
    rc = hm_env_read_file(env, path, HM_DISK_LABEL_BYTES_MAX, &buf, &len);
    if (rc == HM_ETOOBIG) return HM_ECORRUPT;
    if (rc != 0) return rc;
    rc = hm_disk_label_parse(buf, len, out);
    free(buf);
    return rc;
}

/* What a directory without a label holds, for the reason and the format's
 * emptiness rule. */
typedef struct label_scan {
    size_t entries;        /* anything but the harmless ones below */
    char first[256];       /* the first such entry, for the message */
} label_scan;

static int label_scan_cb(void *arg, const char *name, bool is_dir)
{
    label_scan *sc = arg;
    (void)is_dir;
    if (strcmp(name, HM_DAEMON_LOCK_FILE) == 0 || strcmp(name, "lost+found") == 0) return 0;
    /* A format cut short leaves at most its own empty directories and the
     * label's temporary file: formatting again is safe. */
    if (strcmp(name, "tmp") == 0 || strcmp(name, "shards") == 0 ||
        strncmp(name, HM_DISK_LABEL_FILE ".tmp-", sizeof HM_DISK_LABEL_FILE + 4) == 0)
        return 0;
    if (sc->entries++ == 0) snprintf(sc->first, sizeof sc->first, "%s", name);
    return 0;
}

static int label_count_cb(void *arg, const char *name, bool is_dir)
{
    (void)name;
    (void)is_dir;
    (*(size_t *)arg)++;
    return 1; /* one is enough */
}

/* Count what dir holds besides the harmless entries (an empty shards/
 * included: a format cut short leaves it). */
static int label_scan_dir(hm_env *env, const char *dir, label_scan *sc)
{
    memset(sc, 0, sizeof *sc);
    int rc = env->ops->list_dir(env, dir, label_scan_cb, sc);
    if (rc != 0) return rc;
    char path[LABEL_PATH_BYTES];
    if (label_join(path, sizeof path, dir, "shards") != 0) return HM_ETOOBIG;
    bool is_dir = false;
    if (env->ops->exists(env, path, &is_dir) == 0) {
        size_t n = 0;
        if (is_dir) {
            rc = env->ops->list_dir(env, path, label_count_cb, &n);
            if (rc < 0) return rc;
        }
        if (n > 0 || !is_dir) {
            if (sc->entries++ == 0) snprintf(sc->first, sizeof sc->first, "shards");
        }
    }
    return 0;
}

int hm_disk_check(hm_env *env, const char *disk_dir, const char *cluster_id, uint32_t slot,
                  hm_disk_label *out, char *reason, size_t cap)
{
    hm_disk_label l;
    bool is_dir = false;
    int rc = env->ops->exists(env, disk_dir, &is_dir);
    if (rc == HM_ENOENT) {
        label_reason(reason, cap, "missing: %s does not exist (not formatted again "
                     "automatically; `hamster disk replace` formats a new disk)", disk_dir);
        return HM_ENOENT;
    }
    if (rc != 0) {
        label_reason(reason, cap, "cannot reach %s: %s", disk_dir, hm_err_msg(rc));
        return rc;
    }
    if (!is_dir) {
        label_reason(reason, cap, "%s is not a directory", disk_dir);
        return HM_ENOENT;
    }
    rc = hm_disk_label_read(env, disk_dir, &l);
    if (rc == HM_ENOENT) {
        label_scan sc;
        int src = label_scan_dir(env, disk_dir, &sc);
        if (src != 0) {
            label_reason(reason, cap, "cannot list %s: %s", disk_dir, hm_err_msg(src));
            return src;
        }
        if (sc.entries == 0)
            label_reason(reason, cap, "empty: %s holds no hamster-disk label (not formatted)",
                         disk_dir);
        else
            label_reason(reason, cap, "unlabelled: %s holds files (%s) but no hamster-disk label",
                         disk_dir, sc.first);
        return HM_ENOENT;
    }
    if (rc == HM_EVERSION) {
        label_reason(reason, cap, "label %s/" HM_DISK_LABEL_FILE " was written by a newer "
                     "format than this build reads", disk_dir);
        return rc;
    }
    if (rc == HM_ECORRUPT) {
        label_reason(reason, cap, "label %s/" HM_DISK_LABEL_FILE " does not parse", disk_dir);
        return rc;
    }
    if (rc != 0) {
        label_reason(reason, cap, "cannot read label of %s: %s", disk_dir, hm_err_msg(rc));
        return rc;
    }
    if (cluster_id != NULL && l.cluster_id[0] != '\0' && strcmp(l.cluster_id, cluster_id) != 0) {
        label_reason(reason, cap, "foreign: disk %s is labelled for cluster %s, this node is "
                     "cluster %s", l.disk_id, l.cluster_id, cluster_id);
        return HM_EPERM;
    }
    if (slot != HM_DISK_SLOT_ANY && l.slot != HM_DISK_SLOT_ANY && l.slot != slot) {
        label_reason(reason, cap, "wrong slot: disk %s is labelled for slot %u, configured "
                     "as slot %u (disk list reordered?)", l.disk_id, (unsigned)l.slot,
                     (unsigned)slot);
        return HM_EPERM;
    }
    static const char *const subdirs[] = {"shards", "tmp"};
    for (size_t i = 0; i < 2; i++) {
        char path[LABEL_PATH_BYTES];
        if (label_join(path, sizeof path, disk_dir, subdirs[i]) != 0) return HM_ETOOBIG;
        is_dir = false;
        rc = env->ops->exists(env, path, &is_dir);
        if (rc == 0 && !is_dir) rc = HM_ENOENT;
        if (rc != 0) {
            label_reason(reason, cap, "disk %s has no %s/ directory: %s", l.disk_id,
                         subdirs[i], hm_err_msg(rc));
            return rc == HM_ENOENT ? HM_ENOENT : rc;
        }
    }
    if (out != NULL) *out = l;
    return 0;
}

/* fsync the directory holding path, so a new entry for path persists. */
static int label_sync_parent(hm_env *env, const char *path)
{
    char parent[LABEL_PATH_BYTES];
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    while (n > 0 && path[n - 1] != '/') n--;
    while (n > 1 && path[n - 1] == '/') n--;
    if (n == 0) return env->ops->sync_dir(env, ".");
    if (n >= sizeof parent) return HM_ETOOBIG;
    memcpy(parent, path, n);
    parent[n] = '\0';
    return env->ops->sync_dir(env, parent);
}

static int label_mkdir(hm_env *env, const char *path, bool *created)
{
    *created = false;
    int rc = env->ops->mkdir(env, path);
    if (rc == 0) {
        *created = true;
        return 0;
    }
    if (rc != HM_EEXIST) return rc;
    bool is_dir = false;
    rc = env->ops->exists(env, path, &is_dir);
    if (rc != 0) return rc;
    return is_dir ? 0 : HM_EEXIST;
}

int hm_disk_format(hm_env *env, const char *disk_dir, const char *cluster_id, uint32_t slot,
                   hm_disk_label *out, char *reason, size_t cap)
{
    char path[LABEL_PATH_BYTES];
    bool created = false;
    int rc;
    if (!label_is_hex_id(cluster_id) || slot > HM_DISK_SLOT_MAX || disk_dir[0] == '\0' ||
        strlen(disk_dir) > LABEL_PATH_BYTES - 64) {
        label_reason(reason, cap, "cannot format %s: bad cluster id, slot or path", disk_dir);
        return HM_EINVAL;
    }
    rc = label_mkdir(env, disk_dir, &created);
    if (rc == 0 && created) rc = label_sync_parent(env, disk_dir);
    if (rc != 0) {
        label_reason(reason, cap, "cannot create %s: %s", disk_dir, hm_err_msg(rc));
        return rc;
    }
    hm_disk_label old;
    rc = hm_disk_label_read(env, disk_dir, &old);
    if (rc == 0) {
        label_reason(reason, cap, "%s is already formatted as disk %s (slot %d); refusing to "
                     "format it again", disk_dir, old.disk_id,
                     old.slot == HM_DISK_SLOT_ANY ? -1 : (int)old.slot);
        return HM_EEXIST;
    }
    if (rc != HM_ENOENT) {
        label_reason(reason, cap, "%s holds a label that does not read (%s); refusing to "
                     "format over it", disk_dir, hm_err_msg(rc));
        return HM_EEXIST;
    }
    label_scan sc;
    rc = label_scan_dir(env, disk_dir, &sc);
    if (rc != 0) {
        label_reason(reason, cap, "cannot list %s: %s", disk_dir, hm_err_msg(rc));
        return rc;
    }
    if (sc.entries > 0) {
        label_reason(reason, cap, "%s is not empty (holds %s); refusing to format it", disk_dir,
                     sc.first);
        return HM_EEXIST;
    }

    static const char *const subdirs[] = {"shards", "tmp"};
    bool made = false;
    for (size_t i = 0; i < 2; i++) {
        bool c = false;
        rc = label_join(path, sizeof path, disk_dir, subdirs[i]);
        if (rc == 0) rc = label_mkdir(env, path, &c);
        if (rc != 0) {
            label_reason(reason, cap, "cannot create %s: %s", path, hm_err_msg(rc));
            return rc;
        }
        made = made || c;
    }
    if (made) {
        rc = env->ops->sync_dir(env, disk_dir);
        if (rc != 0) {
            label_reason(reason, cap, "fsync %s: %s", disk_dir, hm_err_msg(rc));
            return rc;
        }
    }

    hm_disk_label l;
    memset(&l, 0, sizeof l);
    l.format_version = HM_DISK_LABEL_VERSION;
    uint8_t raw[HM_DISK_ID_HEX_BYTES / 2];
    hm_random(env, raw, sizeof raw);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        l.disk_id[2 * i] = hex[raw[i] >> 4];
        l.disk_id[2 * i + 1] = hex[raw[i] & 15];
    }
    memcpy(l.cluster_id, cluster_id, HM_DISK_ID_HEX_BYTES + 1);
    l.slot = slot;
    l.created_ms = hm_wall_ms(env);
    uint8_t buf[256];
    size_t n = 0;
    rc = hm_disk_label_pack(&l, buf, sizeof buf, &n);
    if (rc == 0) rc = label_join(path, sizeof path, disk_dir, HM_DISK_LABEL_FILE);
    if (rc == 0) rc = hm_env_write_file_atomic(env, path, buf, n);
    if (rc != 0) {
        label_reason(reason, cap, "cannot write label %s/" HM_DISK_LABEL_FILE ": %s", disk_dir,
                     hm_err_msg(rc));
        return rc;
    }
    if (out != NULL) *out = l;
    return 0;
}
