/* Byte-exact TCP transfers between two stacks on the simulator, checked
 * byte by byte and by SHA-256:
 * - a clean wire: instant (zero latency), and with 5 ms each way, where
 *   nothing may be retransmitted;
 * - 5% loss, 1% duplication, 5% reordering and 0.1% corruption over a
 *   sweep of seeds, both directions at once (one seed with delay too).
 * Each transfer ends with FIN both ways, close, and TIME_WAIT running out,
 * after which no connection may remain. test_long_transfer.c has the long
 * tier.
 *
 * Sizes are the default tier's (the whole sim label stays within a few
 * minutes on two cores in a Debug build; smaller under sanitizers).
 * TOYSOCK_SIM_MB overrides the per-direction size. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>

#include "sim.h"

#define MB (1024ull * 1024)
#define IMPAIRED "loss=5,dup=1,reorder=5,corrupt=0.1"

static uint64_t size_mb(uint64_t dflt)
{
    const char *v = getenv("TOYSOCK_SIM_MB");
    if (v != NULL && *v != '\0') {
        unsigned long long n = strtoull(v, NULL, 10);
        if (n > 0)
            return n * MB;
    }
    return dflt * MB;
}

static void report(const char *name, const struct sim_transfer *t)
{
    printf("  %s: A->B %" PRIu64 " B, B->A %" PRIu64 " B in %" PRIu64 ".%06" PRIu64
           " s virtual; retransmits A %" PRIu64 " B %" PRIu64 ", timeouts A %" PRIu64 " B %" PRIu64
           ", fast retransmits A %" PRIu64 " B %" PRIu64 "; wire dropped %" PRIu64 " dup %" PRIu64
           " reordered %" PRIu64 " corrupted %" PRIu64 "\n",
           name, t->bytes_ab, t->bytes_ba, t->virtual_us / 1000000, t->virtual_us % 1000000,
           t->stats_a.tcp_tx_retransmits, t->stats_b.tcp_tx_retransmits, t->stats_a.tcp_timeouts,
           t->stats_b.tcp_timeouts, t->stats_a.tcp_fast_retransmits,
           t->stats_b.tcp_fast_retransmits, t->stats_a.impair_dropped, t->stats_a.impair_duplicated,
           t->stats_a.impair_reordered, t->stats_a.impair_corrupted);
    fflush(stdout);
}

static void test_clean_small(void **state)
{
    (void)state;
    /* Odd sizes: not multiples of the MSS or of the buffer. */
    struct sim_transfer t = {.bytes_ab = 100003, .bytes_ba = 1, .seed = 1};
    bool ok = sim_transfer_run(&t);
    report("clean small", &t);
    assert_true(ok);
}

static void test_clean_one_way(void **state)
{
    (void)state;
    struct sim_transfer t = {.bytes_ab = size_mb(16), .seed = 2};
    bool ok = sim_transfer_run(&t);
    report("clean A->B", &t);
    assert_true(ok);
}

static void test_clean_both_ways(void **state)
{
    (void)state;
    struct sim_transfer t = {.bytes_ab = size_mb(16), .bytes_ba = size_mb(16) + 12345, .seed = 3};
    bool ok = sim_transfer_run(&t);
    report("clean both ways", &t);
    assert_true(ok);
}

static void test_clean_delay(void **state)
{
    (void)state;
    /* RTT 10 ms: the congestion window and RTT estimator at work; nothing
     * is lost or reordered, so nothing may be retransmitted. */
    struct sim_transfer t = {
        .impair = "delay=5", .bytes_ab = size_mb(16), .bytes_ba = size_mb(4), .seed = 4};
    bool ok = sim_transfer_run(&t);
    report("clean, 5 ms each way", &t);
    assert_true(ok);
    assert_true(t.info_a.rtt >= 9000 && t.info_a.rtt <= 12000);
    assert_int_equal(t.stats_a.tcp_tx_retransmits, 0);
    assert_int_equal(t.stats_b.tcp_tx_retransmits, 0);
}

static void impaired_seed(uint64_t seed, const char *extra)
{
    char spec[128];
    snprintf(spec, sizeof(spec), IMPAIRED "%s,seed=%" PRIu64, extra, seed);
    struct sim_transfer t = {
        .impair = spec, .bytes_ab = size_mb(16), .bytes_ba = size_mb(16) + 777, .seed = seed};
    bool ok = sim_transfer_run(&t);
    char name[64];
    snprintf(name, sizeof(name), "impaired%s seed %" PRIu64, extra, seed);
    report(name, &t);
    assert_true(ok);
    /* The wire did hurt. */
    assert_true(t.stats_a.impair_dropped > 0);
    assert_true(t.stats_a.impair_corrupted > 0);
}

static void test_impaired_seed_1(void **state)
{
    (void)state;
    impaired_seed(1, "");
}

static void test_impaired_seed_2(void **state)
{
    (void)state;
    impaired_seed(2, "");
}

static void test_impaired_seed_3(void **state)
{
    (void)state;
    impaired_seed(3, "");
}

static void test_impaired_delay_seed_4(void **state)
{
    (void)state;
    impaired_seed(4, ",delay=2,jitter=1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_small),     cmocka_unit_test(test_clean_one_way),
        cmocka_unit_test(test_clean_both_ways), cmocka_unit_test(test_clean_delay),
        cmocka_unit_test(test_impaired_seed_1), cmocka_unit_test(test_impaired_seed_2),
        cmocka_unit_test(test_impaired_seed_3), cmocka_unit_test(test_impaired_delay_seed_4),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
