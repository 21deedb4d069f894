/* TCP's timers on the virtual clock, checked segment by segment:
 * - zero window and persist (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17): the
 *   receiver stops reading, its window goes to 0, the sender probes with
 *   exponential backoff and does not give up while the probes are answered;
 *   reading again resumes the transfer;
 * - keepalive (RFC 1122 §4.2.3.6) with idle/interval/count: probes after
 *   the idle time, then ETIMEDOUT when the peer vanishes;
 * - retransmission timeout backoff (RFC 6298 §5): the peer vanishes, the
 *   earliest unacknowledged segment is retransmitted at doubling intervals
 *   (a maximum, if any, at least 60 s), then ETIMEDOUT. */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sim.h"
#include "wire/tcp_seq.h"

#define PORT 5004
#define SEC UINT64_C(1000000)
#define MS UINT64_C(1000)

static struct sim *open_pair(struct sim_conn **a, struct sim_conn **b)
{
    struct sim *sim = sim_create(NULL);
    assert_non_null(sim);
    assert_int_equal(sim_open_pair(sim, PORT, a, b), SIM_OK);
    return sim;
}

static bool pred_zero_window(struct sim *sim, void *ctx)
{
    (void)ctx;
    const struct sim_frame *f = sim_last_tcp(sim, SIM_B);
    return f != NULL && f->tcp.window == 0;
}

/* RFC 9293 §3.8.6.1 and RFC 1122 §4.2.2.17. */
static void test_zero_window_persist(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    const uint64_t total = 2000000; /* well beyond B's receive buffer */
    sim_send_stream(a, total, 31, true);
    sim_recv_stream(b, total, 31, true);
    sim_recv_pause(b, true);
    assert_int_equal(sim_run_until(sim, pred_zero_window, NULL, 10 * SEC), SIM_OK);
    uint64_t t_zero = sim_now(sim);
    struct toysock_tcp_info ib;
    tcp_get_info(b->pcb, &ib);
    uint64_t held = tcp_recv_available(b->pcb);
    printf("  window 0 at t=%" PRIu64 " us with %" PRIu64 " bytes held (rcv_space %u)\n", t_zero,
           held, ib.rcv_space);
    assert_true(held > 0);
    assert_true(held <= tcp_get_options(b->pcb)->rcvbuf);
    uint32_t stuck_at = sim_snd_nxt(sim, SIM_A);

    /* 100 s with the window shut. */
    uint64_t mark = sim_frame_mark(sim);
    assert_int_equal(sim_run_for(sim, 100 * SEC), SIM_OK);
    assert_false(a->closed);
    assert_false(b->closed);
    assert_int_equal(sim_conn_state(a), TCP_ESTABLISHED);
    /* Probes: A's segments meanwhile carry at most one byte beyond what was
     * outstanding, and B answers each with window 0. */
    uint64_t t[64];
    unsigned n = 0;
    uint64_t cur = mark;
    const struct sim_frame *f;
    while ((f = sim_next_tcp(sim, &cur, SIM_A, 0, 0)) != NULL && n < 64) {
        assert_true(f->tcp.payload_len <= 1);
        assert_true(seq_leq(f->tcp.seq + f->tcp.payload_len, stuck_at + 1));
        t[n++] = f->t_us;
    }
    printf("  %u probes:", n);
    for (unsigned i = 0; i < n; i++)
        printf(" +%" PRIu64 "ms", (t[i] - t_zero) / 1000);
    printf("\n");
    assert_true(n >= 3);
    assert_true(n <= 20);
    /* Backoff: intervals never shrink, and they grow. */
    for (unsigned i = 2; i < n; i++)
        assert_true(t[i] - t[i - 1] + 1000 >= t[i - 1] - t[i - 2]);
    assert_true(t[n - 1] - t[n - 2] >= 2 * (t[1] - t[0]));
    /* RFC 9293 §3.8.6.2.1 / RFC 7323 §2.4: the right edge B offers
     * (ACK + window << scale) never moves left, from the start on. */
    struct toysock_tcp_info ia;
    tcp_get_info(a->pcb, &ia);
    cur = 0;
    bool have_edge = false;
    uint32_t edge = 0;
    while ((f = sim_next_tcp(sim, &cur, SIM_B, TCP_ACK, TCP_SYN)) != NULL) {
        uint32_t e = f->tcp.ack + ((uint32_t)f->tcp.window << ia.snd_wscale);
        if (have_edge && seq_lt(e, edge))
            fail_msg("B's window edge moved left from %u to %u at frame #%" PRIu64, edge, e,
                     f->index);
        edge = have_edge ? seq_max(edge, e) : e;
        have_edge = true;
    }
    assert_true(have_edge);
    cur = mark;
    unsigned answers = 0;
    while ((f = sim_next_tcp(sim, &cur, SIM_B, TCP_ACK, 0)) != NULL) {
        assert_int_equal(f->tcp.window, 0);
        answers++;
    }
    assert_true(answers >= n - 1);
    assert_int_equal(tcp_recv_available(b->pcb), held);

    /* Reading again opens the window: B announces it and the rest flows. */
    sim_recv_pause(b, false);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 60 * SEC), SIM_OK);
    assert_true(sim_rx_complete(b));
    printf("  resumed and finished %" PRIu64 " us after reading restarted\n",
           b->rx.eof_at_us - (t_zero + 100 * SEC));
    sim_destroy(sim);
}

static void set_keepalive(struct sim_conn *c, uint32_t idle, uint32_t intvl, uint32_t cnt)
{
    struct tcp_options o = *tcp_get_options(c->pcb);
    o.keepalive = true;
    o.keepidle_s = idle;
    o.keepintvl_s = intvl;
    o.keepcnt = cnt;
    assert_int_equal(tcp_set_options(c->pcb, &o), 0);
}

/* RFC 1122 §4.2.3.6. */
static void test_keepalive(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    const uint32_t idle = 10, intvl = 2, cnt = 3;
    set_keepalive(a, idle, intvl, cnt);
    sim_send_stream(a, 1000, 41, false);
    sim_recv_stream(b, 1000, 41, false);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, SEC), SIM_OK);
    assert_int_equal(sim_run_for(sim, SEC), SIM_OK);
    /* Idle since the last segment A received (RFC 1122: "no data or
     * acknowledgement packets have been received"). */
    uint64_t t_idle = sim_last_tcp(sim, SIM_B)->t_us;
    uint32_t snd_nxt = sim_snd_nxt(sim, SIM_A);

    /* Nothing before the idle time, then a probe <SEQ=SND.NXT-1>, answered. */
    uint64_t mark = sim_frame_mark(sim);
    assert_int_equal(sim_run_for(sim, t_idle + idle * SEC - MS - sim_now(sim)), SIM_OK);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_ANY, 0, 0), 0);
    assert_int_equal(sim_run_for(sim, 2 * MS), SIM_OK);
    uint64_t cur = mark;
    const struct sim_frame *p = sim_next_tcp(sim, &cur, SIM_A, TCP_ACK, 0);
    assert_non_null(p);
    printf("  first probe %" PRIu64 " us after the last segment\n", p->t_us - t_idle);
    assert_true(p->t_us >= t_idle + idle * SEC && p->t_us <= t_idle + idle * SEC + MS);
    assert_int_equal(p->tcp.seq, snd_nxt - 1);
    assert_true(p->tcp.payload_len <= 1);
    const struct sim_frame *r = sim_next_tcp(sim, &cur, SIM_B, TCP_ACK, 0);
    assert_non_null(r);
    assert_int_equal(r->tcp.ack, snd_nxt);
    /* Answered: the next probe comes one idle period after the answer. */
    uint64_t t_answer = r->t_us;
    mark = sim_frame_mark(sim);
    assert_int_equal(sim_run_for(sim, t_answer + idle * SEC - MS - sim_now(sim)), SIM_OK);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_A, 0, 0), 0);
    assert_int_equal(sim_run_for(sim, 2 * MS), SIM_OK);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_A, 0, 0), 1);
    assert_false(a->closed);

    /* B vanishes: cnt probes intvl apart go unanswered, then ETIMEDOUT. */
    sim_block_tcp(sim, SIM_A, true);
    sim_block_tcp(sim, SIM_B, true);
    mark = sim_frame_mark(sim);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, a, 100 * SEC), SIM_OK);
    uint64_t t[16];
    unsigned n = 0;
    cur = mark;
    const struct sim_frame *f;
    while ((f = sim_next_tcp(sim, &cur, SIM_A, 0, TCP_RST)) != NULL && n < 16)
        t[n++] = f->t_us;
    printf("  unanswered probes:");
    for (unsigned i = 0; i < n; i++)
        printf(" t=%" PRIu64 "ms", t[i] / 1000);
    printf("; closed at t=%" PRIu64 "ms with %d\n", a->closed_at_us / 1000, a->error);
    assert_int_equal(a->error, ETIMEDOUT);
    assert_int_equal(n, cnt);
    for (unsigned i = 1; i < n; i++) {
        uint64_t d = t[i] - t[i - 1];
        assert_true(d + MS >= intvl * SEC && d <= intvl * SEC + MS);
    }
    uint64_t wait = a->closed_at_us - t[n - 1];
    assert_true(wait + MS >= intvl * SEC && wait <= intvl * SEC + MS);
    sim_destroy(sim);
}

/* RFC 6298 §5 (5.4-5.6) and §2.5. */
static void test_rto_backoff(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    /* Some traffic first so the RTT estimator has samples. */
    sim_send_stream(a, 100000, 51, false);
    sim_recv_stream(b, 100000, 51, false);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 5 * SEC), SIM_OK);
    assert_int_equal(sim_run_for(sim, SEC), SIM_OK);
    struct toysock_tcp_info ia;
    tcp_get_info(a->pcb, &ia);
    printf("  rto before the cut: %u us (srtt %u, rttvar %u)\n", ia.rto, ia.rtt, ia.rttvar);

    /* B vanishes; A has 10 kB to send. */
    sim_block_tcp(sim, SIM_A, true);
    sim_block_tcp(sim, SIM_B, true);
    uint32_t first_seq = sim_snd_nxt(sim, SIM_A);
    uint64_t mark = sim_frame_mark(sim);
    sim_send_stream(a, 10000, 52, false);
    sim_pump(sim);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, a, 7200 * SEC), SIM_OK);
    assert_int_equal(a->error, ETIMEDOUT);

    /* Group A's segments by instant: the first burst, then one
     * retransmission of the earliest segment per timeout. */
    uint64_t t[64];
    unsigned n = 0;
    uint64_t cur = mark;
    const struct sim_frame *f;
    uint64_t t_first = 0;
    while ((f = sim_next_tcp(sim, &cur, SIM_A, 0, TCP_RST)) != NULL) {
        if (t_first == 0)
            t_first = f->t_us;
        if (f->t_us == t_first)
            continue;
        assert_true(n < 64);
        if (n > 0 && f->t_us == t[n - 1])
            fail_msg("two segments at one timeout (t=%" PRIu64 ")", f->t_us);
        assert_int_equal(f->tcp.seq, first_seq); /* §5.4: the earliest segment */
        assert_true(f->tcp.payload_len > 0);
        t[n++] = f->t_us;
    }
    printf("  %u retransmissions at +", n);
    for (unsigned i = 0; i < n; i++)
        printf("%s%.3f", i ? ", " : "", (double)(t[i] - t_first) / 1e6);
    printf(" s; ETIMEDOUT at +%.3f s\n", (double)(a->closed_at_us - t_first) / 1e6);
    assert_true(n >= 3);
    /* The first timeout is the RTO as it was (at least 200 ms, Linux's
     * floor; RFC 6298 §2.4 says 1 s). */
    uint64_t first = t[0] - t_first;
    assert_true(first + MS >= 200 * MS);
    assert_true(first <= (uint64_t)ia.rto + 10 * MS);
    /* §5.5: each later interval doubles, up to a cap of at least 60 s. */
    uint64_t prev = first;
    uint64_t cap = 0;
    for (unsigned i = 1; i < n; i++) {
        uint64_t d = t[i] - t[i - 1];
        if (d + MS >= 2 * prev) {
            assert_true(d <= 2 * prev + MS);
        } else {
            /* Capped: the same interval from now on, at least 60 s. */
            if (cap == 0)
                cap = d;
            assert_true(d + MS >= 60 * SEC);
            assert_true(d <= cap + MS && d + MS >= cap);
        }
        prev = d;
    }
    /* Gave up after the last retransmission's own timeout. */
    uint64_t wait = a->closed_at_us - t[n - 1];
    assert_true(wait + MS >= prev);
    assert_true(a->closed_at_us - t_first <= 3600 * SEC);
    sim_destroy(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_window_persist),
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_rto_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
