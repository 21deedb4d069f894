/* Congestion control: the initial window (RFC 6928), slow start and
 * congestion avoidance (RFC 5681), reductions on loss and timeout, and
 * CUBIC's curve (RFC 9438): K, regrowth to W_max, the plateau, probing
 * beyond, the Reno-friendly region, application-limited periods. A round
 * trip is simulated as acks spread over the RTT with the window kept full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tcp_cc.h"

#define MSS 1460u

/* One round trip: the window at its start is acknowledged in acks of
 * per_ack bytes (the last one smaller if need be), evenly over rtt_us,
 * while the sender keeps the window full. */
static void run_rtt(struct tcp_cc *cc, uint32_t per_ack, uint32_t rtt_us, uint64_t *now)
{
    uint32_t window = cc->cwnd;
    uint32_t n = (window + per_ack - 1) / per_ack;
    uint64_t start = *now;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t acked = i + 1 < n ? per_ack : window - per_ack * (n - 1);
        *now = start + (uint64_t)rtt_us * (i + 1) / n;
        cc->ops->on_ack(cc, acked, cc->cwnd, rtt_us, *now);
    }
}

/* Runs round trips until at least us microseconds have passed. */
static void run_for(struct tcp_cc *cc, uint32_t rtt_us, uint64_t *now, uint64_t us)
{
    uint64_t end = *now + us;
    while (*now < end)
        run_rtt(cc, MSS, rtt_us, now);
}

static void setup(struct tcp_cc *cc, const char *name, uint32_t mss)
{
    const struct tcp_cc_ops *ops = tcp_cc_find(name);
    assert_non_null(ops);
    tcp_cc_init(cc, ops, mss, 0);
}

/* Puts the connection in congestion avoidance at cwnd bytes, after a
 * loss with the window full (as if cwnd_before had been reached). */
static void after_loss(struct tcp_cc *cc, uint32_t cwnd_before, uint64_t now)
{
    cc->cwnd = cwnd_before;
    cc->ops->on_loss(cc, cwnd_before, now);
    cc->ops->on_recovered(cc, now);
}

static const char *const algorithms[] = {"reno", "cubic"};

static void test_find(void **state)
{
    (void)state;
    const struct tcp_cc_ops *reno = tcp_cc_find("reno");
    const struct tcp_cc_ops *cubic = tcp_cc_find("cubic");
    assert_non_null(reno);
    assert_non_null(cubic);
    assert_string_equal(reno->name, "reno");
    assert_string_equal(cubic->name, "cubic");
    assert_ptr_not_equal(reno, cubic);
    assert_null(tcp_cc_find("bbr"));
    assert_null(tcp_cc_find(""));
    assert_null(tcp_cc_find("Reno"));
    assert_null(tcp_cc_find(NULL));
}

static void test_initial_window(void **state)
{
    (void)state;
    struct tcp_cc cc;
    static const struct {
        uint32_t mss, iw;
    } cases[] = {
        {1460, 14600}, /* 10 segments */
        {536, 5360},   /* 10 segments */
        {1000, 10000}, /* 10 segments */
        {1461, 14600}, /* min(14610, max(2922, 14600)) */
        {4000, 14600}, /* the 14600 byte cap */
        {9000, 18000}, /* 2 segments, jumbo */
        {1, 10},
    };
    for (size_t a = 0; a < 2; a++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            setup(&cc, algorithms[a], cases[i].mss);
            assert_int_equal(cc.cwnd, cases[i].iw);
            assert_int_equal(cc.ssthresh, UINT32_MAX);
            assert_int_equal(cc.mss, cases[i].mss);
        }
    }
}

static void test_slow_start_doubles(void **state)
{
    (void)state;
    struct tcp_cc cc;
    for (size_t a = 0; a < 2; a++) {
        /* An ack per segment, or delayed acks (RFC 3465 L = 2*SMSS keeps
         * the doubling). */
        for (uint32_t per_ack = MSS; per_ack <= 2 * MSS; per_ack += MSS) {
            uint64_t now = 0;
            setup(&cc, algorithms[a], MSS);
            for (int r = 0; r < 8; r++) {
                uint32_t before = cc.cwnd;
                run_rtt(&cc, per_ack, 50000, &now);
                assert_int_equal(cc.cwnd, 2 * before);
            }
            assert_int_equal(cc.cwnd, 14600u << 8);
        }
        /* A stretch ack of 4 segments grows by 2 (the L limit). */
        setup(&cc, algorithms[a], MSS);
        cc.ops->on_ack(&cc, 4 * MSS, cc.cwnd, 0, 1000);
        assert_int_equal(cc.cwnd, 14600 + 2 * MSS);
        /* Small acks grow by what they ack. */
        cc.ops->on_ack(&cc, 100, cc.cwnd, 0, 2000);
        assert_int_equal(cc.cwnd, 14600 + 2 * MSS + 100);
    }
}

static void test_slow_start_stops_at_ssthresh(void **state)
{
    (void)state;
    struct tcp_cc cc;
    for (size_t a = 0; a < 2; a++) {
        setup(&cc, algorithms[a], MSS);
        cc.ssthresh = 15000;
        cc.ops->on_ack(&cc, 2 * MSS, cc.cwnd, 0, 1000);
        /* 400 bytes of slow start reach ssthresh; the other 2520 count
         * towards congestion avoidance, which Reno rounds to whole mss
         * per cwnd. CUBIC's first epoch (no W_max: K = 0) grows by the
         * Reno-friendly rule: 2520 * mss / cwnd. */
        if (a == 0)
            assert_int_equal(cc.cwnd, 15000);
        else
            assert_int_equal(cc.cwnd, 15000 + 2520 * MSS / 15000);
    }
}

static void test_reno_congestion_avoidance(void **state)
{
    (void)state;
    struct tcp_cc cc;
    for (uint32_t per_ack = MSS; per_ack <= 2 * MSS; per_ack += MSS) {
        uint64_t now = 0;
        setup(&cc, "reno", MSS);
        after_loss(&cc, 40 * MSS, now);
        assert_int_equal(cc.cwnd, 20 * MSS);
        assert_int_equal(cc.ssthresh, 20 * MSS);
        /* Exactly one mss per round trip, every round trip. */
        for (int r = 1; r <= 50; r++) {
            run_rtt(&cc, per_ack, 20000, &now);
            assert_int_equal(cc.cwnd, (20 + r) * MSS);
        }
    }
    /* A partial round grows nothing yet; the bytes are remembered. */
    setup(&cc, "reno", MSS);
    after_loss(&cc, 40 * MSS, 0);
    for (int i = 0; i < 19; i++)
        cc.ops->on_ack(&cc, MSS, cc.cwnd, 0, 1000);
    assert_int_equal(cc.cwnd, 20 * MSS);
    cc.ops->on_ack(&cc, MSS, cc.cwnd, 0, 1000);
    assert_int_equal(cc.cwnd, 21 * MSS);
}

static void test_reno_loss_halves(void **state)
{
    (void)state;
    struct tcp_cc cc;
    setup(&cc, "reno", MSS);
    cc.cwnd = 100 * MSS;
    cc.ops->on_loss(&cc, 100 * MSS, 0);
    assert_int_equal(cc.ssthresh, 50 * MSS);
    assert_int_equal(cc.cwnd, 50 * MSS);
    /* ssthresh follows the flight, not cwnd (RFC 5681 eq. 4). */
    cc.cwnd = 100 * MSS;
    cc.ops->on_loss(&cc, 60 * MSS, 0);
    assert_int_equal(cc.ssthresh, 30 * MSS);
    /* Never below 2 mss. */
    cc.ops->on_loss(&cc, 3 * MSS, 0);
    assert_int_equal(cc.ssthresh, 2 * MSS);
    assert_int_equal(cc.cwnd, 2 * MSS);
    /* Inflation by the connection is undone when recovery ends. */
    cc.cwnd = 100 * MSS;
    cc.ops->on_loss(&cc, 100 * MSS, 0);
    cc.cwnd += 3 * MSS;
    cc.ops->on_recovered(&cc, 0);
    assert_int_equal(cc.cwnd, 50 * MSS);
}

static void test_rto(void **state)
{
    (void)state;
    struct tcp_cc cc;
    for (size_t a = 0; a < 2; a++) {
        uint64_t now = 0;
        setup(&cc, algorithms[a], MSS);
        cc.cwnd = 100 * MSS;
        cc.ops->on_rto(&cc, 100 * MSS, now);
        assert_int_equal(cc.cwnd, MSS);
        assert_int_equal(cc.ssthresh, a == 0 ? 50 * MSS : 70 * MSS);
        /* Slow start again, up to ssthresh, then linear. */
        uint32_t rounds = 0;
        while (cc.cwnd < cc.ssthresh) {
            run_rtt(&cc, MSS, 100000, &now);
            rounds++;
        }
        assert_int_equal(rounds, a == 0 ? 6 : 7); /* 1, 2, 4, ... then ssthresh */
        assert_in_range(cc.cwnd, cc.ssthresh, cc.ssthresh + MSS);
        /* A tiny flight: ssthresh is still 2 mss. */
        cc.ops->on_rto(&cc, MSS, now);
        assert_int_equal(cc.ssthresh, 2 * MSS);
        assert_int_equal(cc.cwnd, MSS);
    }
}

static void test_no_growth_when_application_limited(void **state)
{
    (void)state;
    struct tcp_cc cc;
    for (size_t a = 0; a < 2; a++) {
        setup(&cc, algorithms[a], MSS);
        /* Slow start, one segment in flight out of ten: no growth. */
        cc.ops->on_ack(&cc, MSS, 0, 1000, 1000);
        assert_int_equal(cc.cwnd, 14600);
        /* Half the window in use is enough in slow start. */
        cc.ops->on_ack(&cc, MSS, 5 * MSS, 1000, 2000);
        assert_int_equal(cc.cwnd, 14600 + MSS);
        /* Congestion avoidance needs the window (nearly) full. */
        after_loss(&cc, 100 * MSS, 3000);
        uint32_t w = cc.cwnd;
        for (int i = 0; i < 1000; i++)
            cc.ops->on_ack(&cc, MSS, w / 2, 1000, 4000 + 1000 * (uint64_t)i);
        assert_int_equal(cc.cwnd, w);
    }
}

/* ---- CUBIC ---- */

static void test_cubic_loss_beta_and_fast_convergence(void **state)
{
    (void)state;
    struct tcp_cc cc;
    setup(&cc, "cubic", MSS);
    cc.cwnd = 100 * MSS;
    cc.ops->on_loss(&cc, 100 * MSS, 0);
    assert_int_equal(cc.cwnd, 70 * MSS);
    assert_int_equal(cc.ssthresh, 70 * MSS);
    assert_int_equal(cc.u.cubic.w_max, 100 * MSS);
    /* A second loss below the old W_max: fast convergence (RFC 9438 §4.7)
     * remembers W_max = cwnd * (1 + 0.7) / 2. */
    cc.cwnd = 80 * MSS;
    cc.ops->on_loss(&cc, 80 * MSS, 0);
    assert_int_equal(cc.cwnd, 56 * MSS);
    assert_int_equal(cc.u.cubic.w_max, 68 * MSS);
    /* Above the old W_max: W_max is the window at the loss. */
    cc.cwnd = 90 * MSS;
    cc.ops->on_loss(&cc, 90 * MSS, 0);
    assert_int_equal(cc.u.cubic.w_max, 90 * MSS);
    /* Never below 2 mss. */
    cc.ops->on_loss(&cc, 2 * MSS, 0);
    assert_int_equal(cc.cwnd, 2 * MSS);
}

static void test_cubic_k(void **state)
{
    (void)state;
    struct tcp_cc cc;
    /* K = cbrt(W_max * (1 - beta) / C) seconds, W_max in segments. */
    static const struct {
        uint32_t w_max_segs, k_ms;
    } cases[] = {{100, 4217}, {1000, 9086}, {10, 1957}, {100000, 42172}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setup(&cc, "cubic", MSS);
        after_loss(&cc, cases[i].w_max_segs * MSS, 0);
        cc.ops->on_ack(&cc, MSS, cc.cwnd, 100000, 1000);
        assert_true(cc.u.cubic.in_epoch);
        assert_int_equal(cc.u.cubic.origin, cases[i].w_max_segs * MSS);
        uint32_t k = cc.u.cubic.k_ms;
        assert_in_range(k, cases[i].k_ms - 2, cases[i].k_ms + 2);
    }
}

static void test_cubic_regrowth_plateau_probe(void **state)
{
    (void)state;
    struct tcp_cc cc;
    const uint32_t rtt = 100000; /* a large BDP: the curve, not Reno, rules */
    const uint32_t w_max = 1000 * MSS;
    uint64_t now = 1000000;
    setup(&cc, "cubic", MSS);
    after_loss(&cc, w_max, now);
    assert_int_equal(cc.cwnd, 700 * MSS);
    run_rtt(&cc, MSS, rtt, &now); /* starts the epoch */
    uint64_t epoch = cc.u.cubic.epoch_us;
    uint64_t k_us = (uint64_t)cc.u.cubic.k_ms * 1000;

    /* Concave: fast at first, slowing down towards W_max. */
    uint32_t c0 = cc.cwnd;
    run_for(&cc, rtt, &now, 1000000);
    uint32_t growth_first_second = cc.cwnd - c0;
    run_for(&cc, rtt, &now, epoch + k_us - 1000000 - now);
    uint32_t c_before = cc.cwnd;
    assert_true(c_before < w_max);
    assert_true(c_before > w_max - 30 * MSS);
    run_for(&cc, rtt, &now, 1000000); /* t = K */
    uint32_t c_at_k = cc.cwnd;
    assert_true(c_at_k - c_before < growth_first_second / 10);
    /* At K the window is back at W_max (one RTT ahead at most). */
    assert_in_range(c_at_k, w_max - 5 * MSS, w_max + 5 * MSS);
    /* The plateau: one second later it has barely moved. */
    run_for(&cc, rtt, &now, 1000000);
    assert_true(cc.cwnd - c_at_k < 5 * MSS);
    /* Then convex: probing beyond W_max, faster and faster. */
    run_for(&cc, rtt, &now, 4000000); /* t = K + 5 s: W_max + 50 segments */
    uint32_t c5 = cc.cwnd;
    assert_true(c5 > w_max + 40 * MSS);
    assert_true(c5 < w_max + 65 * MSS);
    run_for(&cc, rtt, &now, 1000000);
    uint32_t growth_6th = cc.cwnd - c5;
    run_for(&cc, rtt, &now, 3000000);
    uint32_t c9 = cc.cwnd;
    run_for(&cc, rtt, &now, 1000000);
    assert_true(cc.cwnd - c9 > 2 * growth_6th);
}

static void test_cubic_growth_capped_per_rtt(void **state)
{
    (void)state;
    struct tcp_cc cc;
    uint64_t now = 0;
    setup(&cc, "cubic", MSS);
    after_loss(&cc, 100 * MSS, now);
    run_rtt(&cc, MSS, 100000, &now);
    /* Far beyond K the curve is steep; a round trip still grows cwnd by
     * at most half (target <= 1.5 cwnd, RFC 9438 §4.2). */
    now += 60ull * 1000000;
    cc.ops->on_ack(&cc, MSS, cc.cwnd, 100000, now);
    for (int r = 0; r < 5; r++) {
        uint32_t before = cc.cwnd;
        run_rtt(&cc, MSS, 100000, &now);
        assert_true(cc.cwnd <= before + before / 2 + MSS);
        assert_true(cc.cwnd > before + before / 3);
    }
}

/* Runs round trips for us microseconds on a path that drops whenever the
 * window exceeds cap bytes; returns the mean window over the round trips
 * and counts the losses. */
static uint32_t run_sawtooth(struct tcp_cc *cc, uint32_t cap, uint32_t rtt_us, uint64_t us,
                             unsigned *losses)
{
    uint64_t now = 0, sum = 0, rounds = 0;
    *losses = 0;
    while (now < us) {
        if (cc->cwnd > cap) {
            cc->ops->on_loss(cc, cc->cwnd, now);
            cc->ops->on_recovered(cc, now);
            (*losses)++;
        }
        sum += cc->cwnd;
        rounds++;
        run_rtt(cc, MSS, rtt_us, &now);
    }
    return (uint32_t)(sum / rounds);
}

static void test_cubic_reno_friendly(void **state)
{
    (void)state;
    struct tcp_cc reno, cubic;
    const uint32_t rtt = 1000; /* 1 ms, tens of segments: a small BDP */
    uint64_t now = 0;
    setup(&cubic, "cubic", MSS);
    after_loss(&cubic, 20 * MSS, 0);
    assert_int_equal(cubic.cwnd, 14 * MSS);
    /* RFC 9438 §4.3: W_est grows by alpha = 3 (1 - beta) / (1 + beta) =
     * 9/17 segments per RTT while below cwnd_prior... */
    for (int r = 0; r < 10; r++)
        run_rtt(&cubic, MSS, rtt, &now);
    uint32_t expect = 14 * MSS + 10 * 9 * MSS / 17;
    assert_in_range(cubic.cwnd, expect - MSS / 4, expect + MSS / 4);
    /* ...then by 1, like Reno. The cubic curve alone would still be near
     * 15 segments after 0.2 s (K is 2.5 s). */
    while (cubic.u.cubic.w_est < cubic.u.cubic.cwnd_prior)
        run_rtt(&cubic, MSS, rtt, &now);
    for (int r = 0; r < 180; r++) {
        uint32_t before = cubic.cwnd;
        run_rtt(&cubic, MSS, rtt, &now);
        assert_true(cubic.cwnd - before >= MSS - MSS / 10);
        assert_true(cubic.cwnd - before <= MSS);
    }
    assert_true(cubic.cwnd > 190 * MSS);
    assert_true(now < 250000);

    /* On a path that drops above 40 segments, CUBIC's sawtooth (0.7 W up
     * to W at 9/17 per RTT) carries at least Reno's (0.5 W up to W at 1
     * per RTT), and its period is tens of RTTs, not K = 3.1 s. */
    unsigned reno_losses, cubic_losses;
    setup(&reno, "reno", MSS);
    setup(&cubic, "cubic", MSS);
    uint32_t reno_mean = run_sawtooth(&reno, 40 * MSS, rtt, 5000000, &reno_losses);
    uint32_t cubic_mean = run_sawtooth(&cubic, 40 * MSS, rtt, 5000000, &cubic_losses);
    assert_true(cubic_mean >= reno_mean);
    assert_true(cubic_mean > 32 * MSS);
    assert_true(reno_mean > 28 * MSS);
    assert_true(cubic_losses > 100);
    assert_true(reno_losses > 100);
}

static void test_cubic_application_limited_time_excluded(void **state)
{
    (void)state;
    struct tcp_cc busy, paused;
    const uint32_t rtt = 100000;
    uint64_t now_b = 0, now_p = 0;
    setup(&busy, "cubic", MSS);
    setup(&paused, "cubic", MSS);
    after_loss(&busy, 1000 * MSS, 0);
    after_loss(&paused, 1000 * MSS, 0);
    for (int r = 0; r < 10; r++) {
        run_rtt(&busy, MSS, rtt, &now_b);
        run_rtt(&paused, MSS, rtt, &now_p);
    }
    /* 30 s of acks with little in flight: no growth, and t stands still. */
    uint32_t w = paused.cwnd;
    for (int i = 0; i < 300; i++) {
        now_p += rtt;
        paused.ops->on_ack(&paused, MSS, 10 * MSS, rtt, now_p);
    }
    assert_int_equal(paused.cwnd, w);
    for (int r = 0; r < 40; r++) {
        run_rtt(&busy, MSS, rtt, &now_b);
        run_rtt(&paused, MSS, rtt, &now_p);
    }
    /* Both are where the curve puts them 5 s into the epoch; had the
     * pause counted, the paused one would be far past W_max. */
    assert_in_range(paused.cwnd, busy.cwnd - 2 * MSS, busy.cwnd + 2 * MSS);
    assert_true(paused.cwnd < 1000 * MSS);
}

static void test_cubic_after_rto(void **state)
{
    (void)state;
    struct tcp_cc cc;
    uint64_t now = 0;
    setup(&cc, "cubic", MSS);
    after_loss(&cc, 200 * MSS, now);
    run_rtt(&cc, MSS, 100000, &now);
    cc.ops->on_rto(&cc, cc.cwnd, now);
    assert_int_equal(cc.cwnd, MSS);
    assert_false(cc.u.cubic.in_epoch);
    while (cc.cwnd < cc.ssthresh)
        run_rtt(&cc, MSS, 100000, &now);
    /* RFC 9438 §4.8: the first congestion avoidance after a timeout has
     * K = 0 and W_max = cwnd at its start, which is ssthresh. */
    assert_true(cc.u.cubic.in_epoch);
    assert_int_equal(cc.u.cubic.k_ms, 0);
    assert_int_equal(cc.u.cubic.origin, cc.ssthresh);
    uint32_t start = cc.cwnd;
    /* Convex from there: slow at first, then faster. */
    run_for(&cc, 100000, &now, 1000000);
    uint32_t g1 = cc.cwnd - start;
    uint32_t c1 = cc.cwnd;
    run_for(&cc, 100000, &now, 3000000);
    uint32_t c4 = cc.cwnd;
    run_for(&cc, 100000, &now, 1000000);
    assert_true(cc.cwnd - c4 > g1);
    assert_true(c4 > c1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_initial_window),
        cmocka_unit_test(test_slow_start_doubles),
        cmocka_unit_test(test_slow_start_stops_at_ssthresh),
        cmocka_unit_test(test_reno_congestion_avoidance),
        cmocka_unit_test(test_reno_loss_halves),
        cmocka_unit_test(test_rto),
        cmocka_unit_test(test_no_growth_when_application_limited),
        cmocka_unit_test(test_cubic_loss_beta_and_fast_convergence),
        cmocka_unit_test(test_cubic_k),
        cmocka_unit_test(test_cubic_regrowth_plateau_probe),
        cmocka_unit_test(test_cubic_growth_capped_per_rtt),
        cmocka_unit_test(test_cubic_reno_friendly),
        cmocka_unit_test(test_cubic_application_limited_time_excluded),
        cmocka_unit_test(test_cubic_after_rto),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
