/* Resets, checked segment by segment on the simulator (RFC 9293 §3.10.7,
 * RFC 5961):
 * - SYN-SENT: an RST that acknowledges our SYN refuses the connection
 *   (ECONNREFUSED); one that does not is ignored;
 * - SYN-RECEIVED: an RST removes the half-open connection and the listener
 *   goes on listening;
 * - ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2, CLOSE-WAIT: an RST at exactly
 *   RCV.NXT kills the connection with ECONNRESET (EPIPE accepted in
 *   CLOSE-WAIT, as Linux reports it);
 * - RFC 5961 §3.2: an in-window RST not at RCV.NXT gets a challenge ACK and
 *   changes nothing; an out-of-window RST is dropped silently;
 * - RFC 5961 §4.2: a SYN in ESTABLISHED gets a challenge ACK. */
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

#define PORT 5003
#define SEC UINT64_C(1000000)
#define MS UINT64_C(1000)

static struct sim *open_pair(struct sim_conn **a, struct sim_conn **b)
{
    struct sim *sim = sim_create(NULL);
    assert_non_null(sim);
    assert_int_equal(sim_open_pair(sim, PORT, a, b), SIM_OK);
    return sim;
}

/* A segment from A's side of an established pair to B, as A would send it
 * next (timestamps copied from A's last segment when in use). */
static void repr_from_a(struct sim *sim, struct tcp_repr *r, uint8_t flags)
{
    const struct sim_frame *last = sim_last_tcp(sim, SIM_A);
    assert_non_null(last);
    memset(r, 0, sizeof(*r));
    r->src_port = last->tcp.src_port;
    r->dst_port = last->tcp.dst_port;
    r->seq = sim_snd_nxt(sim, SIM_A);
    r->ack = sim_snd_nxt(sim, SIM_B);
    r->flags = flags;
    r->window = last->tcp.window;
    if (last->tcp.has_timestamps && !(flags & TCP_RST)) {
        r->has_timestamps = true;
        r->ts_val = last->tcp.ts_val + 1;
        r->ts_ecr = last->tcp.ts_ecr;
    }
}

static void inject_rst_at(struct sim *sim, uint32_t seq)
{
    struct tcp_repr r;
    repr_from_a(sim, &r, TCP_RST);
    r.seq = seq;
    r.ack = 0;
    assert_int_equal(sim_inject_tcp(sim, SIM_B, SIM_ADDR_A, NULL, &r), 0);
}

/* Injects an RST at B's RCV.NXT and checks that b dies with one of the
 * errors given (second may be 0), without B answering it. */
static void rst_kills(struct sim *sim, struct sim_conn *b, int err, int err2)
{
    uint64_t mark = sim_frame_mark(sim);
    uint64_t resets = sim_stack(sim, SIM_B)->stats.tcp_conn_reset_rx;
    inject_rst_at(sim, sim_snd_nxt(sim, SIM_A));
    assert_int_equal(sim_run_until(sim, sim_pred_closed, b, SEC), SIM_OK);
    printf("  B closed with %d (%s)\n", b->error, strerror(b->error));
    assert_true(b->error == err || (err2 != 0 && b->error == err2));
    assert_int_equal(sim_count_tcp(sim, mark, SIM_B, TCP_RST, 0), 0);
    assert_true(sim_stack(sim, SIM_B)->stats.tcp_conn_reset_rx > resets);
    /* Its data calls now fail with the error. */
    long rc = tcp_send(b->pcb, "x", 1);
    assert_true(rc < 0);
}

/* §3.10.7.3: in SYN-SENT an RST is acceptable only if it acknowledges the
 * SYN; then the connection is refused. */
static void test_rst_in_syn_sent(void **state)
{
    (void)state;
    struct sim *sim = sim_create(NULL);
    assert_non_null(sim);
    struct sim_conn *l = sim_listen(sim, SIM_B, PORT, 8);
    assert_non_null(l);
    sim_block_tcp(sim, SIM_B, true); /* B's SYN-ACK never arrives */
    struct sim_conn *a = sim_connect(sim, SIM_A, SIM_ADDR_B, PORT);
    assert_non_null(a);
    assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
    assert_int_equal(sim_conn_state(a), TCP_SYN_SENT);
    uint64_t cur = 0;
    const struct sim_frame *syn = sim_next_tcp(sim, &cur, SIM_A, TCP_SYN, 0);
    assert_non_null(syn);
    /* An RST whose ACK is not our ISS+1: ignored. */
    struct tcp_repr r = {.src_port = PORT,
                         .dst_port = syn->tcp.src_port,
                         .seq = 0,
                         .ack = syn->tcp.seq + 1000,
                         .flags = TCP_RST | TCP_ACK};
    assert_int_equal(sim_inject_tcp(sim, SIM_A, SIM_ADDR_B, NULL, &r), 0);
    assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
    assert_false(a->closed);
    assert_int_equal(sim_conn_state(a), TCP_SYN_SENT);
    /* An RST without ACK: ignored too ("If the ACK bit is off ... drop"). */
    r.flags = TCP_RST;
    r.ack = 0;
    assert_int_equal(sim_inject_tcp(sim, SIM_A, SIM_ADDR_B, NULL, &r), 0);
    assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
    assert_false(a->closed);
    /* The right one: refused. */
    r.flags = TCP_RST | TCP_ACK;
    r.ack = syn->tcp.seq + 1;
    assert_int_equal(sim_inject_tcp(sim, SIM_A, SIM_ADDR_B, NULL, &r), 0);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, a, SEC), SIM_OK);
    assert_int_equal(a->error, ECONNREFUSED);
    assert_false(a->events & TCP_EV_CONNECTED);
    sim_destroy(sim);
}

/* §3.10.7.4: an RST in SYN-RECEIVED (passive open) returns to LISTEN: the
 * half-open connection is gone, nothing is accepted. */
static void test_rst_in_syn_received(void **state)
{
    (void)state;
    struct sim *sim = sim_create(NULL);
    assert_non_null(sim);
    struct stack *sb = sim_stack(sim, SIM_B);
    struct sim_conn *l = sim_listen(sim, SIM_B, PORT, 8);
    assert_non_null(l);
    sim_block_tcp(sim, SIM_B, true);
    assert_int_equal(sim_inject_arp_request(sim, SIM_B, SIM_ADDR_A, NULL), 0);
    struct tcp_repr syn = {.src_port = 40001,
                           .dst_port = PORT,
                           .seq = 5000,
                           .flags = TCP_SYN,
                           .window = 65535,
                           .has_mss = true,
                           .mss = 1460};
    uint64_t mark = sim_frame_mark(sim);
    assert_int_equal(sim_inject_tcp(sim, SIM_B, SIM_ADDR_A, NULL, &syn), 0);
    assert_int_equal(sim_run_for(sim, MS), SIM_OK);
    uint64_t cur = mark;
    const struct sim_frame *sa = sim_next_tcp(sim, &cur, SIM_B, TCP_SYN | TCP_ACK, 0);
    assert_non_null(sa);
    unsigned count_half_open = tcp_pcb_count(sb);
    printf("  pcbs on B with a half-open connection: %u\n", count_half_open);
    /* RST at RCV.NXT (5001). */
    struct tcp_repr rst = {.src_port = 40001, .dst_port = PORT, .seq = 5001, .flags = TCP_RST};
    assert_int_equal(sim_inject_tcp(sim, SIM_B, SIM_ADDR_A, NULL, &rst), 0);
    assert_int_equal(sim_run_for(sim, MS), SIM_OK);
    assert_int_equal(tcp_pcb_count(sb), 1); /* only the listener */
    /* No SYN-ACK retransmissions for it any more. */
    mark = sim_frame_mark(sim);
    assert_int_equal(sim_run_for(sim, 10 * SEC), SIM_OK);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_B, TCP_SYN, 0), 0);
    /* The ACK that would have completed it makes no connection. */
    struct tcp_repr ack;
    sim_reply_repr(sa, &ack);
    assert_int_equal(sim_inject_tcp(sim, SIM_B, SIM_ADDR_A, NULL, &ack), 0);
    assert_int_equal(sim_run_for(sim, MS), SIM_OK);
    assert_null(sim_accept(l));
    assert_int_equal(l->accepted_total, 0);
    /* The listener still works. */
    sim_block_tcp(sim, SIM_B, false);
    struct sim_conn *a = sim_connect(sim, SIM_A, SIM_ADDR_B, PORT);
    assert_non_null(a);
    assert_int_equal(sim_run_until(sim, sim_pred_connected, a, 5 * SEC), SIM_OK);
    assert_false(a->closed);
    sim_destroy(sim);
}

static void test_rst_in_established(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    sim_send_stream(a, 10000, 1, false);
    sim_recv_stream(b, 10000, 1, false);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 5 * SEC), SIM_OK);
    assert_int_equal(sim_run_for(sim, SEC), SIM_OK); /* delayed ACKs out */
    rst_kills(sim, b, ECONNRESET, 0);
    sim_destroy(sim);
}

/* FIN-WAIT-1: B's FIN is not acknowledged (A's TCP is cut off). */
static void test_rst_in_fin_wait_1(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    sim_block_tcp(sim, SIM_B, true);
    assert_int_equal(tcp_shutdown_write(b->pcb), 0);
    assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
    assert_int_equal(sim_conn_state(b), TCP_FIN_WAIT_1);
    sim_block_tcp(sim, SIM_B, false);
    rst_kills(sim, b, ECONNRESET, 0);
    sim_destroy(sim);
}

static void test_rst_in_fin_wait_2(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    assert_int_equal(tcp_shutdown_write(b->pcb), 0);
    assert_int_equal(sim_run_for(sim, SEC), SIM_OK);
    assert_int_equal(sim_conn_state(b), TCP_FIN_WAIT_2);
    assert_int_equal(sim_conn_state(a), TCP_CLOSE_WAIT);
    /* A's TCP would answer B's challenge ACKs; keep it out of it. */
    sim_block_tcp(sim, SIM_B, true);
    rst_kills(sim, b, ECONNRESET, 0);
    sim_destroy(sim);
}

static void test_rst_in_close_wait(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    assert_int_equal(tcp_shutdown_write(a->pcb), 0);
    assert_int_equal(sim_run_for(sim, SEC), SIM_OK);
    assert_int_equal(sim_conn_state(b), TCP_CLOSE_WAIT);
    sim_block_tcp(sim, SIM_B, true);
    rst_kills(sim, b, ECONNRESET, EPIPE);
    sim_destroy(sim);
}

/* RFC 5961 §3.2: an RST inside the window but not at RCV.NXT is answered
 * with a challenge ACK <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and otherwise
 * ignored; an RST outside the window is dropped without an answer. */
static void test_challenge_ack_for_rst(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    struct stack *sb = sim_stack(sim, SIM_B);
    sim_block_tcp(sim, SIM_B, true); /* so A's TCP stays out of it */
    uint32_t rcv_nxt = sim_snd_nxt(sim, SIM_A);
    uint32_t snd_nxt = sim_snd_nxt(sim, SIM_B);
    uint64_t challenges = sb->stats.tcp_challenge_acks;

    uint64_t mark = sim_frame_mark(sim);
    inject_rst_at(sim, rcv_nxt + 1000);
    assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
    sim_dump_frames(sim, stdout, mark, 5);
    assert_false(b->closed);
    assert_int_equal(sim_conn_state(b), TCP_ESTABLISHED);
    uint64_t cur = mark;
    const struct sim_frame *ch = sim_next_tcp(sim, &cur, SIM_B, TCP_ACK, 0);
    assert_non_null(ch);
    assert_int_equal(ch->tcp.flags & (TCP_RST | TCP_SYN | TCP_FIN), 0);
    assert_int_equal(ch->tcp.seq, snd_nxt);
    assert_int_equal(ch->tcp.ack, rcv_nxt);
    assert_int_equal(ch->tcp.payload_len, 0);
    assert_true(sb->stats.tcp_challenge_acks > challenges);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_B, 0, 0), 1);

    /* Out of window (far beyond RCV.NXT + RCV.WND): silence. */
    mark = sim_frame_mark(sim);
    inject_rst_at(sim, rcv_nxt + 0x40000000u);
    assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
    assert_false(b->closed);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_B, 0, 0), 0);
    /* Below RCV.NXT: silence as well. */
    inject_rst_at(sim, rcv_nxt - 1);
    assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
    assert_false(b->closed);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_B, 0, 0), 0);

    /* The connection still works end to end. */
    sim_block_tcp(sim, SIM_B, false);
    sim_send_stream(b, 50000, 5, false);
    sim_recv_stream(a, 50000, 5, false);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 5 * SEC), SIM_OK);
    assert_true(sim_rx_complete(a));
    sim_destroy(sim);
}

/* RFC 5961 §4.2: any SYN in a synchronized state gets a challenge ACK; the
 * connection is not reset. */
static void test_challenge_ack_for_syn(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    sim_block_tcp(sim, SIM_B, true);
    uint32_t rcv_nxt = sim_snd_nxt(sim, SIM_A);
    uint32_t snd_nxt = sim_snd_nxt(sim, SIM_B);
    uint64_t mark = sim_frame_mark(sim);
    for (int i = 0; i < 2; i++) {
        struct tcp_repr syn;
        repr_from_a(sim, &syn, TCP_SYN);
        /* In window, then out of window: the same answer. */
        syn.seq = i == 0 ? rcv_nxt + 10 : rcv_nxt + 0x30000000u;
        syn.ack = 0;
        syn.has_mss = true;
        syn.mss = 1460;
        assert_int_equal(sim_inject_tcp(sim, SIM_B, SIM_ADDR_A, NULL, &syn), 0);
        assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
    }
    sim_dump_frames(sim, stdout, mark, 6);
    assert_false(b->closed);
    assert_int_equal(sim_conn_state(b), TCP_ESTABLISHED);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_B, TCP_RST, 0), 0);
    assert_int_equal(sim_count_tcp(sim, mark, SIM_B, TCP_SYN, 0), 0);
    uint64_t cur = mark;
    const struct sim_frame *ch = sim_next_tcp(sim, &cur, SIM_B, TCP_ACK, 0);
    assert_non_null(ch);
    assert_int_equal(ch->tcp.seq, snd_nxt);
    assert_int_equal(ch->tcp.ack, rcv_nxt);
    assert_true(sim_stack(sim, SIM_B)->stats.tcp_challenge_acks > 0);
    sim_block_tcp(sim, SIM_B, false);
    sim_send_stream(a, 50000, 6, false);
    sim_recv_stream(b, 50000, 6, false);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 5 * SEC), SIM_OK);
    assert_true(sim_rx_complete(b));
    sim_destroy(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rst_in_syn_sent),       cmocka_unit_test(test_rst_in_syn_received),
        cmocka_unit_test(test_rst_in_established),    cmocka_unit_test(test_rst_in_fin_wait_1),
        cmocka_unit_test(test_rst_in_fin_wait_2),     cmocka_unit_test(test_rst_in_close_wait),
        cmocka_unit_test(test_challenge_ack_for_rst), cmocka_unit_test(test_challenge_ack_for_syn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
