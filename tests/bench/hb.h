/* hb.h - internals of hamster-bench, the S3 load generator (tests/bench/).
 *
 * hamster-bench drives one S3 (or plain HTTP) endpoint from a single thread
 * through libcurl's multi interface: N easy handles in flight, connections
 * kept alive, PUT bodies streamed from one pregenerated random buffer, GET
 * bodies hashed and dropped.  One thread is a choice: the machines this runs
 * on have few cores and share them with the server under test, so the client
 * must stay cheap and its cost predictable.  The pieces here are split out so
 * that each is small enough to read beside its contract:
 *
 *   hb_util.c   sizes, durations, the seeded PRNG, the payload generator
 *   hb_stats.c  latency histogram, per-operation counters, report and JSON
 *   hb_sign.c   request signing through the project's SigV4 code
 *
 * Nothing here asserts a timing: the tool prints figures; only its own
 * correctness checks (sizes, MD5 ETags, listing counts) count as errors.
 */
#ifndef HB_H
#define HB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- bounds ------------------------------------------------------------- */
#define HB_CONCURRENCY_MAX 1024          /* easy handles in flight */
#define HB_OBJECT_BYTES_MAX (5ull << 30) /* S3's single-PUT limit */
#define HB_KEYS_MAX (4u << 20)           /* objects the key table tracks */
#define HB_OPS_MAX 1000000000ll
#define HB_DURATION_MS_MAX (24ll * 3600 * 1000)
#define HB_PAYLOAD_BYTES ((16u << 20) + 4093u) /* odd: offsets give distinct bodies */
#define HB_URL_BYTES_MAX 2048u
#define HB_ERRBODY_BYTES_MAX 512u        /* kept from an error response */
#define HB_LIST_BODY_BYTES_MAX (8u << 20)/* one ListObjectsV2 page */
#define HB_LIST_PAGES_MAX 100000u        /* pages in one full listing */
#define HB_ERRORS_PRINTED_MAX 10u        /* error lines printed per run */
#define HB_HIST_SUB_BITS 7               /* 128 sub-buckets per power of two */
#define HB_HIST_EXP_MAX 40               /* values up to 2^40 us (12 days) */

_Static_assert(HB_PAYLOAD_BYTES > (1u << 20), "payload must exceed a stripe");
_Static_assert(HB_CONCURRENCY_MAX <= HB_KEYS_MAX, "each slot needs a key");

/* ---- operations --------------------------------------------------------- */
enum hb_op { HB_OP_PUT = 0, HB_OP_GET, HB_OP_STAT, HB_OP_LIST, HB_OP_DELETE, HB_OP_COUNT };

/* Upper-case name of an operation ("PUT"). */
const char *hb_op_name(enum hb_op op);

/* ---- parsing (hb_util.c) ------------------------------------------------ */

/* Parse a byte size: a decimal integer with an optional unit B, KiB, MiB,
 * GiB, KB, MB, GB, K, M, G (K/M/G are binary).  0 on success, -1 on a bad
 * string or a value above HB_OBJECT_BYTES_MAX. */
int hb_parse_bytes(const char *s, uint64_t *out);

/* Parse "SIZE" or "MIN-MAX" (both sizes, MIN <= MAX).  0 or -1. */
int hb_parse_size_range(const char *s, uint64_t *min, uint64_t *max);

/* Parse a duration: an integer with unit ms, s, m or h ("30s"); a bare
 * number is seconds.  0 or -1 (also above HB_DURATION_MS_MAX). */
int hb_parse_duration_ms(const char *s, int64_t *out_ms);

/* Format a byte count for humans ("64 MiB", "1.5 KiB") into buf. */
void hb_format_bytes(uint64_t n, char *buf, size_t cap);

/* ---- PRNG (hb_util.c) --------------------------------------------------- */
typedef struct hb_rng { uint64_t s[4]; } hb_rng;

/* Seed with splitmix64 expansion of seed. */
void hb_rng_seed(hb_rng *r, uint64_t seed);
uint64_t hb_rng_next(hb_rng *r);
/* Uniform in [0, n); n > 0. */
uint64_t hb_rng_below(hb_rng *r, uint64_t n);

/* ---- payload (hb_util.c) ------------------------------------------------ */

/* The shared payload: HB_PAYLOAD_BYTES random bytes, read cyclically.  An
 * object is (offset, size): byte i of it is payload[(offset + i) % len].  The
 * same seed gives the same bytes, so separate runs (and separate targets)
 * store identical objects. */
typedef struct hb_payload {
    unsigned char *buf;
    size_t len;
} hb_payload;

/* Allocate and fill from seed.  0 or -1 (out of memory). */
int hb_payload_init(hb_payload *p, uint64_t seed);
void hb_payload_free(hb_payload *p);

/* Copy up to cap bytes of object (offset, size) starting at pos into dst;
 * returns the count copied (0 at the end). */
size_t hb_payload_read(const hb_payload *p, uint64_t offset, uint64_t size,
                       uint64_t pos, void *dst, size_t cap);

/* MD5 of object (offset, size) into md5[16].  0 or -1 (OpenSSL failure). */
int hb_payload_md5(const hb_payload *p, uint64_t offset, uint64_t size,
                   unsigned char md5[16]);

/* ---- statistics (hb_stats.c) -------------------------------------------- */

/* An HDR-like log-linear histogram of latencies in microseconds: each power
 * of two is split into 2^HB_HIST_SUB_BITS buckets, so a reported percentile
 * is within 1/128 (0.8%) of the true sample; the maximum is exact. */
typedef struct hb_hist {
    uint64_t counts[(HB_HIST_EXP_MAX + 1) << HB_HIST_SUB_BITS];
    uint64_t total;
    uint64_t max_us;
} hb_hist;

void hb_hist_add(hb_hist *h, uint64_t us);
/* The value below which fraction q (0..1) of samples lie; 0 if empty. */
uint64_t hb_hist_quantile(const hb_hist *h, double q);

/* Counters for one operation type. */
typedef struct hb_opstats {
    uint64_t ops;           /* completed without error */
    uint64_t bytes;         /* payload bytes of those ops */
    uint64_t errors;        /* HTTP or transport failures */
    uint64_t verify_fail;   /* completed but size/MD5/count did not match */
    uint64_t verified;      /* reads checked against a known MD5 */
    hb_hist lat;
} hb_opstats;

/* Description of the run, for the report. */
typedef struct hb_run_info {
    const char *mode;
    const char *endpoint;
    const char *bucket;
    const char *prefix;
    uint64_t size_min, size_max;
    const char *size_dist;
    int64_t concurrency;
    int64_t duration_ms;    /* requested; 0 if none */
    int64_t ops_limit;      /* requested; 0 if none */
    int64_t objects;        /* prepared objects */
    int64_t mix_get_pct;
    bool plain, verify;
    uint64_t seed;
    double elapsed_s;       /* measured phase, wall clock */
    uint64_t aborted;       /* in flight when the hard stop came */
    /* Server syncs during the measured phase, from the server's
     * Prometheus page (-metrics URL; hamster serve counts every sync of the
     * store). */
    bool syncs_known;
    uint64_t syncs, syncs_file, syncs_dir, syncs_kv;
} hb_run_info;

/* Parse the samples hamster_fsyncs_total{kind="file"|"dir"|"kv"} out of a
 * Prometheus text page into out[1..3] (file, dir, kv) and their sum into
 * out[0].  0, or -1 when a kind is missing or a value malformed. */
int hb_parse_metrics_syncs(const char *body, uint64_t out[4]);

/* Print the end-of-run table to out. */
void hb_report_print(FILE *out, const hb_run_info *ri, const hb_opstats st[HB_OP_COUNT]);

/* Write the same as one JSON object to path.  0 or -1 (with a message). */
int hb_report_json(const char *path, const hb_run_info *ri,
                   const hb_opstats st[HB_OP_COUNT]);

/* ---- signing (hb_sign.c) ------------------------------------------------ */

typedef struct hb_creds {
    const char *access_key;
    const char *secret_key;
    const char *region;
} hb_creds;

/* Build the signed header lines for one request into lines[] (each a
 * NUL-terminated "Name: value", at most 4 lines of up to 512 bytes):
 * x-amz-date, x-amz-content-sha256 (UNSIGNED-PAYLOAD, or the SHA-256 of the
 * empty body for requests without one) and Authorization.  host is the Host
 * header as sent ("127.0.0.1:9000"); path is the URI-encoded absolute path;
 * query the canonical query string (sorted, encoded) or "".  now is Unix
 * seconds.  Returns the line count (>0) or -1 on failure. */
#define HB_SIGN_LINES_MAX 4
#define HB_SIGN_LINE_BYTES 512
int hb_sign(const hb_creds *c, const char *method, const char *host,
            const char *path, const char *query, bool has_body, int64_t now,
            char lines[HB_SIGN_LINES_MAX][HB_SIGN_LINE_BYTES]);

#endif
