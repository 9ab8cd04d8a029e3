/* test_meta_log.c - the metadata log (hamster-meta/hm_meta_log.c): append
 * and reopen across segments, torn tails truncated, corruption refused,
 * prefix compaction, and the double-buffered hard state. */
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

/* Garbage after the last record, and a whole last record whose payload
 * was torn (CRC mismatch, nothing valid after it), are truncated too. */
START_TEST(test_torn_tail_garbage)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
    append_range(log, 1, 20, 20);
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
 * log is corruption, refused without allocating it. */
START_TEST(test_corrupt_huge_length)
{
    hm_meta_log *log = NULL;
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), 0);
    append_range(log, 1, 10, 10);
    hm_meta_log_close(log);
    const uint8_t huge[4] = {0xF0, 0xFF, 0xFF, 0xFF};
    write_at(seg_path(1), 0, huge, sizeof huge);
    ck_assert_int_eq(hm_meta_log_open(&log, env, log_dir(), 1u << 20), HM_ECORRUPT);
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
