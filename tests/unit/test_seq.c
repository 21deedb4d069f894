/* Sequence number comparisons modulo 2^32, across the wrap and at the 2^31
 * boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "wire/tcp_seq.h"

struct rng {
    uint64_t s;
};

static uint32_t rng_u32(struct rng *g)
{
    /* xorshift64* */
    g->s ^= g->s >> 12;
    g->s ^= g->s << 25;
    g->s ^= g->s >> 27;
    return (uint32_t)((g->s * 0x2545f4914f6cdd1dull) >> 32);
}

static void test_plain_order(void **state)
{
    (void)state;
    assert_true(seq_lt(1, 2));
    assert_false(seq_lt(2, 1));
    assert_false(seq_lt(5, 5));
    assert_true(seq_leq(5, 5));
    assert_true(seq_leq(4, 5));
    assert_false(seq_leq(6, 5));
    assert_true(seq_gt(2, 1));
    assert_false(seq_gt(1, 2));
    assert_false(seq_gt(5, 5));
    assert_true(seq_geq(5, 5));
    assert_true(seq_geq(6, 5));
    assert_false(seq_geq(4, 5));
    assert_int_equal(seq_max(3, 9), 9);
    assert_int_equal(seq_min(3, 9), 3);
    assert_int_equal(seq_max(9, 3), 9);
    assert_int_equal(seq_min(9, 3), 3);
}

static void test_across_wrap(void **state)
{
    (void)state;
    /* 0xfffffff0 comes 0x20 before 0x10. */
    uint32_t before = 0xfffffff0u, after = 0x10u;
    assert_true(seq_lt(before, after));
    assert_true(seq_leq(before, after));
    assert_false(seq_gt(before, after));
    assert_false(seq_geq(before, after));
    assert_true(seq_gt(after, before));
    assert_true(seq_geq(after, before));
    assert_false(seq_lt(after, before));
    assert_false(seq_leq(after, before));
    assert_int_equal(seq_max(before, after), after);
    assert_int_equal(seq_max(after, before), after);
    assert_int_equal(seq_min(before, after), before);
    assert_int_equal(seq_min(after, before), before);
    assert_int_equal(seq_diff(after, before), 0x20);
    assert_int_equal(seq_diff(before, after), -0x20);

    assert_true(seq_lt(0xffffffffu, 0));
    assert_true(seq_gt(0, 0xffffffffu));
    assert_int_equal(seq_diff(0, 0xffffffffu), 1);
    assert_int_equal(seq_diff(0xffffffffu, 0), -1);

    /* Plain < gets these wrong; every step across the wrap is forward. */
    uint32_t s = 0xfffffffau;
    for (int i = 0; i < 12; i++, s++) {
        assert_true(seq_lt(s, s + 1));
        assert_true(seq_gt(s + 1, s));
        assert_true(seq_lt(s, s + 1000));
        assert_int_equal(seq_diff(s + 1000, s), 1000);
    }
}

static void test_half_space_boundary(void **state)
{
    (void)state;
    uint32_t a = 12345;
    /* Just under half the space ahead: after. */
    assert_true(seq_lt(a, a + 0x7fffffffu));
    assert_false(seq_lt(a + 0x7fffffffu, a));
    assert_int_equal(seq_diff(a + 0x7fffffffu, a), INT32_MAX);
    assert_int_equal(seq_diff(a, a + 0x7fffffffu), -INT32_MAX);
    /* Just over half: behind. */
    assert_true(seq_gt(a, a + 0x80000001u));
    assert_int_equal(seq_diff(a + 0x80000001u, a), -INT32_MAX);
    /* Exactly half: each is before the other, as with (int32_t)(a - b). */
    assert_true(seq_lt(a, a + 0x80000000u));
    assert_true(seq_lt(a + 0x80000000u, a));
    assert_int_equal(seq_diff(a + 0x80000000u, a), INT32_MIN);
    assert_int_equal(seq_diff(a, a + 0x80000000u), INT32_MIN);
    assert_int_equal(seq_diff(0x80000000u, 0), INT32_MIN);
}

static void test_in_window(void **state)
{
    (void)state;
    /* [0xfffffff0, 0xfffffff0 + 0x20) wraps through 0. */
    uint32_t start = 0xfffffff0u, len = 0x20;
    assert_true(seq_in_window(start, start, len));
    assert_true(seq_in_window(0xffffffffu, start, len));
    assert_true(seq_in_window(0, start, len));
    assert_true(seq_in_window(0x0f, start, len));
    assert_false(seq_in_window(0x10, start, len)); /* one past the end */
    assert_false(seq_in_window(start - 1, start, len));
    assert_false(seq_in_window(0x80000000u, start, len));

    /* An empty window holds nothing, not even its start. */
    assert_false(seq_in_window(start, start, 0));
    assert_false(seq_in_window(0, 0, 0));

    /* One-byte window. */
    assert_true(seq_in_window(7, 7, 1));
    assert_false(seq_in_window(8, 7, 1));
    assert_false(seq_in_window(6, 7, 1));

    /* The largest window holds everything but the number just before it. */
    assert_true(seq_in_window(start + 0xfffffffeu, start, 0xffffffffu));
    assert_false(seq_in_window(start - 1, start, 0xffffffffu));
}

static void test_random_consistency(void **state)
{
    (void)state;
    struct rng g = {0x243f6a8885a308d3ull};
    for (int i = 0; i < 200000; i++) {
        uint32_t a = rng_u32(&g), b = rng_u32(&g), k = rng_u32(&g);
        /* Small distances too, where wrap bugs hide. */
        if (i & 1)
            b = a + (rng_u32(&g) & 0xff) - 0x80;
        int32_t d = seq_diff(a, b);
        assert_int_equal(a - b, (uint32_t)d);
        if (a - b != 0x80000000u) {
            assert_int_equal(seq_lt(a, b), d < 0);
            assert_int_equal(seq_gt(a, b), d > 0);
            assert_true(seq_lt(a, b) != seq_lt(b, a) || a == b);
            assert_int_equal(seq_lt(a, b), seq_gt(b, a));
            assert_int_equal(seq_leq(a, b), !seq_gt(a, b));
            assert_int_equal(seq_geq(a, b), !seq_lt(a, b));
            assert_int_equal(seq_diff(b, a), -d);
            /* in_window agrees with the comparisons for windows under 2^31. */
            uint32_t len = k >> 1;
            bool in = seq_in_window(a, b, len);
            assert_int_equal(in, seq_geq(a, b) && seq_lt(a, b + len));
        }
        /* Translation invariance: only the distance matters. */
        assert_int_equal(seq_lt(a + k, b + k), seq_lt(a, b));
        assert_int_equal(seq_leq(a + k, b + k), seq_leq(a, b));
        assert_int_equal(seq_diff(a + k, b + k), d);
        assert_int_equal(seq_max(a + k, b + k), seq_max(a, b) + k);
        assert_int_equal(seq_min(a + k, b + k), seq_min(a, b) + k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_order),
        cmocka_unit_test(test_across_wrap),
        cmocka_unit_test(test_half_space_boundary),
        cmocka_unit_test(test_in_window),
        cmocka_unit_test(test_random_consistency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
