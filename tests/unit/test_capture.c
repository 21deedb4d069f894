/* Unit tests for the pcap writer: the file header and every record read
 * back byte by byte, long frames cut at 65600 bytes, open failures, and a
 * write failure that leaves the file readable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"

#define FILE_HDR 24
#define REC_HDR 16

struct blob {
    uint8_t *data;
    size_t len;
};

static void make_path(char *path, size_t len)
{
    snprintf(path, len, "/tmp/toysock-capture-%ld-XXXXXX", (long)getpid());
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

static struct blob read_all(const char *path)
{
    struct blob b = {NULL, 0};
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t cap = 0;
    for (;;) {
        if (b.len == cap) {
            cap = cap ? cap * 2 : 4096;
            b.data = realloc(b.data, cap);
            assert_non_null(b.data);
        }
        size_t n = fread(b.data + b.len, 1, cap - b.len, f);
        if (n == 0)
            break;
        b.len += n;
    }
    fclose(f);
    return b;
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint16_t get_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static void fill(uint8_t *buf, size_t len, unsigned salt)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 7 + salt);
}

static void check_file_header(const struct blob *b, uint32_t linktype)
{
    assert_true(b->len >= FILE_HDR);
    assert_int_equal(get_u32(b->data + 0), 0xa1b2c3d4u);
    assert_int_equal(get_u16(b->data + 4), 2);
    assert_int_equal(get_u16(b->data + 6), 4);
    assert_int_equal(get_u32(b->data + 8), 0);
    assert_int_equal(get_u32(b->data + 12), 0);
    assert_int_equal(get_u32(b->data + 16), 262144);
    assert_int_equal(get_u32(b->data + 20), linktype);
}

/* Checks the record at *off against frame (cut to incl bytes) and moves
 * *off past it. */
static void check_record(const struct blob *b, size_t *off, const uint8_t *frame, size_t len,
                         size_t incl, time_t t0, time_t t1)
{
    assert_true(*off + REC_HDR <= b->len);
    const uint8_t *r = b->data + *off;
    uint32_t sec = get_u32(r), usec = get_u32(r + 4);
    assert_true(sec >= (uint32_t)t0 && sec <= (uint32_t)t1);
    assert_true(usec < 1000000);
    assert_int_equal(get_u32(r + 8), incl);
    assert_int_equal(get_u32(r + 12), len);
    assert_true(*off + REC_HDR + incl <= b->len);
    assert_memory_equal(r + REC_HDR, frame, incl);
    *off += REC_HDR + incl;
}

static void test_header_and_records(void **state)
{
    char path[64];
    make_path(path, sizeof(path));
    char err[256] = "";
    time_t t0 = time(NULL);
    struct capture *cap = capture_open(path, 1, err, sizeof(err));
    assert_non_null(cap);

    static uint8_t big[65600];
    uint8_t small[60], mid[1514];
    fill(small, sizeof(small), 1);
    fill(mid, sizeof(mid), 2);
    fill(big, sizeof(big), 3);
    capture_write(cap, small, sizeof(small));
    capture_write(cap, mid, sizeof(mid));
    capture_write(cap, big, sizeof(big));
    capture_write(cap, small, 0); /* an empty record is still a record */
    capture_close(cap);
    time_t t1 = time(NULL);

    struct blob b = read_all(path);
    check_file_header(&b, 1);
    size_t off = FILE_HDR;
    check_record(&b, &off, small, sizeof(small), sizeof(small), t0, t1);
    check_record(&b, &off, mid, sizeof(mid), sizeof(mid), t0, t1);
    check_record(&b, &off, big, sizeof(big), sizeof(big), t0, t1);
    check_record(&b, &off, small, 0, 0, t0, t1);
    assert_int_equal(off, b.len);
    free(b.data);
    unlink(path);
}

/* Frames longer than the largest the stack handles keep their length in
 * orig_len and their first 65600 bytes. */
static void test_long_frame_is_cut(void **state)
{
    char path[64];
    make_path(path, sizeof(path));
    char err[256] = "";
    struct capture *cap = capture_open(path, 101, err, sizeof(err));
    assert_non_null(cap);
    size_t len = 70000;
    uint8_t *frame = malloc(len);
    assert_non_null(frame);
    fill(frame, len, 9);
    capture_write(cap, frame, len);
    capture_close(cap);

    struct blob b = read_all(path);
    check_file_header(&b, 101);
    size_t off = FILE_HDR;
    check_record(&b, &off, frame, len, 65600, 0, time(NULL));
    assert_int_equal(off, b.len);
    free(b.data);
    free(frame);
    unlink(path);
}

static void test_open_fails_cleanly(void **state)
{
    char err[256] = "";
    struct capture *cap =
        capture_open("/nonexistent-toysock-dir/x.pcap", 1, err, sizeof(err));
    assert_null(cap);
    assert_non_null(strstr(err, "TOYSOCK_PCAP"));
    assert_non_null(strstr(err, "/nonexistent-toysock-dir/x.pcap"));

    err[0] = '\0';
    assert_null(capture_open("", 1, err, sizeof(err)));
    assert_true(err[0] != '\0');

    /* A device that refuses every write fails at the header. */
    err[0] = '\0';
    assert_null(capture_open("/dev/full", 1, err, sizeof(err)));
    assert_non_null(strstr(err, "header"));
}

static void test_null_capture_is_ignored(void **state)
{
    uint8_t frame[10] = {0};
    capture_write(NULL, frame, sizeof(frame));
    capture_close(NULL);
}

/* With a file size limit the third record cannot be written whole: it is
 * cut back, later records are skipped or written whole, and the file never
 * ends mid-record. */
static void test_write_failure_keeps_file_readable(void **state)
{
    char path[64];
    make_path(path, sizeof(path));
    char err[256] = "";
    struct capture *cap = capture_open(path, 1, err, sizeof(err));
    assert_non_null(cap);

    struct rlimit old;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = FILE_HDR + 2 * (REC_HDR + 1000) + 500;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

    uint8_t frame[1000];
    fill(frame, sizeof(frame), 5);
    for (int i = 0; i < 4; i++)
        capture_write(cap, frame, sizeof(frame));
    uint8_t tiny[100];
    fill(tiny, sizeof(tiny), 6);
    capture_write(cap, tiny, sizeof(tiny)); /* fits in what is left */

    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_handler);
    capture_close(cap);

    struct blob b = read_all(path);
    check_file_header(&b, 1);
    size_t off = FILE_HDR;
    check_record(&b, &off, frame, sizeof(frame), sizeof(frame), 0, time(NULL));
    check_record(&b, &off, frame, sizeof(frame), sizeof(frame), 0, time(NULL));
    check_record(&b, &off, tiny, sizeof(tiny), sizeof(tiny), 0, time(NULL));
    assert_int_equal(off, b.len);
    free(b.data);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_records),
        cmocka_unit_test(test_long_frame_is_cut),
        cmocka_unit_test(test_open_fails_cleanly),
        cmocka_unit_test(test_null_capture_is_ignored),
        cmocka_unit_test(test_write_failure_keeps_file_readable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
