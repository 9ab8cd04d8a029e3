/* hm_meta_sm_names.c - the names table of the metadata state machine:
 * finding the row that holds a key and writing it back, split into bounded
 * rows (ADR 13). */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>

#include "hm_meta_sm_int.h"

/* Names rows (ADR 13).  The keys whose encodings share one names-table head
 * key live in a chain: the head row, then continuation rows keyed head ‖
 * sequence, each a NameList sorted by key, every key of a row below every
 * key of the rows after it.  No row packs to more than
 * HM_NAMES_ROW_BYTES_MAX: a write that would grow one past it splits it into
 * rows of at most half the cap, so a PUT rewrites one or a few bounded rows
 * however many keys share the prefix.  A schema-2 row (format version 1,
 * possibly larger) is read as the head of a chain with no continuation and
 * is split the first time a write goes to it. */

/* New continuation rows appended at the end of a chain are this far apart,
 * leaving room for splits between them. */
#define SM_NAMES_SEQ_STEP (1u << 16)

/* Bytes a NameList spends besides its entries (format version), and per
 * entry besides the entry itself (tag, length). */
#define SM_NAMES_ROW_OVERHEAD 8u

#define SM_NAMES_ENTRY_OVERHEAD 4u

/* The test hooks of hm_meta_sm.h: a lowered cap and sequence step (0: the
 * defaults), the split and renumber counts, and the planted bugs. */
static _Atomic uint32_t sm_names_test_cap;
static _Atomic uint32_t sm_names_test_step;
static _Atomic uint64_t sm_names_splits;
static _Atomic uint64_t sm_names_renumbers;
static atomic_bool sm_plant_split_loses_key;
static atomic_bool sm_plant_renumber_misorder;

int hm_meta_sm_test_names_bounds(uint32_t row_bytes_max, uint32_t seq_step)
{
    if (row_bytes_max != 0 &&
        (row_bytes_max < HM_NAMES_ROW_BYTES_TEST_MIN || row_bytes_max > HM_NAMES_ROW_BYTES_MAX))
        return HM_EINVAL;
    if (seq_step > SM_NAMES_SEQ_STEP)
        return HM_EINVAL;
    atomic_store(&sm_names_test_cap, row_bytes_max);
    atomic_store(&sm_names_test_step, seq_step);
    return 0;
}

void hm_meta_sm_test_names_counts(uint64_t *splits, uint64_t *renumbers)
{
    *splits = atomic_load(&sm_names_splits);
    *renumbers = atomic_load(&sm_names_renumbers);
}

void hm_meta_sm_plant_names_split_loses_key(bool on)
{
    atomic_store(&sm_plant_split_loses_key, on);
}

void hm_meta_sm_plant_names_renumber_misorder(bool on)
{
    atomic_store(&sm_plant_renumber_misorder, on);
}

/* The cap rows are split at: HM_NAMES_ROW_BYTES_MAX unless a test lowered
 * it (never below HM_NAMES_ROW_BYTES_TEST_MIN, so a split half still holds
 * one of the longest entries). */
static uint32_t sm_names_cap(void)
{
    uint32_t c = atomic_load(&sm_names_test_cap);
    return c != 0 ? c : HM_NAMES_ROW_BYTES_MAX;
}

static uint32_t sm_names_step(void)
{
    uint32_t s = atomic_load(&sm_names_test_step);
    return s != 0 ? s : SM_NAMES_SEQ_STEP;
}

/* Read one protobuf varint from *p (before end). */
static int sm_pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned sh = 0; sh < 64; sh += 7) {
        if (*p == end)
            return HM_ECORRUPT;
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7F) << sh;
        if ((b & 0x80) == 0) {
            *v = r;
            return 0;
        }
    }
    return HM_ECORRUPT;
}

/* The first length-delimited field number `field` of the message
 * msg[0..len), without unpacking it.  HM_ENOENT when there is none,
 * HM_ECORRUPT when the bytes do not parse as far as that. */
static int sm_pb_bytes_field(const uint8_t *msg, size_t len, uint64_t field,
                             const uint8_t **out, size_t *out_len)
{
    const uint8_t *p = msg, *end = msg + len;
    while (p < end) {
        uint64_t tag = 0, n = 0;
        int rc = sm_pb_varint(&p, end, &tag);
        if (rc != 0)
            return rc;
        switch (tag & 7u) {
        case 0:
            rc = sm_pb_varint(&p, end, &n);
            if (rc != 0)
                return rc;
            break;
        case 1:
            if (end - p < 8)
                return HM_ECORRUPT;
            p += 8;
            break;
        case 5:
            if (end - p < 4)
                return HM_ECORRUPT;
            p += 4;
            break;
        case 2:
            rc = sm_pb_varint(&p, end, &n);
            if (rc != 0)
                return rc;
            if (n > (uint64_t)(end - p))
                return HM_ECORRUPT;
            if (tag >> 3 == field) {
                *out = p;
                *out_len = (size_t)n;
                return 0;
            }
            p += n;
            break;
        default:
            return HM_ECORRUPT;
        }
    }
    return HM_ENOENT;
}

/* The key of the first entry of a packed NameList (rows are never stored
 * empty, so a row without one is corrupt). */
static int sm_names_first_key(const void *row, size_t len, const uint8_t **key, size_t *klen)
{
    const uint8_t *e = NULL;
    size_t elen = 0;
    int rc = sm_pb_bytes_field(row, len, 2, &e, &elen); /* NameList.entries */
    if (rc == 0)
        rc = sm_pb_bytes_field(e, elen, 1, key, klen); /* NameEntry.key */
    return rc == HM_ENOENT ? HM_ECORRUPT : rc;
}

/* Unpack a names row: NameList format versions 1 and 2. */
int sm_names_unpack(const void *val, size_t len, Hm__NameList **out)
{
    return sm_unpack_v(&hm__name_list__descriptor, val, len, HM_META_NAME_LIST_VERSION_MIN,
                       HM_META_NAME_LIST_VERSION, (ProtobufCMessage **)out);
}

/* The key of the row of head's chain that holds key[0..klen), or would hold
 * it: the last row whose first key is <= key, else the first row, else (an
 * empty chain) the head.  A binary search over the sequence space reads one
 * first key per probe, so its cost grows with log(rows), never with the
 * chain's bytes.  out must hold HM_META_NAMES_KEY_BYTES_MAX bytes. */
int sm_name_locate(sm_ctx *cx, const uint8_t *head, size_t head_len, const char *key,
                          size_t klen, uint8_t *out, size_t *out_len)
{
    memcpy(out, head, head_len);
    *out_len = head_len;
    if (head_len != HM_META_NAMES_HEAD_KEY_BYTES_MAX)
        return 0; /* a whole encoding: one key, one row */
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_NAMES, &cur);
    if (rc != 0)
        return rc;
    uint8_t ck[HM_META_NAMES_CONT_KEY_BYTES];
    uint64_t lo = 0, hi = 1ull << 32;
    bool found = false, first = true, have_last = false;
    uint32_t best = 0, first_seq = 0, last_seq = 0;
    int last_cmp = 0;
    while (lo < hi) {
        uint64_t mid = first ? 0 : lo + (hi - lo) / 2;
        hm_meta_names_cont_key(head, (uint32_t)mid, ck);
        rc = cx->env->ops->kv_cursor_seek(cur, ck, sizeof ck);
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        if (rc == 0)
            rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        uint32_t seq = 0;
        if (rc == HM_ENOENT || (rc == 0 && !hm_meta_names_key_is_cont(k, kl, head, head_len, &seq))) {
            rc = 0;
            if (first)
                break; /* no continuation rows: the head is the row */
            hi = mid;
            continue;
        }
        if (rc != 0)
            break;
        if (first) {
            first = false;
            first_seq = seq;
        }
        int c = last_cmp;
        if (!have_last || seq != last_seq) {
            const uint8_t *fk = NULL;
            size_t fkl = 0;
            rc = sm_names_first_key(v, vl, &fk, &fkl);
            if (rc != 0)
                break;
            c = sm_cmp(fk, fkl, key, klen);
            have_last = true;
            last_seq = seq;
            last_cmp = c;
        }
        if (c <= 0) {
            found = true;
            best = seq;
            lo = (uint64_t)seq + 1;
        } else {
            hi = mid;
        }
    }
    cx->env->ops->kv_cursor_close(cur);
    if (rc != 0 || first)
        return rc;
    if (found) {
        hm_meta_names_cont_key(head, best, out);
        *out_len = HM_META_NAMES_CONT_KEY_BYTES;
        return 0;
    }
    /* key sorts before every continuation row: the head, when there is one,
     * else the first continuation row. */
    const void *v = NULL;
    size_t vl = 0;
    rc = cx->env->ops->kv_get(cx->txn, HM_KV_NAMES, head, head_len, &v, &vl);
    if (rc == HM_ENOENT) {
        hm_meta_names_cont_key(head, first_seq, out);
        *out_len = HM_META_NAMES_CONT_KEY_BYTES;
        rc = 0;
    }
    return rc;
}

void sm_name_release(sm_name *n)
{
    if (n->list != NULL)
        hm__name_list__free_unpacked(n->list, NULL);
    n->list = NULL;
}

int sm_name_find(sm_ctx *cx, uint64_t bucket_id, const char *key, sm_name *n)
{
    n->list = NULL;
    n->pos = -1;
    size_t klen = strlen(key);
    int rc = hm_meta_names_key(bucket_id, key, klen, n->head, &n->head_len);
    if (rc != 0)
        return rc;
    rc = sm_name_locate(cx, n->head, n->head_len, key, klen, n->nk, &n->nk_len);
    if (rc != 0)
        return rc;
    const void *val = NULL;
    size_t len = 0;
    rc = cx->env->ops->kv_get(cx->txn, HM_KV_NAMES, n->nk, n->nk_len, &val, &len);
    if (rc == HM_ENOENT)
        return 0;
    if (rc == 0)
        rc = sm_names_unpack(val, len, &n->list);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < n->list->n_entries; i++) {
        const Hm__NameEntry *e = n->list->entries[i];
        if (e->key == NULL || !e->has_object_id ||
            e->object_id.len != HM_META_OBJECT_ID_BYTES) {
            sm_name_release(n);
            return HM_ECORRUPT;
        }
        if (strcmp(e->key, key) == 0)
            n->pos = (long)i;
    }
    return 0;
}

/* One packed names row to write. */
typedef struct sm_row {
    uint8_t *buf;
    size_t len;
} sm_row;

static void sm_rows_free(sm_row *rows, size_t n)
{
    for (size_t i = 0; rows != NULL && i < n; i++)
        free(rows[i].buf);
    free(rows);
}

/* Pack entries[0..n) as a format-2 row; base supplies the other fields
 * (those of the row being rewritten, so a newer version's survive). */
static int sm_row_pack(const Hm__NameList *base, Hm__NameEntry **entries, size_t n, sm_row *out)
{
    Hm__NameList nl = *base;
    nl.has_format_version = true;
    nl.format_version = HM_META_NAME_LIST_VERSION;
    nl.n_entries = n;
    nl.entries = entries;
    out->len = protobuf_c_message_get_packed_size(&nl.base);
    out->buf = malloc(out->len > 0 ? out->len : 1);
    if (out->buf == NULL)
        return HM_ENOMEM;
    protobuf_c_message_pack(&nl.base, out->buf);
    assert(out->len <= sm_names_cap());
    return 0;
}

/* Rewrite every continuation row of n's chain at evenly spread sequences,
 * with repl[0..n_repl) in place of n's row: called when a split finds no
 * free sequence between its neighbours.  Rare (a run of splits at one
 * place), and linear in the chain's rows. */
static int sm_name_renumber(sm_ctx *cx, const sm_name *n, const sm_row *repl, size_t n_repl)
{
    sm_row *old = NULL;
    uint32_t *seqs = NULL;
    const sm_row **fin = NULL;
    size_t cnt = 0, cap = 0;
    uint32_t cur_seq = 0;
    bool cur_cont = hm_meta_names_key_is_cont(n->nk, n->nk_len, n->head, n->head_len, &cur_seq);
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_NAMES, &cur);
    if (rc != 0)
        return rc;
    uint8_t ck[HM_META_NAMES_CONT_KEY_BYTES];
    hm_meta_names_cont_key(n->head, 0, ck);
    for (rc = cx->env->ops->kv_cursor_seek(cur, ck, sizeof ck); rc == 0;
         rc = cx->env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        uint32_t seq = 0;
        rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        if (!hm_meta_names_key_is_cont(k, kl, n->head, n->head_len, &seq)) {
            rc = HM_ENOENT;
            break;
        }
        if (cnt == cap) {
            size_t ncap = cap == 0 ? 64 : cap * 2;
            sm_row *no = realloc(old, ncap * sizeof *no);
            if (no != NULL)
                old = no;
            uint32_t *ns = no != NULL ? realloc(seqs, ncap * sizeof *ns) : NULL;
            if (ns == NULL) {
                rc = HM_ENOMEM;
                break;
            }
            seqs = ns;
            cap = ncap;
        }
        old[cnt].len = vl;
        old[cnt].buf = malloc(vl > 0 ? vl : 1);
        if (old[cnt].buf == NULL) {
            rc = HM_ENOMEM;
            break;
        }
        memcpy(old[cnt].buf, v, vl);
        seqs[cnt++] = seq;
    }
    cx->env->ops->kv_cursor_close(cur);
    if (rc != HM_ENOENT)
        goto out;
    /* The continuation rows in their new order. */
    fin = malloc((cnt + n_repl) * sizeof *fin);
    if (fin == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    size_t total = 0;
    bool placed = false;
    if (!cur_cont) {
        for (size_t j = 1; j < n_repl; j++)
            fin[total++] = &repl[j];
        placed = true;
    }
    for (size_t i = 0; i < cnt; i++) {
        if (cur_cont && seqs[i] == cur_seq) {
            for (size_t j = 0; j < n_repl; j++)
                fin[total++] = &repl[j];
            placed = true;
        } else {
            fin[total++] = &old[i];
        }
    }
    if (!placed) {
        rc = HM_EINTERNAL; /* n's row is not in its chain */
        goto out;
    }
    uint64_t spacing = (1ull << 32) / (total + 1);
    if (spacing > sm_names_step())
        spacing = sm_names_step();
    if (spacing == 0) {
        rc = HM_ETOOBIG; /* 2^32 rows under one prefix */
        goto out;
    }
    rc = 0;
    for (size_t i = 0; rc == 0 && i < cnt; i++) {
        hm_meta_names_cont_key(n->head, seqs[i], ck);
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_NAMES, ck, sizeof ck);
    }
    if (rc == 0 && !cur_cont)
        rc = cx->env->ops->kv_put(cx->txn, HM_KV_NAMES, n->head, n->head_len, repl[0].buf,
                                  repl[0].len);
    bool misorder = atomic_load(&sm_plant_renumber_misorder) && total >= 2;
    for (size_t i = 0; rc == 0 && i < total; i++) {
        /* the planted bug: the chain's last two rows change places */
        size_t src = misorder && i + 2 >= total ? 2 * total - 3 - i : i;
        hm_meta_names_cont_key(n->head, (uint32_t)((i + 1) * spacing), ck);
        rc = cx->env->ops->kv_put(cx->txn, HM_KV_NAMES, ck, sizeof ck, fin[src]->buf,
                                  fin[src]->len);
    }
    if (rc == 0)
        atomic_fetch_add(&sm_names_renumbers, 1);
out:
    free(fin);
    free(seqs);
    sm_rows_free(old, cnt);
    return rc;
}

/* Write n's row as entries arr[0..m), m > 0, split into rows of at most
 * half the cap when it would pack to more than the cap: the first stays at
 * n's row key, the others take free sequences between n's row and the next
 * row of the chain (renumbering the chain when there are none). */
static int sm_name_put_rows(sm_ctx *cx, const sm_name *n, const Hm__NameList *base,
                            Hm__NameEntry **arr, size_t m)
{
    const uint32_t cap = sm_names_cap();
    size_t total = SM_NAMES_ROW_OVERHEAD;
    for (size_t i = 0; i < m; i++)
        total += protobuf_c_message_get_packed_size(&arr[i]->base) + SM_NAMES_ENTRY_OVERHEAD;
    size_t *starts = malloc((m + 1) * sizeof *starts);
    if (starts == NULL)
        return HM_ENOMEM;
    size_t k = 0;
    starts[k++] = 0;
    if (total > cap) {
        /* A row over the cap holds two entries at least (one fits half). */
        if (atomic_load(&sm_plant_split_loses_key))
            m--; /* the planted bug: the upper half loses its last entry */
        size_t acc = SM_NAMES_ROW_OVERHEAD;
        for (size_t i = 0; i < m; i++) {
            size_t sz = protobuf_c_message_get_packed_size(&arr[i]->base) +
                        SM_NAMES_ENTRY_OVERHEAD;
            if (i > starts[k - 1] && acc + sz > cap / 2) {
                starts[k++] = i;
                acc = SM_NAMES_ROW_OVERHEAD;
            }
            acc += sz;
        }
    }
    starts[k] = m;
    int rc = 0;
    sm_row *rows = calloc(k, sizeof *rows);
    if (rows == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    Hm__NameList empty = HM__NAME_LIST__INIT;
    for (size_t j = 0; j < k && rc == 0; j++)
        rc = sm_row_pack(j == 0 ? base : &empty, arr + starts[j], starts[j + 1] - starts[j],
                         &rows[j]);
    if (rc != 0)
        goto out;
    if (k == 1) {
        rc = cx->env->ops->kv_put(cx->txn, HM_KV_NAMES, n->nk, n->nk_len, rows[0].buf,
                                  rows[0].len);
        goto out;
    }
    /* Only a full-length head's chain can split: a shorter head key is one
     * whole encoding, one key. */
    assert(n->head_len == HM_META_NAMES_HEAD_KEY_BYTES_MAX);
    uint32_t cur_seq = 0;
    bool cur_cont = hm_meta_names_key_is_cont(n->nk, n->nk_len, n->head, n->head_len, &cur_seq);
    uint64_t lo = cur_cont ? (uint64_t)cur_seq + 1 : 0, hi = 1ull << 32;
    bool has_next = false;
    if (lo < hi) {
        hm_kv_cursor *cur = NULL;
        rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_NAMES, &cur);
        if (rc != 0)
            goto out;
        uint8_t ck[HM_META_NAMES_CONT_KEY_BYTES];
        hm_meta_names_cont_key(n->head, (uint32_t)lo, ck);
        rc = cx->env->ops->kv_cursor_seek(cur, ck, sizeof ck);
        const void *kk = NULL, *vv = NULL;
        size_t kl = 0, vl = 0;
        if (rc == 0)
            rc = cx->env->ops->kv_cursor_get(cur, &kk, &kl, &vv, &vl);
        uint32_t nseq = 0;
        if (rc == 0 && hm_meta_names_key_is_cont(kk, kl, n->head, n->head_len, &nseq)) {
            has_next = true;
            hi = nseq;
        }
        cx->env->ops->kv_cursor_close(cur);
        if (rc == HM_ENOENT)
            rc = 0;
        if (rc != 0)
            goto out;
    }
    uint64_t avail = hi - lo;
    atomic_fetch_add(&sm_names_splits, 1);
    uint64_t step = has_next ? avail / k : avail / k < sm_names_step() ? avail / k
                                                                       : sm_names_step();
    if (step == 0) {
        rc = sm_name_renumber(cx, n, rows, k);
        goto out;
    }
    rc = cx->env->ops->kv_put(cx->txn, HM_KV_NAMES, n->nk, n->nk_len, rows[0].buf, rows[0].len);
    for (size_t j = 1; rc == 0 && j < k; j++) {
        /* Between neighbours: spread evenly.  At the end: step apart. */
        uint64_t seq = has_next ? lo + avail * j / k : lo + step * j - 1;
        uint8_t ck[HM_META_NAMES_CONT_KEY_BYTES];
        hm_meta_names_cont_key(n->head, (uint32_t)seq, ck);
        rc = cx->env->ops->kv_put(cx->txn, HM_KV_NAMES, ck, sizeof ck, rows[j].buf, rows[j].len);
    }
out:
    sm_rows_free(rows, rows != NULL ? k : 0);
    free(starts);
    return rc;
}

/* Write the row with entry ins added (ins != NULL) or entry del_pos removed
 * (del_pos >= 0); an emptied row is deleted, an overfull one split. */
int sm_name_write(sm_ctx *cx, sm_name *n, Hm__NameEntry *ins, long del_pos)
{
    Hm__NameList nl = HM__NAME_LIST__INIT;
    if (n->list != NULL)
        nl = *n->list; /* keeps fields a newer version added */
    size_t old_n = n->list != NULL ? n->list->n_entries : 0;
    Hm__NameEntry **arr = malloc((old_n + 1) * sizeof *arr);
    if (arr == NULL)
        return HM_ENOMEM;
    size_t m = 0;
    bool placed = false;
    for (size_t i = 0; i < old_n; i++) {
        Hm__NameEntry *e = n->list->entries[i];
        if ((long)i == del_pos)
            continue;
        if (ins != NULL && !placed && strcmp(ins->key, e->key) < 0) {
            arr[m++] = ins;
            placed = true;
        }
        arr[m++] = e;
    }
    if (ins != NULL && !placed)
        arr[m++] = ins;
    int rc;
    if (m == 0)
        rc = cx->env->ops->kv_del(cx->txn, HM_KV_NAMES, n->nk, n->nk_len);
    else
        rc = sm_name_put_rows(cx, n, &nl, arr, m);
    free(arr);
    return rc;
}

/* The last (at most) 48 bytes of key, for a message about it: the keys
 * that share a chain differ at their ends. */
static const char *sm_names_tail(const char *key)
{
    size_t n = strlen(key);
    return n > 48 ? key + n - 48 : key;
}

/* hm_meta_sm_names_audit's check of one row k[0..kl) = nl (v: vl bytes):
 * *prev (strdup'd, NULL at a bucket's first row) is the last key before
 * it, and becomes the row's last key. */
static int sm_names_audit_row(sm_ctx *cx, const uint8_t *k, size_t kl, size_t vl,
                              const Hm__NameList *nl, char **prev, char *msg, size_t msg_cap)
{
    bool cont = kl == HM_META_NAMES_CONT_KEY_BYTES;
    size_t head_len = cont ? HM_META_NAMES_HEAD_KEY_BYTES_MAX : kl;
    if (kl <= HM_META_BUCKET_ID_BYTES || (kl > HM_META_NAMES_HEAD_KEY_BYTES_MAX && !cont)) {
        snprintf(msg, msg_cap, "names row key of %zu bytes", kl);
        return HM_ECORRUPT;
    }
    if (vl > sm_names_cap()) {
        snprintf(msg, msg_cap, "names row of %zu bytes over the cap of %u (%zu entries)", vl,
                 sm_names_cap(), nl->n_entries);
        return HM_ECORRUPT;
    }
    if (nl->n_entries == 0) {
        snprintf(msg, msg_cap, "empty names row");
        return HM_ECORRUPT;
    }
    uint64_t bucket_id = hm_meta_get_u64be(k);
    for (size_t i = 0; i < nl->n_entries; i++) {
        const Hm__NameEntry *e = nl->entries[i];
        if (e->key == NULL || !e->has_object_id || e->object_id.len != HM_META_OBJECT_ID_BYTES) {
            snprintf(msg, msg_cap, "names row entry %zu without key or object id", i);
            return HM_ECORRUPT;
        }
        size_t klen = strlen(e->key);
        uint8_t head[HM_META_NAMES_KEY_BYTES_MAX], nk[HM_META_NAMES_KEY_BYTES_MAX];
        size_t hl = 0, nkl = 0;
        int rc = hm_meta_names_key(bucket_id, e->key, klen, head, &hl);
        if (rc != 0)
            return rc;
        if (hl != head_len || memcmp(head, k, hl) != 0) {
            snprintf(msg, msg_cap, "key ...%s is in a row of another head key (%s row)",
                     sm_names_tail(e->key), cont ? "continuation" : "head");
            return HM_ECORRUPT;
        }
        if (*prev != NULL && strcmp(*prev, e->key) >= 0) {
            snprintf(msg, msg_cap, "key ...%s follows ...%s (%s row, entry %zu): out of order",
                     sm_names_tail(e->key), sm_names_tail(*prev), cont ? "continuation" : "head",
                     i);
            return HM_ECORRUPT;
        }
        rc = sm_name_locate(cx, head, hl, e->key, klen, nk, &nkl);
        if (rc != 0)
            return rc;
        if (nkl != kl || memcmp(nk, k, kl) != 0) {
            snprintf(msg, msg_cap, "the lookup of key ...%s finds another row than its own",
                     sm_names_tail(e->key));
            return HM_ECORRUPT;
        }
        free(*prev);
        *prev = strdup(e->key);
        if (*prev == NULL)
            return HM_ENOMEM;
    }
    return 0;
}

int hm_meta_sm_names_audit(hm_env *env, hm_kv_txn *txn, hm_meta_names_audit *out, char *msg,
                           size_t msg_cap)
{
    sm_ctx cx = {.env = env, .txn = txn};
    memset(out, 0, sizeof *out);
    if (msg_cap > 0)
        msg[0] = '\0';
    hm_kv_cursor *cur = NULL;
    int rc = env->ops->kv_cursor_open(txn, HM_KV_NAMES, &cur);
    if (rc != 0)
        return rc;
    char *prev = NULL;
    uint8_t last_head[HM_META_NAMES_HEAD_KEY_BYTES_MAX];
    size_t last_head_len = 0;
    uint64_t chain = 0;
    for (rc = env->ops->kv_cursor_seek(cur, NULL, 0); rc == 0; rc = env->ops->kv_cursor_next(cur)) {
        const void *k = NULL, *v = NULL;
        size_t kl = 0, vl = 0;
        rc = env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
        if (rc != 0)
            break;
        /* A new bucket starts its own order. */
        if (last_head_len > 0 &&
            (kl < HM_META_BUCKET_ID_BYTES || memcmp(k, last_head, HM_META_BUCKET_ID_BYTES) != 0)) {
            free(prev);
            prev = NULL;
        }
        Hm__NameList *nl = NULL;
        rc = sm_names_unpack(v, vl, &nl);
        if (rc != 0) {
            snprintf(msg, msg_cap, "names row %" PRIu64 " does not unpack: %d", out->rows, rc);
            break;
        }
        rc = sm_names_audit_row(&cx, k, kl, vl, nl, &prev, msg, msg_cap);
        size_t n_entries = nl->n_entries;
        hm__name_list__free_unpacked(nl, NULL);
        if (rc != 0)
            break;
        bool cont = kl == HM_META_NAMES_CONT_KEY_BYTES;
        size_t hl = cont ? HM_META_NAMES_HEAD_KEY_BYTES_MAX : kl;
        chain = hl == last_head_len && memcmp(k, last_head, hl) == 0 ? chain + 1 : 1;
        memcpy(last_head, k, hl);
        last_head_len = hl;
        out->rows++;
        out->cont_rows += cont;
        out->entries += n_entries;
        if (chain > out->chain_rows_max)
            out->chain_rows_max = chain;
        if (vl > out->row_bytes_max)
            out->row_bytes_max = vl;
    }
    env->ops->kv_cursor_close(cur);
    free(prev);
    return rc == HM_ENOENT ? 0 : rc;
}
