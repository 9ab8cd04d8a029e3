/* hm_meta_sm_list.c - the ObjectList query (AWS "ListObjectsV2"): a cursor
 * walk over the names rows of a bucket with prefix, delimiter, start-after
 * and max-keys, seeking past rolled-up common prefixes. */
#include "hm_meta_sm_int.h"

/* Listing state: the result being built and the walk's lower bound. */
typedef struct sm_list {
    Hm__ObjectListResult *res;
    size_t cap;
    uint32_t max;
    const char *prefix;
    size_t plen;
    const char *delim;
    size_t dlen;
    const char *after;   /* start_after, NULL when none */
    size_t alen;
    char lo[HM_KEY_BYTES_MAX + 1]; /* walk from here */
    size_t lo_len;
    bool lo_excl;
    bool done;
} sm_list;

/* Append an entry; *full set (and nothing appended) when max is reached,
 * which means there is more: the listing is truncated. */
static int sm_list_emit(sm_list *l, const char *key, size_t klen, bool is_prefix,
                        Hm__ObjectVersion **v, bool *full)
{
    Hm__ObjectListResult *r = l->res;
    *full = r->n_entries >= l->max;
    if (*full) {
        r->has_truncated = true;
        r->truncated = true;
        l->done = true;
        return 0;
    }
    if (r->n_entries == l->cap) {
        size_t ncap = l->cap == 0 ? 16 : l->cap * 2;
        Hm__ListEntry **ne = realloc(r->entries, ncap * sizeof *ne);
        if (ne == NULL)
            return HM_ENOMEM;
        r->entries = ne;
        l->cap = ncap;
    }
    Hm__ListEntry *e = malloc(sizeof *e);
    if (e == NULL)
        return HM_ENOMEM;
    hm__list_entry__init(e);
    e->key = strndup(key, klen);
    if (e->key == NULL) {
        free(e);
        return HM_ENOMEM;
    }
    if (is_prefix) {
        e->has_is_prefix = true;
        e->is_prefix = true;
    }
    if (v != NULL) {
        e->version = *v;
        *v = NULL;
    }
    r->entries[r->n_entries++] = e;
    char *next = strndup(key, klen);
    if (next == NULL)
        return HM_ENOMEM;
    free(r->next_start_after);
    r->next_start_after = next;
    return 0;
}

/* Handle one names entry during the walk.  *reseek is set when the walk
 * must continue from l->lo (after a rolled-up common prefix). */
static int sm_list_entry(sm_ctx *cx, sm_list *l, const Hm__NameEntry *e, bool *reseek)
{
    const char *k = e->key;
    size_t klen = strlen(k);
    int c = sm_cmp(k, klen, l->lo, l->lo_len);
    if (c < 0 || (c == 0 && l->lo_excl))
        return 0;
    if (!sm_starts_with(k, klen, l->prefix, l->plen)) {
        /* k >= prefix and outside it: every later key is outside too */
        l->done = true;
        return 0;
    }
    if (l->dlen > 0) {
        const char *d = memmem(k + l->plen, klen - l->plen, l->delim, l->dlen);
        if (d != NULL) {
            size_t cplen = (size_t)(d - k) + l->dlen;
            bool full = false;
            if (l->after == NULL || sm_cmp(k, cplen, l->after, l->alen) > 0) {
                int rc = sm_list_emit(l, k, cplen, true, NULL, &full);
                if (rc != 0 || full)
                    return rc;
            }
            /* Seek past every key under this prefix instead of reading them. */
            size_t nlen = 0;
            if (!hm_meta_prefix_successor((const uint8_t *)k, cplen, (uint8_t *)l->lo,
                                          &nlen)) {
                l->done = true;
                return 0;
            }
            l->lo_len = nlen;
            l->lo_excl = false;
            *reseek = true;
            return 0;
        }
    }
    if (e->object_id.len != HM_META_OBJECT_ID_BYTES)
        return HM_ECORRUPT;
    Hm__ObjectVersion *v = NULL;
    uint64_t stamp = 0;
    int rc = sm_version_newest(cx, e->object_id.data, &v, &stamp);
    if (rc != 0)
        return rc;
    if (v == NULL || v->delete_marker) {
        if (v != NULL)
            hm__object_version__free_unpacked(v, NULL);
        return 0;
    }
    sm_strip_inline(v);
    bool full = false;
    rc = sm_list_emit(l, k, klen, false, &v, &full);
    if (v != NULL)
        hm__object_version__free_unpacked(v, NULL);
    return rc;
}

/* Walk the names rows of bucket_id from l->lo until done or max reached. */
static int sm_list_walk(sm_ctx *cx, sm_list *l, uint64_t bucket_id)
{
    hm_kv_cursor *cur = NULL;
    int rc = cx->env->ops->kv_cursor_open(cx->txn, HM_KV_NAMES, &cur);
    if (rc != 0)
        return rc;
    uint8_t bp[HM_META_BUCKET_ID_BYTES];
    hm_meta_bucket_prefix(bucket_id, bp);
    while (!l->done) {
        uint8_t head[HM_META_NAMES_KEY_BYTES_MAX], nk[HM_META_NAMES_KEY_BYTES_MAX];
        size_t head_len = 0, nk_len = 0;
        rc = hm_meta_names_key(bucket_id, l->lo, l->lo_len, head, &head_len);
        if (rc == 0) /* start at the row of the chain that holds lo */
            rc = sm_name_locate(cx, head, head_len, l->lo, l->lo_len, nk, &nk_len);
        if (rc != 0)
            break;
        bool reseek = false;
        for (rc = cx->env->ops->kv_cursor_seek(cur, nk, nk_len); rc == 0 && !reseek && !l->done;
             rc = cx->env->ops->kv_cursor_next(cur)) {
            const void *k = NULL, *v = NULL;
            size_t kl = 0, vl = 0;
            rc = cx->env->ops->kv_cursor_get(cur, &k, &kl, &v, &vl);
            if (rc != 0)
                break;
            if (kl < sizeof bp || memcmp(k, bp, sizeof bp) != 0) {
                l->done = true;
                break;
            }
            Hm__NameList *nl = NULL;
            rc = sm_names_unpack(v, vl, &nl);
            if (rc != 0)
                break;
            for (size_t i = 0; rc == 0 && i < nl->n_entries && !reseek && !l->done; i++) {
                if (nl->entries[i]->key == NULL)
                    rc = HM_ECORRUPT;
                else
                    rc = sm_list_entry(cx, l, nl->entries[i], &reseek);
            }
            hm__name_list__free_unpacked(nl, NULL);
            if (rc != 0)
                break;
        }
        if (rc == HM_ENOENT) {
            rc = 0;
            if (!reseek)
                l->done = true;
        }
        if (rc != 0)
            break;
        if (!reseek)
            l->done = true;
    }
    cx->env->ops->kv_cursor_close(cur);
    return rc;
}

int sm_q_object_list(sm_ctx *cx, const Hm__ObjectList *q, Hm__MetaResponse *resp)
{
    if (q == NULL || q->bucket == NULL)
        return sm_reject(resp, HM_ENOBUCKET, NULL);
    sm_list *l = calloc(1, sizeof *l);
    if (l == NULL)
        return HM_ENOMEM;
    Hm__BucketRecord *b = NULL;
    int rc = 0;
    l->prefix = q->prefix != NULL ? q->prefix : "";
    l->plen = strlen(l->prefix);
    l->delim = q->delimiter != NULL ? q->delimiter : "";
    l->dlen = strlen(l->delim);
    l->after = q->start_after != NULL && q->start_after[0] != '\0' ? q->start_after : NULL;
    l->alen = l->after != NULL ? strlen(l->after) : 0;
    l->max = q->has_max_keys ? q->max_keys : HM_LIST_KEYS_MAX;
    if (l->max > HM_LIST_KEYS_MAX)
        l->max = HM_LIST_KEYS_MAX; /* S3 caps MaxKeys silently */
    if (l->plen > HM_KEY_BYTES_MAX || l->alen > HM_KEY_BYTES_MAX ||
        l->dlen > HM_KEY_BYTES_MAX) {
        rc = sm_reject(resp, HM_EINVAL, "prefix, delimiter or start-after too long");
        goto out;
    }
    rc = sm_bucket_load(cx, q->bucket, &b);
    if (rc == HM_ENOENT) {
        rc = sm_reject(resp, HM_ENOBUCKET, NULL);
        goto out;
    }
    if (rc != 0)
        goto out;
    l->res = malloc(sizeof *l->res);
    if (l->res == NULL) {
        rc = HM_ENOMEM;
        goto out;
    }
    hm__object_list_result__init(l->res);
    l->res->has_truncated = true;
    l->res->truncated = false;
    resp->result_case = HM__META_RESPONSE__RESULT_LIST;
    resp->list = l->res;
    if (l->max == 0)
        goto out;
    /* Start at max(prefix, start_after); start_after is exclusive. */
    if (l->after != NULL && sm_cmp(l->after, l->alen, l->prefix, l->plen) >= 0) {
        memcpy(l->lo, l->after, l->alen);
        l->lo_len = l->alen;
        l->lo_excl = true;
    } else {
        memcpy(l->lo, l->prefix, l->plen);
        l->lo_len = l->plen;
        l->lo_excl = false;
    }
    rc = sm_list_walk(cx, l, b->bucket_id);
out:
    if (b != NULL)
        hm__bucket_record__free_unpacked(b, NULL);
    free(l);
    return rc;
}
