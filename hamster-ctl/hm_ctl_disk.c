/* hm_ctl_disk.c - `disk` and `status`: the disk registry and what an
 * operator sees when a disk dies.
 *
 *   disk list    -data-dir D [-meta ADDR]
 *   disk add     -data-dir D -path P [-meta ADDR]
 *   disk replace -data-dir D -slot N -path P [-meta ADDR]
 *   status       -data-dir D [-meta ADDR]
 *
 * The registry lives in the metadata (hamster-meta/hm_meta_disks.h) and is
 * reached like `key`: over the cluster's mutual-TLS RPC to the running
 * metadata service, with the data directory's node certificate and the
 * root key from the environment.  The running node reports its disks there
 * at every start (healthy, or missing / failed with the reason).
 *
 * add and replace format the new disk here, on this machine (the only
 * writer of labels, hm_disk_format: it refuses a disk that holds a label
 * or data), record it as "replacing" with a compare-and-set on the slot's
 * record, and queue a DiskRebuild.  Re-creating the lost shards on the new
 * disk is the self-healing issue's work, not done here; until then reads
 * of objects with a shard on that slot reconstruct from the others.  The
 * node picks the new disk up at its next start with the path at that
 * position of -disks.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hm_cluster.h"
#include "hm_ctl.h"
#include "hm_disk_label.h"
#include "hm_ec.h"
#include "hm_env.h"
#include "hm_err.h"
#include "hm_flags.h"
#include "hm_limits.h"
#include "hm_meta_api.h"
#include "hm_meta_disks.h"
#include "hm_rpc.h"

typedef struct disk_session {
    hm_env *env;
    hm_tls *tls;
    hm_meta_api *meta;
    char cluster_id[HM_DISK_ID_HEX_BYTES + 1];
    char addr[256];
} disk_session;

static void disk_usage(void)
{
    fprintf(stderr,
            "usage: disk <verb> -data-dir DIR [-meta ADDR] [flags]\n"
            "verbs:\n"
            "  list                       every disk slot: state, id, path, since, reason\n"
            "  add -path P                format P as the next slot and record it\n"
            "  replace -slot N -path P    format P for slot N (whose disk died) and record it\n"
            "add and replace queue the slot's rebuild for self-healing (a later release);\n"
            "restart the node with P at that position of -disks to serve it.\n"
            "The metadata service must be running (hamster serve, or hamster-meta).\n"
            "The root key (HAMSTER_ACCESS_KEY_ID, HAMSTER_SECRET_ACCESS_KEY) must be set.\n");
}

static void disk_session_close(disk_session *s)
{
    if (s->meta != NULL) s->meta->ops->free(s->meta);
    hm_tls_free(s->tls);
    if (s->env != NULL) hm_env_posix_free(s->env);
    memset(s, 0, sizeof *s);
}

static int disk_session_open(disk_session *s, const char *data_dir, const char *meta_addr)
{
    const char *ak = NULL, *sk = NULL;
    memset(s, 0, sizeof *s);
    if (hm_ctl_root_key(&ak, &sk) != 0) return 1;
    int rc = hm_env_posix_new(&s->env);
    if (rc != 0) {
        fprintf(stderr, "hamster: environment: %s\n", hm_err_msg(rc));
        return 1;
    }
    Hm__ClusterIdentity *id = NULL;
    rc = hm_cluster_check(s->env, data_dir, ak, sk, &id);
    if (rc != 0) {
        fprintf(stderr, "hamster: cluster identity in %s: %s\n", data_dir,
                rc == HM_ENOENT ? "not an initialised data directory"
                : rc == HM_EPERM ? "the root key in the environment does not match"
                                 : hm_err_msg(rc));
        return 1;
    }
    const char *addr = meta_addr != NULL ? meta_addr : id->listen;
    snprintf(s->addr, sizeof s->addr, "%s", addr != NULL ? addr : "");
    if (id->cluster_id == NULL || strlen(id->cluster_id) != HM_DISK_ID_HEX_BYTES) {
        fprintf(stderr, "hamster: %s/cluster.pb names no usable cluster id\n", data_dir);
        hm__cluster_identity__free_unpacked(id, NULL);
        return 1;
    }
    memcpy(s->cluster_id, id->cluster_id, sizeof s->cluster_id);
    hm__cluster_identity__free_unpacked(id, NULL);
    if (s->addr[0] == '\0') {
        fprintf(stderr, "hamster: %s records no RPC address: pass -meta ADDR\n", data_dir);
        return 1;
    }
    rc = hm_tls_new_from_data_dir(&s->tls, data_dir);
    if (rc == 0) rc = hm_meta_api_rpc_new(&s->meta, s->tls, s->addr);
    if (rc != 0) {
        fprintf(stderr, "hamster: metadata client for %s: %s\n", s->addr, hm_err_msg(rc));
        return 1;
    }
    return 0;
}

/* One request; prints the failure and returns non-zero, or 0 with *out. */
static int disk_call(disk_session *s, Hm__MetaRequest *req, Hm__MetaResponse **out,
                     const char *what)
{
    req->has_format_version = true;
    req->format_version = HM_FORMAT_VERSION;
    req->request_id = (char *)"ctl-disk";
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

static int disk_list_fetch(disk_session *s, Hm__MetaResponse **out)
{
    Hm__DiskList dl = HM__DISK_LIST__INIT;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_DISK_LIST;
    req.disk_list = &dl;
    return disk_call(s, &req, out, "disk list");
}

static const Hm__DiskListResult *disk_result(const Hm__MetaResponse *resp)
{
    return resp->result_case == HM__META_RESPONSE__RESULT_DISKS ? resp->disks : NULL;
}

static void disk_when(int64_t ms, char *out, size_t cap)
{
    snprintf(out, cap, "-");
    if (ms <= 0) return;
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (gmtime_r(&t, &tm) != NULL) strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

/* Repair items queued for shards placed on disk_id (0 for none). */
static uint64_t disk_repairs(const Hm__DiskListResult *r, const char *disk_id)
{
    for (size_t i = 0; r != NULL && disk_id != NULL && i < r->n_repair_counts; i++)
        if (r->repair_counts[i]->disk_id != NULL &&
            strcmp(r->repair_counts[i]->disk_id, disk_id) == 0)
            return r->repair_counts[i]->count;
    return 0;
}

static void disk_print_table(const Hm__DiskListResult *r)
{
    printf("%-4s %-9s %-32s %-19s %-7s %s\n", "SLOT", "STATE", "DISK ID", "SINCE (UTC)",
           "REPAIRS", "PATH");
    for (size_t i = 0; r != NULL && i < r->n_disks; i++) {
        const Hm__DiskRecord *d = r->disks[i];
        char when[32];
        disk_when(d->has_since_ms ? d->since_ms : 0, when, sizeof when);
        printf("%-4u %-9s %-32s %-19s %-7llu %s\n", (unsigned)d->slot,
               hm_disk_state_name(d->state),
               d->disk_id != NULL && d->disk_id[0] != '\0' ? d->disk_id : "-", when,
               (unsigned long long)disk_repairs(r, d->disk_id), d->path != NULL ? d->path : "-");
        if (d->state != HM_DISK_STATE_HEALTHY && d->reason != NULL && d->reason[0] != '\0')
            printf("     reason: %s\n", d->reason);
    }
    for (size_t i = 0; r != NULL && i < r->n_rebuilds; i++) {
        const Hm__DiskRebuild *b = r->rebuilds[i];
        printf("rebuild queued: slot %u, disk %s replaces %s (carried out by self-healing, "
               "not yet in this release)\n",
               (unsigned)b->slot, b->new_disk_id != NULL ? b->new_disk_id : "?",
               b->old_disk_id != NULL && b->old_disk_id[0] != '\0' ? b->old_disk_id : "-");
    }
    if (r != NULL)
        printf("repair items: %llu (shards of degraded writes still to re-create, by disk "
               "above; carried out by self-healing, not yet in this release)\n",
               (unsigned long long)r->repair_total);
}

static int disk_list(disk_session *s)
{
    Hm__MetaResponse *resp = NULL;
    if (disk_list_fetch(s, &resp) != 0) return 1;
    disk_print_table(disk_result(resp));
    hm__meta_response__free_unpacked(resp, NULL);
    return 0;
}

static int disk_status(disk_session *s)
{
    Hm__MetaResponse *resp = NULL;
    if (disk_list_fetch(s, &resp) != 0) return 1;
    const Hm__DiskListResult *r = disk_result(resp);
    size_t n = r != NULL ? r->n_disks : 0, healthy = 0;
    for (size_t i = 0; i < n; i++)
        if (r->disks[i]->state == HM_DISK_STATE_HEALTHY) healthy++;
    printf("disks: %zu configured, %zu healthy%s\n", n, healthy,
           healthy < n ? " (DEGRADED)" : "");
    if (n > 0) {
        hm_ec_profile p = hm_ec_profile_for_domains(n);
        uint32_t floor = p.k + p.m < p.k + 1 ? p.k + p.m : p.k + 1;
        printf("erasure coding: %u+%u over %zu disk(s), stripe %u bytes; reads survive %u "
               "disk(s) lost, writes are acknowledged with %u durable shards (up to %u "
               "disk(s) lost)\n",
               p.k, p.m, n, p.stripe_bytes, p.m, floor, p.k + p.m - floor);
        printf("readiness: %s (ready needs at least k = %u healthy disks)\n",
               healthy >= p.k ? "ready" : "NOT READY", p.k);
    }
    disk_print_table(r);
    hm__meta_response__free_unpacked(resp, NULL);
    return 0;
}

/* Format path for slot and record it as replacing, with its rebuild. */
static int disk_install(disk_session *s, uint32_t slot, const char *path, bool add)
{
    Hm__MetaResponse *resp = NULL;
    if (disk_list_fetch(s, &resp) != 0) return 1;
    const Hm__DiskListResult *r = disk_result(resp);
    const Hm__DiskRecord *cur = NULL;
    uint32_t next = 0;
    for (size_t i = 0; r != NULL && i < r->n_disks; i++) {
        if (r->disks[i]->slot + 1 > next) next = r->disks[i]->slot + 1;
        if (!add && r->disks[i]->slot == slot) cur = r->disks[i];
    }
    if (add) slot = next;
    if (slot > HM_DISK_SLOT_MAX) {
        fprintf(stderr, "hamster: no slot left (at most %u)\n", HM_DISK_SLOT_MAX + 1);
        hm__meta_response__free_unpacked(resp, NULL);
        return 1;
    }
    if (!add && cur == NULL) {
        fprintf(stderr, "hamster: slot %u is not in the registry (see `disk list`; `disk add` "
                "adds a slot)\n", (unsigned)slot);
        hm__meta_response__free_unpacked(resp, NULL);
        return 1;
    }
    if (cur != NULL && cur->state == HM_DISK_STATE_HEALTHY) {
        fprintf(stderr, "hamster: slot %u holds healthy disk %s at %s: replace only a disk "
                "that is missing or failed\n", (unsigned)slot, cur->disk_id, cur->path);
        hm__meta_response__free_unpacked(resp, NULL);
        return 1;
    }
    char old_id[HM_DISK_ID_HEX_BYTES + 1] = "";
    if (cur != NULL && cur->disk_id != NULL) snprintf(old_id, sizeof old_id, "%s", cur->disk_id);
    uint64_t expect = cur != NULL && cur->has_version ? cur->version : 0;
    hm__meta_response__free_unpacked(resp, NULL);

    char reason[HM_DISK_REASON_BYTES];
    hm_disk_label lab;
    int rc = hm_disk_format(s->env, path, s->cluster_id, slot, &lab, reason, sizeof reason);
    if (rc != 0) {
        fprintf(stderr, "hamster: %s\n", reason);
        return 1;
    }
    printf("formatted %s as slot %u (disk %s)\n", path, (unsigned)slot, lab.disk_id);

    char why[HM_DISK_REASON_BYTES];
    snprintf(why, sizeof why, "%s; serves after a restart with %s at position %u of -disks",
             add ? "added" : "replaces a lost disk", path, (unsigned)slot);
    Hm__DiskRecord rec = HM__DISK_RECORD__INIT;
    rec.has_slot = true;
    rec.slot = slot;
    rec.disk_id = lab.disk_id;
    rec.path = (char *)path;
    rec.has_state = true;
    rec.state = HM_DISK_STATE_REPLACING;
    rec.reason = why;
    rec.has_since_ms = true;
    rec.since_ms = hm_wall_ms(s->env);
    Hm__DiskRebuild rb = HM__DISK_REBUILD__INIT;
    rb.has_slot = true;
    rb.slot = slot;
    rb.old_disk_id = old_id;
    rb.new_disk_id = lab.disk_id;
    rb.has_queued_ms = true;
    rb.queued_ms = rec.since_ms;
    Hm__DiskSet ds = HM__DISK_SET__INIT;
    ds.disk = &rec;
    ds.has_expect_version = true;
    ds.expect_version = expect;
    ds.rebuild = &rb;
    Hm__MetaCommand cmd = HM__META_COMMAND__INIT;
    cmd.op_case = HM__META_COMMAND__OP_DISK_SET;
    cmd.disk_set = &ds;
    Hm__MetaRequest req = HM__META_REQUEST__INIT;
    req.op_case = HM__META_REQUEST__OP_COMMAND;
    req.command = &cmd;
    if (disk_call(s, &req, &resp, "record the disk") != 0) {
        fprintf(stderr, "hamster: %s is formatted but not recorded; run the verb again with "
                "a new empty directory, or remove %s first\n", path, path);
        return 1;
    }
    hm__meta_response__free_unpacked(resp, NULL);
    printf("slot %u: disk %s recorded as replacing; rebuild queued (carried out by "
           "self-healing, not yet in this release: until then reads of that slot's shards "
           "reconstruct from the others)\n", (unsigned)slot, lab.disk_id);
    printf("restart the node with %s at position %u of -disks to serve it\n", path,
           (unsigned)slot);
    return 0;
}

static int disk_main(const char *verb, int argc, char **argv)
{
    const char *data_dir = NULL, *meta = NULL, *path = NULL;
    int64_t slot = -1;
    bool help = false;
    const hm_flag flags[] = {
        {"data-dir", HM_FLAG_STR, &data_dir, "data directory of the node"},
        {"meta", HM_FLAG_STR, &meta, "metadata RPC address (default: the one recorded at init)"},
        {"path", HM_FLAG_STR, &path, "add, replace: the new disk's directory (new or empty)"},
        {"slot", HM_FLAG_INT, &slot, "replace: the slot whose disk died"},
        {"h", HM_FLAG_BOOL, &help, "show this help"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    int rest = 0;
    if (hm_flags_parse(flags, nflags, argc, argv, 0, &rest) != 0 || rest != argc) {
        disk_usage();
        return 2;
    }
    if (help) {
        disk_usage();
        hm_flags_usage(stderr, "disk <verb> -data-dir DIR", flags, nflags);
        return 0;
    }
    bool is_status = strcmp(verb, "status") == 0, is_list = strcmp(verb, "list") == 0;
    bool is_add = strcmp(verb, "add") == 0, is_replace = strcmp(verb, "replace") == 0;
    if (!is_status && !is_list && !is_add && !is_replace) {
        fprintf(stderr, "hamster: unknown disk verb %s\n", verb);
        disk_usage();
        return 2;
    }
    if (data_dir == NULL) {
        fprintf(stderr, "hamster: %s needs -data-dir\n", verb);
        return 2;
    }
    if ((is_add || is_replace) && path == NULL) {
        fprintf(stderr, "hamster: disk %s needs -path\n", verb);
        return 2;
    }
    if (is_replace && (slot < 0 || slot > (int64_t)HM_DISK_SLOT_MAX)) {
        fprintf(stderr, "hamster: disk replace needs -slot 0..%u\n", HM_DISK_SLOT_MAX);
        return 2;
    }
    disk_session s;
    int rc = disk_session_open(&s, data_dir, meta);
    if (rc == 0) {
        if (is_status) rc = disk_status(&s);
        else if (is_list) rc = disk_list(&s);
        else rc = disk_install(&s, is_add ? 0 : (uint32_t)slot, path, is_add);
    }
    disk_session_close(&s);
    return rc;
}

int hm_ctl_disk(int argc, char **argv)
{
    if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "-help") == 0 ||
        strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "help") == 0) {
        disk_usage();
        return argc < 1 ? 2 : 0;
    }
    return disk_main(argv[0], argc - 1, argv + 1);
}

int hm_ctl_status(int argc, char **argv) { return disk_main("status", argc, argv); }
