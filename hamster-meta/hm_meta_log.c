/* hm_meta_log.c - the metadata log: segmented append-only files + hard state.
 *
 * Shaping decision: a record is self-delimiting and self-checking (length,
 * CRC32C, term, index), so open needs no separate index file: it re-reads
 * every segment once and learns the index range from the records.  Since
 * format 2 (docs/adr/0004-log-batch-framing.md) each append writes one
 * *batch*: a header carrying the byte length and the CRC32C of every record
 * it holds, written with the records in one pwrite and synced once.  That
 * lets open tell the two kinds of damage apart.  Damage inside the last
 * batch of the last segment, with no batch after it, is the write that was
 * in flight when the power went: nothing in it was ever acknowledged, so
 * open truncates it, wherever inside the batch the lost sectors are.
 * Damage anywhere else sits in bytes a later write proves were synced
 * before (a batch is written only after the one before it is durable), and
 * damage at or below the index the caller says it acknowledged
 * (hm_meta_log_opts.durable_index) is damage to acknowledged records: open
 * refuses both, naming segment and offset, rather than drop them.
 */
#include "hm_meta_log.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hm_crc.h"
#include "hm_err.h"
#include "hm_metrics.h"
#include "hm_limits.h"
#include "hm_log.h"

#define LOG_PATH_BYTES 4096u
#define LOG_SEG_NAME_DIGITS 20u
#define LOG_HS_MAGIC 0x53484d48u    /* "HMHS" */
#define LOG_SEG_MAGIC 0x534c4d48u   /* "HMLS": a format-2 segment header */
#define LOG_BATCH_MAGIC 0x424c4d48u /* "HMLB": a format-2 batch header */
#define LOG_HS_NAME "hardstate"
/* No segment grows past this (open refuses anything larger): rolling
 * happens before a batch would cross the segment size, and one batch holds
 * at least one record. */
#define LOG_SEG_FILE_BYTES_MAX                                                       \
    ((uint64_t)HM_META_LOG_SEGMENT_BYTES + HM_META_LOG_SEG_HDR_BYTES +               \
     HM_META_LOG_BATCH_HDR_BYTES + HM_META_LOG_REC_HDR_BYTES + HM_META_LOG_RECORD_BYTES_MAX)

_Static_assert(HM_META_LOG_RECORD_BYTES_MAX <= UINT32_MAX - HM_META_LOG_REC_HDR_BYTES,
               "a record length fits the u32 length field");
_Static_assert(LOG_SEG_FILE_BYTES_MAX <= UINT32_MAX, "a batch body fits its u32 length");
_Static_assert(LOG_SEG_MAGIC > HM_META_LOG_RECORD_BYTES_MAX &&
               LOG_BATCH_MAGIC > HM_META_LOG_RECORD_BYTES_MAX,
               "a format-2 magic is never a format-1 record length");

typedef struct log_seg {
    uint64_t first;
    uint64_t last;     /* first - 1 when empty */
    uint64_t size;     /* bytes of valid data (headers and records) */
    uint32_t version;  /* HM_META_LOG_FORMAT_V1 or _V2 */
    uint64_t salt;     /* format 2: every batch header of the segment repeats it */
} log_seg;

struct hm_meta_log {
    hm_env *env;
    char *dir;
    uint64_t seg_bytes;
    uint64_t durable_index; /* what the caller acknowledged (opts) */
    uint64_t truncated;     /* bytes open cut from a torn tail */
    log_seg *segs;
    size_t n_segs;
    size_t cap_segs;
    hm_file *tail;      /* the last segment, open for append */
    uint64_t last_term;
    uint64_t hs_seq;    /* sequence of the newest valid hard state slot */
    bool poisoned;
    uint8_t *buf;       /* scratch for reading one record or batch */
    size_t buf_cap;
};

/* The planted bugs (tests only): see hm_meta_log_plant_lenient_recovery
 * and hm_meta_log_plant_skip_open_sync. */
static atomic_bool log_plant_lenient;
static atomic_bool log_plant_skip_open_sync;

void hm_meta_log_plant_lenient_recovery(bool on)
{
    atomic_store(&log_plant_lenient, on);
}

void hm_meta_log_plant_skip_open_sync(bool on)
{
    atomic_store(&log_plant_skip_open_sync, on);
}

/* ---- encoding ----------------------------------------------------------- */

static void log_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void log_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t log_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static uint64_t log_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void hm_meta_log_record_encode(const hm_meta_log_rec *rec, uint8_t *out)
{
    log_put_u32(out, (uint32_t)rec->len);
    log_put_u64(out + 8, rec->term);
    log_put_u64(out + 16, rec->index);
    if (rec->len > 0)
        memcpy(out + HM_META_LOG_REC_HDR_BYTES, rec->payload, rec->len);
    log_put_u32(out + 4, hm_crc32c(0, out + 8, 16 + rec->len));
}

/* Segment header, HM_META_LOG_SEG_HDR_BYTES: magic u32, version u16, flags
 * u16 (0), first index u64, salt u64, reserved u32 (0), CRC32C u32 of bytes
 * 0..28. */
static void log_seg_hdr_encode(uint64_t first, uint64_t salt, uint8_t *out)
{
    memset(out, 0, HM_META_LOG_SEG_HDR_BYTES);
    log_put_u32(out, LOG_SEG_MAGIC);
    out[4] = (uint8_t)HM_META_LOG_FORMAT_V2;
    log_put_u64(out + 8, first);
    log_put_u64(out + 16, salt);
    log_put_u32(out + 28, hm_crc32c(0, out, 28));
}

static bool log_seg_hdr_decode(const uint8_t *in, uint64_t first, uint64_t *salt)
{
    if (log_get_u32(in) != LOG_SEG_MAGIC || hm_crc32c(0, in, 28) != log_get_u32(in + 28))
        return false;
    if (in[4] != HM_META_LOG_FORMAT_V2 || in[5] != 0 || in[6] != 0 || in[7] != 0 ||
        log_get_u64(in + 8) != first || log_get_u32(in + 24) != 0)
        return false;
    *salt = log_get_u64(in + 16);
    return true;
}

/* Batch header, HM_META_LOG_BATCH_HDR_BYTES: magic u32, record count u32,
 * first index u64, salt u64, body bytes u32, body CRC32C u32, reserved u32
 * (0), CRC32C u32 of bytes 0..36.  The body is the count record frames. */
static void log_batch_hdr_encode(uint64_t first, uint32_t count, uint64_t salt,
                                 const uint8_t *body, uint32_t body_len, uint8_t *out)
{
    memset(out, 0, HM_META_LOG_BATCH_HDR_BYTES);
    log_put_u32(out, LOG_BATCH_MAGIC);
    log_put_u32(out + 4, count);
    log_put_u64(out + 8, first);
    log_put_u64(out + 16, salt);
    log_put_u32(out + 24, body_len);
    log_put_u32(out + 28, hm_crc32c(0, body, body_len));
    log_put_u32(out + 36, hm_crc32c(0, out, 36));
}

typedef struct log_batch_hdr {
    uint32_t count;
    uint64_t first;
    uint32_t body_len;
    uint32_t body_crc;
} log_batch_hdr;

static bool log_batch_hdr_decode(const uint8_t *in, uint64_t salt, log_batch_hdr *h)
{
    if (log_get_u32(in) != LOG_BATCH_MAGIC || log_get_u64(in + 16) != salt ||
        log_get_u32(in + 32) != 0 || hm_crc32c(0, in, 36) != log_get_u32(in + 36))
        return false;
    h->count = log_get_u32(in + 4);
    h->first = log_get_u64(in + 8);
    h->body_len = log_get_u32(in + 24);
    h->body_crc = log_get_u32(in + 28);
    return h->count > 0 && h->body_len >= h->count * (uint64_t)HM_META_LOG_REC_HDR_BYTES;
}

int hm_meta_log_batch_encode(const hm_meta_log_rec *recs, size_t n, uint64_t salt,
                             uint8_t *out, size_t cap, size_t *len)
{
    if (n == 0 || n > UINT32_MAX)
        return HM_EINVAL;
    uint64_t body = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len > HM_META_LOG_RECORD_BYTES_MAX)
            return HM_EINVAL;
        body += HM_META_LOG_REC_HDR_BYTES + recs[i].len;
        if (body > LOG_SEG_FILE_BYTES_MAX)
            return HM_ETOOBIG;
    }
    if (cap < HM_META_LOG_BATCH_HDR_BYTES || cap - HM_META_LOG_BATCH_HDR_BYTES < body)
        return HM_ETOOBIG;
    uint8_t *p = out + HM_META_LOG_BATCH_HDR_BYTES;
    for (size_t i = 0; i < n; i++) {
        hm_meta_log_record_encode(&recs[i], p);
        p += HM_META_LOG_REC_HDR_BYTES + recs[i].len;
    }
    log_batch_hdr_encode(recs[0].index, (uint32_t)n, salt, out + HM_META_LOG_BATCH_HDR_BYTES,
                         (uint32_t)body, out);
    *len = HM_META_LOG_BATCH_HDR_BYTES + (size_t)body;
    return 0;
}

int hm_meta_log_segment_path(const char *dir, uint64_t first_index, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%020" PRIu64 ".seg", dir, first_index);
    return n < 0 || (size_t)n >= cap ? HM_ETOOBIG : 0;
}

/* Parse a segment file name: exactly 20 digits then ".seg". */
static bool log_parse_seg_name(const char *name, uint64_t *first)
{
    if (strlen(name) != LOG_SEG_NAME_DIGITS + 4 ||
        strcmp(name + LOG_SEG_NAME_DIGITS, ".seg") != 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < LOG_SEG_NAME_DIGITS; i++) {
        if (name[i] < '0' || name[i] > '9')
            return false;
        unsigned d = (unsigned)(name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *first = v;
    return true;
}

/* ---- reading ------------------------------------------------------------ */

static int log_buf_reserve(hm_meta_log *log, size_t n)
{
    if (n <= log->buf_cap)
        return 0;
    uint8_t *b = realloc(log->buf, n);
    if (b == NULL)
        return HM_ENOMEM;
    log->buf = b;
    log->buf_cap = n;
    return 0;
}

/* Read exactly len bytes at off; *ok false when the file is shorter. */
static int log_read_exact(hm_meta_log *log, hm_file *f, void *buf, size_t len, uint64_t off,
                          bool *ok)
{
    size_t got = 0;
    int rc = log->env->ops->pread(f, buf, len, off, &got);
    *ok = rc == 0 && got == len;
    return rc;
}

enum log_read_result { LOG_REC_OK, LOG_REC_EOF, LOG_REC_BAD };

/* Parse and verify the record frame at p (avail bytes).  A record is bad
 * when its header is short, its length exceeds the bound or avail, or its
 * CRC fails. */
static bool log_parse_rec(const uint8_t *p, size_t avail, hm_meta_log_rec *rec)
{
    if (avail < HM_META_LOG_REC_HDR_BYTES)
        return false;
    uint32_t len = log_get_u32(p);
    if (len > HM_META_LOG_RECORD_BYTES_MAX || len > avail - HM_META_LOG_REC_HDR_BYTES)
        return false;
    if (hm_crc32c(0, p + 8, 16 + (size_t)len) != log_get_u32(p + 4))
        return false;
    rec->term = log_get_u64(p + 8);
    rec->index = log_get_u64(p + 16);
    rec->payload = p + HM_META_LOG_REC_HDR_BYTES;
    rec->len = len;
    return true;
}

/* Read and verify the format-1 record at off of a file of size bytes.  On
 * LOG_REC_OK rec points into log->buf. */
static int log_read_rec(hm_meta_log *log, hm_file *f, uint64_t off, uint64_t size,
                        hm_meta_log_rec *rec, enum log_read_result *res)
{
    uint8_t hdr[HM_META_LOG_REC_HDR_BYTES];
    bool ok = false;
    if (off == size) {
        *res = LOG_REC_EOF;
        return 0;
    }
    *res = LOG_REC_BAD;
    if (size - off < sizeof hdr)
        return 0;
    int rc = log_read_exact(log, f, hdr, sizeof hdr, off, &ok);
    if (rc != 0 || !ok)
        return rc;
    uint32_t len = log_get_u32(hdr);
    if (len > HM_META_LOG_RECORD_BYTES_MAX || len > size - off - sizeof hdr)
        return 0;
    rc = log_buf_reserve(log, sizeof hdr + len);
    if (rc != 0)
        return rc;
    memcpy(log->buf, hdr, sizeof hdr);
    if (len > 0) {
        rc = log_read_exact(log, f, log->buf + sizeof hdr, len, off + sizeof hdr, &ok);
        if (rc != 0 || !ok)
            return rc;
    }
    if (log_parse_rec(log->buf, sizeof hdr + len, rec))
        *res = LOG_REC_OK;
    return 0;
}

/* Read the format-2 batch at off into log->buf and verify it whole: header
 * CRC and salt, body length within the file, body CRC.  *res LOG_REC_OK
 * with *h filled, or LOG_REC_BAD. */
static int log_read_batch(hm_meta_log *log, hm_file *f, const log_seg *s, uint64_t off,
                          uint64_t size, log_batch_hdr *h, enum log_read_result *res)
{
    uint8_t hdr[HM_META_LOG_BATCH_HDR_BYTES];
    bool ok = false;
    *res = LOG_REC_BAD;
    if (size - off < sizeof hdr)
        return 0;
    int rc = log_read_exact(log, f, hdr, sizeof hdr, off, &ok);
    if (rc != 0 || !ok || !log_batch_hdr_decode(hdr, s->salt, h))
        return rc;
    if (h->body_len > size - off - sizeof hdr)
        return 0;
    rc = log_buf_reserve(log, h->body_len);
    if (rc != 0)
        return rc;
    rc = log_read_exact(log, f, log->buf, h->body_len, off + sizeof hdr, &ok);
    if (rc != 0 || !ok)
        return rc;
    if (hm_crc32c(0, log->buf, h->body_len) == h->body_crc)
        *res = LOG_REC_OK;
    return 0;
}

/* Walk the verified body of a batch (in log->buf): exactly h->count
 * records filling h->body_len, indexes h->first.. in order.  fn may be NULL
 * (check only).  HM_ECORRUPT when the body, though its CRC matched, does
 * not hold what its header says: a writer bug, never a torn write. */
static int log_batch_walk(hm_meta_log *log, const log_batch_hdr *h, uint64_t from,
                          uint64_t *term, hm_meta_log_fn fn, void *arg)
{
    size_t o = 0;
    for (uint32_t k = 0; k < h->count; k++) {
        hm_meta_log_rec rec;
        if (!log_parse_rec(log->buf + o, h->body_len - o, &rec) || rec.index != h->first + k ||
            rec.term < *term)
            return HM_ECORRUPT;
        *term = rec.term;
        o += HM_META_LOG_REC_HDR_BYTES + rec.len;
        if (fn != NULL && rec.index >= from) {
            int rc = fn(arg, &rec);
            if (rc != 0)
                return rc;
        }
    }
    return o == h->body_len ? 0 : HM_ECORRUPT;
}

/* Read bytes [off, size) of f into a new buffer (bounded by the largest
 * segment open accepts). */
static int log_read_rest(hm_meta_log *log, hm_file *f, uint64_t off, uint64_t size,
                         uint8_t **out, size_t *n)
{
    if (size - off > LOG_SEG_FILE_BYTES_MAX)
        return HM_ECORRUPT;
    *n = (size_t)(size - off);
    *out = malloc(*n > 0 ? *n : 1);
    if (*out == NULL)
        return HM_ENOMEM;
    size_t got = 0;
    int rc = log->env->ops->pread(f, *out, *n, off, &got);
    if (rc != 0) {
        free(*out);
        return rc;
    }
    *n = got;
    return 0;
}

/* Format 2: is there a batch header of this segment (its salt, a valid
 * header CRC) anywhere after off?  Then the write holding off was
 * followed by another, and so was synced before it.  When the segment
 * header itself is damaged (salt unknown) a batch of any salt counts, but
 * only if its body verifies too. */
static int log_batch_after(hm_meta_log *log, hm_file *f, const log_seg *s, uint64_t off,
                           uint64_t size, uint64_t *at, bool *found)
{
    bool any_salt = off < HM_META_LOG_SEG_HDR_BYTES;
    *found = false;
    uint8_t *rest = NULL;
    size_t n = 0;
    int rc = log_read_rest(log, f, off, size, &rest, &n);
    if (rc != 0)
        return rc;
    for (size_t o = 1; o + HM_META_LOG_BATCH_HDR_BYTES <= n; o++) {
        log_batch_hdr h;
        if (log_get_u32(rest + o) != LOG_BATCH_MAGIC ||
            !log_batch_hdr_decode(rest + o, any_salt ? log_get_u64(rest + o + 16) : s->salt, &h))
            continue;
        if (any_salt && (h.body_len > n - o - HM_META_LOG_BATCH_HDR_BYTES ||
                         hm_crc32c(0, rest + o + HM_META_LOG_BATCH_HDR_BYTES, h.body_len) !=
                             h.body_crc))
            continue;
        *found = true;
        *at = off + o;
        break;
    }
    free(rest);
    return 0;
}

/* Format 1, when the caller stated no durable index: is there a valid
 * record with a later index after off?  Then the bad record is not a torn
 * tail (the format-1 rule, kept for logs whose caller cannot say what it
 * acknowledged). */
static int log_rec_after(hm_meta_log *log, hm_file *f, uint64_t off, uint64_t size,
                         uint64_t last_index, uint64_t *at, bool *found)
{
    *found = false;
    uint8_t *rest = NULL;
    size_t n = 0;
    int rc = log_read_rest(log, f, off, size, &rest, &n);
    if (rc != 0)
        return rc;
    for (size_t o = 1; o + HM_META_LOG_REC_HDR_BYTES <= n; o++) {
        const uint8_t *h = rest + o;
        uint32_t len = log_get_u32(h);
        uint64_t idx = log_get_u64(h + 16);
        if (len > n - o - HM_META_LOG_REC_HDR_BYTES || idx <= last_index || idx - last_index > n)
            continue; /* cheap filters before the CRC */
        if (hm_crc32c(0, h + 8, 16 + (size_t)len) == log_get_u32(h + 4)) {
            *found = true;
            *at = off + o;
            break;
        }
    }
    free(rest);
    return 0;
}

/* Damage at off of segment i, where index expect should start.  Decide:
 * the write in flight at a crash (truncate: nothing in it was
 * acknowledged) or damage to what was durable before (refuse). */
static int log_damage(hm_meta_log *log, size_t i, hm_file *f, uint64_t off, uint64_t size,
                      uint64_t expect)
{
    log_seg *s = &log->segs[i];
    bool is_last = i + 1 == log->n_segs;
    uint64_t at = 0;
    bool later = false;
    const char *why = NULL;
    int rc = 0;
    if (atomic_load(&log_plant_lenient)) {
        /* The planted bug: every bad record is a torn tail. */
        goto truncate;
    }
    if (expect <= log->durable_index) {
        hm_error("meta", NULL, "log: segment %020" PRIu64 ".seg offset %" PRIu64
                 ": damaged record %" PRIu64 " was acknowledged (durable through %" PRIu64
                 "); refusing to drop it", s->first, off, expect, log->durable_index);
        return HM_ECORRUPT;
    }
    if (!is_last) {
        why = "a later segment follows";
    } else if (s->version == HM_META_LOG_FORMAT_V2) {
        rc = log_batch_after(log, f, s, off, size, &at, &later);
        if (rc != 0)
            return rc;
        if (later)
            why = "a later batch follows";
    } else if (s->version == HM_META_LOG_FORMAT_V1 && log->durable_index == 0) {
        rc = log_rec_after(log, f, off, size, expect - 1, &at, &later);
        if (rc != 0)
            return rc;
        if (later)
            why = "a later record follows";
    }
    if (why != NULL) {
        hm_error("meta", NULL, "log: segment %020" PRIu64 ".seg offset %" PRIu64
                 ": bad record (index %" PRIu64 ") in data that was durable: %s%s%" PRIu64,
                 s->first, off, expect, why, later ? " at offset " : ", first index ",
                 later ? at : log->segs[is_last ? i : i + 1].first);
        return HM_ECORRUPT;
    }
truncate:
    if (s->version == HM_META_LOG_FORMAT_V2 && off < HM_META_LOG_SEG_HDR_BYTES)
        off = 0; /* the header itself: nothing in this segment was synced */
    hm_warn("meta", NULL, "log: truncating the unsynced tail of segment %020" PRIu64
            ".seg at offset %" PRIu64 " (%" PRIu64 " bytes, from index %" PRIu64 ")",
            s->first, off, size - off, expect);
    /* No sync here: the truncated segment is the tail (only the planted
     * bug cuts another), and open syncs the tail before it returns, so
     * before anything is appended to it or replayed from it (ADR 12).  A
     * power loss before that sync leaves the same damage for the next open
     * to cut again. */
    rc = log->env->ops->truncate(f, off);
    if (rc != 0)
        return rc;
    log->truncated += size - off;
    s->size = off;
    return 0;
}

/* Scan segment i, setting its format, last index and valid size.  The last
 * segment's torn tail is truncated away (log_damage decides). */
static int log_scan_seg(hm_meta_log *log, size_t i, hm_file *f, uint64_t prev_term)
{
    log_seg *s = &log->segs[i];
    uint64_t size = 0;
    int rc = log->env->ops->size(f, &size);
    if (rc != 0)
        return rc;
    uint64_t off = 0, expect = s->first, term = prev_term;
    bool damaged = false;
    s->version = HM_META_LOG_FORMAT_V2; /* an empty file: a header comes first */
    s->salt = 0;
    if (size > 0) {
        uint8_t hdr[HM_META_LOG_SEG_HDR_BYTES];
        bool ok = false;
        size_t n = size < sizeof hdr ? (size_t)size : sizeof hdr;
        rc = log_read_exact(log, f, hdr, n, 0, &ok);
        if (rc != 0)
            return rc;
        if (n >= 4 && log_get_u32(hdr) == LOG_SEG_MAGIC) {
            if (n == sizeof hdr && log_seg_hdr_decode(hdr, s->first, &s->salt))
                off = sizeof hdr;
            else
                damaged = true;
        } else {
            /* No format-2 header: a format-1 segment if its first record
             * verifies, otherwise a format-2 one whose header was torn. */
            hm_meta_log_rec rec;
            enum log_read_result res;
            rc = log_read_rec(log, f, 0, size, &rec, &res);
            if (rc != 0)
                return rc;
            if (res == LOG_REC_OK)
                s->version = HM_META_LOG_FORMAT_V1;
            else
                damaged = true;
        }
    }
    while (!damaged && off < size) {
        if (s->version == HM_META_LOG_FORMAT_V2) {
            log_batch_hdr h;
            enum log_read_result res;
            rc = log_read_batch(log, f, s, off, size, &h, &res);
            if (rc != 0)
                return rc;
            if (res != LOG_REC_OK) {
                damaged = true;
                break;
            }
            uint64_t t = term;
            rc = h.first == expect ? log_batch_walk(log, &h, 0, &t, NULL, NULL) : HM_ECORRUPT;
            if (rc != 0) {
                hm_error("meta", NULL, "log: segment %020" PRIu64 ".seg offset %" PRIu64
                         ": batch of %" PRIu32 " from index %" PRIu64 " verifies but does not"
                         " follow index %" PRIu64, s->first, off, h.count, h.first, expect - 1);
                return HM_ECORRUPT;
            }
            term = t;
            expect += h.count;
            off += HM_META_LOG_BATCH_HDR_BYTES + h.body_len;
            continue;
        }
        hm_meta_log_rec rec;
        enum log_read_result res;
        rc = log_read_rec(log, f, off, size, &rec, &res);
        if (rc != 0)
            return rc;
        if (res != LOG_REC_OK) {
            damaged = true;
            break;
        }
        if (rec.index != expect || rec.term < term) {
            hm_error("meta", NULL, "log: segment %020" PRIu64 ".seg offset %" PRIu64
                     ": index %" PRIu64 " term %" PRIu64 ", expected index %" PRIu64,
                     s->first, off, rec.index, rec.term, expect);
            return HM_ECORRUPT;
        }
        term = rec.term;
        expect++;
        off += HM_META_LOG_REC_HDR_BYTES + rec.len;
    }
    s->size = off;
    if (damaged) {
        rc = log_damage(log, i, f, off, size, expect);
        if (rc != 0)
            return rc;
        if (s->size == 0)
            s->version = HM_META_LOG_FORMAT_V2;
    }
    s->last = expect - 1;
    if (s->last >= s->first)
        log->last_term = term;
    return 0;
}

/* ---- open / close ------------------------------------------------------- */

static int log_seg_push(hm_meta_log *log, uint64_t first)
{
    if (log->n_segs == log->cap_segs) {
        size_t ncap = log->cap_segs == 0 ? 8 : log->cap_segs * 2;
        log_seg *ns = realloc(log->segs, ncap * sizeof *ns);
        if (ns == NULL)
            return HM_ENOMEM;
        log->segs = ns;
        log->cap_segs = ncap;
    }
    log->segs[log->n_segs++] = (log_seg){.first = first, .last = first - 1, .size = 0,
                                         .version = HM_META_LOG_FORMAT_V2};
    return 0;
}

static int log_list_fn(void *arg, const char *name, bool is_dir)
{
    hm_meta_log *log = arg;
    uint64_t first = 0;
    if (is_dir || !log_parse_seg_name(name, &first))
        return 0;
    if (first == 0)
        return HM_ECORRUPT; /* indexes start at 1 */
    return log_seg_push(log, first);
}

static int log_seg_cmp(const void *a, const void *b)
{
    const log_seg *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static int log_open_seg(hm_meta_log *log, uint64_t first, int flags, hm_file **f)
{
    char path[LOG_PATH_BYTES];
    int rc = hm_meta_log_segment_path(log->dir, first, path, sizeof path);
    if (rc != 0)
        return rc;
    return log->env->ops->open(log->env, path, flags, f);
}

static int log_hs_init(hm_meta_log *log);

/* Create dir if absent; a new one gets its parent synced, so that its
 * entry, and with it every segment and the hard state inside, survives a
 * power loss. */
static int log_mkdir(hm_env *env, const char *dir)
{
    int rc = env->ops->mkdir(env, dir);
    if (rc == HM_EEXIST)
        return 0;
    if (rc != 0)
        return rc;
    char parent[LOG_PATH_BYTES];
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    while (n > 0 && dir[n - 1] != '/')
        n--;
    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n == 0) {
        parent[0] = '.';
        n = 1;
    } else if (n >= sizeof parent) {
        return HM_ETOOBIG;
    } else {
        memcpy(parent, dir, n);
    }
    parent[n] = '\0';
    return env->ops->sync_dir(env, parent);
}

int hm_meta_log_open(hm_meta_log **out, hm_env *env, const char *dir,
                     uint64_t segment_bytes)
{
    hm_meta_log_opts opts = {.segment_bytes = segment_bytes};
    return hm_meta_log_open_opts(out, env, dir, &opts);
}

int hm_meta_log_open_opts(hm_meta_log **out, hm_env *env, const char *dir,
                          const hm_meta_log_opts *opts)
{
    hm_meta_log *log = calloc(1, sizeof *log);
    if (log == NULL)
        return HM_ENOMEM;
    log->env = env;
    log->seg_bytes = opts->segment_bytes != 0 ? opts->segment_bytes : HM_META_LOG_SEGMENT_BYTES;
    if (log->seg_bytes > HM_META_LOG_SEGMENT_BYTES)
        log->seg_bytes = HM_META_LOG_SEGMENT_BYTES; /* open's size bound relies on it */
    log->durable_index = opts->durable_index;
    log->dir = strdup(dir);
    int rc = log->dir == NULL ? HM_ENOMEM : 0;
    if (rc != 0)
        goto err;
    rc = log_mkdir(env, dir);
    if (rc != 0)
        goto err;
    rc = env->ops->list_dir(env, dir, log_list_fn, log);
    if (rc != 0)
        goto err;
    if (log->n_segs > 1)
        qsort(log->segs, log->n_segs, sizeof *log->segs, log_seg_cmp);
    uint64_t term = 0;
    for (size_t i = 0; i < log->n_segs; i++) {
        if (i > 0 && log->segs[i].first != log->segs[i - 1].last + 1) {
            hm_error("meta", NULL, "log: gap before segment %020" PRIu64 ".seg",
                     log->segs[i].first);
            rc = HM_ECORRUPT;
            goto err;
        }
        hm_file *f = NULL;
        rc = log_open_seg(log, log->segs[i].first, HM_O_RDWR, &f);
        if (rc != 0)
            goto err;
        rc = log_scan_seg(log, i, f, term);
        if (rc == 0 && i + 1 < log->n_segs && log->segs[i].last < log->segs[i].first) {
            hm_error("meta", NULL, "log: segment %020" PRIu64 ".seg is empty but not the last",
                     log->segs[i].first);
            rc = HM_ECORRUPT; /* an empty segment can only be the newest */
        }
        if (rc != 0) {
            env->ops->close(f);
            goto err;
        }
        term = log->last_term;
        if (i + 1 == log->n_segs)
            log->tail = f;
        else
            env->ops->close(f);
    }
    /* What open found is what the caller will replay, apply and answer
     * from, so it must be durable now (docs/adr/0012-meta-log-durable-bound.md).
     * A process that died after writing a batch but before its sync
     * returned (or whose sync failed) leaves that batch in the page cache:
     * readable, valid, never durable.  Only the tail segment can hold such
     * bytes (a segment is synced before the next one is started) and only
     * the directory can hold such an entry (the tail's, when its roll did
     * not finish). */
    if (log->tail != NULL && !atomic_load(&log_plant_skip_open_sync)) {
        rc = env->ops->sync(log->tail);
        if (rc == 0)
            rc = env->ops->sync_dir(env, dir);
        if (rc != 0) {
            hm_error("meta", NULL, "log: syncing the tail at open failed (%s)",
                     hm_err_name(rc));
            goto err;
        }
    }
    rc = log_hs_init(log);
    if (rc != 0)
        goto err;
    *out = log;
    return 0;
err:
    hm_meta_log_close(log);
    return rc;
}

void hm_meta_log_close(hm_meta_log *log)
{
    if (log == NULL)
        return;
    if (log->tail != NULL)
        log->env->ops->close(log->tail);
    free(log->segs);
    free(log->buf);
    free(log->dir);
    free(log);
}

uint64_t hm_meta_log_first_index(const hm_meta_log *log)
{
    return log->n_segs > 0 ? log->segs[0].first : 0;
}

uint64_t hm_meta_log_last_index(const hm_meta_log *log)
{
    return log->n_segs > 0 ? log->segs[log->n_segs - 1].last : 0;
}

uint64_t hm_meta_log_last_term(const hm_meta_log *log)
{
    return log->last_term;
}

uint64_t hm_meta_log_truncated_bytes(const hm_meta_log *log)
{
    return log->truncated;
}

/* ---- append ------------------------------------------------------------- */

/* Start a new segment whose first record is first. */
static int log_roll(hm_meta_log *log, uint64_t first)
{
    hm_file *f = NULL;
    int rc = log_open_seg(log, first, HM_O_RDWR | HM_O_CREAT | HM_O_EXCL, &f);
    if (rc != 0)
        return rc;
    rc = log_seg_push(log, first);
    if (rc != 0) {
        log->env->ops->close(f);
        return rc;
    }
    if (log->tail != NULL)
        log->env->ops->close(log->tail);
    log->tail = f;
    return 0;
}

/* Write buf to the tail at its current size and sync; new_seg: also make the
 * segment's directory entry durable. */
static int log_flush(hm_meta_log *log, const uint8_t *buf, size_t len, bool new_seg)
{
    log_seg *s = &log->segs[log->n_segs - 1];
    int rc = log->env->ops->pwrite(log->tail, buf, len, s->size);
    if (rc == 0)
        rc = log->env->ops->sync(log->tail);
    if (rc == 0 && new_seg)
        rc = log->env->ops->sync_dir(log->env, log->dir);
    return rc;
}

/* Write recs[0..n) as one batch at the end of the tail segment (after its
 * header when the segment is still empty), sync, and account for it. */
static int log_write_batch(hm_meta_log *log, const hm_meta_log_rec *recs, size_t n,
                           uint64_t body, bool new_seg)
{
    log_seg *s = &log->segs[log->n_segs - 1];
    size_t pre = s->size == 0 ? HM_META_LOG_SEG_HDR_BYTES : 0;
    size_t total = pre + HM_META_LOG_BATCH_HDR_BYTES + (size_t)body;
    uint8_t *buf = malloc(total);
    if (buf == NULL)
        return HM_ENOMEM;
    if (pre > 0) {
        /* A fresh salt per segment: a batch header found in a segment is
         * one this log wrote there, never bytes from a payload. */
        hm_random(log->env, &s->salt, sizeof s->salt);
        log_seg_hdr_encode(s->first, s->salt, buf);
    }
    size_t len = 0;
    int rc = hm_meta_log_batch_encode(recs, n, s->salt, buf + pre, total - pre, &len);
    if (rc == 0)
        rc = log_flush(log, buf, pre + len, new_seg);
    free(buf);
    if (rc != 0)
        return rc;
    s->size += pre + len;
    s->last = recs[n - 1].index;
    log->last_term = recs[n - 1].term;
    return 0;
}

int hm_meta_log_append(hm_meta_log *log, const hm_meta_log_rec *recs, size_t n)
{
    if (log->poisoned)
        return HM_EPOISONED;
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len > HM_META_LOG_RECORD_BYTES_MAX)
            return HM_EINVAL;
        if (i > 0 && (recs[i].index != recs[i - 1].index + 1 || recs[i].term < recs[i - 1].term))
            return HM_EINVAL;
    }
    if (recs[0].index == 0)
        return HM_EINVAL;
    if (log->n_segs > 0 && recs[0].index != log->segs[log->n_segs - 1].last + 1)
        return HM_EINVAL;
    if (recs[0].term < log->last_term)
        return HM_EINVAL;

    int rc = 0;
    bool new_seg = false;
    size_t i = 0;
    while (rc == 0 && i < n) {
        log_seg *s = log->n_segs > 0 ? &log->segs[log->n_segs - 1] : NULL;
        /* Format-2 batches go only into format-2 segments: a format-1 tail
         * (written by an older version) is closed and a new segment
         * started. */
        if (s == NULL || s->version != HM_META_LOG_FORMAT_V2) {
            rc = log_roll(log, recs[i].index);
            new_seg = true;
            continue;
        }
        uint64_t over = (s->size == 0 ? HM_META_LOG_SEG_HDR_BYTES : 0) +
                        HM_META_LOG_BATCH_HDR_BYTES;
        uint64_t body = 0;
        size_t j = i;
        while (j < n) {
            uint64_t rlen = HM_META_LOG_REC_HDR_BYTES + recs[j].len;
            /* The first record always fits an empty segment. */
            if (s->size + over + body + rlen > log->seg_bytes && (s->size > 0 || j > i))
                break;
            body += rlen;
            j++;
        }
        if (j == i) {
            /* The segment is full: it was synced with its last batch. */
            rc = log_roll(log, recs[i].index);
            new_seg = true;
            continue;
        }
        rc = log_write_batch(log, recs + i, j - i, body, new_seg);
        new_seg = false;
        i = j;
    }
    if (rc != 0) {
        /* What reached the disk is unknown: never append again. */
        log->poisoned = true;
        hm_error("meta", NULL, "log: append failed (%s); log poisoned", hm_err_name(rc));
    }
    return rc;
}

/* ---- iterate and compact ------------------------------------------------ */

/* Call fn for the records of segment s (open as f) with index >= from. */
static int log_iterate_seg(hm_meta_log *log, const log_seg *s, hm_file *f, uint64_t from,
                           hm_meta_log_fn fn, void *arg)
{
    int rc = 0;
    if (s->version == HM_META_LOG_FORMAT_V1) {
        uint64_t off = 0;
        while (rc == 0 && off < s->size) {
            hm_meta_log_rec rec;
            enum log_read_result res;
            rc = log_read_rec(log, f, off, s->size, &rec, &res);
            if (rc != 0)
                break;
            if (res != LOG_REC_OK)
                return HM_ECORRUPT;
            off += HM_META_LOG_REC_HDR_BYTES + rec.len;
            if (rec.index >= from)
                rc = fn(arg, &rec);
        }
        return rc;
    }
    uint64_t off = s->size > 0 ? HM_META_LOG_SEG_HDR_BYTES : 0;
    uint64_t term = 0;
    while (rc == 0 && off < s->size) {
        log_batch_hdr h;
        enum log_read_result res;
        rc = log_read_batch(log, f, s, off, s->size, &h, &res);
        if (rc != 0)
            break;
        if (res != LOG_REC_OK)
            return HM_ECORRUPT;
        off += HM_META_LOG_BATCH_HDR_BYTES + h.body_len;
        if (h.first + h.count <= from)
            continue;
        rc = log_batch_walk(log, &h, from, &term, fn, arg);
    }
    return rc;
}

int hm_meta_log_iterate(hm_meta_log *log, uint64_t from, hm_meta_log_fn fn, void *arg)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < log->n_segs; i++) {
        log_seg *s = &log->segs[i];
        if (s->last < s->first || s->last < from)
            continue;
        hm_file *f = log->tail;
        bool own = i + 1 < log->n_segs;
        if (own) {
            rc = log_open_seg(log, s->first, HM_O_RDONLY, &f);
            if (rc != 0)
                break;
        }
        rc = log_iterate_seg(log, s, f, from, fn, arg);
        if (own)
            log->env->ops->close(f);
    }
    return rc;
}

int hm_meta_log_compact(hm_meta_log *log, uint64_t upto)
{
    size_t drop = 0;
    while (drop + 1 < log->n_segs && log->segs[drop].last <= upto)
        drop++;
    if (drop == 0)
        return 0;
    int rc = 0;
    size_t done = 0;
    /* Oldest first, each unlink made durable before the next: a crash
     * then leaves a suffix of the segments, never an older one without a
     * newer one (a gap, which open refuses). */
    for (; done < drop; done++) {
        char path[LOG_PATH_BYTES];
        rc = hm_meta_log_segment_path(log->dir, log->segs[done].first, path, sizeof path);
        if (rc == 0)
            rc = log->env->ops->unlink(log->env, path);
        if (rc == HM_ENOENT)
            rc = 0;
        if (rc == 0)
            rc = log->env->ops->sync_dir(log->env, log->dir);
        if (rc != 0)
            break;
    }
    if (done > 0) {
        memmove(log->segs, log->segs + done, (log->n_segs - done) * sizeof *log->segs);
        log->n_segs -= done;
        hm_metrics_meta_log_compacted((unsigned)done);
    }
    return rc;
}

/* ---- hard state --------------------------------------------------------- *
 * Slot layout (64 bytes, little-endian): magic u32, format_version u32,
 * seq u64, term u64, vote u64, commit u64, zero padding, CRC32C u32 of bytes
 * 0..59 at offset 60.  Slot = seq % 2. */

static void log_hs_encode(uint64_t seq, const hm_meta_hardstate *hs,
                          uint8_t out[HM_META_LOG_HARDSTATE_SLOT_BYTES])
{
    memset(out, 0, HM_META_LOG_HARDSTATE_SLOT_BYTES);
    log_put_u32(out, LOG_HS_MAGIC);
    log_put_u32(out + 4, HM_FORMAT_VERSION);
    log_put_u64(out + 8, seq);
    log_put_u64(out + 16, hs->term);
    log_put_u64(out + 24, hs->vote);
    log_put_u64(out + 32, hs->commit);
    log_put_u32(out + 60, hm_crc32c(0, out, 60));
}

static bool log_hs_decode(const uint8_t *in, uint64_t *seq, hm_meta_hardstate *hs)
{
    if (log_get_u32(in) != LOG_HS_MAGIC || hm_crc32c(0, in, 60) != log_get_u32(in + 60))
        return false;
    uint32_t v = log_get_u32(in + 4);
    if (v < HM_FORMAT_VERSION_MIN || v > HM_FORMAT_VERSION_MAX)
        return false;
    *seq = log_get_u64(in + 8);
    hs->term = log_get_u64(in + 16);
    hs->vote = log_get_u64(in + 24);
    hs->commit = log_get_u64(in + 32);
    return true;
}

static int log_hs_path(hm_meta_log *log, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/" LOG_HS_NAME, log->dir);
    return n < 0 || (size_t)n >= cap ? HM_ETOOBIG : 0;
}

/* Create the hard state file on first open, atomically with both slots
 * valid (seq 0 and 1, zero state), so no crash can leave it unreadable. */
static int log_hs_init(hm_meta_log *log)
{
    char path[LOG_PATH_BYTES];
    int rc = log_hs_path(log, path, sizeof path);
    if (rc != 0)
        return rc;
    bool is_dir = false;
    rc = log->env->ops->exists(log->env, path, &is_dir);
    if (rc == 0) {
        /* A save whose sync failed left its slot readable: make what load
         * will return durable before anyone acts on it (a Raft vote). */
        if (!atomic_load(&log_plant_skip_open_sync)) {
            hm_file *f = NULL;
            rc = log->env->ops->open(log->env, path, HM_O_RDWR, &f);
            if (rc != 0)
                return rc;
            rc = log->env->ops->sync(f);
            log->env->ops->close(f);
            if (rc != 0)
                return rc;
        }
        hm_meta_hardstate hs;
        return hm_meta_log_hardstate_load(log, &hs);
    }
    if (rc != HM_ENOENT)
        return rc;
    uint8_t both[2 * HM_META_LOG_HARDSTATE_SLOT_BYTES];
    hm_meta_hardstate zero = {0};
    log_hs_encode(0, &zero, both);
    log_hs_encode(1, &zero, both + HM_META_LOG_HARDSTATE_SLOT_BYTES);
    log->hs_seq = 1;
    return hm_env_write_file_atomic(log->env, path, both, sizeof both);
}

int hm_meta_log_hardstate_load(hm_meta_log *log, hm_meta_hardstate *hs)
{
    char path[LOG_PATH_BYTES];
    int rc = log_hs_path(log, path, sizeof path);
    if (rc != 0)
        return rc;
    void *buf = NULL;
    size_t len = 0;
    rc = hm_env_read_file(log->env, path, 2 * HM_META_LOG_HARDSTATE_SLOT_BYTES, &buf, &len);
    if (rc != 0)
        return rc;
    bool found = false;
    uint64_t best = 0;
    for (size_t s = 0; s < 2; s++) {
        if (len < (s + 1) * HM_META_LOG_HARDSTATE_SLOT_BYTES)
            break;
        uint64_t seq = 0;
        hm_meta_hardstate cur;
        if (!log_hs_decode((const uint8_t *)buf + s * HM_META_LOG_HARDSTATE_SLOT_BYTES,
                           &seq, &cur) || seq % 2 != s)
            continue;
        if (!found || seq > best) {
            best = seq;
            *hs = cur;
            found = true;
        }
    }
    free(buf);
    if (!found)
        return HM_ECORRUPT;
    log->hs_seq = best;
    return 0;
}

int hm_meta_log_hardstate_save(hm_meta_log *log, const hm_meta_hardstate *hs)
{
    if (log->poisoned)
        return HM_EPOISONED;
    char path[LOG_PATH_BYTES];
    int rc = log_hs_path(log, path, sizeof path);
    if (rc != 0)
        return rc;
    hm_file *f = NULL;
    rc = log->env->ops->open(log->env, path, HM_O_RDWR, &f);
    if (rc != 0)
        return rc;
    uint64_t seq = log->hs_seq + 1;
    uint8_t slot[HM_META_LOG_HARDSTATE_SLOT_BYTES];
    log_hs_encode(seq, hs, slot);
    /* The older slot is seq % 2: the newest valid one stays intact until
     * this write is durable. */
    rc = log->env->ops->pwrite(f, slot, sizeof slot, (seq % 2) * sizeof slot);
    if (rc == 0)
        rc = log->env->ops->sync(f);
    log->env->ops->close(f);
    if (rc != 0) {
        log->poisoned = true;
        return rc;
    }
    log->hs_seq = seq;
    return 0;
}
