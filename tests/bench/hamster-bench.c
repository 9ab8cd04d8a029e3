/* hamster-bench.c - a warp-style S3 load generator on libcurl's multi
 * interface.
 *
 *   hamster-bench MODE [flags]        MODE: put get mixed list delete stat
 *   hamster-bench get -endpoint 127.0.0.1:9000 -size 1MiB -c 8 -duration 30s
 *
 * One thread runs -c easy handles through one multi handle; connections are
 * kept alive and reused.  PUT bodies stream from one pregenerated random
 * buffer (hb_payload) and are sent as UNSIGNED-PAYLOAD, so the client spends
 * nothing per byte but a memcpy; GET bodies are hashed with MD5 and dropped.
 * Every read is checked against what the tool itself wrote: size, and MD5
 * against the ETag (a single-part ETag is the body's MD5).  A run has three
 * phases, only the middle one measured:
 *
 *   prepare  create the bucket; upload -objects objects (get/stat/list/
 *            delete/mixed), their MD5 computed locally and compared with the
 *            ETag the server returns.  With -prepared, take over the objects
 *            an earlier -keep run left: object i's size and bytes follow
 *            from -seed alone, so nothing needs uploading again.
 *   measure  the mode's operations until -duration or -ops, then wait for
 *            the operations in flight (at most -grace), abort the rest
 *   clean    delete every object the run left (unless -keep)
 *
 * -plain drops signing and bucket creation, so the same client can measure
 * a plain HTTP server (nginx with WebDAV PUT) at the same URLs
 * (endpoint/bucket/key); ETags are then not MD5s, so reads are checked
 * against the MD5 computed locally at preparation.
 *
 * Exit status: 0 when every operation succeeded and verified, 1 when any
 * failed, 2 for bad usage.  Timings are printed, never judged.
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hb.h"
#include "hm_flags.h"

/* ---- keys --------------------------------------------------------------- */

enum bench_key_state { KEY_EMPTY = 0, KEY_WRITING, KEY_READY, KEY_DELETING, KEY_GONE };

/* One object the run wrote.  Its bytes are payload (offset, size); md5 is
 * known after a successful PUT (the server's ETag, or computed locally). */
typedef struct bench_key {
    uint64_t offset;
    uint64_t size;
    unsigned char md5[16];
    uint16_t readers;       /* GET/STAT in flight */
    uint8_t state;          /* enum bench_key_state */
    uint8_t md5_known;
} bench_key;

/* ---- phases and slots --------------------------------------------------- */

enum bench_phase { PHASE_PREPARE, PHASE_MEASURE, PHASE_CLEAN };

enum bench_req {
    REQ_PUT, REQ_GET, REQ_STAT, REQ_LIST, REQ_DELETE, REQ_MKBUCKET
};

struct bench;

/* One easy handle and the operation it carries. */
typedef struct bench_slot {
    struct bench *b;
    CURL *easy;
    struct curl_slist *hdrs;
    enum bench_req req;
    uint32_t key;               /* key index; unused for LIST/MKBUCKET */
    uint64_t size;              /* PUT: bytes to send */
    uint64_t offset;            /* PUT: payload offset */
    uint64_t pos;               /* bytes sent (PUT) or received (others) */
    uint64_t start_ns;          /* of the operation (first page for LIST) */
    bool inflight;              /* added to the multi handle */
    EVP_MD_CTX *md5;
    bool hashing;
    char etag[64];              /* response ETag, quotes stripped */
    long status;
    char head[HB_ERRBODY_BYTES_MAX + 1]; /* first bytes of the body */
    size_t head_len;
    char *body;                 /* LIST page, up to HB_LIST_BODY_BYTES_MAX */
    size_t body_len, body_cap;
    bool body_overflow;
    char token[1024];           /* LIST continuation token, "" for the first page */
    uint32_t list_pages;
    uint64_t list_keys;
    char url[HB_URL_BYTES_MAX];
    char sign[HB_SIGN_LINES_MAX][HB_SIGN_LINE_BYTES];
    char hostline[300];
    char errbuf[CURL_ERROR_SIZE];
} bench_slot;

typedef struct bench {
    /* configuration */
    enum hb_op mode_op;         /* PUT/GET/STAT/LIST/DELETE; mixed uses mixed */
    bool mixed;
    const char *mode;
    char base[512];             /* "http://127.0.0.1:9000" */
    char host[256];             /* "127.0.0.1:9000" */
    const char *bucket;
    const char *prefix;
    hb_creds creds;
    bool plain, verify, keep;
    uint64_t size_min, size_max;
    bool size_log;
    int64_t conc, objects, mix_get_pct, max_errors;
    int64_t ops_limit, duration_ms, grace_ms;
    uint64_t seed;
    /* state */
    hb_rng rng;
    hb_payload payload;
    CURLM *multi;
    bench_slot *slots;
    bench_key *keys;
    uint32_t nkeys, keys_cap;
    uint32_t cursor;            /* next key for prepare/delete/clean walks */
    uint64_t ready;             /* keys in KEY_READY */
    enum bench_phase phase;
    uint64_t started;           /* operations issued in this phase */
    uint64_t phase_errors;
    bool stopping;
    hb_opstats st[HB_OP_COUNT];
    hb_opstats prep;            /* preparation and cleanup, not reported */
    uint64_t errors_printed;
    uint64_t measure_start_ns, measure_end_ns;
    uint64_t aborted;
} bench;

static volatile sig_atomic_t bench_interrupted;

static void bench_on_signal(int sig)
{
    (void)sig;
    bench_interrupted = 1;
}

static uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- key table ---------------------------------------------------------- */

/* Append an empty key; its index in *idx.  0, or -1 when the table is full
 * (HB_KEYS_MAX) or memory runs out. */
static int bench_key_new(bench *b, uint32_t *idx)
{
    if (b->nkeys == b->keys_cap) {
        if (b->keys_cap >= HB_KEYS_MAX) return -1;
        uint32_t cap = b->keys_cap ? b->keys_cap * 2 : 1024;
        if (cap > HB_KEYS_MAX) cap = HB_KEYS_MAX;
        bench_key *k = realloc(b->keys, (size_t)cap * sizeof *k);
        if (k == NULL) return -1;
        b->keys = k;
        b->keys_cap = cap;
    }
    memset(&b->keys[b->nkeys], 0, sizeof b->keys[0]);
    *idx = b->nkeys++;
    return 0;
}

/* A random key in KEY_READY (for reads) or KEY_READY with no readers (for
 * overwrites).  Bounded probing; 0 or -1 if none was found. */
static int bench_key_pick(bench *b, bool idle, uint32_t *idx)
{
    if (b->ready == 0) return -1;
    for (int i = 0; i < 64; i++) {
        uint32_t k = (uint32_t)hb_rng_below(&b->rng, b->nkeys);
        if (b->keys[k].state == KEY_READY && (!idle || b->keys[k].readers == 0)) {
            *idx = k;
            return 0;
        }
    }
    return -1;
}

static void bench_key_name(const bench *b, uint32_t k, char *out, size_t cap)
{
    snprintf(out, cap, "%sobj%08" PRIu32, b->prefix, k);
}

static uint64_t bench_draw_size(bench *b)
{
    if (b->size_min == b->size_max) return b->size_min;
    if (b->size_log && b->size_min > 0) {
        double lo = log((double)b->size_min), hi = log((double)b->size_max);
        double u = (double)(hb_rng_next(&b->rng) >> 11) / 9007199254740992.0;
        uint64_t v = (uint64_t)exp(lo + (hi - lo) * u);
        if (v < b->size_min) v = b->size_min;
        if (v > b->size_max) v = b->size_max;
        return v;
    }
    return b->size_min + hb_rng_below(&b->rng, b->size_max - b->size_min + 1);
}

/* ---- curl callbacks ----------------------------------------------------- */

static size_t bench_read_cb(char *dst, size_t size, size_t nitems, void *arg)
{
    bench_slot *s = arg;
    size_t n = hb_payload_read(&s->b->payload, s->offset, s->size, s->pos, dst,
                               size * nitems);
    s->pos += n;
    return n;
}

/* curl rewinds an upload when it must resend it on a fresh connection (a
 * kept-alive one the server had closed); the body is regenerated from pos. */
static int bench_seek_cb(void *arg, curl_off_t offset, int origin)
{
    bench_slot *s = arg;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > s->size)
        return CURL_SEEKFUNC_CANTSEEK;
    s->pos = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static void bench_keep_head(bench_slot *s, const char *data, size_t n)
{
    if (s->head_len < HB_ERRBODY_BYTES_MAX) {
        size_t room = HB_ERRBODY_BYTES_MAX - s->head_len;
        size_t take = n < room ? n : room;
        memcpy(s->head + s->head_len, data, take);
        s->head_len += take;
        s->head[s->head_len] = '\0';
    }
}

/* ---- server sync counters ---------------------------------------------- */

/* The /metrics page, read whole up to a bound. */
#define BENCH_METRICS_BYTES_MAX (4u << 20)

typedef struct bench_page {
    char *buf;
    size_t len, cap;
    bool overflow;
} bench_page;

static size_t bench_page_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    bench_page *pg = arg;
    size_t n = size * nmemb;
    if (n > BENCH_METRICS_BYTES_MAX - pg->len) {
        pg->overflow = true;
        return 0;
    }
    if (pg->len + n + 1 > pg->cap) {
        size_t cap = pg->cap != 0 ? pg->cap : 64 * 1024;
        while (cap < pg->len + n + 1) cap *= 2;
        char *p = realloc(pg->buf, cap);
        if (p == NULL) return 0;
        pg->buf = p;
        pg->cap = cap;
    }
    memcpy(pg->buf + pg->len, data, n);
    pg->len += n;
    pg->buf[pg->len] = '\0';
    return n;
}

/* Read the server's sync counters from its Prometheus page (the -metrics
 * URL, e.g. http://127.0.0.1:9100/metrics of `hamster serve -metrics`).
 * 0, or -1 when there is no URL or the page does not say. */
static int bench_server_syncs(const char *metrics_url, uint64_t out[4])
{
    if (metrics_url == NULL || metrics_url[0] == '\0') return -1;
    CURL *e = curl_easy_init();
    if (e == NULL) return -1;
    bench_page pg = {0};
    curl_easy_setopt(e, CURLOPT_URL, metrics_url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, bench_page_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &pg);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    CURLcode cc = curl_easy_perform(e);
    if (cc == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(e);
    int rc = cc == CURLE_OK && status == 200 && pg.buf != NULL
                 ? hb_parse_metrics_syncs(pg.buf, out)
                 : -1;
    free(pg.buf);
    return rc;
}

static size_t bench_write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    bench_slot *s = arg;
    size_t n = size * nmemb;
    s->pos += n;
    bench_keep_head(s, data, n);
    if (s->hashing && EVP_DigestUpdate(s->md5, data, n) != 1) s->hashing = false;
    if (s->req == REQ_LIST) {
        if (s->body_len + n > HB_LIST_BODY_BYTES_MAX) {
            s->body_overflow = true;
            return n;
        }
        if (s->body_len + n + 1 > s->body_cap) {
            size_t cap = s->body_cap ? s->body_cap : 64 * 1024;
            while (cap < s->body_len + n + 1) cap *= 2;
            char *p = realloc(s->body, cap);
            if (p == NULL) return 0; /* makes curl fail the transfer */
            s->body = p;
            s->body_cap = cap;
        }
        memcpy(s->body + s->body_len, data, n);
        s->body_len += n;
        s->body[s->body_len] = '\0';
    }
    return n;
}

static size_t bench_header_cb(char *data, size_t size, size_t nitems, void *arg)
{
    bench_slot *s = arg;
    size_t n = size * nitems;
    if (n > 5 && strncasecmp(data, "etag:", 5) == 0) {
        const char *p = data + 5, *end = data + n;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '"')) p++;
        size_t len = 0;
        while (p + len < end && p[len] != '"' && p[len] != '\r' && p[len] != '\n') len++;
        if (len >= sizeof s->etag) len = sizeof s->etag - 1;
        memcpy(s->etag, p, len);
        s->etag[len] = '\0';
    }
    return n;
}

/* ---- request setup ------------------------------------------------------ */

/* Percent-encode s (RFC 3986 unreserved kept) into out.  -1 if it does not
 * fit. */
static int bench_uri_encode(const char *s, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.' ||
                    *p == '~';
        if (o + 4 > cap) return -1;
        if (keep) {
            out[o++] = (char)*p;
        } else {
            out[o++] = '%';
            out[o++] = hex[*p >> 4];
            out[o++] = hex[*p & 15];
        }
    }
    out[o] = '\0';
    return 0;
}

/* Configure s->easy for request req on key k (ignored for LIST/MKBUCKET).
 * 0, or -1 when the URL or signature could not be built. */
static int bench_setup(bench *b, bench_slot *s, enum bench_req req, uint32_t k)
{
    CURL *e = s->easy;
    curl_easy_reset(e);
    curl_slist_free_all(s->hdrs);
    s->hdrs = NULL;
    s->req = req;
    s->key = k;
    s->pos = 0;
    s->etag[0] = '\0';
    s->head_len = 0;
    s->head[0] = '\0';
    s->status = 0;
    s->body_len = 0;
    s->body_overflow = false;
    s->errbuf[0] = '\0';
    s->hashing = false;

    char path[HB_URL_BYTES_MAX / 2], query[HB_URL_BYTES_MAX / 2];
    query[0] = '\0';
    const char *method = "GET";
    bool has_body = false;
    if (req == REQ_MKBUCKET) {
        snprintf(path, sizeof path, "/%s", b->bucket);
        method = "PUT";
    } else if (req == REQ_LIST) {
        char pfx[600], tok[3 * sizeof s->token + 1];
        if (bench_uri_encode(b->prefix, pfx, sizeof pfx) != 0 ||
            bench_uri_encode(s->token, tok, sizeof tok) != 0)
            return -1;
        snprintf(path, sizeof path, "/%s", b->bucket);
        int n = snprintf(query, sizeof query, "%s%s%slist-type=2&max-keys=1000&prefix=%s",
                         s->token[0] ? "continuation-token=" : "", s->token[0] ? tok : "",
                         s->token[0] ? "&" : "", pfx);
        if (n < 0 || (size_t)n >= sizeof query) return -1;
    } else {
        char name[400];
        bench_key_name(b, k, name, sizeof name);
        snprintf(path, sizeof path, "/%s/%s", b->bucket, name);
        if (req == REQ_PUT) method = "PUT";
        if (req == REQ_STAT) method = "HEAD";
        if (req == REQ_DELETE) method = "DELETE";
        has_body = req == REQ_PUT;
    }
    int n = snprintf(s->url, sizeof s->url, "%s%s%s%s", b->base, path, query[0] ? "?" : "",
                     query);
    if (n < 0 || (size_t)n >= sizeof s->url) return -1;

    snprintf(s->hostline, sizeof s->hostline, "Host: %s", b->host);
    s->hdrs = curl_slist_append(s->hdrs, s->hostline);
    s->hdrs = curl_slist_append(s->hdrs, "Expect:"); /* no 100-continue round trip */
    if (!b->plain) {
        int lines = hb_sign(&b->creds, method, b->host, path, query, has_body,
                            (int64_t)time(NULL), s->sign);
        if (lines < 0) return -1;
        for (int i = 0; i < lines; i++) s->hdrs = curl_slist_append(s->hdrs, s->sign[i]);
    }
    if (s->hdrs == NULL) return -1;

    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    /* A transfer stalled below 1 byte/s for a minute is failed, so no
     * operation can hang the run. */
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, bench_header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, bench_write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    /* Big buffers cut callback overhead on large objects; many handles get
     * smaller ones so memory stays bounded (c * 2 MiB at most). */
    long buf = b->conc <= 64 ? 512L * 1024 : 64L * 1024;
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, buf);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, b->conc <= 64 ? 1024L * 1024 : 64L * 1024);

    switch (req) {
    case REQ_PUT:
    case REQ_MKBUCKET:
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, bench_read_cb);
        curl_easy_setopt(e, CURLOPT_READDATA, s);
        curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, bench_seek_cb);
        curl_easy_setopt(e, CURLOPT_SEEKDATA, s);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                         (curl_off_t)(req == REQ_PUT ? s->size : 0));
        if (req == REQ_MKBUCKET) s->size = 0;
        break;
    case REQ_GET:
        if (b->verify) {
            s->hashing = EVP_DigestInit_ex(s->md5, EVP_md5(), NULL) == 1;
            if (!s->hashing) return -1;
        }
        break;
    case REQ_STAT:
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
        break;
    case REQ_DELETE:
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "DELETE");
        break;
    case REQ_LIST:
        break;
    }
    return 0;
}

/* ---- choosing the next operation ---------------------------------------- */

static enum hb_op bench_req_op(enum bench_req r)
{
    switch (r) {
    case REQ_PUT: case REQ_MKBUCKET: return HB_OP_PUT;
    case REQ_GET: return HB_OP_GET;
    case REQ_STAT: return HB_OP_STAT;
    case REQ_LIST: return HB_OP_LIST;
    case REQ_DELETE: return HB_OP_DELETE;
    }
    return HB_OP_PUT;
}

/* Prepare a PUT of key k (new or overwritten) with a fresh size/offset. */
static int bench_prep_put(bench *b, bench_slot *s, uint32_t k)
{
    bench_key *key = &b->keys[k];
    if (key->state == KEY_READY) b->ready--;
    key->state = KEY_WRITING;
    key->md5_known = 0;
    key->size = bench_draw_size(b);
    key->offset = hb_rng_below(&b->rng, b->payload.len);
    s->size = key->size;
    s->offset = key->offset;
    return bench_setup(b, s, REQ_PUT, k);
}

/* A PUT of a new key, or an overwrite of an idle one when the table is full.
 * 1 if set up, 0 if no key is available now, -1 on a setup failure. */
static int bench_next_put(bench *b, bench_slot *s)
{
    uint32_t k;
    if (bench_key_new(b, &k) != 0 && bench_key_pick(b, true, &k) != 0) return 0;
    return bench_prep_put(b, s, k) == 0 ? 1 : -1;
}

/* -prepared: take over the -objects objects an earlier run with the same
 * -seed, -size, -prefix and -objects (and -keep) left behind, without
 * uploading.  Their sizes and offsets are drawn exactly as preparation
 * draws them; their MD5s are computed locally.  0, or -1 on a local
 * failure. */
static int bench_adopt(bench *b)
{
    for (int64_t i = 0; i < b->objects; i++) {
        uint32_t k;
        if (bench_key_new(b, &k) != 0) return -1;
        bench_key *key = &b->keys[k];
        key->size = bench_draw_size(b);
        key->offset = hb_rng_below(&b->rng, b->payload.len);
        if (b->verify) {
            if (hb_payload_md5(&b->payload, key->offset, key->size, key->md5) != 0) return -1;
            key->md5_known = 1;
        }
        key->state = KEY_READY;
        b->ready++;
    }
    return 0;
}

static int bench_next_read(bench *b, bench_slot *s, enum bench_req req)
{
    uint32_t k;
    if (bench_key_pick(b, false, &k) != 0) return 0;
    b->keys[k].readers++;
    return bench_setup(b, s, req, k) == 0 ? 1 : -1;
}

/* Walk the key table from b->cursor for the next READY key and delete it. */
static int bench_next_delete(bench *b, bench_slot *s)
{
    while (b->cursor < b->nkeys && b->keys[b->cursor].state != KEY_READY) b->cursor++;
    if (b->cursor >= b->nkeys) return 0;
    uint32_t k = b->cursor++;
    b->keys[k].state = KEY_DELETING;
    b->ready--;
    return bench_setup(b, s, REQ_DELETE, k) == 0 ? 1 : -1;
}

/* Set up the next operation of the current phase on s.  1 if one was set
 * up, 0 if the phase has none to give now, -1 on failure. */
static int bench_next(bench *b, bench_slot *s)
{
    if (b->stopping || bench_interrupted) return 0;
    switch (b->phase) {
    case PHASE_PREPARE:
        if (b->cursor >= (uint64_t)b->objects) return 0;
        b->cursor++;
        return bench_next_put(b, s);
    case PHASE_CLEAN:
        return bench_next_delete(b, s);
    case PHASE_MEASURE:
        break;
    }
    if (b->ops_limit > 0 && b->started >= (uint64_t)b->ops_limit) return 0;
    if (b->mixed) {
        bool get = (int64_t)hb_rng_below(&b->rng, 100) < b->mix_get_pct;
        int r = get ? bench_next_read(b, s, REQ_GET) : bench_next_put(b, s);
        if (r == 0) r = get ? bench_next_put(b, s) : bench_next_read(b, s, REQ_GET);
        return r;
    }
    switch (b->mode_op) {
    case HB_OP_PUT: return bench_next_put(b, s);
    case HB_OP_GET: return bench_next_read(b, s, REQ_GET);
    case HB_OP_STAT: return bench_next_read(b, s, REQ_STAT);
    case HB_OP_DELETE: return bench_next_delete(b, s);
    case HB_OP_LIST:
        s->token[0] = '\0';
        s->list_pages = 0;
        s->list_keys = 0;
        return bench_setup(b, s, REQ_LIST, 0) == 0 ? 1 : -1;
    case HB_OP_COUNT: break;
    }
    return 0;
}

/* ---- completion --------------------------------------------------------- */

static int bench_hex_md5(const char *etag, unsigned char out[16])
{
    if (strlen(etag) != 32) return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        for (int j = 0; j < 2; j++) {
            char c = etag[2 * i + j];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
            else return -1;
        }
        out[i] = (unsigned char)v;
    }
    return 0;
}

static void bench_report_error(bench *b, bench_slot *s, CURLcode rc, const char *why)
{
    if (b->errors_printed++ >= HB_ERRORS_PRINTED_MAX) {
        if (b->errors_printed == HB_ERRORS_PRINTED_MAX + 1)
            fprintf(stderr, "hamster-bench: further errors are counted, not printed\n");
        return;
    }
    /* The start of an error body names the S3 error; a 2xx body is data. */
    char snippet[161];
    size_t n = 0;
    bool is_error = s->status < 200 || s->status >= 300;
    for (size_t i = 0; is_error && i < s->head_len && n < sizeof snippet - 1; i++)
        snippet[n++] = (s->head[i] >= 0x20 && s->head[i] < 0x7f) ? s->head[i] : ' ';
    snippet[n] = '\0';
    fprintf(stderr, "hamster-bench: %s %s: %s%s%s status %ld%s%s\n",
            hb_op_name(bench_req_op(s->req)), s->url, why,
            rc != CURLE_OK ? " / " : "",
            rc != CURLE_OK ? (s->errbuf[0] ? s->errbuf : curl_easy_strerror(rc)) : "",
            s->status, n ? ": " : "", snippet);
}

/* Extract the text of the first <tag>...</tag> in xml into out (XML
 * entities &amp; &lt; &gt; &quot; &apos; decoded).  0, or -1 if absent or
 * too long. */
static int bench_xml_text(const char *xml, const char *tag, char *out, size_t cap)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *p = strstr(xml, open);
    if (p == NULL) return -1;
    p += strlen(open);
    const char *end = strstr(p, close);
    if (end == NULL) return -1;
    static const struct { const char *ent; char c; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''},
    };
    size_t o = 0;
    while (p < end) {
        if (o + 1 >= cap) return -1;
        char c = *p++;
        if (c == '&') {
            for (size_t i = 0; i < sizeof ents / sizeof ents[0]; i++) {
                size_t l = strlen(ents[i].ent);
                if (strncmp(p - 1, ents[i].ent, l) == 0) {
                    c = ents[i].c;
                    p += l - 1;
                    break;
                }
            }
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return 0;
}

static uint64_t bench_count(const char *hay, const char *needle)
{
    uint64_t n = 0;
    size_t l = strlen(needle);
    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + l, needle)) n++;
    return n;
}

/* Outcome of one finished transfer. */
enum bench_outcome { OUT_OK, OUT_ERROR, OUT_BADREAD, OUT_AGAIN };

/* Judge a finished transfer and update the key table.  OUT_AGAIN means the
 * operation continues (the next LIST page has been set up on s). */
static enum bench_outcome bench_judge(bench *b, bench_slot *s, CURLcode rc, const char **why)
{
    bench_key *key = (s->req == REQ_LIST || s->req == REQ_MKBUCKET) ? NULL : &b->keys[s->key];
    bool ok2xx = rc == CURLE_OK && s->status >= 200 && s->status < 300;
    *why = "";
    switch (s->req) {
    case REQ_MKBUCKET:
        if (ok2xx) return OUT_OK;
        if (rc == CURLE_OK && s->status == 409 && strstr(s->head, "BucketAlreadyOwnedByYou"))
            return OUT_OK;
        *why = "create bucket failed";
        return OUT_ERROR;
    case REQ_PUT: {
        if (!ok2xx || s->pos != s->size) {
            key->state = KEY_GONE; /* unknown content: never read or listed again */
            *why = ok2xx ? "short upload" : "request failed";
            return OUT_ERROR;
        }
        key->state = KEY_READY;
        b->ready++;
        unsigned char md5[16];
        bool etag_md5 = bench_hex_md5(s->etag, md5) == 0;
        if (b->phase == PHASE_PREPARE && b->verify) {
            /* Preparation is not timed: compute the MD5 locally, and hold
             * an S3 server to it. */
            if (hb_payload_md5(&b->payload, key->offset, key->size, key->md5) != 0) {
                *why = "md5 failed";
                return OUT_ERROR;
            }
            key->md5_known = 1;
            if (!b->plain && (!etag_md5 || memcmp(md5, key->md5, 16) != 0)) {
                *why = "PUT ETag is not the MD5 of the body";
                return OUT_BADREAD;
            }
        } else if (!b->plain && etag_md5) {
            memcpy(key->md5, md5, 16);
            key->md5_known = 1;
        } else if (!b->plain && b->verify) {
            *why = "PUT ETag is not an MD5";
            return OUT_BADREAD;
        }
        return OUT_OK;
    }
    case REQ_GET:
    case REQ_STAT: {
        key->readers--;
        if (!ok2xx) {
            *why = "request failed";
            return OUT_ERROR;
        }
        uint64_t got = s->pos;
        if (s->req == REQ_STAT) {
            curl_off_t cl = -1;
            curl_easy_getinfo(s->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
            got = cl < 0 ? UINT64_MAX : (uint64_t)cl;
        }
        if (got != key->size) {
            *why = "size differs from the object written";
            return OUT_BADREAD;
        }
        if (!b->verify || !key->md5_known) return OUT_OK;
        unsigned char md5[16];
        if (!b->plain && (bench_hex_md5(s->etag, md5) != 0 || memcmp(md5, key->md5, 16) != 0)) {
            *why = "ETag differs from the object written";
            return OUT_BADREAD;
        }
        if (s->req == REQ_GET) {
            unsigned int n = 0;
            if (!s->hashing || EVP_DigestFinal_ex(s->md5, md5, &n) != 1 || n != 16 ||
                memcmp(md5, key->md5, 16) != 0) {
                *why = "body MD5 differs from the object written";
                return OUT_BADREAD;
            }
            b->st[HB_OP_GET].verified += b->phase == PHASE_MEASURE;
        }
        return OUT_OK;
    }
    case REQ_DELETE:
        if (!ok2xx) {
            key->state = KEY_GONE;
            *why = "request failed";
            return OUT_ERROR;
        }
        key->state = KEY_GONE;
        return OUT_OK;
    case REQ_LIST: {
        if (!ok2xx || s->body_overflow || s->body == NULL) {
            *why = s->body_overflow ? "listing page too large" : "request failed";
            return OUT_ERROR;
        }
        s->list_keys += bench_count(s->body, "<Key>");
        s->list_pages++;
        char trunc[16];
        if (bench_xml_text(s->body, "IsTruncated", trunc, sizeof trunc) == 0 &&
            strcmp(trunc, "true") == 0) {
            if (s->list_pages >= HB_LIST_PAGES_MAX ||
                bench_xml_text(s->body, "NextContinuationToken", s->token,
                               sizeof s->token) != 0) {
                *why = "truncated listing without a usable continuation token";
                return OUT_ERROR;
            }
            if (bench_setup(b, s, REQ_LIST, 0) != 0) {
                *why = "cannot build the next page request";
                return OUT_ERROR;
            }
            return OUT_AGAIN;
        }
        if (b->verify && s->list_keys != b->ready) {
            *why = "listing count differs from the objects written";
            return OUT_BADREAD;
        }
        return OUT_OK;
    }
    }
    return OUT_ERROR;
}

static void bench_account(bench *b, bench_slot *s, enum bench_outcome out, uint64_t end_ns)
{
    enum hb_op op = bench_req_op(s->req);
    hb_opstats *st = b->phase == PHASE_MEASURE ? &b->st[op] : &b->prep;
    if (out == OUT_OK) {
        st->ops++;
        if (s->req == REQ_PUT) st->bytes += s->size;
        else if (s->req == REQ_GET) st->bytes += s->pos;
        uint64_t us = (end_ns - s->start_ns) / 1000;
        hb_hist_add(&st->lat, us);
    } else if (out == OUT_ERROR) {
        st->errors++;
        b->phase_errors++;
    } else {
        st->verify_fail++;
        b->phase_errors++;
    }
    if (b->phase == PHASE_MEASURE) b->measure_end_ns = end_ns;
}

/* Release what an aborted (never finished) operation held in the key table. */
static void bench_abandon(bench *b, bench_slot *s)
{
    if (s->req == REQ_LIST || s->req == REQ_MKBUCKET) return;
    bench_key *key = &b->keys[s->key];
    if (s->req == REQ_GET || s->req == REQ_STAT) key->readers--;
    else key->state = KEY_GONE; /* a PUT or DELETE half done: content unknown */
}

/* ---- the loop ----------------------------------------------------------- */

static void bench_progress(bench *b, uint64_t now, uint64_t *last_ns, uint64_t *last_ops,
                           uint64_t *last_bytes)
{
    uint64_t ops = 0, bytes = 0, errs = 0;
    for (int i = 0; i < HB_OP_COUNT; i++) {
        ops += b->st[i].ops;
        bytes += b->st[i].bytes;
        errs += b->st[i].errors + b->st[i].verify_fail;
    }
    double dt = (double)(now - *last_ns) / 1e9;
    fprintf(stderr, "[%6.1fs] %s ops %" PRIu64 "  %.1f ops/s  %.1f MiB/s  errors %" PRIu64 "\n",
            (double)(now - b->measure_start_ns) / 1e9, b->mode, ops,
            (double)(ops - *last_ops) / dt, (double)(bytes - *last_bytes) / dt / 1048576.0,
            errs);
    *last_ns = now;
    *last_ops = ops;
    *last_bytes = bytes;
}

/* Start s on the next operation of the phase if there is one. */
static int bench_launch(bench *b, bench_slot *s, int *active)
{
    int r = bench_next(b, s);
    if (r <= 0) return r;
    s->start_ns = bench_now_ns();
    if (curl_multi_add_handle(b->multi, s->easy) != CURLM_OK) return -1;
    s->inflight = true;
    b->started++;
    (*active)++;
    return 1;
}

/* Run one phase until it has nothing left to issue and nothing in flight,
 * or until deadline_ns (stop issuing) / hard_ns (abort what is in flight).
 * 0, or -1 on a local failure (setup, curl). */
static int bench_run_phase(bench *b, enum bench_phase phase, uint64_t deadline_ns,
                           uint64_t hard_ns)
{
    b->phase = phase;
    b->started = 0;
    b->phase_errors = 0;
    b->stopping = false;
    b->cursor = 0;
    int active = 0;
    uint64_t now = bench_now_ns();
    uint64_t last_ns = now, last_ops = 0, last_bytes = 0;
    if (phase == PHASE_MEASURE) {
        b->measure_start_ns = now;
        b->measure_end_ns = now;
    }
    for (int64_t i = 0; i < b->conc; i++)
        if (bench_launch(b, &b->slots[i], &active) < 0) return -1;

    while (active > 0) {
        int running = 0;
        if (curl_multi_perform(b->multi, &running) != CURLM_OK) return -1;
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(b->multi, &left)) != NULL) {
            if (msg->msg != CURLMSG_DONE) continue;
            CURL *e = msg->easy_handle;
            CURLcode rc = msg->data.result;
            bench_slot *s = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &s->status);
            curl_multi_remove_handle(b->multi, e);
            s->inflight = false;
            active--;
            uint64_t end = bench_now_ns();
            const char *why = "";
            enum bench_outcome out = bench_judge(b, s, rc, &why);
            if (out == OUT_AGAIN) {
                if (curl_multi_add_handle(b->multi, e) != CURLM_OK) return -1;
                s->inflight = true;
                active++;
                continue;
            }
            if (out != OUT_OK) bench_report_error(b, s, rc, why);
            bench_account(b, s, out, end);
            if (b->max_errors > 0 && b->phase_errors >= (uint64_t)b->max_errors &&
                !b->stopping) {
                fprintf(stderr, "hamster-bench: %" PRIu64 " errors, stopping\n",
                        b->phase_errors);
                b->stopping = true;
            }
            if (bench_launch(b, s, &active) < 0) return -1;
        }
        now = bench_now_ns();
        if (!b->stopping && (now >= deadline_ns || bench_interrupted)) b->stopping = true;
        if (now >= hard_ns || bench_interrupted > 0) {
            for (int64_t i = 0; i < b->conc; i++) {
                bench_slot *s = &b->slots[i];
                if (!s->inflight) continue;
                curl_multi_remove_handle(b->multi, s->easy);
                s->inflight = false;
                bench_abandon(b, s);
                b->aborted += phase == PHASE_MEASURE;
            }
            break;
        }
        if (phase == PHASE_MEASURE && now - last_ns >= 1000000000ull)
            bench_progress(b, now, &last_ns, &last_ops, &last_bytes);
        if (curl_multi_poll(b->multi, NULL, 0, 100, NULL) != CURLM_OK) return -1;
    }
    return 0;
}

/* ---- main --------------------------------------------------------------- */

static bool bench_name_ok(const char *s, const char *extra, size_t max)
{
    size_t n = strlen(s);
    if (n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr(extra, c)))
            return false;
    }
    return true;
}

static const char bench_synopsis[] =
    "hamster-bench MODE [flags]\n"
    "  MODE: put | get | mixed | list | delete | stat\n"
    "  Loads an S3 endpoint with -c requests in flight and prints ops/s, MiB/s and\n"
    "  latency percentiles per operation; reads are verified (size, MD5 ETag).\n"
    "  Keys default to HAMSTER_ACCESS_KEY_ID / HAMSTER_SECRET_ACCESS_KEY.";

int main(int argc, char **argv)
{
    const char *endpoint = "127.0.0.1:9000", *bucket = "hamster-bench", *prefix = NULL;
    const char *ak = getenv("HAMSTER_ACCESS_KEY_ID"), *sk = getenv("HAMSTER_SECRET_ACCESS_KEY");
    const char *region = "us-east-1", *size = "4KiB", *dist = "uniform", *duration = NULL;
    const char *json = NULL, *grace = "30s", *metrics = NULL;
    int64_t conc = 8, ops = 0, objects = 0, mix = 70, seed = 1, max_errors = 1000;
    bool plain = false, noverify = false, keep = false, prepared = false, help = false;
    hm_flag flags[] = {
        {"endpoint", HM_FLAG_STR, &endpoint, "host:port or http://host:port"},
        {"bucket", HM_FLAG_STR, &bucket, "bucket (created if missing, unless -plain)"},
        {"prefix", HM_FLAG_STR, &prefix, "key prefix (default hb-<time>-<pid>/)"},
        {"access-key", HM_FLAG_STR, &ak, "access key id"},
        {"secret-key", HM_FLAG_STR, &sk, "secret access key"},
        {"region", HM_FLAG_STR, &region, "SigV4 region"},
        {"size", HM_FLAG_STR, &size, "object size, or MIN-MAX (e.g. 1KiB-1MiB)"},
        {"size-dist", HM_FLAG_STR, &dist, "uniform or log (for MIN-MAX sizes)"},
        {"c", HM_FLAG_INT, &conc, "requests in flight"},
        {"duration", HM_FLAG_STR, &duration, "measured time (e.g. 30s; default 10s without -ops)"},
        {"ops", HM_FLAG_INT, &ops, "stop after this many operations (0: no limit)"},
        {"grace", HM_FLAG_STR, &grace, "after -duration, wait this long for ops in flight"},
        {"objects", HM_FLAG_INT, &objects, "objects prepared for get/stat/list/delete/mixed"},
        {"mix", HM_FLAG_INT, &mix, "mixed: percentage of GETs (the rest are PUTs)"},
        {"seed", HM_FLAG_INT, &seed, "seed of payload bytes and choices"},
        {"max-errors", HM_FLAG_INT, &max_errors, "stop issuing after this many errors (0: never)"},
        {"plain", HM_FLAG_BOOL, &plain, "plain HTTP: no signing, no bucket creation"},
        {"noverify", HM_FLAG_BOOL, &noverify, "do not hash GET bodies or check ETags"},
        {"keep", HM_FLAG_BOOL, &keep, "leave the objects in place at the end"},
        {"prepared", HM_FLAG_BOOL, &prepared,
         "objects exist from an earlier -keep run with the same -seed -size -prefix -objects"},
        {"json", HM_FLAG_STR, &json, "write the results as JSON to this file"},
        {"metrics", HM_FLAG_STR, &metrics,
         "the server's Prometheus page (http://host:port/metrics): report its syncs"},
        {"h", HM_FLAG_BOOL, &help, "print this help"},
    };
    const size_t nflags = sizeof flags / sizeof flags[0];
    if (argc < 2 || argv[1][0] == '-') {
        hm_flags_usage(stderr, bench_synopsis, flags, nflags);
        return 2;
    }
    int rest = 0;
    if (hm_flags_parse(flags, nflags, argc, argv, 2, &rest) != 0) return 2;
    if (help) {
        hm_flags_usage(stdout, bench_synopsis, flags, nflags);
        return 0;
    }
    if (rest < argc) {
        fprintf(stderr, "hamster-bench: unexpected argument %s\n", argv[rest]);
        return 2;
    }

    static bench B;
    bench *b = &B;
    b->mode = argv[1];
    if (strcmp(b->mode, "put") == 0) b->mode_op = HB_OP_PUT;
    else if (strcmp(b->mode, "get") == 0) b->mode_op = HB_OP_GET;
    else if (strcmp(b->mode, "stat") == 0) b->mode_op = HB_OP_STAT;
    else if (strcmp(b->mode, "list") == 0) b->mode_op = HB_OP_LIST;
    else if (strcmp(b->mode, "delete") == 0) b->mode_op = HB_OP_DELETE;
    else if (strcmp(b->mode, "mixed") == 0) b->mixed = true;
    else {
        fprintf(stderr, "hamster-bench: unknown mode %s\n", b->mode);
        return 2;
    }

    /* Validate everything before touching the network. */
    int64_t duration_ms = 0, grace_ms = 0;
    if (hb_parse_size_range(size, &b->size_min, &b->size_max) != 0) {
        fprintf(stderr, "hamster-bench: bad -size %s\n", size);
        return 2;
    }
    if (strcmp(dist, "uniform") != 0 && strcmp(dist, "log") != 0) {
        fprintf(stderr, "hamster-bench: -size-dist must be uniform or log\n");
        return 2;
    }
    b->size_log = strcmp(dist, "log") == 0;
    if (duration != NULL && (hb_parse_duration_ms(duration, &duration_ms) != 0 || duration_ms == 0)) {
        fprintf(stderr, "hamster-bench: bad -duration %s\n", duration);
        return 2;
    }
    if (hb_parse_duration_ms(grace, &grace_ms) != 0) {
        fprintf(stderr, "hamster-bench: bad -grace %s\n", grace);
        return 2;
    }
    if (conc < 1 || conc > HB_CONCURRENCY_MAX || ops < 0 || ops > HB_OPS_MAX || objects < 0 ||
        objects > HB_KEYS_MAX / 2 || mix < 0 || mix > 100 || max_errors < 0) {
        fprintf(stderr, "hamster-bench: -c 1..%d, -ops 0..%lld, -objects 0..%u, -mix 0..100\n",
                HB_CONCURRENCY_MAX, HB_OPS_MAX, HB_KEYS_MAX / 2);
        return 2;
    }
    bool needs_objects = b->mixed || b->mode_op != HB_OP_PUT;
    if (needs_objects && objects == 0) objects = b->mode_op == HB_OP_DELETE ? 1000 : 100;
    if (!needs_objects) objects = 0;
    if (plain && b->mode_op == HB_OP_LIST && !b->mixed) {
        fprintf(stderr, "hamster-bench: -plain has no listing\n");
        return 2;
    }
    if (!plain && (ak == NULL || sk == NULL || *ak == '\0' || *sk == '\0')) {
        fprintf(stderr, "hamster-bench: no credentials: set HAMSTER_ACCESS_KEY_ID and "
                        "HAMSTER_SECRET_ACCESS_KEY or pass -access-key/-secret-key\n");
        return 2;
    }
    if (!bench_name_ok(bucket, "-.", 63) || strlen(bucket) < 3) {
        fprintf(stderr, "hamster-bench: bad -bucket %s\n", bucket);
        return 2;
    }
    char prefix_buf[64];
    if (prefix == NULL) {
        snprintf(prefix_buf, sizeof prefix_buf, "hb-%lld-%d/", (long long)time(NULL), (int)getpid());
        prefix = prefix_buf;
    }
    if (!bench_name_ok(prefix, "-._/ABCDEFGHIJKLMNOPQRSTUVWXYZ", 256)) {
        fprintf(stderr, "hamster-bench: -prefix may hold only [A-Za-z0-9._/-], up to 256\n");
        return 2;
    }
    const char *hostpart = endpoint;
    if (strncmp(endpoint, "http://", 7) == 0) hostpart = endpoint + 7;
    else if (strstr(endpoint, "://") != NULL) {
        fprintf(stderr, "hamster-bench: only http:// endpoints\n");
        return 2;
    }
    size_t hl = strcspn(hostpart, "/");
    if (hl == 0 || hl >= sizeof b->host || hostpart[hl] != '\0') {
        fprintf(stderr, "hamster-bench: bad -endpoint %s\n", endpoint);
        return 2;
    }
    memcpy(b->host, hostpart, hl);
    b->host[hl] = '\0';
    memcpy(b->base, "http://", 7);
    memcpy(b->base + 7, b->host, hl + 1);
    _Static_assert(sizeof b->base >= sizeof b->host + 7, "base holds scheme and host");

    b->bucket = bucket;
    b->prefix = prefix;
    b->creds = (hb_creds){.access_key = ak, .secret_key = sk, .region = region};
    b->plain = plain;
    b->verify = !noverify;
    b->keep = keep;
    b->conc = conc;
    b->objects = objects;
    b->mix_get_pct = mix;
    b->max_errors = max_errors;
    b->ops_limit = ops;
    b->seed = (uint64_t)seed;
    if (duration_ms == 0 && ops == 0) duration_ms = 10000;
    /* An -ops run without -duration still ends: one hour at most. */
    b->duration_ms = duration_ms ? duration_ms : 3600 * 1000;
    b->grace_ms = grace_ms;
    hb_rng_seed(&b->rng, b->seed);

    signal(SIGINT, bench_on_signal);
    signal(SIGTERM, bench_on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK || hb_payload_init(&b->payload, b->seed) != 0) {
        fprintf(stderr, "hamster-bench: initialization failed\n");
        return 1;
    }
    b->multi = curl_multi_init();
    b->slots = calloc((size_t)conc, sizeof *b->slots);
    if (b->multi == NULL || b->slots == NULL) {
        fprintf(stderr, "hamster-bench: out of memory\n");
        return 1;
    }
    /* Keep one connection per handle open between requests. */
    curl_multi_setopt(b->multi, CURLMOPT_MAXCONNECTS, (long)conc);
    curl_multi_setopt(b->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conc);
    for (int64_t i = 0; i < conc; i++) {
        b->slots[i].b = b;
        b->slots[i].easy = curl_easy_init();
        b->slots[i].md5 = EVP_MD_CTX_new();
        if (b->slots[i].easy == NULL || b->slots[i].md5 == NULL) {
            fprintf(stderr, "hamster-bench: out of memory\n");
            return 1;
        }
    }

    int rc = 0;
    const uint64_t hour_ns = 3600ull * 1000000000ull;
    /* prepare: bucket, then objects */
    uint64_t t0 = bench_now_ns();
    if (!plain) {
        int act = 0;
        b->phase = PHASE_PREPARE;
        bench_slot *s = &b->slots[0];
        if (bench_setup(b, s, REQ_MKBUCKET, 0) != 0) return 1;
        s->start_ns = bench_now_ns();
        curl_multi_add_handle(b->multi, s->easy);
        act = 1;
        for (int i = 0; act > 0 && i < 600 && !bench_interrupted; i++) {
            int running = 0;
            curl_multi_perform(b->multi, &running);
            CURLMsg *msg;
            int left;
            while ((msg = curl_multi_info_read(b->multi, &left)) != NULL) {
                if (msg->msg != CURLMSG_DONE) continue;
                curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
                curl_multi_remove_handle(b->multi, s->easy);
                act = 0;
                const char *why = "";
                if (bench_judge(b, s, msg->data.result, &why) != OUT_OK) {
                    bench_report_error(b, s, msg->data.result, why);
                    return 1;
                }
            }
            if (act) curl_multi_poll(b->multi, NULL, 0, 100, NULL);
        }
        if (act) {
            fprintf(stderr, "hamster-bench: create bucket timed out\n");
            return 1;
        }
    }
    if (objects > 0 && prepared) {
        if (bench_adopt(b) != 0) {
            fprintf(stderr, "hamster-bench: out of memory\n");
            return 1;
        }
    } else if (objects > 0) {
        char sz[32];
        hb_format_bytes(b->size_max, sz, sizeof sz);
        fprintf(stderr, "hamster-bench: preparing %" PRId64 " objects of up to %s\n", objects, sz);
        uint64_t now = bench_now_ns();
        if (bench_run_phase(b, PHASE_PREPARE, now + hour_ns, now + hour_ns) != 0) return 1;
        if (b->prep.errors + b->prep.verify_fail > 0 || b->ready < (uint64_t)objects) {
            fprintf(stderr, "hamster-bench: preparation failed (%" PRIu64 " errors)\n",
                    b->prep.errors + b->prep.verify_fail);
            rc = 1;
        }
        fprintf(stderr, "hamster-bench: prepared in %.1f s\n",
                (double)(bench_now_ns() - t0) / 1e9);
    }

    /* measure */
    uint64_t syncs_before[4] = {0, 0, 0, 0}, syncs_after[4] = {0, 0, 0, 0};
    bool syncs_known = bench_server_syncs(metrics, syncs_before) == 0;
    if (rc == 0 && !bench_interrupted) {
        uint64_t now = bench_now_ns();
        uint64_t deadline = now + (uint64_t)b->duration_ms * 1000000ull;
        if (bench_run_phase(b, PHASE_MEASURE, deadline,
                            deadline + (uint64_t)b->grace_ms * 1000000ull) != 0) {
            fprintf(stderr, "hamster-bench: local failure during the run\n");
            rc = 1;
        }
    }
    syncs_known = syncs_known && bench_server_syncs(metrics, syncs_after) == 0;
    hb_run_info ri = {
        .mode = b->mode, .endpoint = b->base, .bucket = b->bucket, .prefix = b->prefix,
        .size_min = b->size_min, .size_max = b->size_max,
        .size_dist = b->size_log ? "log" : "uniform", .concurrency = conc,
        .duration_ms = duration_ms, .ops_limit = ops, .objects = objects,
        .mix_get_pct = b->mixed ? mix : 0, .plain = plain, .verify = b->verify,
        .seed = b->seed,
        .elapsed_s = (double)(b->measure_end_ns - b->measure_start_ns) / 1e9,
        .aborted = b->aborted,
        .syncs_known = syncs_known,
        .syncs = syncs_after[0] - syncs_before[0],
        .syncs_file = syncs_after[1] - syncs_before[1],
        .syncs_dir = syncs_after[2] - syncs_before[2],
        .syncs_kv = syncs_after[3] - syncs_before[3],
    };
    hb_report_print(stdout, &ri, b->st);
    fflush(stdout);
    if (json != NULL && hb_report_json(json, &ri, b->st) != 0) rc = 1;
    for (int i = 0; i < HB_OP_COUNT; i++)
        if (b->st[i].errors + b->st[i].verify_fail > 0) rc = 1;

    /* clean: a second Ctrl-C still leaves; the clean phase is bounded too */
    if (!keep) {
        bench_interrupted = 0;
        uint64_t now = bench_now_ns();
        uint64_t before = b->prep.errors;
        if (bench_run_phase(b, PHASE_CLEAN, now + 600ull * 1000000000ull,
                            now + 600ull * 1000000000ull) != 0 ||
            b->prep.errors > before)
            fprintf(stderr, "hamster-bench: cleanup left objects behind\n");
    }

    for (int64_t i = 0; i < conc; i++) {
        curl_easy_cleanup(b->slots[i].easy);
        curl_slist_free_all(b->slots[i].hdrs);
        EVP_MD_CTX_free(b->slots[i].md5);
        free(b->slots[i].body);
    }
    curl_multi_cleanup(b->multi);
    curl_global_cleanup();
    free(b->slots);
    free(b->keys);
    hb_payload_free(&b->payload);
    return rc;
}
