/* hm_metrics.h - Prometheus metrics: lock-free counters and histograms, and
 * a writer for the text exposition format (version 0.0.4,
 * https://prometheus.io/docs/instrumenting/exposition_formats/).
 *
 * Two kinds of owner.  A component with families of its own (the gateway)
 * keeps its hm_metrics_hist / counters in its state.  Cores that have no
 * endpoint of their own (the metadata node's group commit, the log's
 * compaction, the RPC server, the syncs) record into the process-wide set
 * below, which every daemon's metrics server (hm_listen.h) renders.
 *
 * Names follow Prometheus conventions: hamster_ prefix, base units
 * (seconds, bytes), counters end in _total.
 */
#ifndef HM_METRICS_H
#define HM_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HM_METRICS_BUCKETS_MAX 16u

/* A histogram with fixed upper bounds (ascending, +Inf implied).  Values
 * are recorded in integer units (microseconds, commands); `scale` turns
 * them into the exported unit (1e-6 for seconds from microseconds). */
typedef struct hm_metrics_hist {
    const uint64_t *bounds;            /* n ascending upper bounds, in units */
    size_t n;                          /* <= HM_METRICS_BUCKETS_MAX */
    double scale;
    _Atomic uint64_t buckets[HM_METRICS_BUCKETS_MAX + 1]; /* last: +Inf */
    _Atomic uint64_t sum;
    _Atomic uint64_t count;
} hm_metrics_hist;

/* Set up h (zeroed counters).  bounds must outlive h. */
void hm_metrics_hist_init(hm_metrics_hist *h, const uint64_t *bounds, size_t n, double scale);
void hm_metrics_hist_observe(hm_metrics_hist *h, uint64_t value);

/* ---- the text writer -------------------------------------------------------- */

/* A growing text buffer.  After a failed allocation `failed` is set and
 * further writes are dropped; the caller answers 503. */
typedef struct hm_metrics_buf {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} hm_metrics_buf;

void hm_metrics_buf_free(hm_metrics_buf *b);
void hm_metrics_printf(hm_metrics_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
void hm_metrics_family(hm_metrics_buf *b, const char *name, const char *type,
                       const char *help);

/* One sample: name{labels} value.  labels is "" or `a="x",b="y"` with
 * values already escaped (hm_metrics_label_escape). */
void hm_metrics_sample(hm_metrics_buf *b, const char *name, const char *labels, double value);
void hm_metrics_sample_u64(hm_metrics_buf *b, const char *name, const char *labels,
                           uint64_t value);

/* The _bucket, _sum and _count samples of h under name with labels. */
void hm_metrics_hist_write(hm_metrics_buf *b, const char *name, const char *labels,
                           const hm_metrics_hist *h);

/* Escape a label value (backslash, double quote, newline) into out. */
void hm_metrics_label_escape(const char *in, char *out, size_t cap);

/* ---- process-wide metrics of cores without an endpoint ---------------------- */

/* The metadata node committed one group of `commands` commands with one
 * log append and one fsync. */
void hm_metrics_meta_batch(size_t commands);
/* The metadata log dropped `segments` whole segments (prefix compaction). */
void hm_metrics_meta_log_compacted(unsigned segments);

/* The RPC server answered one request (any service). */
void hm_metrics_rpc_request(void);

/* Write the process-wide families every daemon has:
 * hamster_fsyncs_total{kind="file"|"dir"|"kv"} and
 * hamster_rpc_requests_total. */
void hm_metrics_write_process(hm_metrics_buf *b);

/* Write the metadata node's process-wide families (commit batches, log
 * compaction): for a process that runs the node. */
void hm_metrics_write_meta(hm_metrics_buf *b);

/* Write hamster_meta_log_bytes and hamster_meta_log_files: the size and
 * number of the files in log_dir (0 when it cannot be listed). */
struct hm_env;
void hm_metrics_write_meta_log(hm_metrics_buf *b, struct hm_env *env, const char *log_dir);

#endif
