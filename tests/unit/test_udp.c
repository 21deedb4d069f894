/* Unit tests for UDP sockets: two stacks joined by a virtual wire exchange
 * datagrams both ways; ephemeral ports are random and in range; connect
 * and disconnect; demultiplexing prefers a connected socket, then a bound
 * address, and balances SO_REUSEPORT groups; ICMP port unreachable reaches
 * only a connected sender; SO_BROADCAST guards broadcast sends and every
 * bound socket gets broadcasts; MSG_TRUNC and MSG_PEEK semantics; the
 * receive queue bound; bind and reuse rules; a 65507-byte datagram crosses
 * in fragments; forged malformed datagrams are dropped and counted; owners
 * may close sockets from their callbacks; the socket count is bounded. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "driver.h"
#include "ipv4.h"
#include "netif.h"
#include "route.h"
#include "stack.h"
#include "udp.h"
#include "wire/be.h"
#include "wire/wire.h"

#define ADDR_A 0xc0000201u    /* 192.0.2.1 */
#define ADDR_B 0xc0000202u    /* 192.0.2.2 */
#define BCAST_NET 0xc00002ffu /* 192.0.2.255 */
#define BCAST_ALL 0xffffffffu

struct net {
    struct stack *a, *b;
    struct netif *na, *nb;
    uint64_t now;
};

static int net_setup(void **state)
{
    struct net *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return -1;
    n->a = stack_create(NULL, 101);
    n->b = stack_create(NULL, 202);
    if (n->a == NULL || n->b == NULL)
        return -1;
    n->a->log_fd = -1;
    n->b->log_fd = -1;
    if (vwire_open_pair(n->a, n->b, &n->na, &n->nb) < 0)
        return -1;
    if (stack_configure_netif(n->a, n->na, ADDR_A, 24, 0) < 0 ||
        stack_configure_netif(n->b, n->nb, ADDR_B, 24, 0) < 0)
        return -1;
    /* Harmless if stack_create already did it. */
    if (udp_init(n->a) < 0 || udp_init(n->b) < 0)
        return -1;
    n->now = 1000000;
    *state = n;
    return 0;
}

static int net_teardown(void **state)
{
    struct net *n = *state;
    udp_destroy(n->a);
    udp_destroy(n->b);
    assert_int_equal(udp_pcb_count(n->a), 0);
    stack_destroy(n->a);
    stack_destroy(n->b);
    free(n);
    return 0;
}

static uint64_t frames_moved(const struct net *n)
{
    return n->a->stats.link_rx_frames + n->a->stats.link_tx_frames + n->b->stats.link_rx_frames +
           n->b->stats.link_tx_frames;
}

/* Runs both stacks until the wire is quiet (ARP resolves on the way). */
static void pump(struct net *n)
{
    for (int i = 0; i < 10000; i++) {
        uint64_t before = frames_moved(n);
        n->now += 100;
        stack_run(n->a, n->now);
        stack_run(n->b, n->now);
        if (frames_moved(n) == before)
            return;
    }
    fail_msg("the wire never went quiet");
}

/* Records the events an owner gets; may close sockets from the callback. */
struct rec {
    unsigned calls, readable, error;
    struct udp_pcb *close_other; /* closed at the first callback */
    bool close_self;
    bool closed_self;
};

static void rec_event(struct udp_pcb *pcb, void *owner, unsigned events)
{
    struct rec *r = owner;
    r->calls++;
    if (events & UDP_EV_READABLE)
        r->readable++;
    if (events & UDP_EV_ERROR)
        r->error++;
    if (r->close_other != NULL) {
        udp_close(r->close_other);
        r->close_other = NULL;
    }
    if (r->close_self) {
        r->close_self = false;
        r->closed_self = true;
        udp_close(pcb);
    }
}

static struct udp_pcb *new_pcb(struct stack *s, struct rec *r)
{
    struct udp_pcb *pcb = udp_pcb_new(s);
    assert_non_null(pcb);
    if (r != NULL)
        udp_set_owner(pcb, rec_event, r);
    return pcb;
}

static struct udp_pcb *bound_pcb(struct stack *s, uint32_t addr, uint16_t port, bool reuseaddr,
                                 bool reuseport, struct rec *r)
{
    struct udp_pcb *pcb = new_pcb(s, r);
    assert_int_equal(udp_bind(pcb, addr, port, reuseaddr, reuseport), 0);
    return pcb;
}

static void send_str(struct udp_pcb *pcb, uint32_t dst, uint16_t port, const char *text)
{
    size_t len = strlen(text);
    assert_int_equal(udp_sendto(pcb, dst, port, text, len), (long)len);
}

/* Receives one datagram and checks its text; returns its source port. */
static uint16_t expect_str(struct udp_pcb *pcb, const char *text, uint32_t want_src)
{
    char buf[256];
    uint32_t src = 0, dst = 0;
    uint16_t sport = 0;
    size_t full = 0;
    long got = udp_recv(pcb, buf, sizeof(buf), &src, &sport, &dst, false, &full);
    assert_int_equal(got, (long)strlen(text));
    assert_int_equal(full, strlen(text));
    assert_memory_equal(buf, text, strlen(text));
    if (want_src != 0)
        assert_int_equal(src, want_src);
    return sport;
}

static void expect_empty(struct udp_pcb *pcb)
{
    char buf[16];
    assert_int_equal(udp_recv(pcb, buf, sizeof(buf), NULL, NULL, NULL, false, NULL), -EAGAIN);
    assert_int_equal(udp_next_len(pcb), 0);
}

/* ---- Basic exchange ---- */

static void test_send_receive_both_ways(void **state)
{
    struct net *n = *state;
    struct rec rb = {0}, ra = {0};
    struct udp_pcb *server = bound_pcb(n->b, 0, 7000, false, false, &rb);
    struct udp_pcb *client = new_pcb(n->a, &ra);

    send_str(client, ADDR_B, 7000, "hello");
    uint32_t laddr = 1;
    uint16_t lport = 0;
    udp_local_endpoint(client, &laddr, &lport);
    assert_int_equal(laddr, 0); /* autobind: the wildcard */
    assert_in_range(lport, UDP_EPHEMERAL_LOW, UDP_EPHEMERAL_HIGH);
    pump(n);

    assert_int_equal(rb.readable, 1);
    char buf[64];
    uint32_t src = 0, dst = 0;
    uint16_t sport = 0;
    size_t full = 0;
    assert_int_equal(udp_recv(server, buf, sizeof(buf), &src, &sport, &dst, false, &full), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(src, ADDR_A);
    assert_int_equal(sport, lport);
    assert_int_equal(dst, ADDR_B);
    assert_int_equal(full, 5);
    expect_empty(server);

    send_str(server, src, sport, "world!");
    pump(n);
    assert_int_equal(ra.readable, 1);
    assert_int_equal(expect_str(client, "world!", ADDR_B), 7000);

    /* Several in a row arrive in order, each with one event. */
    for (int i = 0; i < 5; i++) {
        char msg[16];
        snprintf(msg, sizeof(msg), "msg %d", i);
        send_str(client, ADDR_B, 7000, msg);
    }
    pump(n);
    assert_int_equal(rb.readable, 6);
    assert_int_equal(udp_queued_count(server), 5);
    assert_int_equal(udp_queued(server), 25);
    for (int i = 0; i < 5; i++) {
        char msg[16];
        snprintf(msg, sizeof(msg), "msg %d", i);
        expect_str(server, msg, ADDR_A);
    }
    assert_int_equal(udp_queued(server), 0);
    assert_int_equal(n->a->stats.udp_tx_datagrams, 6);
    assert_int_equal(n->b->stats.udp_rx_datagrams, 6);
    assert_int_equal(n->b->stats.udp_tx_datagrams, 1);
    assert_int_equal(n->a->stats.udp_rx_datagrams, 1);
    assert_int_equal(udp_pcb_count(n->a), 1);
    assert_int_equal(udp_pcb_count(n->b), 1);
}

static void test_empty_datagram(void **state)
{
    struct net *n = *state;
    struct udp_pcb *server = bound_pcb(n->b, ADDR_B, 7001, false, false, NULL);
    struct udp_pcb *client = new_pcb(n->a, NULL);
    assert_int_equal(udp_sendto(client, ADDR_B, 7001, NULL, 0), 0);
    pump(n);
    assert_int_equal(udp_queued_count(server), 1);
    assert_int_equal(udp_next_len(server), 0);
    size_t full = 99;
    assert_int_equal(udp_recv(server, NULL, 0, NULL, NULL, NULL, false, &full), 0);
    assert_int_equal(full, 0);
    expect_empty(server);
}

/* ---- Ephemeral ports ---- */

static void test_ephemeral_ports(void **state)
{
    struct net *n = *state;
    enum { COUNT = 200 };
    uint16_t ports[COUNT];
    for (int i = 0; i < COUNT; i++) {
        struct udp_pcb *pcb = bound_pcb(n->a, 0, 0, false, false, NULL);
        uint32_t addr = 1;
        udp_local_endpoint(pcb, &addr, &ports[i]);
        assert_int_equal(addr, 0);
        assert_in_range(ports[i], UDP_EPHEMERAL_LOW, UDP_EPHEMERAL_HIGH);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(ports[i], ports[j]);
    }
    /* Random, not sequential: few consecutive picks are neighbours, and
     * they spread over the range. */
    int neighbours = 0, low_half = 0;
    for (int i = 0; i < COUNT; i++) {
        if (i > 0 && (ports[i] == ports[i - 1] + 1 || ports[i] + 1 == ports[i - 1]))
            neighbours++;
        if (ports[i] < (UDP_EPHEMERAL_LOW + UDP_EPHEMERAL_HIGH) / 2)
            low_half++;
    }
    assert_true(neighbours < 5);
    assert_in_range(low_half, COUNT / 4, 3 * COUNT / 4);

    /* Another stack (another seed) picks another sequence. */
    struct udp_pcb *pb = bound_pcb(n->b, 0, 0, false, false, NULL);
    uint16_t pb_port;
    udp_local_endpoint(pb, NULL, &pb_port);
    assert_int_not_equal(pb_port, ports[0]);

    /* connect and sendto bind implicitly from the same range. */
    struct udp_pcb *c = new_pcb(n->a, NULL);
    assert_int_equal(udp_connect(c, ADDR_B, 9), 0);
    uint16_t cport;
    udp_local_endpoint(c, NULL, &cport);
    assert_in_range(cport, UDP_EPHEMERAL_LOW, UDP_EPHEMERAL_HIGH);
}

static void test_ephemeral_exhaustion(void **state)
{
    struct net *n = *state;
    /* Occupy every ephemeral port explicitly. */
    for (uint32_t p = UDP_EPHEMERAL_LOW; p <= UDP_EPHEMERAL_HIGH; p++)
        bound_pcb(n->a, 0, (uint16_t)p, false, false, NULL);
    struct udp_pcb *pcb = new_pcb(n->a, NULL);
    assert_int_equal(udp_bind(pcb, 0, 0, false, false), -EADDRINUSE);
    assert_int_equal(udp_connect(pcb, ADDR_B, 9), -EAGAIN);
    assert_int_equal(udp_sendto(pcb, ADDR_B, 9, "x", 1), -EAGAIN);
    assert_false(udp_is_bound(pcb));
    /* A port outside the range still binds. */
    assert_int_equal(udp_bind(pcb, 0, 5000, false, false), 0);
}

/* ---- Connect ---- */

static void test_connect_disconnect(void **state)
{
    struct net *n = *state;
    struct udp_pcb *server = bound_pcb(n->b, 0, 7000, false, false, NULL);
    struct udp_pcb *other = bound_pcb(n->b, 0, 7002, false, false, NULL);
    struct rec ra = {0};
    struct udp_pcb *c = new_pcb(n->a, &ra);

    assert_int_equal(udp_sendto(c, 0, 0, "x", 1), -EDESTADDRREQ);
    assert_int_equal(udp_connect(c, 0x0a090909u, 53), -ENETUNREACH); /* no route */
    assert_int_equal(udp_sendto(c, 0x0a090909u, 53, "x", 1), -ENETUNREACH);

    assert_int_equal(udp_connect(c, ADDR_B, 7000), 0);
    assert_true(udp_is_connected(c));
    uint32_t laddr, raddr;
    uint16_t lport, rport;
    udp_local_endpoint(c, &laddr, &lport);
    udp_remote_endpoint(c, &raddr, &rport);
    assert_int_equal(laddr, ADDR_A); /* fixed by connect */
    assert_int_equal(raddr, ADDR_B);
    assert_int_equal(rport, 7000);

    /* dst 0: the peer. An explicit destination is still allowed. */
    send_str(c, 0, 0, "to peer");
    send_str(c, ADDR_B, 7002, "elsewhere");
    pump(n);
    expect_str(server, "to peer", ADDR_A);
    assert_int_equal(expect_str(other, "elsewhere", ADDR_A), lport);

    /* The connected socket takes only its peer's datagrams; a stranger's
     * draws a port unreachable, which the unconnected stranger ignores. */
    uint64_t unreach0 = n->a->stats.icmp_tx_dest_unreach;
    send_str(other, ADDR_A, lport, "stranger");
    send_str(server, ADDR_A, lport, "peer");
    pump(n);
    assert_int_equal(ra.readable, 1);
    expect_str(c, "peer", ADDR_B);
    expect_empty(c);
    assert_int_equal(n->a->stats.icmp_tx_dest_unreach, unreach0 + 1);
    assert_int_equal(udp_pending_error(other), 0);

    /* Reconnecting moves the filter. */
    assert_int_equal(udp_connect(c, ADDR_B, 7002), 0);
    send_str(other, ADDR_A, lport, "now you");
    pump(n);
    expect_str(c, "now you", ADDR_B);

    /* AF_UNSPEC: the autobound port and the chosen address are released. */
    assert_int_equal(udp_connect(c, 0, 0), 0);
    assert_false(udp_is_connected(c));
    assert_false(udp_is_bound(c));
    udp_local_endpoint(c, &laddr, &lport);
    udp_remote_endpoint(c, &raddr, &rport);
    assert_int_equal(laddr, 0);
    assert_int_equal(lport, 0);
    assert_int_equal(raddr, 0);
    assert_int_equal(rport, 0);
    assert_int_equal(udp_sendto(c, 0, 0, "x", 1), -EDESTADDRREQ);

    /* An explicitly bound socket keeps its port (and address) instead. */
    struct udp_pcb *d = bound_pcb(n->a, 0, 6000, false, false, NULL);
    assert_int_equal(udp_connect(d, ADDR_B, 7000), 0);
    udp_local_endpoint(d, &laddr, &lport);
    assert_int_equal(laddr, ADDR_A);
    assert_int_equal(lport, 6000);
    assert_int_equal(udp_connect(d, 0, 0), 0);
    udp_local_endpoint(d, &laddr, &lport);
    assert_int_equal(laddr, 0);
    assert_int_equal(lport, 6000);
    /* Unconnected again, it takes datagrams from anyone. */
    send_str(other, ADDR_A, 6000, "anyone");
    pump(n);
    expect_str(d, "anyone", ADDR_B);

    struct udp_pcb *e = bound_pcb(n->a, ADDR_A, 6001, false, false, NULL);
    assert_int_equal(udp_connect(e, ADDR_B, 7000), 0);
    assert_int_equal(udp_connect(e, 0, 0), 0);
    udp_local_endpoint(e, &laddr, &lport);
    assert_int_equal(laddr, ADDR_A);
    assert_int_equal(lport, 6001);

    assert_int_equal(udp_bind(d, 0, 6002, false, false), -EINVAL); /* already bound */
}

/* ---- Demultiplexing ---- */

/* The iperf3 -u / nc -l -u pattern: a socket connected on the listening
 * port beside one still bound to it. */
static void test_connected_preferred(void **state)
{
    struct net *n = *state;
    struct rec rconn = {0}, rwild = {0};
    struct udp_pcb *c1 = new_pcb(n->a, NULL);
    struct udp_pcb *c2 = new_pcb(n->a, NULL);
    assert_int_equal(udp_bind(c1, 0, 40001, false, false), 0);
    assert_int_equal(udp_bind(c2, 0, 40002, false, false), 0);

    struct udp_pcb *conn = bound_pcb(n->b, 0, 5201, true, false, &rconn);
    assert_int_equal(udp_connect(conn, ADDR_A, 40001), 0);
    /* Bound after, so first in its chain: the connected one still wins. */
    struct udp_pcb *wild = bound_pcb(n->b, 0, 5201, true, false, &rwild);

    send_str(c1, ADDR_B, 5201, "from c1");
    send_str(c2, ADDR_B, 5201, "from c2");
    send_str(c1, ADDR_B, 5201, "c1 again");
    pump(n);
    assert_int_equal(rconn.readable, 2);
    assert_int_equal(rwild.readable, 1);
    expect_str(conn, "from c1", ADDR_A);
    expect_str(conn, "c1 again", ADDR_A);
    assert_int_equal(expect_str(wild, "from c2", ADDR_A), 40002);

    /* A socket bound to the address beats one bound to the wildcard. */
    struct udp_pcb *any = bound_pcb(n->b, 0, 5300, true, false, NULL);
    struct udp_pcb *spec = bound_pcb(n->b, ADDR_B, 5300, true, false, NULL);
    struct udp_pcb *any2 = bound_pcb(n->b, 0, 5300, true, false, NULL);
    send_str(c1, ADDR_B, 5300, "specific");
    pump(n);
    expect_str(spec, "specific", ADDR_A);
    expect_empty(any);
    expect_empty(any2);
    /* Without it, the most recently bound of equals (as Linux). */
    udp_close(spec);
    send_str(c1, ADDR_B, 5300, "recent");
    pump(n);
    expect_str(any2, "recent", ADDR_A);
    expect_empty(any);

    /* Closing the connected socket hands its peer back to the wildcard. */
    udp_close(conn);
    send_str(c1, ADDR_B, 5201, "after close");
    pump(n);
    expect_str(wild, "after close", ADDR_A);
}

static void test_reuseport_balances(void **state)
{
    struct net *n = *state;
    enum { FLOWS = 64 };
    struct udp_pcb *m[2];
    m[0] = bound_pcb(n->b, 0, 8000, false, true, NULL);
    m[1] = bound_pcb(n->b, 0, 8000, false, true, NULL);
    struct udp_pcb *warm = new_pcb(n->a, NULL);
    send_str(warm, ADDR_B, 8000, "arp"); /* ARP queues only a few */
    pump(n);
    for (int k = 0; k < 2; k++)
        while (udp_recv(m[k], NULL, 0, NULL, NULL, NULL, false, NULL) >= 0)
            ;
    struct udp_pcb *c[FLOWS];
    uint16_t port[FLOWS];
    int member[FLOWS];
    for (int i = 0; i < FLOWS; i++) {
        c[i] = new_pcb(n->a, NULL);
        send_str(c[i], ADDR_B, 8000, "x");
        udp_local_endpoint(c[i], NULL, &port[i]);
        member[i] = -1;
    }
    pump(n);
    int per_member[2] = {0, 0};
    for (int k = 0; k < 2; k++) {
        uint16_t sport;
        while (udp_recv(m[k], NULL, 0, NULL, &sport, NULL, false, NULL) >= 0) {
            for (int i = 0; i < FLOWS; i++)
                if (port[i] == sport)
                    member[i] = k;
            per_member[k]++;
        }
    }
    assert_int_equal(per_member[0] + per_member[1], FLOWS);
    assert_true(per_member[0] > 0 && per_member[1] > 0);
    /* Each flow sticks to its member. */
    for (int i = 0; i < FLOWS; i++)
        send_str(c[i], ADDR_B, 8000, "y");
    pump(n);
    for (int k = 0; k < 2; k++) {
        uint16_t sport;
        while (udp_recv(m[k], NULL, 0, NULL, &sport, NULL, false, NULL) >= 0)
            for (int i = 0; i < FLOWS; i++)
                if (port[i] == sport)
                    assert_int_equal(member[i], k);
    }
}

/* ---- ICMP errors ---- */

static void test_port_unreachable(void **state)
{
    struct net *n = *state;
    struct rec rc = {0}, ru = {0};
    struct udp_pcb *conn = new_pcb(n->a, &rc);
    struct udp_pcb *unconn = new_pcb(n->a, &ru);
    assert_int_equal(udp_connect(conn, ADDR_B, 9999), 0);

    uint64_t unreach0 = n->b->stats.icmp_tx_dest_unreach;
    send_str(unconn, ADDR_B, 9999, "nobody");
    pump(n);
    assert_int_equal(n->b->stats.icmp_tx_dest_unreach, unreach0 + 1);
    assert_int_equal(n->b->stats.udp_rx_no_port, 1);
    assert_int_equal(ru.calls, 0);
    assert_int_equal(udp_pending_error(unconn), 0);
    expect_empty(unconn);

    send_str(conn, 0, 0, "nobody either");
    pump(n);
    assert_int_equal(n->b->stats.icmp_tx_dest_unreach, unreach0 + 2);
    assert_int_equal(rc.error, 1);
    assert_int_equal(rc.readable, 0);
    assert_int_equal(udp_pending_error(conn), ECONNREFUSED);
    char buf[8];
    /* Once, even through a peek; then the queue as usual. */
    assert_int_equal(udp_recv(conn, buf, sizeof(buf), NULL, NULL, NULL, true, NULL), -ECONNREFUSED);
    assert_int_equal(udp_recv(conn, buf, sizeof(buf), NULL, NULL, NULL, false, NULL), -EAGAIN);
    assert_int_equal(udp_take_error(conn), 0);
    assert_int_equal(ru.calls, 0);

    /* udp_take_error (SO_ERROR) clears it too. */
    send_str(conn, 0, 0, "again");
    pump(n);
    assert_int_equal(udp_take_error(conn), ECONNREFUSED);
    assert_int_equal(udp_take_error(conn), 0);
    /* Sending is not refused by a pending error (see udp.h). */
    send_str(conn, 0, 0, "and again");
    send_str(conn, 0, 0, "and again");
    pump(n);
    assert_int_equal(udp_take_error(conn), ECONNREFUSED);
}

/* Errors straight from the ICMP layer: only hard ones count, and the
 * pending error comes before queued datagrams. */
static void test_error_dispatch(void **state)
{
    struct net *n = *state;
    struct rec rc = {0};
    struct udp_pcb *server = bound_pcb(n->b, 0, 7000, false, false, NULL);
    struct udp_pcb *conn = new_pcb(n->a, &rc);
    assert_int_equal(udp_connect(conn, ADDR_B, 7000), 0);
    uint16_t lport;
    udp_local_endpoint(conn, NULL, &lport);
    send_str(server, ADDR_A, lport, "queued");
    pump(n);
    assert_int_equal(rc.readable, 1);

    struct ipv4_repr orig = {
        .hdr_len = IPV4_HDR_MIN, .proto = IP_PROTO_UDP, .src = ADDR_A, .dst = ADDR_B};
    uint8_t quote[8];
    be16_put(quote, lport);
    be16_put(quote + 2, 7000);
    be16_put(quote + 4, 8);
    be16_put(quote + 6, 0);
    udp_error_input(n->a, &orig, quote, sizeof(quote), EHOSTUNREACH); /* soft */
    udp_error_input(n->a, &orig, quote, sizeof(quote), ENETUNREACH);  /* soft */
    udp_error_input(n->a, &orig, quote, sizeof(quote), EMSGSIZE);     /* soft */
    assert_int_equal(rc.error, 0);
    udp_error_input(n->a, &orig, quote, 7, ECONNREFUSED); /* too short */
    assert_int_equal(rc.error, 0);
    /* About another peer port: not this socket's datagram. */
    be16_put(quote + 2, 7001);
    udp_error_input(n->a, &orig, quote, sizeof(quote), ECONNREFUSED);
    assert_int_equal(rc.error, 0);
    be16_put(quote + 2, 7000);
    udp_error_input(n->a, &orig, quote, sizeof(quote), ENOPROTOOPT);
    assert_int_equal(rc.error, 1);

    char buf[16];
    assert_int_equal(udp_recv(conn, buf, sizeof(buf), NULL, NULL, NULL, false, NULL), -ENOPROTOOPT);
    expect_str(conn, "queued", ADDR_B);
}

/* ---- Broadcast ---- */

static void test_broadcast(void **state)
{
    struct net *n = *state;
    struct udp_pcb *tx = new_pcb(n->a, NULL);
    assert_int_equal(udp_sendto(tx, BCAST_ALL, 6000, "x", 1), -EACCES);
    assert_int_equal(udp_sendto(tx, BCAST_NET, 6000, "x", 1), -EACCES);
    assert_int_equal(udp_connect(tx, BCAST_ALL, 6000), -EACCES);
    assert_int_equal(udp_connect(tx, BCAST_NET, 6000), -EACCES);
    assert_false(udp_get_broadcast(tx));
    udp_set_broadcast(tx, true);
    assert_true(udp_get_broadcast(tx));

    struct rec r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
    struct udp_pcb *s1 = bound_pcb(n->b, 0, 6000, true, false, &r1);
    struct udp_pcb *s2 = bound_pcb(n->b, 0, 6000, true, false, &r2);
    struct udp_pcb *s3 = bound_pcb(n->b, ADDR_B, 6000, true, false, &r3);
    struct udp_pcb *s4 = bound_pcb(n->b, BCAST_NET, 6000, true, false, &r4);

    uint64_t unreach0 = n->b->stats.icmp_tx_dest_unreach;
    send_str(tx, BCAST_ALL, 6000, "everyone");
    pump(n);
    uint32_t dst = 0;
    char buf[32];
    assert_int_equal(udp_recv(s1, buf, sizeof(buf), NULL, NULL, &dst, false, NULL), 8);
    assert_int_equal(dst, BCAST_ALL);
    expect_str(s2, "everyone", ADDR_A);
    expect_empty(s3); /* bound to the unicast address */
    expect_empty(s4); /* bound to the other broadcast address */

    send_str(tx, BCAST_NET, 6000, "the subnet");
    pump(n);
    assert_int_equal(udp_recv(s1, buf, sizeof(buf), NULL, NULL, &dst, false, NULL), 10);
    assert_int_equal(dst, BCAST_NET);
    expect_str(s2, "the subnet", ADDR_A);
    expect_empty(s3);
    expect_str(s4, "the subnet", ADDR_A);
    assert_int_equal(r1.readable + r2.readable + r3.readable + r4.readable, 5);

    /* Unicast still goes to the best single socket. */
    send_str(tx, ADDR_B, 6000, "just one");
    pump(n);
    expect_str(s3, "just one", ADDR_A);
    expect_empty(s1);
    expect_empty(s2);

    /* A broadcast nobody wants draws no ICMP error. */
    uint64_t noport0 = n->b->stats.udp_rx_no_port;
    send_str(tx, BCAST_ALL, 6001, "nobody");
    pump(n);
    assert_int_equal(n->b->stats.udp_rx_no_port, noport0 + 1);
    assert_int_equal(n->b->stats.icmp_tx_dest_unreach, unreach0);

    /* connect() fixes a wildcard socket's address to the unicast source,
     * so, as in Linux, it no longer sees broadcasts, even from its peer. */
    uint16_t txport;
    udp_local_endpoint(tx, NULL, &txport);
    assert_int_equal(udp_connect(s2, ADDR_A, txport), 0);
    send_str(tx, BCAST_ALL, 6000, "from peer");
    pump(n);
    expect_str(s1, "from peer", ADDR_A);
    expect_empty(s2);
    /* A socket bound to the broadcast address and connected still does,
     * from its peer only. */
    struct udp_pcb *tx2 = new_pcb(n->a, NULL);
    udp_set_broadcast(tx2, true);
    assert_int_equal(udp_connect(s4, ADDR_A, txport), 0);
    send_str(tx2, BCAST_NET, 6000, "not from peer");
    send_str(tx, BCAST_NET, 6000, "peer again");
    pump(n);
    expect_str(s1, "not from peer", ADDR_A);
    expect_str(s1, "peer again", ADDR_A);
    expect_str(s4, "peer again", ADDR_A);
    expect_empty(s4);

    /* With SO_BROADCAST a socket may connect to a broadcast address. */
    struct udp_pcb *tx3 = new_pcb(n->a, NULL);
    udp_set_broadcast(tx3, true);
    assert_int_equal(udp_connect(tx3, BCAST_ALL, 6000), 0);
    send_str(tx3, 0, 0, "connected bcast");
    pump(n);
    expect_str(s1, "connected bcast", ADDR_A);
}

/* Owners may close sockets, theirs and others', from the callback. */
static void test_close_from_callback(void **state)
{
    struct net *n = *state;
    struct udp_pcb *tx = new_pcb(n->a, NULL);
    udp_set_broadcast(tx, true);
    struct rec r1 = {0}, r2 = {0}, r3 = {0};
    struct udp_pcb *s1 = bound_pcb(n->b, 0, 6000, true, false, &r1);
    struct udp_pcb *s2 = bound_pcb(n->b, 0, 6000, true, false, &r2);
    struct udp_pcb *s3 = bound_pcb(n->b, 0, 6000, true, false, &r3);
    (void)s1;
    (void)s3;
    r1.close_self = true;
    r1.close_other = s2;
    r3.close_self = true;
    r3.close_other = NULL;
    unsigned before = udp_pcb_count(n->b);
    send_str(tx, BCAST_ALL, 6000, "bye");
    pump(n);
    assert_true(r1.closed_self);
    assert_true(r3.closed_self);
    assert_int_equal(udp_pcb_count(n->b), before - 3);
    /* s2 got at most its one callback, before s1 closed it. */
    assert_true(r2.calls <= 1);
    /* The port is free again. */
    bound_pcb(n->b, 0, 6000, false, false, NULL);
}

/* ---- Receive semantics ---- */

static void test_trunc_and_peek(void **state)
{
    struct net *n = *state;
    struct udp_pcb *server = bound_pcb(n->b, 0, 7000, false, false, NULL);
    struct udp_pcb *client = new_pcb(n->a, NULL);
    uint8_t data[100];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 1);
    assert_int_equal(udp_sendto(client, ADDR_B, 7000, data, sizeof(data)), 100);
    send_str(client, ADDR_B, 7000, "second");
    pump(n);
    assert_int_equal(udp_next_len(server), 100);
    assert_int_equal(udp_queued_count(server), 2);
    assert_int_equal(udp_queued(server), 106);

    uint8_t buf[128];
    size_t full = 0;
    uint32_t src = 0;
    uint16_t sport = 0, cport;
    udp_local_endpoint(client, NULL, &cport);
    /* MSG_PEEK with a short buffer: MSG_TRUNC length, nothing consumed. */
    assert_int_equal(udp_recv(server, buf, 10, &src, &sport, NULL, true, &full), 10);
    assert_int_equal(full, 100);
    assert_memory_equal(buf, data, 10);
    assert_int_equal(src, ADDR_A);
    assert_int_equal(sport, cport);
    assert_int_equal(udp_queued_count(server), 2);
    assert_int_equal(udp_recv(server, buf, sizeof(buf), NULL, NULL, NULL, true, &full), 100);
    assert_memory_equal(buf, data, 100);
    /* A short read consumes the whole datagram: the rest is discarded. */
    memset(buf, 0, sizeof(buf));
    assert_int_equal(udp_recv(server, buf, 10, NULL, NULL, NULL, false, &full), 10);
    assert_int_equal(full, 100);
    assert_memory_equal(buf, data, 10);
    assert_int_equal(udp_next_len(server), 6);
    assert_int_equal(udp_queued(server), 6);
    assert_int_equal(udp_recv(server, buf, 0, NULL, NULL, NULL, false, &full), 0);
    assert_int_equal(full, 6);
    expect_empty(server);
    assert_int_equal(udp_queued(server), 0);
}

static void test_queue_bound(void **state)
{
    struct net *n = *state;
    struct udp_pcb *server = bound_pcb(n->b, 0, 7000, false, false, NULL);
    assert_int_equal(udp_get_rcvbuf(server), UDP_RCVBUF_DEFAULT);
    udp_set_rcvbuf(server, 100);
    assert_int_equal(udp_get_rcvbuf(server), UDP_RCVBUF_MIN);
    udp_set_rcvbuf(server, SIZE_MAX);
    assert_int_equal(udp_get_rcvbuf(server), UDP_RCVBUF_MAX);
    udp_set_rcvbuf(server, 4096);

    struct udp_pcb *client = new_pcb(n->a, NULL);
    static uint8_t data[1000];
    send_str(client, ADDR_B, 7000, "arp"); /* resolve first */
    pump(n);
    assert_int_equal(udp_recv(server, NULL, 0, NULL, NULL, NULL, false, NULL), 0);

    for (int i = 0; i < 10; i++)
        assert_int_equal(udp_sendto(client, ADDR_B, 7000, data, sizeof(data)), 1000);
    pump(n);
    /* 3 * (1000 + overhead) fit in 4096; the other 7 are dropped. */
    size_t fit = 4096 / (sizeof(data) + UDP_DGRAM_OVERHEAD);
    assert_int_equal(udp_queued_count(server), fit);
    assert_int_equal(n->b->stats.udp_drop_queue_full, 10 - fit);
    assert_int_equal(n->b->stats.udp_rx_datagrams, 11);

    /* Draining makes room again. */
    while (udp_recv(server, NULL, 0, NULL, NULL, NULL, false, NULL) >= 0)
        ;
    assert_int_equal(udp_sendto(client, ADDR_B, 7000, data, sizeof(data)), 1000);
    pump(n);
    assert_int_equal(udp_queued_count(server), 1);
    assert_int_equal(n->b->stats.udp_drop_queue_full, 10 - fit);
    udp_recv(server, NULL, 0, NULL, NULL, NULL, false, NULL);

    /* A datagram larger than the bound still fits an empty queue. */
    static uint8_t big[8000];
    assert_int_equal(udp_sendto(client, ADDR_B, 7000, big, sizeof(big)), 8000);
    assert_int_equal(udp_sendto(client, ADDR_B, 7000, big, sizeof(big)), 8000);
    pump(n);
    assert_int_equal(udp_queued_count(server), 1);
    assert_int_equal(udp_next_len(server), 8000);
    assert_int_equal(n->b->stats.udp_drop_queue_full, 11 - fit);
}

/* ---- Bind rules ---- */

static void test_bind_rules(void **state)
{
    struct net *n = *state;
    struct stack *s = n->b;
    struct udp_pcb *p = new_pcb(s, NULL);

    /* Addresses: ours, the wildcard, broadcasts, multicast; not others. */
    assert_int_equal(udp_bind(p, 0x0a000001u, 7000, false, false), -EADDRNOTAVAIL);
    assert_int_equal(udp_bind(p, ADDR_A, 7000, false, false), -EADDRNOTAVAIL);
    assert_int_equal(udp_bind(p, 0xc0000300u, 7000, false, false), -EADDRNOTAVAIL);
    assert_false(udp_is_bound(p));
    struct udp_pcb *bc = bound_pcb(s, BCAST_NET, 7000, false, false, NULL);
    struct udp_pcb *ba = bound_pcb(s, BCAST_ALL, 7000, false, false, NULL);
    struct udp_pcb *mc = bound_pcb(s, 0xe00000fbu, 7000, false, false, NULL);
    /* Different specific addresses share a port without any flag. */
    struct udp_pcb *uc = bound_pcb(s, ADDR_B, 7000, false, false, NULL);
    /* ... but the wildcard overlaps them all. */
    assert_int_equal(udp_bind(p, 0, 7000, false, false), -EADDRINUSE);
    assert_int_equal(udp_bind(p, ADDR_B, 7000, false, false), -EADDRINUSE);
    udp_close(bc);
    udp_close(ba);
    udp_close(mc);
    udp_close(uc);
    assert_int_equal(udp_bind(p, 0, 7000, false, false), 0);
    assert_int_equal(udp_bind(p, 0, 7001, false, false), -EINVAL);

    /* SO_REUSEADDR: both or neither. */
    struct udp_pcb *r1 = bound_pcb(s, 0, 7100, true, false, NULL);
    struct udp_pcb *q = new_pcb(s, NULL);
    assert_int_equal(udp_bind(q, 0, 7100, false, false), -EADDRINUSE);
    assert_int_equal(udp_bind(q, ADDR_B, 7100, false, false), -EADDRINUSE);
    assert_int_equal(udp_bind(q, 0, 7100, false, true), -EADDRINUSE);
    assert_int_equal(udp_bind(q, ADDR_B, 7100, true, false), 0);
    bound_pcb(s, 0, 7100, true, false, NULL);
    (void)r1;

    /* SO_REUSEPORT: both. */
    bound_pcb(s, 0, 7200, false, true, NULL);
    struct udp_pcb *t = new_pcb(s, NULL);
    assert_int_equal(udp_bind(t, 0, 7200, true, false), -EADDRINUSE);
    assert_int_equal(udp_bind(t, 0, 7200, false, true), 0);

    /* A connected socket still holds its port. */
    struct udp_pcb *c = bound_pcb(s, 0, 7300, false, false, NULL);
    assert_int_equal(udp_connect(c, ADDR_A, 9), 0);
    struct udp_pcb *u = new_pcb(s, NULL);
    assert_int_equal(udp_bind(u, 0, 7300, false, false), -EADDRINUSE);
    /* Flags set before an implicit bind count for later binds. */
    struct udp_pcb *v = new_pcb(s, NULL);
    udp_set_reuse(v, true, false);
    assert_int_equal(udp_connect(v, ADDR_A, 9), 0);
    uint16_t vport;
    udp_local_endpoint(v, NULL, &vport);
    assert_int_equal(udp_bind(u, 0, vport, true, false), 0);

    /* Closing frees the port at once. */
    struct udp_pcb *w = bound_pcb(s, 0, 7400, false, false, NULL);
    udp_close(w);
    bound_pcb(s, 0, 7400, false, false, NULL);
}

/* ---- Size ---- */

static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed)
{
    uint32_t x = seed;
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
}

static void test_largest_datagram(void **state)
{
    struct net *n = *state;
    struct udp_pcb *server = bound_pcb(n->b, 0, 7000, false, false, NULL);
    struct udp_pcb *client = new_pcb(n->a, NULL);
    uint8_t *data = malloc(UDP_MAX_PAYLOAD + 1);
    uint8_t *got = malloc(UDP_MAX_PAYLOAD + 1);
    assert_non_null(data);
    assert_non_null(got);

    assert_int_equal(udp_sendto(client, ADDR_B, 7000, data, UDP_MAX_PAYLOAD + 1), -EMSGSIZE);
    send_str(client, ADDR_B, 7000, "arp"); /* resolve first: ARP queues few */
    pump(n);
    size_t full = 0;
    assert_int_equal(udp_recv(server, NULL, 0, NULL, NULL, NULL, false, &full), 0);
    assert_int_equal(full, 3);

    fill_pattern(data, UDP_MAX_PAYLOAD, 1);
    uint64_t frags0 = n->a->stats.ipv4_tx_fragments;
    assert_int_equal(udp_sendto(client, ADDR_B, 7000, data, UDP_MAX_PAYLOAD), UDP_MAX_PAYLOAD);
    /* 65515 bytes of IP payload in 1480-byte pieces. */
    assert_int_equal(n->a->stats.ipv4_tx_fragments - frags0, (65515 + 1479) / 1480);
    pump(n);
    assert_int_equal(n->b->stats.ipv4_rx_reassembled, 1);
    uint32_t src;
    uint16_t sport;
    assert_int_equal(udp_recv(server, got, UDP_MAX_PAYLOAD + 1, &src, &sport, NULL, false, &full),
                     UDP_MAX_PAYLOAD);
    assert_int_equal(full, UDP_MAX_PAYLOAD);
    assert_memory_equal(got, data, UDP_MAX_PAYLOAD);

    /* And back. */
    fill_pattern(data, UDP_MAX_PAYLOAD, 2);
    assert_int_equal(udp_sendto(server, src, sport, data, UDP_MAX_PAYLOAD), UDP_MAX_PAYLOAD);
    pump(n);
    memset(got, 0, UDP_MAX_PAYLOAD);
    assert_int_equal(udp_recv(client, got, UDP_MAX_PAYLOAD, NULL, NULL, NULL, false, &full),
                     UDP_MAX_PAYLOAD);
    assert_memory_equal(got, data, UDP_MAX_PAYLOAD);
    free(data);
    free(got);
}

/* ---- Malformed input ---- */

enum forge_fault {
    FORGE_NONE,
    FORGE_ZERO_CSUM,
    FORGE_BAD_CSUM,
    FORGE_LEN_SHORT, /* UDP length below its header */
    FORGE_LEN_LONG,  /* UDP length past the IP payload */
    FORGE_TRAILING,  /* IP payload longer than the UDP length: fine */
    FORGE_TRUNCATED, /* fewer than 8 bytes of UDP */
};

/* Ethernet + IPv4 + UDP from A to B, delivered straight into B. */
static void forge_to_b(struct net *n, uint16_t sport, uint16_t dport, const char *text,
                       enum forge_fault fault)
{
    uint8_t frame[256];
    size_t plen = strlen(text);
    size_t udp_len = UDP_HDR_LEN + plen;
    size_t ip_payload = udp_len;
    if (fault == FORGE_TRAILING)
        ip_payload += 5;
    if (fault == FORGE_TRUNCATED)
        ip_payload = 6;
    struct ether_repr eth = {.ethertype = ETHERTYPE_IPV4};
    memcpy(eth.dst, n->nb->mac, ETHER_ADDR_LEN);
    memcpy(eth.src, n->na->mac, ETHER_ADDR_LEN);
    ether_emit(&eth, frame);
    struct ipv4_repr ip = {.hdr_len = IPV4_HDR_MIN,
                           .total_len = (uint16_t)(IPV4_HDR_MIN + ip_payload),
                           .id = 77,
                           .ttl = 64,
                           .proto = IP_PROTO_UDP,
                           .src = ADDR_A,
                           .dst = ADDR_B};
    ipv4_emit(&ip, frame + ETHER_HDR_LEN);
    uint8_t *u = frame + ETHER_HDR_LEN + IPV4_HDR_MIN;
    memset(u, 0xee, ip_payload > udp_len ? ip_payload : udp_len);
    struct udp_repr r = {.src_port = sport,
                         .dst_port = dport,
                         .payload = (const uint8_t *)text,
                         .payload_len = plen};
    udp_emit_ipv4(&r, ADDR_A, ADDR_B, u);
    switch (fault) {
    case FORGE_ZERO_CSUM: be16_put(u + 6, 0); break;
    case FORGE_BAD_CSUM: u[UDP_HDR_LEN] ^= 0x01; break;
    case FORGE_LEN_SHORT: be16_put(u + 4, 4); break;
    case FORGE_LEN_LONG: be16_put(u + 4, (uint16_t)(udp_len + 10)); break;
    default: break;
    }
    netif_deliver(n->nb, frame, ETHER_HDR_LEN + IPV4_HDR_MIN + ip_payload);
}

static void test_malformed_dropped(void **state)
{
    struct net *n = *state;
    struct rec r = {0};
    struct udp_pcb *server = bound_pcb(n->b, 0, 7000, false, false, &r);
    n->now += 1000;
    stack_run(n->b, n->now);
    const struct stack_stats *st = &n->b->stats;

    forge_to_b(n, 1234, 7000, "good", FORGE_NONE);
    expect_str(server, "good", ADDR_A);
    forge_to_b(n, 1234, 7000, "no sum", FORGE_ZERO_CSUM); /* RFC 768: accepted */
    expect_str(server, "no sum", ADDR_A);
    forge_to_b(n, 1234, 7000, "trailer", FORGE_TRAILING);
    expect_str(server, "trailer", ADDR_A);
    forge_to_b(n, 0, 7000, "no source port", FORGE_NONE);
    assert_int_equal(expect_str(server, "no source port", ADDR_A), 0);
    assert_int_equal(st->udp_rx_datagrams, 4);
    assert_int_equal(r.readable, 4);

    uint64_t unreach0 = st->icmp_tx_dest_unreach;
    forge_to_b(n, 1234, 7000, "bad sum", FORGE_BAD_CSUM);
    assert_int_equal(st->udp_rx_bad_checksum, 1);
    forge_to_b(n, 1234, 7000, "short", FORGE_LEN_SHORT);
    forge_to_b(n, 1234, 7000, "long", FORGE_LEN_LONG);
    forge_to_b(n, 1234, 7000, "x", FORGE_TRUNCATED);
    forge_to_b(n, 1234, 0, "port zero", FORGE_NONE);
    assert_int_equal(st->udp_rx_malformed, 4);
    assert_int_equal(st->udp_rx_datagrams, 4);
    assert_int_equal(st->udp_rx_no_port, 0);
    assert_int_equal(st->icmp_tx_dest_unreach, unreach0);
    assert_int_equal(r.readable, 4);
    expect_empty(server);

    /* A valid one to a closed port draws an error; a corrupt one does not. */
    forge_to_b(n, 1234, 7777, "closed", FORGE_NONE);
    assert_int_equal(st->udp_rx_no_port, 1);
    assert_int_equal(st->icmp_tx_dest_unreach, unreach0 + 1);
}

/* ---- Limits and API edges ---- */

static void test_send_errors(void **state)
{
    struct net *n = *state;
    struct udp_pcb *p = new_pcb(n->a, NULL);
    assert_int_equal(udp_sendto(p, ADDR_B, 0, "x", 1), -EINVAL);
    assert_int_equal(udp_sendto(p, ADDR_B, 7, NULL, UDP_MAX_PAYLOAD + 1), -EMSGSIZE);
    uint64_t err0 = n->a->stats.udp_tx_errors;
    assert_int_equal(udp_sendto(p, 0x08080808u, 53, "x", 1), -ENETUNREACH);
    assert_int_equal(n->a->stats.udp_tx_errors, err0 + 1);
    assert_true(udp_is_bound(p)); /* sendto bound it, as Linux's autobind */
    /* A socket bound to a specific address sends from it. */
    struct udp_pcb *server = bound_pcb(n->b, 0, 7000, false, false, NULL);
    struct udp_pcb *q = bound_pcb(n->a, ADDR_A, 5555, false, false, NULL);
    struct ipv4_tx_opts opts = {.ttl = 3, .tos = 0x10};
    udp_set_tx_opts(q, &opts);
    send_str(q, ADDR_B, 7000, "ttl 3");
    pump(n);
    assert_int_equal(expect_str(server, "ttl 3", ADDR_A), 5555);
    assert_ptr_equal(udp_owner(q), NULL);
}

/* Through the stack's loopback interface: 127.0.0.1 and its own address. */
static void test_loopback(void **state)
{
    struct net *n = *state;
    struct netif *lo = loopback_open(n->a);
    assert_non_null(lo);
    netif_set_addr(lo, 0x7f000001u, 8);
    assert_int_equal(route_add(n->a, 0x7f000000u, 8, 0, lo), 0);
    n->a->loopback = lo;

    struct rec r = {0};
    struct udp_pcb *server = bound_pcb(n->a, 0x7f000001u, 7000, false, false, &r);
    struct udp_pcb *own = bound_pcb(n->a, ADDR_A, 7000, false, false, NULL);
    struct udp_pcb *client = new_pcb(n->a, NULL);
    send_str(client, 0x7f000001u, 7000, "to lo");
    send_str(client, ADDR_A, 7000, "to self");
    assert_int_equal(r.calls, 0); /* nothing synchronous */
    pump(n);
    stack_run(n->a, n->now);
    uint16_t cport;
    udp_local_endpoint(client, NULL, &cport);
    assert_int_equal(expect_str(server, "to lo", 0x7f000001u), cport);
    assert_int_equal(expect_str(own, "to self", ADDR_A), cport);
    assert_int_equal(r.readable, 1);

    /* A connected socket on loopback gets its port unreachable too. */
    struct udp_pcb *c = new_pcb(n->a, NULL);
    assert_int_equal(udp_connect(c, 0x7f000001u, 7999), 0);
    uint32_t laddr;
    udp_local_endpoint(c, &laddr, NULL);
    assert_int_equal(laddr, 0x7f000001u);
    send_str(c, 0, 0, "closed");
    for (int i = 0; i < 4; i++)
        stack_run(n->a, n->now += 100);
    assert_int_equal(udp_take_error(c), ECONNREFUSED);
}

static void count_cb(struct udp_pcb *pcb, void *ctx)
{
    (void)pcb;
    (*(unsigned *)ctx)++;
}

static void test_pcb_limit(void **state)
{
    struct net *n = *state;
    struct udp_pcb *first = NULL;
    for (unsigned i = 0; i < UDP_MAX_PCBS; i++) {
        struct udp_pcb *p = udp_pcb_new(n->a);
        assert_non_null(p);
        if (first == NULL)
            first = p;
    }
    assert_int_equal(udp_pcb_count(n->a), UDP_MAX_PCBS);
    assert_null(udp_pcb_new(n->a));
    unsigned seen = 0;
    udp_pcb_foreach(n->a, count_cb, &seen);
    assert_int_equal(seen, UDP_MAX_PCBS);
    udp_close(first);
    assert_non_null(udp_pcb_new(n->a));
    /* The teardown's udp_destroy frees them all (ASan checks). */
}

static void test_without_init(void **state)
{
    (void)state;
    struct stack *s = stack_create(NULL, 5);
    assert_non_null(s);
    s->log_fd = -1;
    udp_destroy(s); /* whatever stack_create did: now uninitialised */
    assert_null(udp_pcb_new(s));
    assert_int_equal(udp_pcb_count(s), 0);
    assert_int_equal(udp_init(s), 0);
    assert_int_equal(udp_init(s), 0); /* idempotent */
    assert_non_null(udp_pcb_new(s));
    assert_int_equal(udp_pcb_count(s), 1);
    udp_destroy(s);
    udp_destroy(s);
    stack_destroy(s);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, net_setup, net_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_send_receive_both_ways),
        T(test_empty_datagram),
        T(test_ephemeral_ports),
        T(test_ephemeral_exhaustion),
        T(test_connect_disconnect),
        T(test_connected_preferred),
        T(test_reuseport_balances),
        T(test_port_unreachable),
        T(test_error_dispatch),
        T(test_broadcast),
        T(test_close_from_callback),
        T(test_trunc_and_peek),
        T(test_queue_bound),
        T(test_bind_rules),
        T(test_largest_datagram),
        T(test_malformed_dropped),
        T(test_send_errors),
        T(test_loopback),
        T(test_pcb_limit),
        cmocka_unit_test(test_without_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
