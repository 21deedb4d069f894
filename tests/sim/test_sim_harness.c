/* Tests of the simulator harness itself (tests/support/sim.c), so that a
 * failing TCP test points at TCP: the seeded stream is random-access and
 * seed-dependent, the virtual clock jumps to deadlines and never runs
 * without the stacks, a run with nothing scheduled reports a deadlock, the
 * tap records what each side sends with its direction, the filter and the
 * blocks drop after recording, and injected ARP and TCP frames reach the
 * stack they are addressed to. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "arp.h"
#include "sim.h"

#define SEC UINT64_C(1000000)
#define MS UINT64_C(1000)

static void test_stream_random_access(void **state)
{
    (void)state;
    static uint8_t whole[10000], part[10000];
    sim_stream_fill(42, 0, whole, sizeof(whole));
    /* Any window of the stream is the same bytes, whatever the alignment. */
    static const size_t offs[] = {0, 1, 7, 8, 9, 63, 1000, 4097};
    static const size_t lens[] = {1, 3, 8, 15, 64, 999, 5000};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
        for (size_t j = 0; j < sizeof(lens) / sizeof(lens[0]); j++) {
            sim_stream_fill(42, offs[i], part, lens[j]);
            assert_memory_equal(part, whole + offs[i], lens[j]);
        }
    /* Another seed, another stream; and not a constant. */
    sim_stream_fill(43, 0, part, sizeof(part));
    assert_memory_not_equal(part, whole, 64);
    unsigned distinct = 0;
    for (size_t i = 1; i < 256; i++)
        distinct += whole[i] != whole[0];
    assert_true(distinct > 200);
    /* The digest helper agrees with SHA-256 over the bytes. */
    uint8_t d1[SHA256_DIGEST_LEN], d2[SHA256_DIGEST_LEN];
    sim_stream_digest(42, sizeof(whole), d1);
    sha256(whole, sizeof(whole), d2);
    assert_memory_equal(d1, d2, SHA256_DIGEST_LEN);
}

static bool pred_never(struct sim *sim, void *ctx)
{
    (void)sim;
    (void)ctx;
    return false;
}

static void test_clock_and_deadlock(void **state)
{
    (void)state;
    struct sim *sim = sim_create(NULL);
    assert_non_null(sim);
    assert_int_equal(sim_now(sim), SIM_T0_US);
    /* Idle stacks: run_for moves the clock exactly; run_until deadlocks
     * (no timer anywhere) without moving it. */
    assert_int_equal(sim_run_for(sim, 5 * SEC), SIM_OK);
    assert_int_equal(sim_now(sim), SIM_T0_US + 5 * SEC);
    assert_int_equal(sim_run_until(sim, pred_never, NULL, 10 * SEC), SIM_DEADLOCK);
    assert_int_equal(sim_now(sim), SIM_T0_US + 5 * SEC);
    /* A pending ARP resolution is a timer: the clock jumps to its retries
     * (1 s apart, ARP_RETRY_US) and the run times out at the limit. */
    struct sim_conn *a = sim_connect(sim, SIM_A, 0xc0000263u, 80); /* nobody */
    assert_non_null(a);
    uint64_t t0 = sim_now(sim);
    assert_int_equal(sim_run_until(sim, sim_pred_closed, a, 60 * SEC), SIM_OK);
    assert_int_equal(a->error, EHOSTUNREACH);
    uint64_t cur = 0;
    unsigned requests = 0;
    for (uint64_t i = 0; i < sim_frame_mark(sim); i++) {
        const struct sim_frame *f = sim_frame_get(sim, i);
        assert_non_null(f);
        assert_int_equal(f->index, i);
        if (f->kind == SIM_FRAME_ARP && f->from == SIM_A && f->arp.op == ARP_OP_REQUEST) {
            assert_int_equal(f->t_us, t0 + requests * ARP_RETRY_US);
            requests++;
        }
    }
    assert_int_equal(requests, ARP_RETRIES);
    assert_null(sim_next_tcp(sim, &cur, SIM_ANY, 0, 0));
    assert_int_equal(sim_run_until(sim, pred_never, NULL, 2 * SEC), SIM_DEADLOCK);
    sim_destroy(sim);
}

static enum sim_verdict drop_every_other_syn(struct sim *sim, const struct sim_frame *f,
                                             const uint8_t *frame, size_t len, void *ctx)
{
    (void)sim;
    (void)frame;
    (void)len;
    unsigned *n = ctx;
    if (f->kind == SIM_FRAME_TCP && (f->tcp.flags & TCP_SYN) && !(f->tcp.flags & TCP_ACK))
        return (*n)++ % 2 == 0 ? SIM_DROP : SIM_DELIVER;
    return SIM_DELIVER;
}

static void test_tap_filter_and_blocks(void **state)
{
    (void)state;
    struct sim *sim = sim_create(NULL);
    assert_non_null(sim);
    unsigned syns = 0;
    sim_set_filter(sim, drop_every_other_syn, &syns);
    struct sim_conn *l = sim_listen(sim, SIM_B, 80, 4);
    struct sim_conn *a = sim_connect(sim, SIM_A, SIM_ADDR_B, 80);
    assert_non_null(l);
    assert_non_null(a);
    assert_int_equal(sim_run_until(sim, sim_pred_connected, a, 10 * SEC), SIM_OK);
    /* The first SYN was recorded and dropped, the retry got through. */
    uint64_t cur = 0;
    const struct sim_frame *s1 = sim_next_tcp(sim, &cur, SIM_A, TCP_SYN, TCP_ACK);
    const struct sim_frame *s2 = sim_next_tcp(sim, &cur, SIM_A, TCP_SYN, TCP_ACK);
    assert_non_null(s1);
    assert_non_null(s2);
    assert_true(s1->dropped);
    assert_false(s2->dropped);
    assert_int_equal(s1->from, SIM_A);
    assert_int_equal(s1->ip_src, SIM_ADDR_A);
    assert_int_equal(s1->ip_dst, SIM_ADDR_B);
    assert_memory_equal(s1->eth_src, sim_mac(sim, SIM_A), 6);
    assert_int_equal(s2->t_us - s1->t_us, SEC); /* the initial RTO, on the virtual clock */
    const struct sim_frame *sa = sim_next_tcp(sim, &cur, SIM_B, TCP_SYN | TCP_ACK, 0);
    assert_non_null(sa);
    assert_int_equal(sa->from, SIM_B);
    assert_int_equal(sim_snd_nxt(sim, SIM_A), s2->tcp.seq + 1);
    assert_int_equal(sim_last_ack(sim, SIM_B), s2->tcp.seq + 1);
    sim_set_filter(sim, NULL, NULL);
    /* block_all also stops ARP; block_tcp does not. */
    sim_block_all(sim, SIM_B, true);
    uint64_t mark = sim_frame_mark(sim);
    assert_int_equal(sim_inject_arp_request(sim, SIM_B, SIM_ADDR_A, NULL), 0);
    assert_int_equal(sim_run_for(sim, MS), SIM_OK);
    const struct sim_frame *inj = sim_frame_get(sim, mark);
    assert_non_null(inj);
    assert_true(inj->injected);
    assert_int_equal(inj->kind, SIM_FRAME_ARP);
    assert_int_equal(inj->from, SIM_A); /* carried by A's end of the wire */
    const struct sim_frame *reply = sim_frame_get(sim, mark + 1);
    assert_non_null(reply);
    assert_int_equal(reply->kind, SIM_FRAME_ARP);
    assert_int_equal(reply->arp.op, ARP_OP_REPLY);
    assert_true(reply->dropped);
    sim_block_all(sim, SIM_B, false);
    sim_destroy(sim);
}

/* An injected segment for a port nobody listens on draws B's RST: the
 * forged Ethernet, IPv4 and TCP headers and checksums are right. */
static void test_inject_tcp(void **state)
{
    (void)state;
    struct sim *sim = sim_create(NULL);
    assert_non_null(sim);
    static const uint8_t mac[6] = {0x02, 0, 0, 0, 0, 0x77};
    const uint32_t ip = 0xc0000277u;
    assert_int_equal(sim_inject_arp_request(sim, SIM_B, ip, mac), 0);
    const uint8_t payload[5] = {1, 2, 3, 4, 5};
    struct tcp_repr r = {.src_port = 1234,
                         .dst_port = 4321,
                         .seq = 77,
                         .ack = 99,
                         .flags = TCP_ACK | TCP_PSH,
                         .window = 1000,
                         .payload = payload,
                         .payload_len = sizeof(payload)};
    uint64_t mark = sim_frame_mark(sim);
    assert_int_equal(sim_inject_tcp(sim, SIM_B, ip, mac, &r), 0);
    assert_int_equal(sim_run_for(sim, MS), SIM_OK);
    uint64_t cur = mark;
    const struct sim_frame *f = sim_next_tcp(sim, &cur, SIM_ANY, 0, 0);
    assert_non_null(f);
    assert_true(f->injected);
    assert_int_equal(f->tcp.payload_len, 5);
    assert_int_equal(f->ip_src, ip);
    const struct sim_frame *rst = sim_next_tcp(sim, &cur, SIM_B, TCP_RST, 0);
    assert_non_null(rst);
    /* RFC 9293 §3.10.7.1, ACK on: <SEQ=SEG.ACK><CTL=RST>. */
    assert_int_equal(rst->tcp.seq, 99);
    assert_int_equal(rst->ip_dst, ip);
    assert_memory_equal(rst->eth_dst, mac, 6);
    struct tcp_repr reply;
    sim_reply_repr(f, &reply);
    assert_int_equal(reply.src_port, 4321);
    assert_int_equal(reply.dst_port, 1234);
    assert_int_equal(reply.seq, 99);
    assert_int_equal(reply.ack, 82);
    sim_destroy(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_random_access),
        cmocka_unit_test(test_clock_and_deadlock),
        cmocka_unit_test(test_tap_filter_and_blocks),
        cmocka_unit_test(test_inject_tcp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
