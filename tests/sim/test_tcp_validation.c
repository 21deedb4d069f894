/* Segment acceptance on an established connection, with a scripted peer
 * injecting segments into B (B's answers are recorded, not delivered, so A's
 * own TCP stays out of it):
 * - a well-formed segment at RCV.NXT is taken (the control case);
 * - RFC 9293 §3.10.7.4 first check: a segment wholly below RCV.NXT or
 *   beyond the window is not taken and draws <SEQ=SND.NXT><ACK=RCV.NXT>;
 * - RFC 7323 §5.3 (PAWS): a segment whose TSval is older than TS.Recent is
 *   dropped and acknowledged;
 * - RFC 9293 §3.10.7.4 fifth check / RFC 5961 §5.2: a segment acknowledging
 *   data never sent is dropped, its text not taken. */
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

#define PORT 5006
#define SEC UINT64_C(1000000)
#define MS UINT64_C(1000)

struct fixture {
    struct sim *sim;
    struct sim_conn *a, *b;
    uint32_t rcv_nxt; /* B's */
    uint32_t snd_nxt; /* B's */
    struct sim_frame last_a;
};

static int setup(void **state)
{
    static struct fixture fx;
    memset(&fx, 0, sizeof(fx));
    fx.sim = sim_create(NULL);
    if (fx.sim == NULL || sim_open_pair(fx.sim, PORT, &fx.a, &fx.b) != SIM_OK)
        return -1;
    if (sim_run_for(fx.sim, SEC) != SIM_OK)
        return -1;
    sim_block_tcp(fx.sim, SIM_B, true);
    fx.rcv_nxt = sim_snd_nxt(fx.sim, SIM_A);
    fx.snd_nxt = sim_snd_nxt(fx.sim, SIM_B);
    fx.last_a = *sim_last_tcp(fx.sim, SIM_A);
    *state = &fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    sim_destroy(fx->sim);
    return 0;
}

static const uint8_t text[100] = {'t', 'e', 'x', 't'};

/* A data segment from A's side: seq, ack given; TSval relative to A's last
 * (positive: newer). */
static uint64_t inject_data(struct fixture *fx, uint32_t seq, uint32_t ack, int32_t ts_delta)
{
    struct tcp_repr r;
    memset(&r, 0, sizeof(r));
    r.src_port = fx->last_a.tcp.src_port;
    r.dst_port = fx->last_a.tcp.dst_port;
    r.seq = seq;
    r.ack = ack;
    r.flags = TCP_ACK | TCP_PSH;
    r.window = fx->last_a.tcp.window;
    r.payload = text;
    r.payload_len = sizeof(text);
    if (fx->last_a.tcp.has_timestamps) {
        r.has_timestamps = true;
        r.ts_val = fx->last_a.tcp.ts_val + (uint32_t)ts_delta;
        r.ts_ecr = fx->last_a.tcp.ts_ecr;
    }
    uint64_t mark = sim_frame_mark(fx->sim);
    assert_int_equal(sim_inject_tcp(fx->sim, SIM_B, SIM_ADDR_A, NULL, &r), 0);
    assert_int_equal(sim_run_for(fx->sim, 100 * MS), SIM_OK);
    sim_dump_frames(fx->sim, stdout, mark, 4);
    return mark;
}

/* B answered with exactly <SEQ=SND.NXT><ACK=ack> and nothing else. */
static void check_bare_ack(struct fixture *fx, uint64_t mark, uint32_t ack)
{
    uint64_t cur = mark;
    const struct sim_frame *f = sim_next_tcp(fx->sim, &cur, SIM_B, 0, 0);
    assert_non_null(f);
    assert_int_equal(f->tcp.flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_ACK), TCP_ACK);
    assert_int_equal(f->tcp.seq, fx->snd_nxt);
    assert_int_equal(f->tcp.ack, ack);
    assert_int_equal(f->tcp.payload_len, 0);
    assert_int_equal(sim_count_tcp(fx->sim, mark, SIM_B, 0, 0), 1);
}

static void test_in_order_segment_taken(void **state)
{
    struct fixture *fx = *state;
    uint64_t mark = inject_data(fx, fx->rcv_nxt, fx->snd_nxt, 1);
    assert_int_equal(tcp_recv_available(fx->b->pcb), sizeof(text));
    /* Acknowledged (at once or delayed, within the 100 ms run). */
    uint64_t cur = mark;
    const struct sim_frame *f = sim_next_tcp(fx->sim, &cur, SIM_B, TCP_ACK, 0);
    assert_non_null(f);
    assert_int_equal(f->tcp.ack, fx->rcv_nxt + sizeof(text));
}

static void test_old_segment_acked_not_taken(void **state)
{
    struct fixture *fx = *state;
    uint64_t mark = inject_data(fx, fx->rcv_nxt - 1000, fx->snd_nxt, 1);
    assert_int_equal(tcp_recv_available(fx->b->pcb), 0);
    check_bare_ack(fx, mark, fx->rcv_nxt);
    assert_int_equal(sim_conn_state(fx->b), TCP_ESTABLISHED);
}

static void test_beyond_window_acked_not_taken(void **state)
{
    struct fixture *fx = *state;
    struct toysock_tcp_info ib;
    tcp_get_info(fx->b->pcb, &ib);
    uint64_t mark = inject_data(fx, fx->rcv_nxt + ib.rcv_wnd + 1000, fx->snd_nxt, 1);
    assert_int_equal(tcp_recv_available(fx->b->pcb), 0);
    check_bare_ack(fx, mark, fx->rcv_nxt);
    assert_int_equal(sim_conn_state(fx->b), TCP_ESTABLISHED);
}

static void test_paws_drops_old_timestamp(void **state)
{
    struct fixture *fx = *state;
    if (!fx->last_a.tcp.has_timestamps)
        skip();
    uint64_t drops = sim_stack(fx->sim, SIM_B)->stats.tcp_drop_paws;
    uint64_t mark = inject_data(fx, fx->rcv_nxt, fx->snd_nxt, -1000);
    assert_int_equal(tcp_recv_available(fx->b->pcb), 0);
    assert_true(sim_stack(fx->sim, SIM_B)->stats.tcp_drop_paws > drops);
    check_bare_ack(fx, mark, fx->rcv_nxt);
    assert_int_equal(sim_conn_state(fx->b), TCP_ESTABLISHED);
}

static void test_ack_of_unsent_data_dropped(void **state)
{
    struct fixture *fx = *state;
    uint64_t mark = inject_data(fx, fx->rcv_nxt, fx->snd_nxt + 5000, 1);
    assert_int_equal(tcp_recv_available(fx->b->pcb), 0);
    assert_int_equal(sim_conn_state(fx->b), TCP_ESTABLISHED);
    /* An ACK in reply is what RFC 9293 asks; Linux stays silent. Either
     * way nothing else, and no RST. */
    assert_int_equal(sim_count_tcp(fx->sim, mark, SIM_B, TCP_RST, 0), 0);
    assert_true(sim_count_tcp(fx->sim, mark, SIM_B, 0, 0) <= 1);
    /* The real stream is intact: the next proper segment is taken. */
    inject_data(fx, fx->rcv_nxt, fx->snd_nxt, 2);
    assert_int_equal(tcp_recv_available(fx->b->pcb), sizeof(text));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_in_order_segment_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_segment_acked_not_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_beyond_window_acked_not_taken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paws_drops_old_timestamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_of_unsent_data_dropped, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
