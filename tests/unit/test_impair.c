/* Unit tests for impairment: the spec grammar (good and bad, with the key
 * named in the reason), then frames pushed through impair_frame on one end
 * of a vwire and read from the other end: rates within loose bounds of the
 * percentages, the same seed giving the same run, delay and jitter holding
 * frames until the stack's timers run at a later time, reordering that
 * changes the order but not the multiset, and the queue bound. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "driver.h"
#include "impair.h"
#include "netif.h"
#include "stack.h"

#define T0 1000000u /* the clock when a rig starts, in microseconds */
#define FRAME_LEN 64
#define OFF_ID 14      /* the frame's number, after the Ethernet header */
#define OFF_ID_COPY 18 /* the same again, so a flipped bit cannot hide it */

/* Two stacks over a vwire; impairment on a's end. */
struct rig {
    struct stack *a, *b;
    struct netif *na, *nb;
    struct impair *imp;
};

static void rig_open(struct rig *r, const char *spec)
{
    r->a = stack_create(NULL, 21);
    r->b = stack_create(NULL, 22);
    assert_non_null(r->a);
    assert_non_null(r->b);
    r->a->log_fd = r->b->log_fd = -1;
    assert_int_equal(vwire_open_pair(r->a, r->b, &r->na, &r->nb), 0);
    char err[160] = "";
    r->imp = impair_create(r->a, r->na, spec, err, sizeof(err));
    if (r->imp == NULL)
        fail_msg("impair_create(\"%s\"): %s", spec, err);
    r->na->impair = r->imp;
    r->a->now_us = T0;
    r->b->now_us = T0;
}

static void rig_close(struct rig *r)
{
    /* netif_destroy frees the impairment with whatever it still holds. */
    stack_destroy(r->a);
    stack_destroy(r->b);
}

/* A frame to nobody (so the receiving stack drops it as not for us),
 * numbered, the rest a pattern derived from the number. */
static void frame_make(uint8_t *f, size_t len, uint32_t id)
{
    static const uint8_t hdr[14] = {0x02, 0, 0, 0, 0, 0x99, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00};
    memcpy(f, hdr, sizeof(hdr));
    memcpy(f + OFF_ID, &id, 4);
    memcpy(f + OFF_ID_COPY, &id, 4);
    for (size_t i = OFF_ID_COPY + 4; i < len; i++)
        f[i] = (uint8_t)(i * 31 + id * 7);
}

static void push(struct rig *r, enum impair_dir dir, uint32_t id, size_t len)
{
    uint8_t f[FRAME_LEN];
    assert_true(len <= sizeof(f));
    frame_make(f, len, id);
    impair_frame(r->imp, dir, f, len);
}

static unsigned bit_distance(const uint8_t *x, const uint8_t *y, size_t len)
{
    unsigned d = 0;
    for (size_t i = 0; i < len; i++)
        d += (unsigned)__builtin_popcount((unsigned)(x[i] ^ y[i]));
    return d;
}

/* What came out of the wire: frame numbers in arrival order, and how many
 * arrived with exactly one bit flipped. */
struct seen {
    uint32_t *ids;
    size_t count, cap;
    unsigned corrupted;
    uint64_t hash; /* of every byte received, in order */
};

static void seen_init(struct seen *s, size_t cap)
{
    s->ids = calloc(cap, sizeof(*s->ids));
    assert_non_null(s->ids);
    s->count = 0;
    s->cap = cap;
    s->corrupted = 0;
    s->hash = 1469598103934665603ull;
}

/* Reads everything waiting at b's end. Each frame must be one we sent,
 * untouched or with exactly one bit flipped. */
static void drain(struct rig *r, struct seen *s)
{
    static uint8_t buf[STACK_RX_BUF];
    ssize_t n;
    while ((n = r->nb->ops->recv(r->nb, buf, sizeof(buf))) > 0) {
        assert_int_equal(n, FRAME_LEN);
        for (ssize_t i = 0; i < n; i++)
            s->hash = (s->hash ^ buf[i]) * 1099511628211ull;
        uint32_t id0, id1;
        memcpy(&id0, buf + OFF_ID, 4);
        memcpy(&id1, buf + OFF_ID_COPY, 4);
        uint8_t want[FRAME_LEN];
        frame_make(want, FRAME_LEN, id0);
        unsigned d = bit_distance(buf, want, FRAME_LEN);
        uint32_t id = id0;
        if (d > 1) {
            frame_make(want, FRAME_LEN, id1);
            d = bit_distance(buf, want, FRAME_LEN);
            id = id1;
        }
        assert_true(d <= 1);
        s->corrupted += d;
        assert_true(s->count < s->cap);
        s->ids[s->count++] = id;
    }
}

/* Pushes n frames through TX, draining as it goes (the wire holds 4096). */
static void push_many(struct rig *r, struct seen *s, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        push(r, IMPAIR_TX, i, FRAME_LEN);
        if (i % 1000 == 999)
            drain(r, s);
    }
    /* A frame still held back for reordering goes on after a while. */
    stack_run(r->a, r->a->now_us + 60u * 1000 * 1000);
    drain(r, s);
}

static bool ids_in_order(const struct seen *s)
{
    for (size_t i = 1; i < s->count; i++)
        if (s->ids[i] < s->ids[i - 1])
            return false;
    return true;
}

/* --- the grammar ----------------------------------------------------------- */

static void test_parse_good(void **state)
{
    static const char *const good[] = {
        "",
        "loss=0",
        "loss=100",
        "loss=0.1",
        "corrupt=0.0001",
        "loss=10.50000",
        "delay=5,jitter=1",
        "delay=0.25",
        "delay=60000",
        "loss=2,dup=1,reorder=5,delay=5,jitter=1,corrupt=0.1,seed=7",
        "seed=0",
        "seed=18446744073709551615",
        "loss=2,",
        "dup=3,,reorder=4",
        "delay=5ms,jitter=1ms", /* the spelling */
    };
    struct stack *st = stack_create(NULL, 1);
    assert_non_null(st);
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char err[160] = "";
        struct impair *imp = impair_create(st, NULL, good[i], err, sizeof(err));
        if (imp == NULL)
            fail_msg("\"%s\" rejected: %s", good[i], err);
        impair_destroy(imp);
    }
    stack_destroy(st);
}

static void test_parse_bad(void **state)
{
    static const struct {
        const char *spec;
        const char *words[2]; /* each must appear in the reason */
    } bad[] = {
        {"loss", {"loss", "'='"}},
        {"loss=", {"loss", "no value"}},
        {"loss=abc", {"loss", "not a number"}},
        {"loss=-1", {"loss", "negative"}},
        {"loss=101", {"loss", "0 to 100"}},
        {"loss=100.0001", {"loss", "0 to 100"}},
        {"loss=5x", {"loss", "junk"}},
        {"loss=5%", {"loss", "junk"}},
        {"loss=1.2.3", {"loss", "junk"}},
        {"loss=0.00001", {"loss", "decimals"}},
        {"loss=.", {"loss", "not a number"}},
        {"loss=1.", {"loss", "not a number"}},
        {"dup=+1", {"dup", "not a number"}},
        {"reorder=200", {"reorder", "0 to 100"}},
        {"corrupt=-0.1", {"corrupt", "negative"}},
        {"delay=-5", {"delay", "negative"}},
        {"delay=60001", {"delay", "60000"}},
        {"jitter=1e3", {"jitter", "junk"}},
        {"jitter=0.0001", {"jitter", "decimals"}},
        {"seed=-1", {"seed", "negative"}},
        {"seed=1.5", {"seed", "whole"}},
        {"seed=18446744073709551616", {"seed", "range"}},
        {"bogus=1", {"bogus", "unknown key"}},
        {"Loss=1", {"Loss", "unknown key"}},
        {" loss=1", {"loss", "unknown key"}},
        {"loss=1,loss=2", {"loss", "twice"}},
        {"loss=1,delay", {"delay", "'='"}},
        {"=5", {"unknown key", ""}},
    };
    struct stack *st = stack_create(NULL, 1);
    assert_non_null(st);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[160] = "";
        struct impair *imp = impair_create(st, NULL, bad[i].spec, err, sizeof(err));
        if (imp != NULL)
            fail_msg("\"%s\" accepted", bad[i].spec);
        for (int w = 0; w < 2; w++)
            if (strstr(err, bad[i].words[w]) == NULL)
                fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", bad[i].spec, err,
                         bad[i].words[w]);
    }
    stack_destroy(st);
}

/* --- rates ------------------------------------------------------------------ */

static void test_no_faults(void **state)
{
    struct rig r;
    rig_open(&r, "");
    struct seen s;
    seen_init(&s, 10000);
    for (uint32_t i = 0; i < 3000; i++)
        push(&r, IMPAIR_TX, i, FRAME_LEN);
    drain(&r, &s); /* no timer needed: frames pass at once */
    assert_int_equal(s.count, 3000);
    assert_true(ids_in_order(&s));
    assert_int_equal(s.corrupted, 0);
    assert_int_equal(r.a->stats.impair_delayed, 0);
    free(s.ids);
    rig_close(&r);
}

static void test_loss_rate(void **state)
{
    struct rig r;
    rig_open(&r, "loss=10,seed=3");
    struct seen s;
    seen_init(&s, 20000);
    push_many(&r, &s, 10000);
    size_t lost = 10000 - s.count;
    assert_in_range(lost, 800, 1200);
    assert_int_equal(r.a->stats.impair_dropped, lost);
    assert_true(ids_in_order(&s));
    assert_int_equal(s.corrupted, 0);
    free(s.ids);
    rig_close(&r);
}

static void test_loss_all_and_none(void **state)
{
    struct rig r;
    rig_open(&r, "loss=100");
    struct seen s;
    seen_init(&s, 2000);
    push_many(&r, &s, 1000);
    assert_int_equal(s.count, 0);
    assert_int_equal(r.a->stats.impair_dropped, 1000);
    free(s.ids);
    rig_close(&r);
}

static void test_dup_rate(void **state)
{
    struct rig r;
    rig_open(&r, "dup=10,seed=4");
    struct seen s;
    seen_init(&s, 20000);
    push_many(&r, &s, 10000);
    size_t extra = s.count - 10000;
    assert_in_range(extra, 800, 1200);
    assert_int_equal(r.a->stats.impair_duplicated, extra);
    /* Every frame once or twice, copies side by side. */
    assert_true(ids_in_order(&s));
    size_t next = 0;
    for (size_t i = 0; i < s.count; i++) {
        if (i > 0 && s.ids[i] == s.ids[i - 1])
            continue;
        assert_int_equal(s.ids[i], next);
        next++;
    }
    assert_int_equal(next, 10000);
    free(s.ids);
    rig_close(&r);
}

static void test_corrupt_rate(void **state)
{
    struct rig r;
    rig_open(&r, "corrupt=10,seed=5");
    struct seen s;
    seen_init(&s, 20000);
    push_many(&r, &s, 10000);
    assert_int_equal(s.count, 10000);
    assert_in_range(s.corrupted, 800, 1200);
    assert_int_equal(r.a->stats.impair_corrupted, s.corrupted);
    free(s.ids);
    rig_close(&r);
}

static void test_combined_rates(void **state)
{
    struct rig r;
    rig_open(&r, "loss=2,dup=1,reorder=5,corrupt=0.1,seed=7");
    struct seen s;
    seen_init(&s, 20000);
    push_many(&r, &s, 10000);
    assert_in_range(r.a->stats.impair_dropped, 120, 280);
    assert_in_range(r.a->stats.impair_duplicated, 50, 150);
    assert_in_range(r.a->stats.impair_reordered, 350, 650);
    assert_in_range(r.a->stats.impair_corrupted, 1, 30);
    assert_int_equal(s.count, 10000 - r.a->stats.impair_dropped + r.a->stats.impair_duplicated);
    free(s.ids);
    rig_close(&r);
}

/* One run's output: its hash and counters. */
static void run_once(const char *spec, uint64_t *hash, struct stack_stats *stats)
{
    struct rig r;
    rig_open(&r, spec);
    struct seen s;
    seen_init(&s, 20000);
    push_many(&r, &s, 5000);
    *hash = s.hash;
    *stats = r.a->stats;
    free(s.ids);
    rig_close(&r);
}

static void test_same_seed_same_run(void **state)
{
    const char *spec = "loss=5,dup=5,reorder=5,corrupt=5,seed=42";
    uint64_t h1, h2, h3;
    struct stack_stats s1, s2, s3;
    run_once(spec, &h1, &s1);
    run_once(spec, &h2, &s2);
    assert_true(h1 == h2);
    assert_memory_equal(&s1, &s2, sizeof(s1));
    run_once("loss=5,dup=5,reorder=5,corrupt=5,seed=43", &h3, &s3);
    assert_true(h1 != h3);
    /* No seed means seed 1, every time. */
    run_once("loss=5,reorder=5", &h1, &s1);
    run_once("loss=5,reorder=5,seed=1", &h2, &s2);
    assert_true(h1 == h2);
}

/* --- time ------------------------------------------------------------------- */

static void test_delay_holds_frames(void **state)
{
    struct rig r;
    rig_open(&r, "delay=10");
    struct seen s;
    seen_init(&s, 200);
    for (uint32_t i = 0; i < 50; i++)
        push(&r, IMPAIR_TX, i, FRAME_LEN);
    r.a->now_us = T0 + 3000;
    for (uint32_t i = 50; i < 100; i++)
        push(&r, IMPAIR_TX, i, FRAME_LEN);
    assert_int_equal(r.a->stats.impair_delayed, 100);
    drain(&r, &s);
    assert_int_equal(s.count, 0);
    assert_int_equal(timer_next_deadline(&r.a->timers), T0 + 10000);

    stack_run(r.a, T0 + 9999);
    drain(&r, &s);
    assert_int_equal(s.count, 0);
    uint64_t next = stack_run(r.a, T0 + 10000);
    drain(&r, &s);
    assert_int_equal(s.count, 50);
    assert_int_equal(next, T0 + 13000);
    stack_run(r.a, T0 + 12999);
    drain(&r, &s);
    assert_int_equal(s.count, 50);
    /* A timer run directly, ahead of the stack's clock, releases too. */
    timer_run_expired(r.a, T0 + 20000);
    drain(&r, &s);
    assert_int_equal(s.count, 100);
    assert_true(ids_in_order(&s));
    assert_int_equal(timer_next_deadline(&r.a->timers), TIME_NEVER);
    free(s.ids);
    rig_close(&r);
}

static void test_jitter_bounds(void **state)
{
    struct rig r;
    rig_open(&r, "delay=10,jitter=5,seed=9");
    struct seen s;
    seen_init(&s, 2000);
    for (uint32_t i = 0; i < 1000; i++)
        push(&r, IMPAIR_TX, i, FRAME_LEN);
    stack_run(r.a, T0 + 4999);
    drain(&r, &s);
    assert_int_equal(s.count, 0);
    stack_run(r.a, T0 + 10000);
    drain(&r, &s);
    assert_in_range(s.count, 350, 650); /* about half by the mean */
    stack_run(r.a, T0 + 15000);
    drain(&r, &s);
    assert_int_equal(s.count, 1000);
    /* Every frame exactly once. */
    uint8_t *hit = calloc(1000, 1);
    assert_non_null(hit);
    for (size_t i = 0; i < s.count; i++) {
        assert_true(s.ids[i] < 1000);
        assert_int_equal(hit[s.ids[i]]++, 0);
    }
    free(hit);
    free(s.ids);
    rig_close(&r);
}

static void test_jitter_beyond_delay(void **state)
{
    struct rig r;
    rig_open(&r, "jitter=5,seed=2");
    struct seen s;
    seen_init(&s, 2000);
    for (uint32_t i = 0; i < 1000; i++)
        push(&r, IMPAIR_TX, i, FRAME_LEN);
    /* Half the draws fall before now: those go at the next turn. */
    stack_run(r.a, T0);
    drain(&r, &s);
    assert_in_range(s.count, 400, 600);
    stack_run(r.a, T0 + 5000);
    drain(&r, &s);
    assert_int_equal(s.count, 1000);
    free(s.ids);
    rig_close(&r);
}

static void test_reorder(void **state)
{
    struct rig r;
    rig_open(&r, "reorder=20,seed=6");
    struct seen s;
    seen_init(&s, 2000);
    push_many(&r, &s, 1000);
    assert_int_equal(s.count, 1000);
    assert_false(ids_in_order(&s));
    assert_in_range(r.a->stats.impair_reordered, 120, 240);
    /* A held frame comes right after the one that overtook it. */
    unsigned swaps = 0;
    for (size_t i = 0; i + 1 < s.count; i++) {
        if (s.ids[i] > s.ids[i + 1]) {
            assert_int_equal(s.ids[i], s.ids[i + 1] + 1);
            swaps++;
        }
    }
    /* Each hold is one swap, except a last frame held with nothing after
     * it, which the timer lets go in place. */
    assert_true(swaps <= r.a->stats.impair_reordered);
    assert_true(swaps + 1 >= r.a->stats.impair_reordered);
    uint8_t hit[1000] = {0};
    for (size_t i = 0; i < s.count; i++)
        assert_int_equal(hit[s.ids[i]]++, 0);
    free(s.ids);
    rig_close(&r);
}

/* A frame held back with no frame after it goes on after 1 ms, then takes
 * its delay. */
static void test_reorder_lonely_frame(void **state)
{
    struct rig r;
    rig_open(&r, "reorder=100,delay=5");
    struct seen s;
    seen_init(&s, 10);
    push(&r, IMPAIR_TX, 7, FRAME_LEN);
    assert_int_equal(r.a->stats.impair_reordered, 1);
    stack_run(r.a, T0 + 999);
    drain(&r, &s);
    assert_int_equal(s.count, 0);
    stack_run(r.a, T0 + 1000);
    assert_int_equal(r.a->stats.impair_delayed, 1);
    stack_run(r.a, T0 + 5999);
    drain(&r, &s);
    assert_int_equal(s.count, 0);
    stack_run(r.a, T0 + 6000);
    drain(&r, &s);
    assert_int_equal(s.count, 1);
    assert_int_equal(s.ids[0], 7);
    free(s.ids);
    rig_close(&r);
}

static void test_delay_queue_bound(void **state)
{
    struct rig r;
    rig_open(&r, "delay=100");
    for (uint32_t i = 0; i < 9000; i++)
        push(&r, IMPAIR_TX, i, FRAME_LEN);
    assert_int_equal(r.a->stats.impair_delayed, 8192);
    assert_int_equal(r.a->stats.impair_dropped, 9000 - 8192);
    /* Destroyed with the queue full: ASan checks nothing leaks. */
    rig_close(&r);
}

static void test_delay_queue_byte_bound(void **state)
{
    struct rig r;
    rig_open(&r, "delay=100");
    size_t len = 60000;
    uint8_t *f = calloc(1, len);
    assert_non_null(f);
    for (uint32_t i = 0; i < 600; i++)
        impair_frame(r.imp, IMPAIR_TX, f, len);
    size_t fit = (32u * 1024 * 1024) / len;
    assert_int_equal(r.a->stats.impair_delayed, fit);
    assert_int_equal(r.a->stats.impair_dropped, 600 - fit);
    /* Released, they fill the wire (4096 frames fit, bytes permitting). */
    stack_run(r.a, T0 + 100000);
    assert_int_equal(r.a->stats.link_tx_frames + r.a->stats.link_tx_errors, fit);
    free(f);
    rig_close(&r);
}

/* RX frames reach a's protocols (which drop these as not for us), on their
 * own queue: TX timing is unaffected. */
static void test_rx_direction(void **state)
{
    struct rig r;
    rig_open(&r, "delay=5");
    struct seen s;
    seen_init(&s, 10);
    push(&r, IMPAIR_RX, 1, FRAME_LEN);
    push(&r, IMPAIR_RX, 2, FRAME_LEN);
    r.a->now_us = T0 + 2000;
    push(&r, IMPAIR_TX, 3, FRAME_LEN);
    assert_int_equal(r.a->stats.ether_drop_not_for_us, 0);
    stack_run(r.a, T0 + 5000);
    assert_int_equal(r.a->stats.ether_drop_not_for_us, 2);
    drain(&r, &s);
    assert_int_equal(s.count, 0);
    stack_run(r.a, T0 + 7000);
    drain(&r, &s);
    assert_int_equal(s.count, 1);
    assert_int_equal(r.a->stats.ether_drop_not_for_us, 2);
    free(s.ids);
    rig_close(&r);

    rig_open(&r, "loss=100");
    for (uint32_t i = 0; i < 100; i++)
        push(&r, IMPAIR_RX, i, FRAME_LEN);
    assert_int_equal(r.a->stats.impair_dropped, 100);
    assert_int_equal(r.a->stats.ether_drop_not_for_us, 0);
    rig_close(&r);
}

/* Frames in the netif's own path: netif_poll reads from the wire, and
 * impairment on b's end applies to what b receives. */
static void test_through_netif_poll(void **state)
{
    struct rig r;
    rig_open(&r, "");
    char err[160];
    struct impair *imp_b = impair_create(r.b, r.nb, "delay=1", err, sizeof(err));
    assert_non_null(imp_b);
    r.nb->impair = imp_b;
    for (uint32_t i = 0; i < 10; i++)
        push(&r, IMPAIR_TX, i, FRAME_LEN);
    stack_run(r.b, T0);
    assert_int_equal(r.b->stats.link_rx_frames, 10);
    assert_int_equal(r.b->stats.impair_delayed, 10);
    assert_int_equal(r.b->stats.ether_drop_not_for_us, 0);
    stack_run(r.b, T0 + 1000);
    assert_int_equal(r.b->stats.ether_drop_not_for_us, 10);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_no_faults),
        cmocka_unit_test(test_loss_rate),
        cmocka_unit_test(test_loss_all_and_none),
        cmocka_unit_test(test_dup_rate),
        cmocka_unit_test(test_corrupt_rate),
        cmocka_unit_test(test_combined_rates),
        cmocka_unit_test(test_same_seed_same_run),
        cmocka_unit_test(test_delay_holds_frames),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_jitter_beyond_delay),
        cmocka_unit_test(test_reorder),
        cmocka_unit_test(test_reorder_lonely_frame),
        cmocka_unit_test(test_delay_queue_bound),
        cmocka_unit_test(test_delay_queue_byte_bound),
        cmocka_unit_test(test_rx_direction),
        cmocka_unit_test(test_through_netif_poll),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
