/* test_meta_log.c - the metadata log (hamster-meta/hm_meta_log.c): append
 * and reopen across segments, the batch a crash interrupted truncated
 * wherever its damage is, damage to durable or acknowledged records
 * refused, format-1 segments still read, the format-2 bytes pinned, prefix
 * compaction, and the double-buffered hard state.  The crash loops over
 * the simulated disk are in tests/sim/test_sim_crash.c. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hm_err.h"
#include "hm_limits.h"
#include "hm_meta_log.h"
#include "test_meta_util.h"

#define SEG_BYTES 1024u

static char *dir;
static hm_env *env;

static void setup(void)
{
    dir = tmu_mkdtemp();
    env = tmu_env();
}

static void teardown(void)
{
    hm_env_posix_free(env);
    tmu_rmdir(dir);
}

/* Payload of record i: "rec-<i>" padded to a length that varies with i. */
static size_t payload(uint64_t i, char *buf)
{
    size_t len = (size_t)snprintf(buf, 64, "rec-%llu-", (unsigned long long)i);
    size_t pad = (size_t)(i * 7 % 40);
    memset(buf + len, 'a' + (int)(i % 26), pad);
    return len + pad;
}

/* Append records first..last in batches of batch. */
static void append_range(hm_meta_log *log, uint64_t first, uint64_t last, size_t batch)
{
    static char bufs[64][128];
    hm_meta_log_rec recs[64];
    ck_assert_uint_le(batch, 64);
    for (uint64_t i = first; i <= last;) {
        size_t n = 0;
        for (; n < batch && i <= last; n++, i++) {
            size_t len = payload(i, bufs[n]);
            recs[n] = (hm_meta_log_rec){.term = 1 + i / 50, .index = i, .payload = bufs[n],
                                        .len = len};
        }
        ck_assert_int_eq(hm_meta_log_append(log, recs, n), 0);
    }
}

typedef struct seen {
    uint64_t next;
    uint64_t count;
} seen;

static int check_fn(void *arg, const hm_meta_log_rec *rec)
{
    seen *s = arg;
    char want[128];
    size_t len = payload(rec->index, want);
    ck_assert_uint_eq(rec->index, s->next);
    ck_assert_uint_eq(rec->term, 1 + rec->index / 50);
    ck_assert_uint_eq(rec->len, len);
    ck_assert_mem_eq(rec->payload, want, len);
    s->next++;
    s->count++;
    return 0;
}

static void verify(hm_meta_log *log, uint64_t from, uint64_t last)
{
    seen s = {.next = from};
    ck_assert_int_eq(hm_meta_log_iterate(log, from, check_fn, &s), 0);
    ck_assert_uint_eq(s.next, last + 1);
}

static char *log_dir(void)
{
    static char p[600];
    snprintf(p, sizeof p, "%s/log", dir);
    return p;
}

static char *seg_path(uint64_t first)
{
    static char p[700];
    ck_assert_int_eq(hm_meta_log_segment_path(log_dir(), first, p, sizeof p), 0);
    return p;
}

static off_t file_size(const char *p)
{
    struct stat st;
    ck_assert_int_eq(stat(p, &st), 0);
    return st.st_size;
}

static void write_at(const char *p, off_t off, const void *buf, size_t len)
{
    int fd = open(p, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, buf, len, off), (ssize_t)len);
    close(fd);
}

/* The first index of the last segment file (by name). */
static uint64_t last_seg_first(hm_meta_log *log)
{
    uint64_t first = hm_meta_log_first_index(log);
    uint64_t best = first;
    for (uint64_t i = first; i <= hm_meta_log_last_index(log); i++) {
        if (access(seg_path(i), F_OK) == 0)
            best = i;
    }
    return best;
}

/* Records appended in batches across many small segments read back in
 * order after a reopen, and appending continues where it left off. */
START_TEST(test_append_reopen)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    ck_assert_uint_eq(hm_meta_log_last_index(log), 0);
    append_range(log, 1, 200, 7);
    ck_assert_uint_eq(hm_meta_log_first_index(log), 1);
    ck_assert_uint_eq(hm_meta_log_last_index(log), 200);
    hm_meta_log_close(log);

    ck_assert_int_eq(access(seg_path(1), F_OK), 0);
    ck_assert_int_le(file_size(seg_path(1)), SEG_BYTES);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    ck_assert_uint_eq(hm_meta_log_first_index(log), 1);
    ck_assert_uint_eq(hm_meta_log_last_index(log), 200);
    ck_assert_uint_eq(hm_meta_log_last_term(log), 1 + 200 / 50);
    verify(log, 1, 200);
    verify(log, 123, 200);
    append_range(log, 201, 230, 3);
    hm_meta_log_close(log);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    verify(log, 1, 230);
    hm_meta_log_close(log);
}
END_TEST

/* A gap in indexes, a zero index and an oversized payload are refused
 * without writing anything. */
START_TEST(test_append_invalid)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    append_range(log, 5, 6, 2);
    hm_meta_log_rec r = {.term = 1, .index = 8, .payload = "x", .len = 1};
    ck_assert_int_eq(hm_meta_log_append(log, &r, 1), HM_EINVAL);
    r.index = 0;
    ck_assert_int_eq(hm_meta_log_append(log, &r, 1), HM_EINVAL);
    r.index = 7;
    r.len = (size_t)HM_META_LOG_RECORD_BYTES_MAX + 1;
    ck_assert_int_eq(hm_meta_log_append(log, &r, 1), HM_EINVAL);
    ck_assert_uint_eq(hm_meta_log_last_index(log), 6);
    r.len = 1;
    ck_assert_int_eq(hm_meta_log_append(log, &r, 1), 0);
    hm_meta_log_close(log);
}
END_TEST

/* Half a record at the end of the last segment (a crash mid-append) is
 * truncated at open; the log keeps every whole record and appends on. */
START_TEST(test_torn_tail_half_record)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    append_range(log, 1, 60, 5);
    uint64_t tail_first = last_seg_first(log);
    hm_meta_log_close(log);

    const char *p = seg_path(tail_first);
    off_t good = file_size(p);
    /* Build record 61 and write only its first 30 bytes. */
    char pl[128];
    size_t len = payload(61, pl);
    uint8_t frame[256];
    hm_meta_log_rec r = {.term = 2, .index = 61, .payload = pl, .len = len};
    hm_meta_log_record_encode(&r, frame);
    write_at(p, good, frame, 30);

    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    ck_assert_uint_eq(hm_meta_log_last_index(log), 60);
    ck_assert_int_eq(file_size(p), good);
    verify(log, 1, 60);
    append_range(log, 61, 70, 4);
    hm_meta_log_close(log);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    verify(log, 1, 70);
    hm_meta_log_close(log);
}
END_TEST

/* Garbage after the last batch, and a last batch whose payload was torn
 * (CRC mismatch, nothing valid after it), are truncated too. */
START_TEST(test_torn_tail_garbage)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
    append_range(log, 1, 19, 10);
    append_range(log, 20, 20, 1);
    hm_meta_log_close(log);
    const char *p = seg_path(1);
    off_t good = file_size(p);
    uint8_t junk[100];
    uint64_t seed = 99;
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)tmu_rand(&seed);
    write_at(p, good, junk, sizeof junk);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
    ck_assert_uint_eq(hm_meta_log_last_index(log), 20);
    ck_assert_int_eq(file_size(p), good);
    hm_meta_log_close(log);

    /* flip the last payload byte of record 20: it was the tail */
    uint8_t b = 0;
    int fd = open(p, O_RDWR);
    ck_assert_int_eq(pread(fd, &b, 1, good - 1), 1);
    b ^= 0x5A;
    ck_assert_int_eq(pwrite(fd, &b, 1, good - 1), 1);
    close(fd);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
    ck_assert_uint_eq(hm_meta_log_last_index(log), 19);
    verify(log, 1, 19);
    hm_meta_log_close(log);
}
END_TEST

/* A bad record followed by valid ones in the last segment is corruption,
 * not a torn tail: open refuses with HM_ECORRUPT. */
START_TEST(test_corrupt_mid_last_segment)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
    append_range(log, 1, 30, 10);
    hm_meta_log_close(log);
    const char *p = seg_path(1);
    uint8_t b = 0;
    int fd = open(p, O_RDWR);
    ck_assert_int_eq(pread(fd, &b, 1, 200), 1);
    b ^= 0x01;
    ck_assert_int_eq(pwrite(fd, &b, 1, 200), 1);
    close(fd);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), HM_ECORRUPT);
}
END_TEST

/* A bad record in a segment that is not the last is corruption. */
START_TEST(test_corrupt_earlier_segment)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    append_range(log, 1, 100, 3);
    hm_meta_log_close(log);
    const char *p = seg_path(1);
    off_t sz = file_size(p);
    uint8_t b = 0;
    int fd = open(p, O_RDWR);
    ck_assert_int_eq(pread(fd, &b, 1, sz - 1), 1);
    b ^= 0x80;
    ck_assert_int_eq(pwrite(fd, &b, 1, sz - 1), 1); /* its last record's payload */
    close(fd);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), HM_ECORRUPT);
}
END_TEST

/* A length field beyond HM_META_LOG_RECORD_BYTES_MAX in the middle of the
 * log (a batch's first record, another batch after it) is corruption,
 * refused without allocating it; so is a huge length at the very start of
 * a segment that has batches after it. */
START_TEST(test_corrupt_huge_length)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
    append_range(log, 1, 10, 5);
    hm_meta_log_close(log);
    const uint8_t huge[4] = {0xF0, 0xFF, 0xFF, 0xFF};
    write_at(seg_path(1), HM_META_LOG_SEG_HDR_BYTES + HM_META_LOG_BATCH_HDR_BYTES, huge,
             sizeof huge);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), HM_ECORRUPT);
    write_at(seg_path(1), 0, huge, sizeof huge);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), HM_ECORRUPT);
}
END_TEST

/* Append records first..last as one batch with payloads of 1000 bytes, so
 * that each record holds a whole 512-byte sector. */
static void append_big_batch(hm_meta_log *log, uint64_t first, uint64_t last)
{
    static char bufs[8][1000];
    hm_meta_log_rec recs[8];
    size_t n = 0;
    ck_assert_uint_le(last - first + 1, 8);
    for (uint64_t i = first; i <= last; i++, n++) {
        memset(bufs[n], 'A' + (int)(i % 26), sizeof bufs[n]);
        recs[n] = (hm_meta_log_rec){.term = 1 + i / 50, .index = i, .payload = bufs[n],
                                    .len = sizeof bufs[n]};
    }
    ck_assert_int_eq(hm_meta_log_append(log, recs, n), 0);
}

/* The crash of the issue: a batch of three records written with one pwrite
 * loses one 512-byte sector inside record 2 while record 3 survives.
 * Nothing of the batch was acknowledged, so open truncates the whole batch
 * (whether or not the caller states its durable index) and the log appends
 * on; a caller that acknowledged the batch gets HM_ECORRUPT instead, and
 * the file is left as it was for repair. */
START_TEST(test_torn_batch_inner_sector)
{
    hm_meta_log *log = NULL;
    for (int acked = 0; acked < 3; acked++) {
        tmu_rmdir(dir);
        dir = tmu_mkdtemp();
        ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
        append_range(log, 1, 20, 7);
        hm_meta_log_close(log);
        off_t good = file_size(seg_path(1));
        ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
        append_big_batch(log, 21, 23);
        hm_meta_log_close(log);
        off_t full = file_size(seg_path(1));
        /* record 22 spans [rec2, rec2 + 1024): the first whole sector in it */
        off_t rec2 = good + HM_META_LOG_BATCH_HDR_BYTES + HM_META_LOG_REC_HDR_BYTES + 1000;
        off_t sector = (rec2 + 511) / 512 * 512;
        ck_assert_int_le(sector + 512, rec2 + 1024);
        static const uint8_t zero[512];
        write_at(seg_path(1), sector, zero, sizeof zero);

        hm_meta_log_opts o = {.segment_bytes = 1u << 20,
                              .durable_index = acked == 0 ? 0 : acked == 1 ? 20 : 23};
        if (acked == 2) {
            ck_assert_int_eq(hm_meta_log_open_opts(&log, env, log_dir(), &o), HM_ECORRUPT);
            ck_assert_int_eq(file_size(seg_path(1)), full);
            continue;
        }
        ck_assert_int_eq(hm_meta_log_open_opts(&log, env, log_dir(), &o), 0);
        ck_assert_uint_eq(hm_meta_log_last_index(log), 20);
        ck_assert_uint_eq(hm_meta_log_truncated_bytes(log), (uint64_t)(full - good));
        ck_assert_int_eq(file_size(seg_path(1)), good);
        verify(log, 1, 20);
        append_range(log, 21, 30, 4);
        hm_meta_log_close(log);
        ck_assert_int_eq(hm_meta_log_open_opts(&log, env, log_dir(), &o), 0);
        verify(log, 1, 30);
        hm_meta_log_close(log);
    }
}
END_TEST

/* A damaged batch that a later batch follows was synced before that one
 * was written: damage to durable records, refused even with no durable
 * index stated. */
START_TEST(test_damage_before_later_batch_refused)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
    append_range(log, 1, 20, 7);
    off_t good = file_size(seg_path(1));
    append_big_batch(log, 21, 23);
    append_range(log, 24, 25, 2);
    hm_meta_log_close(log);
    off_t full = file_size(seg_path(1));
    static const uint8_t zero[512];
    write_at(seg_path(1), (good + 1600) / 512 * 512, zero, sizeof zero);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), HM_ECORRUPT);
    ck_assert_int_eq(file_size(seg_path(1)), full);
}
END_TEST

/* The last batch's damage at an index the caller acknowledged is refused
 * even when it is the last thing in the log (rot after the sync, not a
 * torn write). */
START_TEST(test_acknowledged_tail_refused)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
    append_range(log, 1, 20, 20);
    hm_meta_log_close(log);
    off_t sz = file_size(seg_path(1));
    uint8_t b = 0x55;
    write_at(seg_path(1), sz - 1, &b, 1);
    hm_meta_log_opts o = {.segment_bytes = 1u << 20, .durable_index = 1};
    ck_assert_int_eq(hm_meta_log_open_opts(&log, env, log_dir(), &o), HM_ECORRUPT);
    ck_assert_int_eq(file_size(seg_path(1)), sz);
}
END_TEST

static void *read_golden(const char *name, size_t *len)
{
    const char *gd = getenv("HM_GOLDEN_DIR");
    ck_assert_msg(gd != NULL, "HM_GOLDEN_DIR is not set (ctest sets it)");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", gd, name);
    void *buf = NULL;
    ck_assert_int_eq(hm_env_read_file(env, path, 1u << 20, &buf, len), 0);
    return buf;
}

typedef struct golden_seen {
    uint64_t n;
    uint64_t index[4];
    uint64_t term[4];
    size_t len[4];
    char payload[4][512];
} golden_seen;

static int golden_fn(void *arg, const hm_meta_log_rec *rec)
{
    golden_seen *g = arg;
    ck_assert_uint_lt(g->n, 4);
    ck_assert_uint_lt(rec->len, sizeof g->payload[0]);
    g->index[g->n] = rec->index;
    g->term[g->n] = rec->term;
    memcpy(g->payload[g->n], rec->payload, rec->len);
    g->len[g->n] = rec->len;
    g->payload[g->n][rec->len] = '\0';
    g->n++;
    return 0;
}

/* Format 2 is pinned: tests/golden/meta_log_segment_v2.bin (segment
 * header, first index 12345, salt 0x0123456789abcdef, then one batch of two
 * records) is exactly what the encoder writes after the 32-byte header,
 * and the file read as a segment yields its two records. */
START_TEST(test_golden_segment_v2)
{
    size_t len = 0;
    uint8_t *g = read_golden("meta_log_segment_v2.bin", &len);
    const char *one = "golden record one";
    hm_meta_log_rec recs[2] = {
        {.term = 3, .index = 12345, .payload = one, .len = strlen(one)},
        {.term = 4, .index = 12346, .payload = "", .len = 0},
    };
    uint8_t out[256];
    size_t n = 0;
    ck_assert_int_eq(hm_meta_log_batch_encode(recs, 2, 0x0123456789abcdefull, out, sizeof out, &n),
                     0);
    ck_assert_uint_eq(HM_META_LOG_SEG_HDR_BYTES + n, len);
    ck_assert_mem_eq(out, g + HM_META_LOG_SEG_HDR_BYTES, n);
    ck_assert_int_eq(hm_meta_log_batch_encode(recs, 2, 1, out, 10, &n), HM_ETOOBIG);
    ck_assert_int_eq(hm_meta_log_batch_encode(recs, 0, 1, out, sizeof out, &n), HM_EINVAL);

    ck_assert_int_eq(mkdir(log_dir(), 0700), 0);
    int fd = open(seg_path(12345), O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, g, len), (ssize_t)len);
    close(fd);
    free(g);
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 0), 0);
    ck_assert_uint_eq(hm_meta_log_first_index(log), 12345);
    ck_assert_uint_eq(hm_meta_log_last_index(log), 12346);
    ck_assert_uint_eq(hm_meta_log_last_term(log), 4);
    golden_seen seen = {0};
    ck_assert_int_eq(hm_meta_log_iterate(log, 0, golden_fn, &seen), 0);
    ck_assert_uint_eq(seen.n, 2);
    ck_assert_str_eq(seen.payload[0], one);
    ck_assert_uint_eq(seen.term[1], 4);
    ck_assert_str_eq(seen.payload[1], "");
    hm_meta_log_close(log);
}
END_TEST

/* Format 1 stays readable: a segment holding the pinned version-1 record
 * (tests/golden/meta_log_record_v1.bin, index 12345) opens and iterates;
 * the next append starts a format-2 segment, and both read back after a
 * reopen.  A torn format-1 tail is still truncated. */
START_TEST(test_format1_segment_readable)
{
    size_t len = 0;
    uint8_t *g = read_golden("meta_log_record_v1.bin", &len);
    ck_assert_int_eq(mkdir(log_dir(), 0700), 0);
    int fd = open(seg_path(12345), O_WRONLY | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, g, len), (ssize_t)len);
    ck_assert_int_eq(write(fd, g, 10), 10); /* a torn second record */
    close(fd);
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 0), 0);
    ck_assert_uint_eq(hm_meta_log_last_index(log), 12345);
    ck_assert_uint_eq(hm_meta_log_last_term(log), 3);
    ck_assert_int_eq(file_size(seg_path(12345)), (off_t)len);
    golden_seen seen = {0};
    ck_assert_int_eq(hm_meta_log_iterate(log, 0, golden_fn, &seen), 0);
    ck_assert_uint_eq(seen.n, 1);
    ck_assert_uint_eq(seen.index[0], 12345);
    hm_meta_log_rec r = {.term = 3, .index = 12346, .payload = "next", .len = 4};
    ck_assert_int_eq(hm_meta_log_append(log, &r, 1), 0);
    hm_meta_log_close(log);
    ck_assert_int_eq(file_size(seg_path(12345)), (off_t)len);
    ck_assert_int_eq(access(seg_path(12346), F_OK), 0);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 0), 0);
    memset(&seen, 0, sizeof seen);
    ck_assert_int_eq(hm_meta_log_iterate(log, 0, golden_fn, &seen), 0);
    ck_assert_uint_eq(seen.n, 2);
    ck_assert_uint_eq(seen.index[1], 12346);
    ck_assert_str_eq(seen.payload[1], "next");
    ck_assert_uint_eq(seen.len[0], len - HM_META_LOG_REC_HDR_BYTES);
    ck_assert_mem_eq(seen.payload[0], g + HM_META_LOG_REC_HDR_BYTES, seen.len[0]);
    hm_meta_log_close(log);
    free(g);
}
END_TEST

/* Compaction deletes whole segments whose last index <= the given one,
 * never the segment being appended to; reopen starts at the new first. */
START_TEST(test_compact)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    append_range(log, 1, 120, 4);
    uint64_t tail_first = last_seg_first(log);
    ck_assert_uint_gt(tail_first, 1);
    ck_assert_int_eq(hm_meta_log_compact(log, 0), 0);
    ck_assert_uint_eq(hm_meta_log_first_index(log), 1);
    ck_assert_int_eq(hm_meta_log_compact(log, 50), 0);
    uint64_t first = hm_meta_log_first_index(log);
    ck_assert_uint_gt(first, 1);
    ck_assert_uint_le(first, 51); /* the segment holding 51 stays */
    ck_assert_int_eq(access(seg_path(1), F_OK), -1);
    ck_assert_int_eq(access(seg_path(first), F_OK), 0);
    verify(log, first, 120);
    /* everything applied: only the last segment survives */
    ck_assert_int_eq(hm_meta_log_compact(log, 120), 0);
    ck_assert_uint_eq(hm_meta_log_first_index(log), tail_first);
    ck_assert_uint_eq(hm_meta_log_last_index(log), 120);
    hm_meta_log_close(log);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    ck_assert_uint_eq(hm_meta_log_first_index(log), tail_first);
    verify(log, tail_first, 120);
    append_range(log, 121, 125, 5);
    hm_meta_log_close(log);
}
END_TEST

/* A missing segment between two others is a gap: corruption. */
START_TEST(test_gap_refused)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    append_range(log, 1, 100, 3);
    uint64_t tail_first = last_seg_first(log);
    hm_meta_log_close(log);
    /* remove the segment before the last one */
    uint64_t victim = 0;
    for (uint64_t i = 2; i < tail_first; i++)
        if (access(seg_path(i), F_OK) == 0)
            victim = i;
    ck_assert_uint_gt(victim, 1);
    ck_assert_int_eq(unlink(seg_path(victim)), 0);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), HM_ECORRUPT);
}
END_TEST

/* Hard state: a fresh log reads zeros; saves alternate slots and the
 * newest valid one wins; a damaged newest slot falls back to the older;
 * both damaged is corruption. */
START_TEST(test_hardstate)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    hm_meta_hardstate hs = {1, 1, 1};
    ck_assert_int_eq(hm_meta_log_hardstate_load(log, &hs), 0);
    ck_assert_uint_eq(hs.term, 0);
    ck_assert_uint_eq(hs.commit, 0);
    for (uint64_t i = 1; i <= 5; i++) {
        hm_meta_hardstate w = {.term = i, .vote = 10 + i, .commit = 100 + i};
        ck_assert_int_eq(hm_meta_log_hardstate_save(log, &w), 0);
    }
    hm_meta_log_close(log);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    ck_assert_int_eq(hm_meta_log_hardstate_load(log, &hs), 0);
    ck_assert_uint_eq(hs.term, 5);
    ck_assert_uint_eq(hs.vote, 15);
    ck_assert_uint_eq(hs.commit, 105);
    hm_meta_log_close(log);

    /* seq went 0,1 (init) then 2..6: the newest (6) is slot 0 */
    char p[700];
    snprintf(p, sizeof p, "%s/hardstate", log_dir());
    uint8_t b = 0xAA;
    write_at(p, 20, &b, 1);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), 0);
    ck_assert_int_eq(hm_meta_log_hardstate_load(log, &hs), 0);
    ck_assert_uint_eq(hs.term, 4);
    /* the next save goes to the slot after the newest valid one: the
     * damaged slot 0, which it repairs */
    hm_meta_hardstate w = {.term = 9, .vote = 9, .commit = 9};
    ck_assert_int_eq(hm_meta_log_hardstate_save(log, &w), 0);
    ck_assert_int_eq(hm_meta_log_hardstate_load(log, &hs), 0);
    ck_assert_uint_eq(hs.term, 9);
    hm_meta_log_close(log);

    write_at(p, 20, &b, 1);
    write_at(p, HM_META_LOG_HARDSTATE_SLOT_BYTES + 20, &b, 1);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), SEG_BYTES), HM_ECORRUPT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("meta_log");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_append_reopen);
    tcase_add_test(tc, test_append_invalid);
    tcase_add_test(tc, test_torn_tail_half_record);
    tcase_add_test(tc, test_torn_tail_garbage);
    tcase_add_test(tc, test_corrupt_mid_last_segment);
    tcase_add_test(tc, test_corrupt_earlier_segment);
    tcase_add_test(tc, test_corrupt_huge_length);
    tcase_add_test(tc, test_torn_batch_inner_sector);
    tcase_add_test(tc, test_damage_before_later_batch_refused);
    tcase_add_test(tc, test_acknowledged_tail_refused);
    tcase_add_test(tc, test_golden_segment_v2);
    tcase_add_test(tc, test_format1_segment_readable);
    tcase_add_test(tc, test_compact);
    tcase_add_test(tc, test_gap_refused);
    tcase_add_test(tc, test_hardstate);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
