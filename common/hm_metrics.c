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

void hm_metrics_write_process(hm_metrics_buf *b)
{
    hm_metrics_family(b, "hamster_fsyncs_total", "counter",
                      "fsync, fdatasync and directory fsync calls made by this process.");
    hm_metrics_sample_u64(b, "hamster_fsyncs_total", "", hm_env_syncs_total());
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
