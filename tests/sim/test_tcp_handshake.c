/* Opening connections, checked segment by segment on the simulator:
 * - the three-way handshake carries MSS, window scale, SACK-permitted and
 *   timestamps on SYN and SYN-ACK (RFC 9293 §3.5, RFC 7323, RFC 2018), and
 *   a SYN-ACK offers only the options the SYN offered;
 * - simultaneous open (RFC 9293 §3.5, figure 8);
 * - a connection to a closed port is refused with RST (§3.10.7.1);
 * - SYNs that are never answered are retried tcp_syn_retries times (or
 *   TCP_SYNCNT) with doubling intervals, then ETIMEDOUT (RFC 6298 §5);
 * - SYN cookies when the SYN queue is full (RFC 4987 §3.6). */
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

#define PORT 5001
#define SEC UINT64_C(1000000)
#define MSS_1500 1460 /* MTU 1500 - 20 (IPv4) - 20 (TCP) */

static struct sim *new_sim(struct sim_options *o)
{
    struct sim_options dflt;
    if (o == NULL) {
        sim_options_defaults(&dflt);
        o = &dflt;
    }
    struct sim *sim = sim_create(o);
    assert_non_null(sim);
    return sim;
}

static void print_frame(const char *what, const struct sim_frame *f)
{
    char line[512];
    sim_frame_fmt(f, line, sizeof(line));
    printf("  %s: %s\n", what, line);
}

static void exchange_data(struct sim *sim, struct sim_conn *x, struct sim_conn *y, uint64_t n)
{
    sim_send_stream(x, n, 11, false);
    sim_recv_stream(y, n, 11, false);
    sim_send_stream(y, n + 1, 12, false);
    sim_recv_stream(x, n + 1, 12, false);
    assert_int_equal(sim_run_until(sim, sim_pred_streams_done, NULL, 60 * SEC), SIM_OK);
    assert_true(sim_rx_complete(x));
    assert_true(sim_rx_complete(y));
}

/* RFC 9293 §3.5 with RFC 7323 §2.2/§3.2 and RFC 2018 §2. */
static void test_handshake_options(void **state)
{
    (void)state;
    struct sim *sim = new_sim(NULL);
    struct sim_conn *a, *b;
    assert_int_equal(sim_open_pair(sim, PORT, &a, &b), SIM_OK);
    sim_dump_frames(sim, stdout, 0, 20);

    uint64_t cur = 0;
    const struct sim_frame *syn = sim_next_tcp(sim, &cur, SIM_A, TCP_SYN, TCP_ACK);
    assert_non_null(syn);
    const struct sim_frame *synack = sim_next_tcp(sim, &cur, SIM_B, TCP_SYN | TCP_ACK, 0);
    assert_non_null(synack);
    const struct sim_frame *ack = sim_next_tcp(sim, &cur, SIM_A, TCP_ACK, TCP_SYN);
    assert_non_null(ack);

    /* SYN: <SEQ=ISS><CTL=SYN>, every option we speak. */
    assert_int_equal(syn->tcp.flags & (TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN), TCP_SYN);
    assert_int_equal(syn->tcp.dst_port, PORT);
    assert_int_equal(syn->tcp.payload_len, 0);
    assert_true(syn->tcp.has_mss);
    assert_int_equal(syn->tcp.mss, MSS_1500);
    assert_true(syn->tcp.has_wscale);
    assert_true(syn->tcp.sack_permitted);
    assert_true(syn->tcp.has_timestamps);
    assert_int_equal(syn->tcp.ts_ecr, 0); /* RFC 7323 §3.2: TSecr is 0 without ACK */
    assert_true(syn->tcp.window > 0);

    /* SYN-ACK: <SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>, the same options back. */
    assert_int_equal(synack->tcp.src_port, PORT);
    assert_int_equal(synack->tcp.dst_port, syn->tcp.src_port);
    assert_int_equal(synack->tcp.ack, syn->tcp.seq + 1);
    assert_int_equal(synack->tcp.payload_len, 0);
    assert_true(synack->tcp.has_mss);
    assert_int_equal(synack->tcp.mss, MSS_1500);
    assert_true(synack->tcp.has_wscale);
    assert_true(synack->tcp.sack_permitted);
    assert_true(synack->tcp.has_timestamps);
    assert_int_equal(synack->tcp.ts_ecr, syn->tcp.ts_val); /* RFC 7323 §4.3 */
    assert_true(synack->tcp.window > 0);

    /* ACK: <SEQ=ISS+1><ACK=peer ISS+1>, no SYN options any more. */
    assert_int_equal(ack->tcp.seq, syn->tcp.seq + 1);
    assert_int_equal(ack->tcp.ack, synack->tcp.seq + 1);
    assert_false(ack->tcp.has_mss);
    assert_false(ack->tcp.has_wscale);
    assert_false(ack->tcp.sack_permitted);
    assert_true(ack->tcp.has_timestamps); /* RFC 7323 §3.2: on every segment once agreed */
    assert_int_equal(ack->tcp.ts_ecr, synack->tcp.ts_val);

    /* Exactly one of each, and nothing refused. */
    assert_int_equal(sim_count_tcp(sim, 0, SIM_ANY, TCP_SYN, 0), 2);
    assert_int_equal(sim_count_tcp(sim, 0, SIM_ANY, TCP_RST, 0), 0);

    /* Both ends agreed on every option. */
    struct toysock_tcp_info ia, ib;
    tcp_get_info(a->pcb, &ia);
    tcp_get_info(b->pcb, &ib);
    assert_int_equal(ia.state, TCP_ESTABLISHED);
    assert_int_equal(ib.state, TCP_ESTABLISHED);
    assert_int_equal(ia.options & 7, 7); /* timestamps, SACK, window scale */
    assert_int_equal(ib.options & 7, 7);
    assert_int_equal(ia.snd_wscale, synack->tcp.wscale);
    assert_int_equal(ia.rcv_wscale, syn->tcp.wscale);
    assert_int_equal(ib.snd_wscale, syn->tcp.wscale);
    assert_int_equal(ib.rcv_wscale, synack->tcp.wscale);
    assert_true(ia.snd_mss <= MSS_1500 && ia.snd_mss >= MSS_1500 - 12);

    /* Data flows, and its segments respect the MSS. */
    uint64_t mark = sim_frame_mark(sim);
    exchange_data(sim, a, b, 100000);
    /* RFC 7323 §2.3: the scaled windows go past 64 KiB (256 KiB buffers). */
    tcp_get_info(a->pcb, &ia);
    tcp_get_info(b->pcb, &ib);
    assert_true(ia.snd_wnd > 65535);
    assert_true(ib.snd_wnd > 65535);
    uint64_t c = mark;
    const struct sim_frame *f;
    while ((f = sim_next_tcp(sim, &c, SIM_ANY, 0, 0)) != NULL) {
        assert_true(f->tcp.payload_len <= MSS_1500);
        assert_true(f->tcp.has_timestamps);
    }
    sim_destroy(sim);
}

/* RFC 7323 §1.3 / §2.2, RFC 2018 §2: options not offered in the SYN must
 * not appear in the SYN-ACK. A scripted peer sends a bare SYN. */
static void test_synack_mirrors_bare_syn(void **state)
{
    (void)state;
    struct sim *sim = new_sim(NULL);
    struct sim_conn *l = sim_listen(sim, SIM_B, PORT, 8);
    assert_non_null(l);
    sim_block_tcp(sim, SIM_B, true);
    assert_int_equal(sim_inject_arp_request(sim, SIM_B, SIM_ADDR_A, NULL), 0);
    struct tcp_repr syn = {.src_port = 40000,
                           .dst_port = PORT,
                           .seq = 1000,
                           .flags = TCP_SYN,
                           .window = 8192,
                           .has_mss = true,
                           .mss = 536};
    uint64_t mark = sim_frame_mark(sim);
    assert_int_equal(sim_inject_tcp(sim, SIM_B, SIM_ADDR_A, NULL, &syn), 0);
    assert_int_equal(sim_run_for(sim, 1000), SIM_OK);
    uint64_t cur = mark;
    const struct sim_frame *sa = sim_next_tcp(sim, &cur, SIM_B, TCP_SYN | TCP_ACK, 0);
    assert_non_null(sa);
    print_frame("SYN-ACK", sa);
    assert_int_equal(sa->tcp.ack, 1001);
    assert_true(sa->tcp.has_mss);
    assert_false(sa->tcp.has_wscale);
    assert_false(sa->tcp.sack_permitted);
    assert_false(sa->tcp.has_timestamps);

    /* Complete it: the connection uses the peer's MSS of 536. */
    struct tcp_repr ack;
    sim_reply_repr(sa, &ack);
    assert_int_equal(sim_inject_tcp(sim, SIM_B, SIM_ADDR_A, NULL, &ack), 0);
    assert_int_equal(sim_run_for(sim, 1000), SIM_OK);
    struct sim_conn *b = sim_accept(l);
    assert_non_null(b);
    assert_int_equal(sim_conn_state(b), TCP_ESTABLISHED);
    struct toysock_tcp_info ib;
    tcp_get_info(b->pcb, &ib);
    assert_int_equal(ib.options & 7, 0);
    assert_int_equal(ib.snd_mss, 536);
    /* Without window scaling the window it offers fits in 16 bits unscaled. */
    mark = sim_frame_mark(sim);
    sim_send_stream(b, 5000, 3, false);
    assert_int_equal(sim_run_for(sim, 1000), SIM_OK);
    cur = mark;
    const struct sim_frame *d = sim_next_tcp(sim, &cur, SIM_B, 0, TCP_SYN);
    assert_non_null(d);
    assert_int_equal(d->tcp.payload_len, 536);
    assert_false(d->tcp.has_timestamps);
    sim_destroy(sim);
}

/* RFC 9293 §3.5 figure 8: both ends send SYN, each answers the other's SYN
 * with a SYN-ACK carrying its own ISS, both reach ESTABLISHED. */
static void test_simultaneous_open(void **state)
{
    (void)state;
    struct sim *sim = new_sim(NULL);
    struct sim_conn *a = sim_conn_new(sim, SIM_A);
    struct sim_conn *b = sim_conn_new(sim, SIM_B);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(tcp_bind(a->pcb, 0, 7000, false), 0);
    assert_int_equal(tcp_bind(b->pcb, 0, 7001, false), 0);
    assert_int_equal(sim_conn_connect(a, SIM_ADDR_B, 7001), 0);
    assert_int_equal(sim_conn_connect(b, SIM_ADDR_A, 7000), 0);
    assert_int_equal(sim_run_until(sim, sim_pred_connected, a, 30 * SEC), SIM_OK);
    assert_int_equal(sim_run_until(sim, sim_pred_connected, b, 30 * SEC), SIM_OK);
    sim_dump_frames(sim, stdout, 0, 20);
    assert_false(a->closed);
    assert_false(b->closed);
    assert_int_equal(sim_conn_state(a), TCP_ESTABLISHED);
    assert_int_equal(sim_conn_state(b), TCP_ESTABLISHED);

    uint64_t cur = 0;
    const struct sim_frame *syn_a = sim_next_tcp(sim, &cur, SIM_A, TCP_SYN, TCP_ACK);
    cur = 0;
    const struct sim_frame *syn_b = sim_next_tcp(sim, &cur, SIM_B, TCP_SYN, TCP_ACK);
    assert_non_null(syn_a);
    assert_non_null(syn_b);
    /* The SYNs crossed: each was sent before the other arrived, so each
     * side answers with SYN-ACK (same ISS, acknowledging the peer's). */
    cur = 0;
    const struct sim_frame *sa_a = sim_next_tcp(sim, &cur, SIM_A, TCP_SYN | TCP_ACK, 0);
    cur = 0;
    const struct sim_frame *sa_b = sim_next_tcp(sim, &cur, SIM_B, TCP_SYN | TCP_ACK, 0);
    assert_non_null(sa_a);
    assert_non_null(sa_b);
    assert_int_equal(sa_a->tcp.seq, syn_a->tcp.seq);
    assert_int_equal(sa_a->tcp.ack, syn_b->tcp.seq + 1);
    assert_int_equal(sa_b->tcp.seq, syn_b->tcp.seq);
    assert_int_equal(sa_b->tcp.ack, syn_a->tcp.seq + 1);
    assert_int_equal(sim_count_tcp(sim, 0, SIM_ANY, TCP_RST, 0), 0);
    assert_true(a->events & TCP_EV_CONNECTED);
    assert_true(b->events & TCP_EV_CONNECTED);
    exchange_data(sim, a, b, 50000);
    sim_destroy(sim);
}

/* RFC 9293 §3.10.7.1: a SYN to a port nobody listens on gets
 * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>; the connecting end reports
 * ECONNREFUSED (§3.10.7.3). */
static void test_connect_closed_port_refused(void **state)
{
    (void)state;
    struct sim *sim = new_sim(NULL);
    struct sim_conn *a = sim_connect(sim, SIM_A, SIM_ADDR_B, 9);
    assert_non_null(a);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, a, 30 * SEC), SIM_OK);
    sim_dump_frames(sim, stdout, 0, 10);
    assert_int_equal(a->error, ECONNREFUSED);
    assert_false(a->events & TCP_EV_CONNECTED);
    uint64_t cur = 0;
    const struct sim_frame *syn = sim_next_tcp(sim, &cur, SIM_A, TCP_SYN, 0);
    const struct sim_frame *rst = sim_next_tcp(sim, &cur, SIM_B, TCP_RST, 0);
    assert_non_null(syn);
    assert_non_null(rst);
    assert_true(rst->tcp.flags & TCP_ACK);
    assert_int_equal(rst->tcp.seq, 0);
    assert_int_equal(rst->tcp.ack, syn->tcp.seq + 1);
    assert_int_equal(rst->tcp.payload_len, 0);
    /* One SYN, no retries after the refusal. */
    assert_int_equal(sim_run_for(sim, 10 * SEC), SIM_OK);
    assert_int_equal(sim_count_tcp(sim, 0, SIM_A, TCP_SYN, 0), 1);
    /* A second connect to the same closed port fails the same way. */
    struct sim_conn *a2 = sim_connect(sim, SIM_A, SIM_ADDR_B, 9);
    assert_non_null(a2);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, a2, 30 * SEC), SIM_OK);
    assert_int_equal(a2->error, ECONNREFUSED);
    sim_destroy(sim);
}

/* SYN times of side from index 0 on; returns how many (at most max). */
static unsigned syn_times(struct sim *sim, enum sim_side side, uint64_t *t, unsigned max)
{
    unsigned n = 0;
    uint64_t cur = 0;
    const struct sim_frame *f;
    while ((f = sim_next_tcp(sim, &cur, (int)side, TCP_SYN, TCP_ACK)) != NULL && n < max)
        t[n++] = f->t_us;
    return n;
}

static void check_syn_retries(struct sim *sim, struct sim_conn *a, unsigned retries)
{
    uint64_t t[32];
    unsigned n = syn_times(sim, SIM_A, t, 32);
    printf("  %u SYNs:", n);
    for (unsigned i = 0; i < n; i++)
        printf(" +%" PRIu64 "us", t[i] - t[0]);
    printf("; ETIMEDOUT after +%" PRIu64 "us\n", a->closed_at_us - t[0]);
    assert_true(a->closed);
    assert_int_equal(a->error, ETIMEDOUT);
    assert_int_equal(n, 1 + retries);
    /* RFC 6298 §2.1 / §5.5: the first retry after the initial RTO (1 s for
     * a SYN with no RTT sample), then each interval doubles. */
    uint64_t first = t[1] - t[0];
    assert_true(first >= 900000 && first <= 3000000);
    for (unsigned i = 2; i < n; i++) {
        uint64_t prev = t[i - 1] - t[i - 2], cur = t[i] - t[i - 1];
        assert_true(cur + 1000 >= 2 * prev && cur <= 2 * prev + 1000);
    }
    /* After the last SYN, one more (doubled) timeout before giving up. */
    uint64_t last = t[n - 1] - t[n - 2];
    uint64_t wait = a->closed_at_us - t[n - 1];
    assert_true(wait + 1000 >= last && wait <= 2 * last + 1000);
}

/* RFC 9293 §3.8.3 / RFC 6298 §5: unanswered SYNs are retried
 * tcp_syn_retries times with backoff, then the connect fails ETIMEDOUT. */
static void test_syn_retries_config(void **state)
{
    (void)state;
    struct sim_options o;
    sim_options_defaults(&o);
    o.cfg[SIM_A].tcp_syn_retries = 3;
    struct sim *sim = new_sim(&o);
    struct sim_conn *l = sim_listen(sim, SIM_B, PORT, 8);
    assert_non_null(l);
    sim_block_tcp(sim, SIM_A, true); /* B never sees a SYN; ARP still works */
    struct sim_conn *a = sim_connect(sim, SIM_A, SIM_ADDR_B, PORT);
    assert_non_null(a);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, a, 600 * SEC), SIM_OK);
    check_syn_retries(sim, a, 3);
    assert_int_equal(tcp_pcb_count(sim_stack(sim, SIM_B)), 1);
    sim_destroy(sim);
}

/* TCP_SYNCNT on the socket overrides the configured retries. */
static void test_syn_retries_option(void **state)
{
    (void)state;
    struct sim *sim = new_sim(NULL);
    sim_block_tcp(sim, SIM_A, true);
    struct sim_conn *a = sim_conn_new(sim, SIM_A);
    assert_non_null(a);
    struct tcp_options opts = *tcp_get_options(a->pcb);
    opts.syn_retries = 2;
    assert_int_equal(tcp_set_options(a->pcb, &opts), 0);
    assert_int_equal(sim_conn_connect(a, SIM_ADDR_B, PORT), 0);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, a, 600 * SEC), SIM_OK);
    check_syn_retries(sim, a, 2);
    sim_destroy(sim);
}

/* RFC 4987 §3.6: with the SYN queue full of half-open connections from a
 * flood, the listener answers with SYN cookies, and a real client still
 * connects; a forged ACK with a bad cookie is refused. */
static void test_syn_cookies(void **state)
{
    (void)state;
    struct sim *sim = new_sim(NULL);
    struct stack *sb = sim_stack(sim, SIM_B);
    struct sim_conn *l = sim_listen(sim, SIM_B, PORT, 4);
    assert_non_null(l);
    /* The flood comes from 192.0.2.99, a host that never answers: B learns
     * its MAC from an ARP request, then sends its SYN-ACKs into the void. */
    static const uint8_t ghost_mac[6] = {0x02, 0, 0, 0, 0, 0x99};
    const uint32_t ghost = 0xc0000263u;
    assert_int_equal(sim_inject_arp_request(sim, SIM_B, ghost, ghost_mac), 0);
    assert_int_equal(sim_run_for(sim, 1000), SIM_OK);
    unsigned sent = 0;
    for (unsigned batch = 0; batch < 64 && sb->stats.tcp_syncookies_sent == 0; batch++) {
        for (unsigned i = 0; i < 32; i++, sent++) {
            struct tcp_repr syn = {.src_port = (uint16_t)(20000 + sent),
                                   .dst_port = PORT,
                                   .seq = 0x10000000u + sent * 7777u,
                                   .flags = TCP_SYN,
                                   .window = 65535,
                                   .has_mss = true,
                                   .mss = 1460};
            assert_int_equal(sim_inject_tcp(sim, SIM_B, ghost, ghost_mac, &syn), 0);
        }
        assert_int_equal(sim_run_for(sim, 1000), SIM_OK);
    }
    printf("  %u forged SYNs; SYN queue drops %" PRIu64 ", cookies sent %" PRIu64 "\n", sent,
           sb->stats.tcp_drop_syn_queue_full, sb->stats.tcp_syncookies_sent);
    assert_true(sb->stats.tcp_syncookies_sent > 0);
    uint64_t cookies_before = sb->stats.tcp_syncookies_sent;
    uint64_t ok_before = sb->stats.tcp_syncookies_ok;

    /* A real client while the queue is still full. */
    uint64_t mark = sim_frame_mark(sim);
    struct sim_conn *a = sim_connect(sim, SIM_A, SIM_ADDR_B, PORT);
    assert_non_null(a);
    assert_int_equal(sim_run_until(sim, sim_pred_connected, a, 30 * SEC), SIM_OK);
    assert_false(a->closed);
    assert_true(sb->stats.tcp_syncookies_sent > cookies_before);
    assert_true(sb->stats.tcp_syncookies_ok > ok_before);
    uint64_t cur = mark;
    const struct sim_frame *sa = sim_next_tcp(sim, &cur, SIM_B, TCP_SYN | TCP_ACK, 0);
    assert_non_null(sa);
    print_frame("cookie SYN-ACK", sa);
    assert_true(sa->tcp.has_mss);
    struct sim_conn *b = NULL;
    for (unsigned i = 0; i < 10 && b == NULL; i++) {
        b = sim_accept(l);
        if (b == NULL)
            assert_int_equal(sim_run_for(sim, 1000), SIM_OK);
    }
    assert_non_null(b);
    uint32_t addr;
    uint16_t port;
    tcp_remote_endpoint(b->pcb, &addr, &port);
    assert_int_equal(addr, SIM_ADDR_A);
    exchange_data(sim, a, b, 200000);

    /* A forged ACK whose cookie is wrong makes no connection. */
    uint64_t failed_before = sb->stats.tcp_syncookies_failed;
    unsigned accepted_before = l->accepted_total;
    struct tcp_repr bad = {.src_port = 30000,
                           .dst_port = PORT,
                           .seq = 0x20000001u,
                           .ack = 0x12345678u,
                           .flags = TCP_ACK,
                           .window = 65535};
    mark = sim_frame_mark(sim);
    assert_int_equal(sim_inject_tcp(sim, SIM_B, ghost, ghost_mac, &bad), 0);
    assert_int_equal(sim_run_for(sim, 1000), SIM_OK);
    assert_int_equal(l->accepted_total, accepted_before);
    assert_true(sb->stats.tcp_syncookies_failed > failed_before ||
                sim_count_tcp(sim, mark, SIM_B, TCP_RST, 0) == 1);
    sim_destroy(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_options),
        cmocka_unit_test(test_synack_mirrors_bare_syn),
        cmocka_unit_test(test_simultaneous_open),
        cmocka_unit_test(test_connect_closed_port_refused),
        cmocka_unit_test(test_syn_retries_config),
        cmocka_unit_test(test_syn_retries_option),
        cmocka_unit_test(test_syn_cookies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
