/* Closing connections, checked segment by segment on the simulator:
 * - the orderly close: FIN_WAIT_1/2 and TIME_WAIT on the active side,
 *   CLOSE_WAIT and LAST_ACK on the passive side (RFC 9293 §3.6, figure 12);
 * - simultaneous close: both FIN_WAIT_1 -> CLOSING -> TIME_WAIT (figure 13);
 * - half-close: after shutdown_write on one side data still flows the
 *   other way (§3.6, "half-duplex close");
 * - TIME_WAIT lasts the configured tcp_timewait_ms and then the pcb is
 *   gone, and a retransmitted FIN in TIME_WAIT is acknowledged again and
 *   restarts the timer (§3.10.7.4);
 * - data written before tcp_close is delivered before the FIN, even over a
 *   lossy wire; closing with unread data, or aborting, sends RST. */
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

#define PORT 5002
#define SEC UINT64_C(1000000)
#define MS UINT64_C(1000)

static struct sim *open_pair(struct sim_options *o, struct sim_conn **a, struct sim_conn **b)
{
    struct sim_options dflt;
    if (o == NULL) {
        sim_options_defaults(&dflt);
        o = &dflt;
    }
    struct sim *sim = sim_create(o);
    assert_non_null(sim);
    assert_int_equal(sim_open_pair(sim, PORT, a, b), SIM_OK);
    return sim;
}

struct state_ctx {
    struct sim_conn *c;
    enum tcp_state want;
};

static bool pred_state(struct sim *sim, void *ctx)
{
    (void)sim;
    struct state_ctx *s = ctx;
    return s->c->pcb != NULL && tcp_get_state(s->c->pcb) == s->want;
}

static void run_to_state(struct sim *sim, struct sim_conn *c, enum tcp_state want)
{
    struct state_ctx s = {c, want};
    if (sim_run_until(sim, pred_state, &s, 120 * SEC) != SIM_OK)
        fprintf(stderr, "  wanted %s on conn %u, it is %s\n", tcp_state_name(want), c->id,
                tcp_state_name(sim_conn_state(c)));
    assert_int_equal(sim_conn_state(c), want);
}

static bool pred_pcbs(struct sim *sim, void *ctx)
{
    const unsigned *want = ctx;
    return tcp_pcb_count(sim_stack(sim, SIM_A)) == want[0] &&
           tcp_pcb_count(sim_stack(sim, SIM_B)) == want[1];
}

/* RFC 9293 §3.6 figure 12. */
static void test_orderly_close(void **state)
{
    (void)state;
    struct sim_options o;
    sim_options_defaults(&o);
    o.cfg[SIM_A].tcp_timewait_ms = 2000;
    o.cfg[SIM_B].tcp_timewait_ms = 2000;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&o, &a, &b);
    uint64_t mark = sim_frame_mark(sim);
    uint32_t a_fin_seq = sim_snd_nxt(sim, SIM_A);
    /* A closes first: FIN_WAIT_1, then FIN_WAIT_2 once B acknowledges. */
    assert_int_equal(tcp_shutdown_write(a->pcb), 0);
    run_to_state(sim, a, TCP_FIN_WAIT_2);
    assert_int_equal(sim_conn_state(b), TCP_CLOSE_WAIT);
    assert_true(b->events & TCP_EV_READABLE);
    sim_recv_stream(b, 0, 1, true);
    sim_pump(sim);
    assert_true(b->rx.eof);
    uint64_t cur = mark;
    const struct sim_frame *fin = sim_next_tcp(sim, &cur, SIM_A, TCP_FIN, 0);
    assert_non_null(fin);
    assert_int_equal(fin->tcp.seq, a_fin_seq);
    assert_true(fin->tcp.flags & TCP_ACK);
    const struct sim_frame *ack = sim_next_tcp(sim, &cur, SIM_B, TCP_ACK, TCP_FIN);
    assert_non_null(ack);
    assert_int_equal(ack->tcp.ack, a_fin_seq + 1);

    /* B closes: LAST_ACK, A answers from TIME_WAIT, B is gone. */
    uint32_t b_fin_seq = sim_snd_nxt(sim, SIM_B);
    sim_conn_close(b);
    run_to_state(sim, a, TCP_TIME_WAIT);
    cur = mark;
    const struct sim_frame *fin_b = sim_next_tcp(sim, &cur, SIM_B, TCP_FIN, 0);
    assert_non_null(fin_b);
    assert_int_equal(fin_b->tcp.seq, b_fin_seq);
    assert_int_equal(fin_b->tcp.ack, a_fin_seq + 1);
    const struct sim_frame *last = sim_next_tcp(sim, &cur, SIM_A, TCP_ACK, TCP_FIN);
    assert_non_null(last);
    assert_int_equal(last->tcp.ack, b_fin_seq + 1);
    unsigned want[2] = {1, 1}; /* A's TIME_WAIT, B's listener */
    assert_int_equal(sim_run_until(sim, pred_pcbs, want, 10 * SEC), SIM_OK);
    assert_int_equal(sim_count_tcp(sim, 0, SIM_ANY, TCP_RST, 0), 0);
    assert_true(a->closed || sim_conn_state(a) == TCP_TIME_WAIT);
    sim_conn_close(a);
    unsigned gone[2] = {0, 1};
    assert_int_equal(sim_run_until(sim, pred_pcbs, gone, 10 * SEC), SIM_OK);
    sim_destroy(sim);
}

/* Drops the first pure ACK each side sends after both FINs crossed, so
 * that both ends are seen in CLOSING. */
struct crossing {
    uint32_t fin_seq[2];
    bool dropped[2];
};

static enum sim_verdict drop_ack_of_fin(struct sim *sim, const struct sim_frame *f,
                                        const uint8_t *frame, size_t len, void *ctx)
{
    (void)sim;
    (void)frame;
    (void)len;
    struct crossing *x = ctx;
    if (f->kind != SIM_FRAME_TCP || (f->tcp.flags & (TCP_FIN | TCP_SYN | TCP_RST)) != 0)
        return SIM_DELIVER;
    enum sim_side peer = sim_other(f->from);
    if (!x->dropped[f->from] && f->tcp.ack == x->fin_seq[peer] + 1) {
        x->dropped[f->from] = true;
        return SIM_DROP;
    }
    return SIM_DELIVER;
}

static bool pred_both_acks_dropped(struct sim *sim, void *ctx)
{
    (void)sim;
    struct crossing *x = ctx;
    return x->dropped[0] && x->dropped[1];
}

/* RFC 9293 §3.6 figure 13. */
static void test_simultaneous_close(void **state)
{
    (void)state;
    struct sim_options o;
    sim_options_defaults(&o);
    o.cfg[SIM_A].tcp_timewait_ms = 3000;
    o.cfg[SIM_B].tcp_timewait_ms = 3000;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&o, &a, &b);
    uint64_t mark = sim_frame_mark(sim);
    struct crossing x = {{sim_snd_nxt(sim, SIM_A), sim_snd_nxt(sim, SIM_B)}, {false, false}};
    sim_set_filter(sim, drop_ack_of_fin, &x);
    /* Both close at the same instant, before either FIN arrived. */
    assert_int_equal(tcp_shutdown_write(a->pcb), 0);
    assert_int_equal(tcp_shutdown_write(b->pcb), 0);
    assert_int_equal(sim_conn_state(a), TCP_FIN_WAIT_1);
    assert_int_equal(sim_conn_state(b), TCP_FIN_WAIT_1);
    assert_int_equal(sim_run_until(sim, pred_both_acks_dropped, &x, 10 * SEC), SIM_OK);
    sim_dump_frames(sim, stdout, mark, 20);
    /* Each received the other's FIN while its own was unacknowledged. */
    assert_int_equal(sim_conn_state(a), TCP_CLOSING);
    assert_int_equal(sim_conn_state(b), TCP_CLOSING);
    uint64_t cur = mark;
    const struct sim_frame *fa = sim_next_tcp(sim, &cur, SIM_A, TCP_FIN, 0);
    cur = mark;
    const struct sim_frame *fb = sim_next_tcp(sim, &cur, SIM_B, TCP_FIN, 0);
    assert_non_null(fa);
    assert_non_null(fb);
    assert_int_equal(fa->tcp.seq, x.fin_seq[SIM_A]);
    assert_int_equal(fb->tcp.seq, x.fin_seq[SIM_B]);
    /* The FINs crossed: neither acknowledges the other's FIN. */
    assert_int_equal(fa->tcp.ack, x.fin_seq[SIM_B]);
    assert_int_equal(fb->tcp.ack, x.fin_seq[SIM_A]);
    /* The lost ACKs are recovered by retransmitted FINs: both reach
     * TIME_WAIT (not CLOSED: both closed actively). */
    sim_set_filter(sim, NULL, NULL);
    run_to_state(sim, a, TCP_TIME_WAIT);
    run_to_state(sim, b, TCP_TIME_WAIT);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_ANY, TCP_RST, 0), 0);
    sim_conn_close(a);
    sim_conn_close(b);
    unsigned gone[2] = {0, 1};
    assert_int_equal(sim_run_until(sim, pred_pcbs, gone, 20 * SEC), SIM_OK);
    sim_destroy(sim);
}

/* RFC 9293 §3.6: "a user who has CLOSEd may continue to RECEIVE until told
 * that the remote side has also CLOSEd." */
static void test_half_close(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(NULL, &a, &b);
    /* A sends 100 kB then FIN; B reads it all and sees EOF. */
    sim_send_stream(a, 100000, 21, true);
    sim_recv_stream(b, 100000, 21, true);
    assert_int_equal(sim_run_until(sim, sim_pred_rx_eof, b, 30 * SEC), SIM_OK);
    assert_true(sim_rx_complete(b));
    run_to_state(sim, a, TCP_FIN_WAIT_2);
    assert_int_equal(sim_conn_state(b), TCP_CLOSE_WAIT);
    uint32_t a_fin = sim_snd_nxt(sim, SIM_A);
    assert_true(tcp_send(a->pcb, "x", 1) == -EPIPE);

    /* B keeps sending 1 MB after A's FIN; A receives every byte. */
    uint64_t mark = sim_frame_mark(sim);
    sim_send_stream(b, 1000000, 22, true);
    sim_recv_stream(a, 1000000, 22, true);
    assert_int_equal(sim_run_until(sim, sim_pred_rx_eof, a, 60 * SEC), SIM_OK);
    assert_true(sim_rx_complete(a));
    /* A sent nothing but ACKs meanwhile, all at its FIN + 1. */
    uint64_t cur = mark;
    const struct sim_frame *f;
    unsigned acks = 0;
    while ((f = sim_next_tcp(sim, &cur, SIM_A, 0, 0)) != NULL) {
        assert_int_equal(f->tcp.payload_len, 0);
        assert_int_equal(f->tcp.flags & (TCP_FIN | TCP_SYN | TCP_RST), 0);
        assert_int_equal(f->tcp.seq, a_fin);
        acks++;
    }
    assert_true(acks > 0);
    /* B's FIN: A goes to TIME_WAIT, B through LAST_ACK to closed. */
    run_to_state(sim, a, TCP_TIME_WAIT);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, b, 10 * SEC), SIM_OK);
    assert_int_equal(b->error, 0);
    sim_destroy(sim);
}

/* RFC 9293 §3.10.7.4 (TIME-WAIT) with tcp_timewait_ms on the virtual
 * clock; tcp_pcb_count shows the pcb until the very end. */
static void test_time_wait_duration(void **state)
{
    (void)state;
    const unsigned tw_ms = 5000;
    struct sim_options o;
    sim_options_defaults(&o);
    o.cfg[SIM_A].tcp_timewait_ms = tw_ms;
    o.cfg[SIM_B].tcp_timewait_ms = tw_ms;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&o, &a, &b);
    struct stack *sa = sim_stack(sim, SIM_A);
    sim_conn_close(a);
    assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
    uint64_t mark = sim_frame_mark(sim);
    sim_conn_close(b);
    assert_int_equal(sim_settle(sim), SIM_OK);
    /* A's last ACK is when TIME_WAIT began. */
    uint64_t cur = mark;
    const struct sim_frame *fin_b = sim_next_tcp(sim, &cur, SIM_B, TCP_FIN, 0);
    const struct sim_frame *last = sim_next_tcp(sim, &cur, SIM_A, TCP_ACK, 0);
    assert_non_null(fin_b);
    assert_non_null(last);
    uint64_t t0 = last->t_us;
    assert_int_equal(tcp_pcb_count(sa), 1);
    /* Still there 1 ms before the end... */
    assert_int_equal(sim_run_for(sim, t0 + tw_ms * MS - MS - sim_now(sim)), SIM_OK);
    assert_int_equal(tcp_pcb_count(sa), 1);
    /* ...and a retransmitted FIN is acknowledged again and restarts the
     * 2MSL wait (§3.10.7.4: "Restart the 2 MSL timeout"). */
    struct tcp_repr again;
    memset(&again, 0, sizeof(again));
    again.src_port = fin_b->tcp.src_port;
    again.dst_port = fin_b->tcp.dst_port;
    again.seq = fin_b->tcp.seq;
    again.ack = fin_b->tcp.ack;
    again.flags = TCP_FIN | TCP_ACK;
    again.window = fin_b->tcp.window;
    if (fin_b->tcp.has_timestamps) {
        again.has_timestamps = true;
        again.ts_val = fin_b->tcp.ts_val + 1;
        again.ts_ecr = fin_b->tcp.ts_ecr;
    }
    /* B's stack has forgotten the connection and would answer A's ACK with
     * an RST, which ends TIME_WAIT early (RFC 1337's hazard, as Linux
     * does): keep B's answers off the wire. */
    sim_block_tcp(sim, SIM_B, true);
    mark = sim_frame_mark(sim);
    assert_int_equal(sim_inject_tcp(sim, SIM_A, SIM_ADDR_B, NULL, &again), 0);
    assert_int_equal(sim_settle(sim), SIM_OK);
    uint64_t t1 = sim_now(sim);
    cur = mark;
    const struct sim_frame *reack = sim_next_tcp(sim, &cur, SIM_A, TCP_ACK, TCP_FIN);
    assert_non_null(reack);
    assert_int_equal(reack->tcp.ack, fin_b->tcp.seq + 1);
    assert_int_equal(sim_run_for(sim, tw_ms * MS - MS), SIM_OK);
    assert_int_equal(tcp_pcb_count(sa), 1);
    assert_int_equal(sim_run_for(sim, 2 * MS), SIM_OK);
    printf("  TIME_WAIT from t=%" PRIu64 " us, restarted at t=%" PRIu64 " us, gone by t=%" PRIu64
           " us\n",
           t0, t1, sim_now(sim));
    assert_int_equal(tcp_pcb_count(sa), 0);
    sim_destroy(sim);
}

/* Data written before tcp_close is still delivered, then FIN (RFC 9293
 * §3.10.4: CLOSE "... all preceding SENDs will be ... delivered"), also
 * over a lossy wire; then every pcb goes away. */
static void test_close_delivers_buffered_data(void **state)
{
    (void)state;
    struct sim_options o;
    sim_options_defaults(&o);
    o.impair = "loss=5,dup=1,reorder=5,seed=5";
    o.cfg[SIM_A].tcp_timewait_ms = 1000;
    struct sim *sim = sim_create(&o);
    assert_non_null(sim);
    struct sim_conn *l = sim_listen(sim, SIM_B, PORT, 4);
    struct sim_conn *a = sim_conn_new(sim, SIM_A);
    assert_non_null(l);
    assert_non_null(a);
    struct tcp_options opts = *tcp_get_options(a->pcb);
    opts.sndbuf = 4u << 20;
    assert_int_equal(tcp_set_options(a->pcb, &opts), 0);
    assert_int_equal(sim_conn_connect(a, SIM_ADDR_B, PORT), 0);
    assert_int_equal(sim_run_until(sim, sim_pred_connected, a, 30 * SEC), SIM_OK);
    const size_t total = 3u << 20;
    static uint8_t buf[3u << 20];
    sim_stream_fill(55, 0, buf, total);
    assert_int_equal(tcp_send(a->pcb, buf, total), (long)total);
    sim_conn_close(a);
    struct sim_conn *b = NULL;
    for (unsigned i = 0; i < 100 && b == NULL; i++) {
        assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
        b = sim_accept(l);
    }
    assert_non_null(b);
    sim_recv_stream(b, total, 55, true);
    assert_int_equal(sim_run_until(sim, sim_pred_rx_eof, b, 600 * SEC), SIM_OK);
    assert_true(sim_rx_complete(b));
    assert_int_equal(sim_conn_state(b), TCP_CLOSE_WAIT);
    sim_conn_close(b);
    unsigned gone[2] = {0, 1};
    assert_int_equal(sim_run_until(sim, pred_pcbs, gone, 600 * SEC), SIM_OK);
    sim_destroy(sim);
}

/* RFC 9293 §3.10.4 / RFC 2525 §2.17 (as Linux): closing with received
 * data unread resets the connection; the peer sees ECONNRESET. */
static void test_close_with_unread_data_resets(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(NULL, &a, &b);
    sim_send_stream(a, 5000, 56, false);
    assert_int_equal(sim_run_for(sim, SEC), SIM_OK);
    assert_int_equal(tcp_recv_available(b->pcb), 5000);
    uint64_t mark = sim_frame_mark(sim);
    uint32_t b_nxt = sim_snd_nxt(sim, SIM_B);
    sim_conn_close(b);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, a, SEC), SIM_OK);
    assert_int_equal(a->error, ECONNRESET);
    uint64_t cur = mark;
    const struct sim_frame *rst = sim_next_tcp(sim, &cur, SIM_B, TCP_RST, 0);
    assert_non_null(rst);
    assert_int_equal(rst->tcp.seq, b_nxt);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_B, TCP_FIN, 0), 0);
    unsigned gone[2] = {1, 1}; /* A's pcb is held by its owner */
    assert_int_equal(sim_run_until(sim, pred_pcbs, gone, SEC), SIM_OK);
    sim_destroy(sim);
}

/* tcp_abort: <SEQ=SND.NXT><CTL=RST> now, the pcb gone at once. */
static void test_abort_sends_rst(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(NULL, &a, &b);
    uint64_t mark = sim_frame_mark(sim);
    uint32_t a_nxt = sim_snd_nxt(sim, SIM_A);
    sim_conn_abort(a);
    assert_int_equal(tcp_pcb_count(sim_stack(sim, SIM_A)), 0);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, b, SEC), SIM_OK);
    assert_int_equal(b->error, ECONNRESET);
    uint64_t cur = mark;
    const struct sim_frame *rst = sim_next_tcp(sim, &cur, SIM_A, TCP_RST, 0);
    assert_non_null(rst);
    assert_int_equal(rst->tcp.seq, a_nxt);
    sim_destroy(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orderly_close),
        cmocka_unit_test(test_simultaneous_close),
        cmocka_unit_test(test_half_close),
        cmocka_unit_test(test_time_wait_duration),
        cmocka_unit_test(test_close_delivers_buffered_data),
        cmocka_unit_test(test_close_with_unread_data_resets),
        cmocka_unit_test(test_abort_sends_rst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
