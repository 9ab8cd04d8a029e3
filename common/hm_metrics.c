/* hm_metrics.c - counters, histograms and the Prometheus text writer; see
 * hm_metrics.h.  Recording is a few relaxed atomic adds, so it may sit on
 * every request and every commit; rendering reads the atomics without a
 * lock (a scrape may see a histogram mid-update by one observation, which
 * Prometheus tolerates). */
#include "hm_metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_env.h"

#define METRICS_BUF_BYTES_MAX (8u << 20)

void hm_metrics_hist_init(hm_metrics_hist *h, const uint64_t *bounds, size_t n, double scale)
{
    memset(h, 0, sizeof *h);
    h->bounds = bounds;
    h->n = n <= HM_METRICS_BUCKETS_MAX ? n : HM_METRICS_BUCKETS_MAX;
    h->scale = scale;
}

void hm_metrics_hist_observe(hm_metrics_hist *h, uint64_t value)
{
    size_t i = 0;
    while (i < h->n && value > h->bounds[i]) i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, value, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

void hm_metrics_buf_free(hm_metrics_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void hm_metrics_printf(hm_metrics_buf *b, const char *fmt, ...)
{
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->len;
        int n = vsnprintf(b->data != NULL ? b->data + b->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t)n < room) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap > 0 ? b->cap * 2 : 8192;
        while (cap - b->len <= (size_t)n) cap *= 2;
        if (cap > METRICS_BUF_BYTES_MAX) {
            b->failed = true;
            return;
        }
        char *d = realloc(b->data, cap);
        if (d == NULL) {
            b->failed = true;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
}

void hm_metrics_family(hm_metrics_buf *b, const char *name, const char *type,
                       const char *help)
{
    hm_metrics_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void hm_metrics_sample(hm_metrics_buf *b, const char *name, const char *labels, double value)
{
    if (labels != NULL && labels[0] != '\0')
        hm_metrics_printf(b, "%s{%s} %.17g\n", name, labels, value);
    else hm_metrics_printf(b, "%s %.17g\n", name, value);
}

void hm_metrics_sample_u64(hm_metrics_buf *b, const char *name, const char *labels,
                           uint64_t value)
{
    if (labels != NULL && labels[0] != '\0')
        hm_metrics_printf(b, "%s{%s} %llu\n", name, labels, (unsigned long long)value);
    else hm_metrics_printf(b, "%s %llu\n", name, (unsigned long long)value);
}

void hm_metrics_hist_write(hm_metrics_buf *b, const char *name, const char *labels,
                           const hm_metrics_hist *h)
{
    const char *sep = labels != NULL && labels[0] != '\0' ? "," : "";
    const char *l = labels != NULL ? labels : "";
    uint64_t cum = 0;
    for (size_t i = 0; i <= h->n; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->n)
            hm_metrics_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, l, sep,
                              (double)h->bounds[i] * h->scale, (unsigned long long)cum);
        else
            hm_metrics_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, l, sep,
                              (unsigned long long)cum);
    }
    char sname[160];
    snprintf(sname, sizeof sname, "%s_sum", name);
    hm_metrics_sample(b, sname, l,
                      (double)atomic_load_explicit(&h->sum, memory_order_relaxed) * h->scale);
    snprintf(sname, sizeof sname, "%s_count", name);
    hm_metrics_sample_u64(b, sname, l, cum);
}

void hm_metrics_label_escape(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0) return;
    for (; in != NULL && *in != '\0' && o + 3 < cap; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = '\0';
}

/* ---- process-wide ------------------------------------------------------------ */

static const uint64_t metrics_batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};

static struct {
    hm_metrics_hist meta_batch;
    _Atomic uint64_t meta_log_segments_compacted;
    _Atomic uint64_t rpc_requests;
} metrics_process = {
    .meta_batch = {
        .bounds = metrics_batch_bounds,
        .n = sizeof metrics_batch_bounds / sizeof metrics_batch_bounds[0],
        .scale = 1.0,
    },
};

void hm_metrics_meta_batch(size_t commands)
{
    hm_metrics_hist_observe(&metrics_process.meta_batch, (uint64_t)commands);
}

void hm_metrics_meta_log_compacted(unsigned segments)
{
    atomic_fetch_add_explicit(&metrics_process.meta_log_segments_compacted, segments,
                              memory_order_relaxed);
}

void hm_metrics_rpc_request(void)
{
    atomic_fetch_add_explicit(&metrics_process.rpc_requests, 1, memory_order_relaxed);
}

typedef struct metrics_dir_sum {
    hm_env *env;
    const char *dir;
    uint64_t bytes;
    uint64_t files;
} metrics_dir_sum;

static int metrics_dir_sum_one(void *arg, const char *name, bool is_dir)
{
    metrics_dir_sum *s = arg;
    if (is_dir) return 0;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", s->dir, name) >= (int)sizeof path) return 0;
    hm_file *f = NULL;
    uint64_t size = 0;
    if (s->env->ops->open(s->env, path, HM_O_RDONLY, &f) != 0) return 0;
    if (s->env->ops->size(f, &size) == 0) {
        s->bytes += size;
        s->files++;
    }
    s->env->ops->close(f);
    return 0;
}

void hm_metrics_write_meta_log(hm_metrics_buf *b, hm_env *env, const char *log_dir)
{
    metrics_dir_sum s = {.env = env, .dir = log_dir};
    (void)env->ops->list_dir(env, log_dir, metrics_dir_sum_one, &s);
    hm_metrics_family(b, "hamster_meta_log_bytes", "gauge",
                      "Bytes in the metadata log's files (segments and hard state).");
    hm_metrics_sample_u64(b, "hamster_meta_log_bytes", "", s.bytes);
    hm_metrics_family(b, "hamster_meta_log_files", "gauge",
                      "Files in the metadata log directory.");
    hm_metrics_sample_u64(b, "hamster_meta_log_files", "", s.files);
}

void hm_metrics_write_process(hm_metrics_buf *b)
{
    /* One family labelled by kind: sum(hamster_fsyncs_total) is every sync
     * of the process. */
    static const struct {
        enum hm_env_sync_kind kind;
        const char *label;
    } kinds[] = {
        {HM_ENV_SYNC_FILE, "kind=\"file\""},
        {HM_ENV_SYNC_DIR, "kind=\"dir\""},
        {HM_ENV_SYNC_KV, "kind=\"kv\""},
    };
    _Static_assert(sizeof kinds / sizeof kinds[0] == HM_ENV_SYNC_KIND_COUNT,
                   "every sync kind is exported");
    hm_metrics_family(b, "hamster_fsyncs_total", "counter",
                      "Syncs made by this process: file (fdatasync of a file), dir (fsync "
                      "of a directory), kv (the metadata store's own syncs).");
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        hm_metrics_sample_u64(b, "hamster_fsyncs_total", kinds[i].label,
                              hm_env_syncs(kinds[i].kind));
    hm_metrics_family(b, "hamster_rpc_requests_total", "counter",
                      "Requests this process served over the mutual-TLS RPC.");
    hm_metrics_sample_u64(b, "hamster_rpc_requests_total", "",
                          atomic_load_explicit(&metrics_process.rpc_requests,
                                               memory_order_relaxed));
}

void hm_metrics_write_meta(hm_metrics_buf *b)
{
    hm_metrics_family(b, "hamster_meta_commit_batch_commands", "histogram",
                      "Commands per metadata group commit (one log append and fsync each).");
    hm_metrics_hist_write(b, "hamster_meta_commit_batch_commands", "",
                          &metrics_process.meta_batch);
    hm_metrics_family(b, "hamster_meta_log_segments_compacted_total", "counter",
                      "Metadata log segments deleted by prefix compaction.");
    hm_metrics_sample_u64(b, "hamster_meta_log_segments_compacted_total", "",
                          atomic_load_explicit(&metrics_process.meta_log_segments_compacted,
                                               memory_order_relaxed));
}
