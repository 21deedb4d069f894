/* The long tier of the transfer tests, checked byte by byte and by
 * SHA-256:
 * - 100 MB each way at once over a wire with 5% loss, 1% duplication, 5%
 *   reordering and 0.1% corruption, over ten seeds;
 * - 256 MB each way over that wire with 2 ms +- 1 ms of delay;
 * - 1 GiB each way on a clean wire.
 * Skipped unless TOYSOCK_TEST_LONG=1 (scripts/test --long); registered
 * under the `long` label. About five minutes in a Debug build. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sim.h"

#define MB (1024ull * 1024)
#define LONG_BYTES (100 * MB)
#define GIB (1024 * MB)
#define LONG_SEEDS 10

static bool long_enabled(void)
{
    const char *v = getenv("TOYSOCK_TEST_LONG");
    return v != NULL && strcmp(v, "1") == 0;
}

static void run_one(const char *impair, uint64_t bytes, uint64_t seed)
{
    struct sim_transfer t = {
        .impair = impair, .bytes_ab = bytes, .bytes_ba = bytes + seed, .seed = seed};
    bool ok = sim_transfer_run(&t);
    printf("  %s seed %" PRIu64 ": %s, %" PRIu64 ".%06" PRIu64 " s virtual, retransmits A %" PRIu64
           " B %" PRIu64 "\n",
           impair != NULL ? impair : "clean", seed, ok ? "ok" : t.why, t.virtual_us / 1000000,
           t.virtual_us % 1000000, t.stats_a.tcp_tx_retransmits, t.stats_b.tcp_tx_retransmits);
    fflush(stdout);
    assert_true(ok);
}

static void test_long_clean(void **state)
{
    (void)state;
    if (!long_enabled())
        skip();
    run_one(NULL, GIB, 100);
}

static void test_long_impaired_delay_256mb(void **state)
{
    (void)state;
    if (!long_enabled())
        skip();
    run_one("loss=5,dup=1,reorder=5,corrupt=0.1,delay=2,jitter=1,seed=11", 256 * MB, 11);
}

static void test_long_impaired_sweep(void **state)
{
    (void)state;
    if (!long_enabled())
        skip();
    for (uint64_t seed = 1; seed <= LONG_SEEDS; seed++) {
        char spec[128];
        snprintf(spec, sizeof(spec), "loss=5,dup=1,reorder=5,corrupt=0.1,seed=%" PRIu64, seed);
        run_one(spec, LONG_BYTES, seed);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_long_clean),
        cmocka_unit_test(test_long_impaired_sweep),
        cmocka_unit_test(test_long_impaired_delay_256mb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
