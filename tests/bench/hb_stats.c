/* hb_stats.c - hamster-bench latency histogram, end-of-run table and JSON.
 *
 * Latencies go into a fixed log-linear histogram rather than a sample array
 * so that memory stays constant however long a run lasts (41 x 128 counters
 * per operation type) while percentiles stay within 0.8%.
 */
#include "hb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* ---- histogram ---------------------------------------------------------- */

#define STATS_SUB (1u << HB_HIST_SUB_BITS)
#define STATS_NBUCKETS ((HB_HIST_EXP_MAX + 1) << HB_HIST_SUB_BITS)

/* Values below 2*STATS_SUB map to themselves; above, each power of two
 * 2^e (e >= 8) gets STATS_SUB buckets of width 2^(e-7). */
static size_t stats_index(uint64_t us)
{
    if (us < 2 * STATS_SUB) return (size_t)us;
    int e = 63 - __builtin_clzll(us);
    int shift = e - HB_HIST_SUB_BITS;
    uint64_t sub = us >> shift;  /* in [STATS_SUB, 2*STATS_SUB) */
    return (size_t)(shift + 1) * STATS_SUB + (size_t)(sub - STATS_SUB);
}

/* Midpoint of the values that map to bucket idx. */
static uint64_t stats_value(size_t idx)
{
    if (idx < 2 * STATS_SUB) return idx;
    int shift = (int)(idx / STATS_SUB) - 1;
    uint64_t sub = idx % STATS_SUB + STATS_SUB;
    uint64_t lo = sub << shift;
    uint64_t hi = ((sub + 1) << shift) - 1;
    return lo + (hi - lo) / 2;
}

void hb_hist_add(hb_hist *h, uint64_t us)
{
    const uint64_t top = (1ull << HB_HIST_EXP_MAX) - 1;
    if (us > top) us = top;
    size_t idx = stats_index(us);
    _Static_assert(STATS_NBUCKETS >
                       (HB_HIST_EXP_MAX - HB_HIST_SUB_BITS + 1) * STATS_SUB + STATS_SUB,
                   "histogram too small for its range");
    h->counts[idx]++;
    h->total++;
    if (us > h->max_us) h->max_us = us;
}

uint64_t hb_hist_quantile(const hb_hist *h, double q)
{
    if (h->total == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)h->total + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > h->total) rank = h->total;
    uint64_t seen = 0;
    for (size_t i = 0; i < STATS_NBUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = stats_value(i);
            return v < h->max_us ? v : h->max_us;
        }
    }
    return h->max_us;
}

/* ---- report ------------------------------------------------------------- */

static double stats_rate(uint64_t n, double secs) { return secs > 0 ? (double)n / secs : 0.0; }

static bool stats_active(const hb_opstats *s)
{
    return s->ops + s->errors + s->verify_fail > 0;
}

void hb_report_print(FILE *out, const hb_run_info *ri, const hb_opstats st[HB_OP_COUNT])
{
    char smin[32], smax[32];
    hb_format_bytes(ri->size_min, smin, sizeof smin);
    hb_format_bytes(ri->size_max, smax, sizeof smax);
    fprintf(out, "hamster-bench %s: endpoint %s%s, bucket %s, prefix %s\n", ri->mode,
            ri->endpoint, ri->plain ? " (plain HTTP)" : "", ri->bucket, ri->prefix);
    if (ri->size_min == ri->size_max)
        fprintf(out, "  size %s, concurrency %" PRId64 ", %.2f s measured", smin,
                ri->concurrency, ri->elapsed_s);
    else
        fprintf(out, "  size %s-%s (%s), concurrency %" PRId64 ", %.2f s measured", smin,
                smax, ri->size_dist, ri->concurrency, ri->elapsed_s);
    fprintf(out, ", seed %" PRIu64 "%s\n", ri->seed, ri->verify ? "" : ", no verify");
    fprintf(out, "  %-6s %9s %10s %9s %9s %9s %9s %9s %7s %7s %8s\n", "op", "ops", "ops/s",
            "MiB/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "badread", "syncs/op");
    /* Syncs cannot be told apart by operation: per operation of the run. */
    uint64_t all_ops = 0;
    for (int i = 0; i < HB_OP_COUNT; i++) all_ops += st[i].ops + st[i].errors;
    char per_op[32] = "-";
    if (ri->syncs_known && all_ops > 0)
        snprintf(per_op, sizeof per_op, "%.3f", (double)ri->syncs / (double)all_ops);
    for (int i = 0; i < HB_OP_COUNT; i++) {
        const hb_opstats *s = &st[i];
        if (!stats_active(s)) continue;
        fprintf(out, "  %-6s %9" PRIu64 " %10.1f %9.1f %9.3f %9.3f %9.3f %9.3f %7" PRIu64
                     " %7" PRIu64 " %8s\n",
                hb_op_name((enum hb_op)i), s->ops, stats_rate(s->ops, ri->elapsed_s),
                stats_rate(s->bytes, ri->elapsed_s) / (1024.0 * 1024.0),
                (double)hb_hist_quantile(&s->lat, 0.50) / 1000.0,
                (double)hb_hist_quantile(&s->lat, 0.90) / 1000.0,
                (double)hb_hist_quantile(&s->lat, 0.99) / 1000.0,
                (double)s->lat.max_us / 1000.0, s->errors, s->verify_fail, per_op);
    }
    if (ri->syncs_known)
        fprintf(out, "  server syncs: %" PRIu64 " (file fdatasync %" PRIu64 ", directory fsync %"
                     PRIu64 ", metadata store %" PRIu64 ")\n",
                ri->syncs, ri->syncs_file, ri->syncs_dir, ri->syncs_kv);
    else
        fprintf(out, "  server syncs: unknown (no -metrics URL, or it does not answer)\n");
    if (ri->aborted > 0)
        fprintf(out, "  %" PRIu64 " operations were still in flight at the hard stop\n",
                ri->aborted);
}

/* Write s as a JSON string literal (RFC 8259 section 7). */
static void stats_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

int hb_report_json(const char *path, const hb_run_info *ri,
                   const hb_opstats st[HB_OP_COUNT])
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "hamster-bench: cannot write %s\n", path);
        return -1;
    }
    uint64_t errors = 0, bad = 0;
    fprintf(f, "{\"tool\":\"hamster-bench\",\"format\":1,\"mode\":");
    stats_json_str(f, ri->mode);
    fprintf(f, ",\"endpoint\":");
    stats_json_str(f, ri->endpoint);
    fprintf(f, ",\"bucket\":");
    stats_json_str(f, ri->bucket);
    fprintf(f, ",\"prefix\":");
    stats_json_str(f, ri->prefix);
    fprintf(f, ",\"plain\":%s,\"verify\":%s,\"size_min\":%" PRIu64 ",\"size_max\":%" PRIu64
               ",\"size_dist\":",
            ri->plain ? "true" : "false", ri->verify ? "true" : "false", ri->size_min,
            ri->size_max);
    stats_json_str(f, ri->size_dist);
    fprintf(f, ",\"concurrency\":%" PRId64 ",\"duration_ms\":%" PRId64
               ",\"ops_limit\":%" PRId64 ",\"objects\":%" PRId64 ",\"mix_get_pct\":%" PRId64
               ",\"seed\":%" PRIu64 ",\"elapsed_s\":%.6f,\"aborted\":%" PRIu64,
            ri->concurrency, ri->duration_ms, ri->ops_limit, ri->objects, ri->mix_get_pct,
            ri->seed, ri->elapsed_s, ri->aborted);
    if (ri->syncs_known)
        fprintf(f, ",\"syncs\":{\"total\":%" PRIu64 ",\"file\":%" PRIu64 ",\"dir\":%" PRIu64
                   ",\"kv\":%" PRIu64 "}",
                ri->syncs, ri->syncs_file, ri->syncs_dir, ri->syncs_kv);
    fprintf(f, ",\"results\":[");
    bool first = true;
    for (int i = 0; i < HB_OP_COUNT; i++) {
        const hb_opstats *s = &st[i];
        errors += s->errors;
        bad += s->verify_fail;
        if (!stats_active(s)) continue;
        fprintf(f, "%s{\"op\":\"%s\",\"ops\":%" PRIu64 ",\"bytes\":%" PRIu64
                   ",\"ops_per_s\":%.3f,\"mib_per_s\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f"
                   ",\"p99_ms\":%.3f,\"max_ms\":%.3f,\"errors\":%" PRIu64
                   ",\"verify_fail\":%" PRIu64 ",\"verified\":%" PRIu64 "}",
                first ? "" : ",", hb_op_name((enum hb_op)i), s->ops, s->bytes,
                stats_rate(s->ops, ri->elapsed_s),
                stats_rate(s->bytes, ri->elapsed_s) / (1024.0 * 1024.0),
                (double)hb_hist_quantile(&s->lat, 0.50) / 1000.0,
                (double)hb_hist_quantile(&s->lat, 0.90) / 1000.0,
                (double)hb_hist_quantile(&s->lat, 0.99) / 1000.0,
                (double)s->lat.max_us / 1000.0, s->errors, s->verify_fail, s->verified);
        first = false;
    }
    fprintf(f, "],\"errors_total\":%" PRIu64 ",\"verify_fail_total\":%" PRIu64 "}\n", errors,
            bad);
    if (fclose(f) != 0) {
        fprintf(stderr, "hamster-bench: error writing %s\n", path);
        return -1;
    }
    return 0;
}

int hb_parse_metrics_syncs(const char *body, uint64_t out[4])
{
    static const char *const names[3] = {"hamster_fsyncs_total{kind=\"file\"}",
                                         "hamster_fsyncs_total{kind=\"dir\"}",
                                         "hamster_fsyncs_total{kind=\"kv\"}"};
    bool seen[3] = {false, false, false};
    uint64_t v3[3] = {0, 0, 0};
    const char *p = body;
    while (p != NULL && *p != '\0') {
        const char *eol = strchr(p, '\n');
        size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
        for (int i = 0; i < 3; i++) {
            size_t nl = strlen(names[i]);
            if (len > nl + 1 && strncmp(p, names[i], nl) == 0 && p[nl] == ' ') {
                char num[32];
                size_t dl = len - nl - 1;
                if (dl == 0 || dl >= sizeof num) return -1;
                memcpy(num, p + nl + 1, dl);
                num[dl] = '\0';
                char *end = NULL;
                errno = 0;
                unsigned long long v = strtoull(num, &end, 10);
                if (errno != 0 || *end != '\0' || num[0] < '0' || num[0] > '9') return -1;
                v3[i] = v;
                seen[i] = true;
            }
        }
        p = eol != NULL ? eol + 1 : NULL;
    }
    for (int i = 0; i < 3; i++)
        if (!seen[i]) return -1;
    out[1] = v3[0];
    out[2] = v3[1];
    out[3] = v3[2];
    out[0] = v3[0] + v3[1] + v3[2];
    return 0;
}
