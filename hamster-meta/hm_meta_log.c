/* hm_meta_log.c - the metadata log: segmented append-only files + hard state.
 *
 * Shaping decision: a record is self-delimiting and self-checking (length,
 * CRC32C, term, index), so open needs no separate index file: it re-reads
 * every segment once, record by record with bounded buffers, and learns the
 * index range from the records themselves.  The torn-tail rule is the one a
 * crash mid-append can produce: in the last segment, a bad record with no
 * valid record after it.  Anything else is damage the log cannot repair by
 * itself, so open refuses rather than silently dropping committed entries.
 */
#include "hm_meta_log.h"

#include <inttypes.h>
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
#define LOG_HS_MAGIC 0x53484d48u /* "HMHS" */
#define LOG_HS_NAME "hardstate"

_Static_assert(HM_META_LOG_RECORD_BYTES_MAX <= UINT32_MAX - HM_META_LOG_REC_HDR_BYTES,
               "a record length fits the u32 length field");

typedef struct log_seg {
    uint64_t first;
    uint64_t last;  /* first - 1 when empty */
    uint64_t size;  /* bytes of valid records */
} log_seg;

struct hm_meta_log {
    hm_env *env;
    char *dir;
    uint64_t seg_bytes;
    log_seg *segs;
    size_t n_segs;
    size_t cap_segs;
    hm_file *tail;      /* the last segment, open for append */
    uint64_t last_term;
    uint64_t hs_seq;    /* sequence of the newest valid hard state slot */
    bool poisoned;
    uint8_t *buf;       /* scratch for reading one record */
    size_t buf_cap;
};

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

enum log_read_result { LOG_REC_OK, LOG_REC_EOF, LOG_REC_BAD };

/* Read and verify the record at off of a file of size bytes.  On
 * LOG_REC_OK rec points into log->buf.  A record is bad when its header is
 * short, its length exceeds the bound or the file, or its CRC fails. */
static int log_read_rec(hm_meta_log *log, hm_file *f, uint64_t off, uint64_t size,
                        hm_meta_log_rec *rec, enum log_read_result *res)
{
    uint8_t hdr[HM_META_LOG_REC_HDR_BYTES];
    if (off == size) {
        *res = LOG_REC_EOF;
        return 0;
    }
    if (size - off < sizeof hdr) {
        *res = LOG_REC_BAD;
        return 0;
    }
    size_t got = 0;
    int rc = log->env->ops->pread(f, hdr, sizeof hdr, off, &got);
    if (rc != 0)
        return rc;
    if (got != sizeof hdr) {
        *res = LOG_REC_BAD;
        return 0;
    }
    uint32_t len = log_get_u32(hdr);
    if (len > HM_META_LOG_RECORD_BYTES_MAX || len > size - off - sizeof hdr) {
        *res = LOG_REC_BAD;
        return 0;
    }
    rc = log_buf_reserve(log, len > 0 ? len : 1);
    if (rc != 0)
        return rc;
    if (len > 0) {
        rc = log->env->ops->pread(f, log->buf, len, off + sizeof hdr, &got);
        if (rc != 0)
            return rc;
        if (got != len) {
            *res = LOG_REC_BAD;
            return 0;
        }
    }
    uint32_t crc = hm_crc32c(0, hdr + 8, 16);
    crc = hm_crc32c(crc, log->buf, len);
    if (crc != log_get_u32(hdr + 4)) {
        *res = LOG_REC_BAD;
        return 0;
    }
    rec->term = log_get_u64(hdr + 8);
    rec->index = log_get_u64(hdr + 16);
    rec->payload = log->buf;
    rec->len = len;
    *res = LOG_REC_OK;
    return 0;
}

/* After a bad record at off in the last segment: is there a valid record
 * with a later index anywhere after it?  Then the bad record is not a torn
 * tail but damage in the middle (*found).  Reads the rest of the segment
 * once; its size is bounded by the segment size. */
static int log_valid_after(hm_meta_log *log, hm_file *f, uint64_t off, uint64_t size,
                           uint64_t last_index, bool *found)
{
    *found = false;
    if (size - off > HM_META_LOG_SEGMENT_BYTES + HM_META_LOG_RECORD_BYTES_MAX)
        return HM_ECORRUPT; /* no segment grows this large */
    size_t n = (size_t)(size - off);
    uint8_t *rest = malloc(n > 0 ? n : 1);
    if (rest == NULL)
        return HM_ENOMEM;
    size_t got = 0;
    int rc = log->env->ops->pread(f, rest, n, off, &got);
    if (rc != 0)
        goto out;
    for (size_t o = 1; o + HM_META_LOG_REC_HDR_BYTES <= got; o++) {
        const uint8_t *h = rest + o;
        uint32_t len = log_get_u32(h);
        uint64_t idx = log_get_u64(h + 16);
        if (len > got - o - HM_META_LOG_REC_HDR_BYTES || idx <= last_index ||
            idx - last_index > got)
            continue; /* cheap filters before the CRC */
        uint32_t crc = hm_crc32c(0, h + 8, 16 + (size_t)len);
        if (crc == log_get_u32(h + 4)) {
            *found = true;
            break;
        }
    }
out:
    free(rest);
    return rc;
}

/* Scan segment i, setting its last index and valid size.  The last
 * segment's torn tail is truncated away. */
static int log_scan_seg(hm_meta_log *log, size_t i, hm_file *f, uint64_t prev_term)
{
    log_seg *s = &log->segs[i];
    bool is_last = i + 1 == log->n_segs;
    uint64_t size = 0;
    int rc = log->env->ops->size(f, &size);
    if (rc != 0)
        return rc;
    uint64_t off = 0, expect = s->first, term = prev_term;
    for (;;) {
        hm_meta_log_rec rec;
        enum log_read_result res;
        rc = log_read_rec(log, f, off, size, &rec, &res);
        if (rc != 0)
            return rc;
        if (res == LOG_REC_EOF)
            break;
        if (res == LOG_REC_OK) {
            if (rec.index != expect || rec.term < term) {
                hm_error("meta", NULL, "log: segment %020" PRIu64 ".seg offset %" PRIu64
                         ": index %" PRIu64 " term %" PRIu64 ", expected index %" PRIu64,
                         s->first, off, rec.index, rec.term, expect);
                return HM_ECORRUPT;
            }
            term = rec.term;
            expect++;
            off += HM_META_LOG_REC_HDR_BYTES + rec.len;
            continue;
        }
        bool later = false;
        if (is_last) {
            rc = log_valid_after(log, f, off, size, expect - 1, &later);
            if (rc != 0)
                return rc;
        }
        if (!is_last || later) {
            hm_error("meta", NULL, "log: bad record in segment %020" PRIu64
                     ".seg at offset %" PRIu64 " (not a torn tail)", s->first, off);
            return HM_ECORRUPT;
        }
        hm_warn("meta", NULL, "log: truncating torn tail of segment %020" PRIu64
                ".seg at offset %" PRIu64 " (%" PRIu64 " bytes)", s->first, off, size - off);
        rc = log->env->ops->truncate(f, off);
        if (rc == 0)
            rc = log->env->ops->sync(f);
        if (rc != 0)
            return rc;
        break;
    }
    s->last = expect - 1;
    s->size = off;
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
    log->segs[log->n_segs++] = (log_seg){.first = first, .last = first - 1, .size = 0};
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

int hm_meta_log_open(hm_meta_log **out, hm_env *env, const char *dir,
                     uint64_t segment_bytes)
{
    hm_meta_log *log = calloc(1, sizeof *log);
    if (log == NULL)
        return HM_ENOMEM;
    log->env = env;
    log->seg_bytes = segment_bytes != 0 ? segment_bytes : HM_META_LOG_SEGMENT_BYTES;
    if (log->seg_bytes > HM_META_LOG_SEGMENT_BYTES)
        log->seg_bytes = HM_META_LOG_SEGMENT_BYTES; /* open's tail check relies on it */
    log->dir = strdup(dir);
    int rc = log->dir == NULL ? HM_ENOMEM : 0;
    if (rc != 0)
        goto err;
    rc = env->ops->mkdir(env, dir);
    if (rc == HM_EEXIST)
        rc = 0;
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
        if (rc == 0 && i + 1 < log->n_segs && log->segs[i].last < log->segs[i].first)
            rc = HM_ECORRUPT; /* an empty segment can only be the newest */
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

int hm_meta_log_append(hm_meta_log *log, const hm_meta_log_rec *recs, size_t n)
{
    if (log->poisoned)
        return HM_EPOISONED;
    if (n == 0)
        return 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len > HM_META_LOG_RECORD_BYTES_MAX)
            return HM_EINVAL;
        if (i > 0 && (recs[i].index != recs[i - 1].index + 1 || recs[i].term < recs[i - 1].term))
            return HM_EINVAL;
        total += HM_META_LOG_REC_HDR_BYTES + recs[i].len;
    }
    if (recs[0].index == 0)
        return HM_EINVAL;
    if (log->n_segs > 0 && recs[0].index != log->segs[log->n_segs - 1].last + 1)
        return HM_EINVAL;
    if (recs[0].term < log->last_term)
        return HM_EINVAL;

    uint8_t *buf = malloc(total);
    if (buf == NULL)
        return HM_ENOMEM;
    int rc = 0;
    bool new_seg = false;
    if (log->n_segs == 0) {
        rc = log_roll(log, recs[0].index);
        new_seg = true;
    }
    size_t used = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        log_seg *s = &log->segs[log->n_segs - 1];
        size_t rlen = HM_META_LOG_REC_HDR_BYTES + recs[i].len;
        bool nonempty = s->size + used > 0;
        if (nonempty && s->size + used + rlen > log->seg_bytes) {
            /* Close out the full segment durably, then continue in a new one. */
            if (used > 0) {
                rc = log_flush(log, buf, used, new_seg);
                if (rc != 0)
                    break;
                s->size += used;
                s->last = recs[i].index - 1;
                used = 0;
            }
            rc = log_roll(log, recs[i].index);
            if (rc != 0)
                break;
            new_seg = true;
        }
        hm_meta_log_record_encode(&recs[i], buf + used);
        used += rlen;
    }
    if (rc == 0 && used > 0) {
        rc = log_flush(log, buf, used, new_seg);
        if (rc == 0) {
            log_seg *s = &log->segs[log->n_segs - 1];
            s->size += used;
            s->last = recs[n - 1].index;
            log->last_term = recs[n - 1].term;
        }
    }
    free(buf);
    if (rc != 0) {
        /* What reached the disk is unknown: never append again. */
        log->poisoned = true;
        hm_error("meta", NULL, "log: append failed (%s); log poisoned", hm_err_name(rc));
    }
    return rc;
}

/* ---- iterate and compact ------------------------------------------------ */

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
        uint64_t off = 0;
        while (rc == 0 && off < s->size) {
            hm_meta_log_rec rec;
            enum log_read_result res;
            rc = log_read_rec(log, f, off, s->size, &rec, &res);
            if (rc != 0)
                break;
            if (res != LOG_REC_OK) {
                rc = HM_ECORRUPT;
                break;
            }
            off += HM_META_LOG_REC_HDR_BYTES + rec.len;
            if (rec.index >= from)
                rc = fn(arg, &rec);
        }
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
    for (; done < drop; done++) {
        char path[LOG_PATH_BYTES];
        rc = hm_meta_log_segment_path(log->dir, log->segs[done].first, path, sizeof path);
        if (rc == 0)
            rc = log->env->ops->unlink(log->env, path);
        if (rc != 0 && rc != HM_ENOENT)
            break;
        rc = 0;
    }
    memmove(log->segs, log->segs + done, (log->n_segs - done) * sizeof *log->segs);
    log->n_segs -= done;
    hm_metrics_meta_log_compacted((unsigned)done);
    /* Persist the unlinks in order, so no older segment outlives a newer one
     * across a crash (a gap would make open refuse). */
    int rc2 = log->env->ops->sync_dir(log->env, log->dir);
    return rc != 0 ? rc : rc2;
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
