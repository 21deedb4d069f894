/* Data transfer behaviours, checked segment by segment on the simulator:
 * - SACK loss recovery (RFC 2018, RFC 6675): two segments of a flight are
 *   dropped once; the receiver's ACKs carry SACK blocks for what arrived
 *   above the holes, and the sender retransmits exactly the two holes,
 *   without waiting for a retransmission timeout;
 * - Nagle's algorithm (RFC 896, RFC 1122 §4.2.3.4): with Nagle, small
 *   writes wait while a small segment is unacknowledged (a full segment
 *   still goes); with TCP_NODELAY each write leaves at once;
 * - the receiver never moves the right edge of its window to the left, also
 *   with window scaling (RFC 1122 §4.2.2.16, RFC 7323 §2.4);
 * - delayed ACK (RFC 1122 §4.2.3.2, RFC 5681 §4.2): at least one ACK per
 *   two full-sized segments, and a lone segment acknowledged within 40 ms. */
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

#define PORT 5005
#define SEC UINT64_C(1000000)
#define MS UINT64_C(1000)

static struct sim *open_pair(struct sim_conn **a, struct sim_conn **b)
{
    struct sim *sim = sim_create(NULL);
    assert_non_null(sim);
    assert_int_equal(sim_open_pair(sim, PORT, a, b), SIM_OK);
    return sim;
}

static void print_frames(struct sim *sim, uint64_t from, unsigned max)
{
    sim_dump_frames(sim, stdout, from, max);
}

/* ---- SACK ---- */

#define SACK_DROPS 2

struct sack_script {
    uint32_t base;                   /* A's first data sequence number */
    unsigned drop_index[SACK_DROPS]; /* which data segments (0-based) to drop */
    unsigned seen;                   /* A's new data segments so far */
    uint32_t hi;                     /* highest end sent */
    uint32_t drop_seq[SACK_DROPS];
    uint32_t drop_end[SACK_DROPS];
    uint64_t drop_t[SACK_DROPS];
    unsigned dropped;
};

static enum sim_verdict sack_filter(struct sim *sim, const struct sim_frame *f,
                                    const uint8_t *frame, size_t len, void *ctx)
{
    (void)sim;
    (void)frame;
    (void)len;
    struct sack_script *s = ctx;
    if (f->kind != SIM_FRAME_TCP || f->from != SIM_A || f->tcp.payload_len == 0)
        return SIM_DELIVER;
    uint32_t end = f->tcp.seq + (uint32_t)f->tcp.payload_len;
    if (s->seen > 0 && !seq_gt(end, s->hi))
        return SIM_DELIVER; /* a retransmission */
    s->hi = end;
    unsigned idx = s->seen++;
    for (unsigned i = 0; i < SACK_DROPS; i++) {
        if (idx == s->drop_index[i]) {
            s->drop_seq[i] = f->tcp.seq;
            s->drop_end[i] = end;
            s->drop_t[i] = f->t_us;
            s->dropped++;
            return SIM_DROP;
        }
    }
    return SIM_DELIVER;
}

static void test_sack_recovery(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    struct stack *sa = sim_stack(sim, SIM_A);
    struct toysock_tcp_info ia;
    tcp_get_info(a->pcb, &ia);
    assert_true(ia.options & 2); /* SACK agreed */
    struct sack_script s = {.drop_index = {30, 34}};
    sim_set_filter(sim, sack_filter, &s);
    uint64_t mark = sim_frame_mark(sim);
    uint64_t timeouts = sa->stats.tcp_timeouts;
    const uint64_t total = 300000;
    sim_send_stream(a, total, 61, false);
    sim_recv_stream(b, total, 61, false);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 30 * SEC), SIM_OK);
    assert_true(sim_rx_complete(b));
    assert_int_equal(s.dropped, SACK_DROPS);
    printf("  dropped [%u,%u) and [%u,%u)\n", s.drop_seq[0], s.drop_end[0], s.drop_seq[1],
           s.drop_end[1]);

    /* The receiver reported the data above the first hole. */
    uint64_t cur = mark;
    const struct sim_frame *f;
    bool sack_above_hole1 = false, two_blocks = false;
    while ((f = sim_next_tcp(sim, &cur, SIM_B, TCP_ACK, 0)) != NULL) {
        if (f->tcp.sack_count == 0)
            continue;
        /* Every SACK block lies above the cumulative ACK. */
        for (unsigned i = 0; i < f->tcp.sack_count; i++) {
            assert_true(seq_gt(f->tcp.sack[i].left, f->tcp.ack));
            assert_true(seq_gt(f->tcp.sack[i].right, f->tcp.sack[i].left));
        }
        if (f->tcp.ack == s.drop_seq[0] && f->tcp.sack[0].left == s.drop_end[0])
            sack_above_hole1 = true;
        if (f->tcp.ack == s.drop_seq[0] && f->tcp.sack_count >= 2)
            two_blocks = true;
    }
    assert_true(sack_above_hole1);
    assert_true(two_blocks);

    /* The sender retransmitted the holes, each once, and nothing else. */
    cur = mark;
    uint32_t hi = 0;
    bool any = false;
    unsigned retrans = 0, hole_retrans[SACK_DROPS] = {0};
    uint64_t retrans_t[SACK_DROPS] = {0};
    while ((f = sim_next_tcp(sim, &cur, SIM_A, 0, TCP_SYN)) != NULL) {
        if (f->tcp.payload_len == 0)
            continue;
        uint32_t end = f->tcp.seq + (uint32_t)f->tcp.payload_len;
        if (!any || seq_gt(end, hi)) {
            any = true;
            hi = end;
            continue;
        }
        retrans++;
        bool in_hole = false;
        for (unsigned i = 0; i < SACK_DROPS; i++) {
            if (seq_geq(f->tcp.seq, s.drop_seq[i]) && seq_leq(end, s.drop_end[i])) {
                in_hole = true;
                hole_retrans[i]++;
                retrans_t[i] = f->t_us;
            }
        }
        if (!in_hole) {
            char line[512];
            sim_frame_fmt(f, line, sizeof(line));
            fail_msg("retransmitted data that had arrived: %s", line);
        }
    }
    printf("  retransmissions: %u (hole 1 after %" PRIu64 " us, hole 2 after %" PRIu64 " us)\n",
           retrans, retrans_t[0] - s.drop_t[0], retrans_t[1] - s.drop_t[1]);
    assert_int_equal(hole_retrans[0], 1);
    assert_int_equal(hole_retrans[1], 1);
    /* Without a timeout: fast retransmit / SACK recovery did it, quicker
     * than the RTO. */
    tcp_get_info(a->pcb, &ia);
    assert_int_equal(sa->stats.tcp_timeouts, timeouts);
    assert_true(sa->stats.tcp_fast_retransmits > 0);
    for (unsigned i = 0; i < SACK_DROPS; i++)
        assert_true(retrans_t[i] - s.drop_t[i] < 200 * MS);
    sim_destroy(sim);
}

/* ---- Nagle ---- */

static enum sim_verdict drop_b_pure_acks(struct sim *sim, const struct sim_frame *f,
                                         const uint8_t *frame, size_t len, void *ctx)
{
    (void)sim;
    (void)frame;
    (void)len;
    (void)ctx;
    if (f->kind == SIM_FRAME_TCP && f->from == SIM_B && f->tcp.payload_len == 0 &&
        (f->tcp.flags & (TCP_SYN | TCP_FIN | TCP_RST)) == 0)
        return SIM_DROP;
    return SIM_DELIVER;
}

/* Ten writes of 100 bytes, the stacks settling after each, with B's ACKs
 * held back; returns the number of data segments A sent meanwhile. Then
 * lets the ACKs through and checks B got the 1000 bytes. */
static unsigned small_writes(bool nodelay, unsigned *sizes, unsigned max)
{
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    struct tcp_options o = *tcp_get_options(a->pcb);
    o.nodelay = nodelay;
    assert_int_equal(tcp_set_options(a->pcb, &o), 0);
    sim_recv_stream(b, 1000, 71, false);
    sim_set_filter(sim, drop_b_pure_acks, NULL);
    uint64_t mark = sim_frame_mark(sim);
    uint8_t buf[100];
    for (unsigned i = 0; i < 10; i++) {
        sim_stream_fill(71, i * 100, buf, sizeof(buf));
        assert_int_equal(tcp_send(a->pcb, buf, sizeof(buf)), 100);
        assert_int_equal(sim_settle(sim), SIM_OK);
    }
    unsigned n = 0;
    uint64_t cur = mark;
    const struct sim_frame *f;
    while ((f = sim_next_tcp(sim, &cur, SIM_A, 0, 0)) != NULL)
        if (f->tcp.payload_len > 0 && n < max)
            sizes[n++] = (unsigned)f->tcp.payload_len;
    sim_set_filter(sim, NULL, NULL);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 10 * SEC), SIM_OK);
    assert_true(sim_rx_complete(b));
    print_frames(sim, mark, 30);
    sim_destroy(sim);
    return n;
}

static void test_nagle_coalesces(void **state)
{
    (void)state;
    unsigned sizes[16];
    unsigned n = small_writes(false, sizes, 16);
    /* One small segment in flight; the other 900 bytes wait for its ACK. */
    assert_int_equal(n, 1);
    assert_int_equal(sizes[0], 100);
}

static void test_nodelay_sends_each_write(void **state)
{
    (void)state;
    unsigned sizes[16];
    unsigned n = small_writes(true, sizes, 16);
    assert_int_equal(n, 10);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(sizes[i], 100);
}

/* RFC 1122 §4.2.3.4: with a small segment unacknowledged Nagle still lets
 * full-sized segments go, and holds back only the small remainder. */
static void test_nagle_full_segments_go(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    struct toysock_tcp_info ia;
    tcp_get_info(a->pcb, &ia);
    uint32_t mss = ia.snd_mss;
    sim_recv_stream(b, 100 + 3 * mss + 50, 72, false);
    sim_set_filter(sim, drop_b_pure_acks, NULL);
    uint64_t mark = sim_frame_mark(sim);
    uint8_t buf[8192];
    sim_stream_fill(72, 0, buf, 100);
    assert_int_equal(tcp_send(a->pcb, buf, 100), 100);
    assert_int_equal(sim_settle(sim), SIM_OK);
    size_t big = 3 * mss + 50;
    sim_stream_fill(72, 100, buf, big);
    assert_int_equal(tcp_send(a->pcb, buf, big), (long)big);
    assert_int_equal(sim_settle(sim), SIM_OK);
    print_frames(sim, mark, 10);
    unsigned full = 0, small = 0;
    uint64_t cur = mark;
    const struct sim_frame *f;
    while ((f = sim_next_tcp(sim, &cur, SIM_A, 0, 0)) != NULL) {
        if (f->tcp.payload_len == mss)
            full++;
        else if (f->tcp.payload_len > 0)
            small++;
    }
    assert_int_equal(full, 3);
    assert_int_equal(small, 1); /* the first 100 bytes; the last 50 wait */
    sim_set_filter(sim, NULL, NULL);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 10 * SEC), SIM_OK);
    assert_true(sim_rx_complete(b));
    sim_destroy(sim);
}

/* ---- the receive window ---- */

/* RFC 1122 §4.2.2.16 / RFC 9293 §3.8.6.2.2: the receiver SHOULD NOT
 * shrink the window, i.e. move its right edge (ACK + window << scale) to
 * the left. With window scaling the field must be rounded up to keep that
 * (RFC 7323 §2.4; Linux's tcp_select_window does), because segments whose
 * length is not a multiple of 2^scale move RCV.NXT by less than one unit.
 * 100-byte segments; B reads everything, or nothing (then the window
 * only closes, and must close from the left). */
static void window_edge_never_retracts(bool reading)
{
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    struct tcp_options o = *tcp_get_options(a->pcb);
    o.nodelay = true;
    assert_int_equal(tcp_set_options(a->pcb, &o), 0);
    struct toysock_tcp_info ia;
    tcp_get_info(a->pcb, &ia);
    printf("  B's window scale: %u\n", ia.snd_wscale);
    sim_recv_stream(b, 200 * 100, 91, false);
    sim_recv_pause(b, !reading);
    uint64_t mark = sim_frame_mark(sim);
    uint8_t buf[100];
    for (unsigned i = 0; i < 200; i++) {
        sim_stream_fill(91, i * 100, buf, sizeof(buf));
        assert_int_equal(tcp_send(a->pcb, buf, sizeof(buf)), 100);
        assert_int_equal(sim_run_for(sim, 10 * MS), SIM_OK);
    }
    if (reading)
        assert_true(sim_rx_complete(b));
    else
        assert_int_equal(tcp_recv_available(b->pcb), 200 * 100);
    uint64_t cur = 0;
    const struct sim_frame *f, *prev = NULL;
    uint32_t edge = 0;
    unsigned acks = 0;
    while ((f = sim_next_tcp(sim, &cur, SIM_B, TCP_ACK, TCP_SYN)) != NULL) {
        uint32_t e = f->tcp.ack + ((uint32_t)f->tcp.window << ia.snd_wscale);
        if (prev != NULL && seq_lt(e, edge)) {
            char l1[512], l2[512];
            sim_frame_fmt(prev, l1, sizeof(l1));
            sim_frame_fmt(f, l2, sizeof(l2));
            fail_msg("B's right edge moved left by %u bytes:\n  %s\n  %s", edge - e, l1, l2);
        }
        if (prev == NULL || seq_gt(e, edge)) {
            edge = e;
            prev = f;
        }
        if (f->index >= mark)
            acks++;
    }
    assert_true(acks > 0);
    sim_destroy(sim);
}

static void test_window_edge_never_retracts_reading(void **state)
{
    (void)state;
    window_edge_never_retracts(true);
}

static void test_window_edge_never_retracts_not_reading(void **state)
{
    (void)state;
    window_edge_never_retracts(false);
}

/* ---- delayed ACK ---- */

static void test_delayed_ack(void **state)
{
    (void)state;
    struct sim_conn *a, *b;
    struct sim *sim = open_pair(&a, &b);
    struct toysock_tcp_info ia;
    tcp_get_info(a->pcb, &ia);
    uint32_t mss = ia.snd_mss;
    /* Warm up past any quick-ACK phase at the start of a connection. */
    sim_send_stream(a, 200000, 81, false);
    sim_recv_stream(b, 200000, 81, false);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 10 * SEC), SIM_OK);
    assert_int_equal(sim_run_for(sim, SEC), SIM_OK);

    /* 40 full segments: count B's ACKs and check none leaves more than two
     * full segments unacknowledged once they have arrived. */
    uint64_t mark = sim_frame_mark(sim);
    uint32_t start = sim_snd_nxt(sim, SIM_A);
    sim_send_stream(a, 40 * (uint64_t)mss, 82, false);
    sim_recv_stream(b, 40 * (uint64_t)mss, 82, false);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 10 * SEC), SIM_OK);
    assert_int_equal(sim_run_for(sim, SEC), SIM_OK);
    print_frames(sim, mark, 12);
    unsigned data = 0, acks = 0;
    uint64_t cur = mark;
    const struct sim_frame *f;
    while ((f = sim_next_tcp(sim, &cur, SIM_A, 0, 0)) != NULL)
        if (f->tcp.payload_len > 0)
            data++;
    cur = mark;
    uint32_t last_ack = start;
    while ((f = sim_next_tcp(sim, &cur, SIM_B, TCP_ACK, 0)) != NULL) {
        if (f->tcp.ack == last_ack)
            continue; /* window updates and duplicates */
        acks++;
        last_ack = f->tcp.ack;
    }
    printf("  %u data segments, %u ACKs advancing\n", data, acks);
    assert_int_equal(last_ack, start + 40 * mss);
    assert_true(acks * 2 + 1 >= data); /* at least one per two segments */
    assert_true(acks * 4 <= data * 3); /* but not one per segment */

    /* A lone small segment is acknowledged, at the latest, 40 ms later. */
    mark = sim_frame_mark(sim);
    uint32_t seq = sim_snd_nxt(sim, SIM_A);
    sim_send_stream(a, 100, 83, false);
    sim_recv_stream(b, 100, 83, false);
    assert_int_equal(sim_run_for(sim, SEC), SIM_OK);
    cur = mark;
    const struct sim_frame *d = sim_next_tcp(sim, &cur, SIM_A, 0, 0);
    assert_non_null(d);
    assert_int_equal(d->tcp.seq, seq);
    const struct sim_frame *ack = sim_next_tcp(sim, &cur, SIM_B, TCP_ACK, 0);
    assert_non_null(ack);
    assert_int_equal(ack->tcp.ack, seq + 100);
    printf("  lone segment acknowledged after %" PRIu64 " us\n", ack->t_us - d->t_us);
    assert_true(ack->t_us - d->t_us <= 40 * MS);
    sim_destroy(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sack_recovery),
        cmocka_unit_test(test_nagle_coalesces),
        cmocka_unit_test(test_nodelay_sends_each_write),
        cmocka_unit_test(test_nagle_full_segments_go),
        cmocka_unit_test(test_window_edge_never_retracts_reading),
        cmocka_unit_test(test_window_edge_never_retracts_not_reading),
        cmocka_unit_test(test_delayed_ack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
