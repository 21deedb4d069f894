/* libFuzzer target: the whole input path. Each input builds a fresh stack
 * (192.0.2.2/24, gateway .1, a vwire link and loopback, with an echo
 * waiting for ARP and one over loopback), delivers the input as frames
 * with netif_deliver, and runs the stack's clock forward through every
 * timer it armed (ARP retries and expiry, reassembly and echo timeouts).
 * The bounds the stack promises are checked all along.
 *
 * The input is a series of records [flags][length: 2 bytes][frame]. When
 * it does not parse as records, the whole input is one raw frame. flags:
 *   0x01  fix the IPv4 header checksum      0x02  fix the ICMP/UDP checksum
 *   0x04  address the frame to our MAC      0x08  make it IPv4 (ethertype)
 *   0xf0  first advance the clock by 2^(flags >> 4) ms (up to ~33 s)
 * so that the fuzzer reaches what lies behind the checksums quickly.
 *
 * TCP is being rewritten and is not fuzzed yet: datagrams for TCP, ICMP
 * messages quoting TCP and ICMP fragments (whose reassembled quote cannot
 * be seen in one frame) are not delivered (build with -DFUZZ_TCP=1 to
 * include them). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arp.h"
#include "driver.h"
#include "icmp.h"
#include "ipv4.h"
#include "netif.h"
#include "route.h"
#include "stack.h"
#include "wire/be.h"
#include "wire/checksum.h"
#include "wire/wire.h"

#ifndef FUZZ_TCP
#define FUZZ_TCP 0
#endif

#define OUR_IP 0xc0000202u
#define GATEWAY_IP 0xc0000201u
#define T0 1000000ull
#define MAX_FRAMES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond))                                                                         \
            __builtin_trap();                                                                \
    } while (0)

static void echo_done(struct stack *stack, uint64_t cookie, int result, uint64_t rtt_us)
{
    (void)stack;
    (void)cookie;
    (void)rtt_us;
    CHECK(result <= 0);
}

static void check_bounds(struct stack *s, struct netif *n)
{
    CHECK(reass_pending(s->ipv4.reass) <= REASS_MAX_DATAGRAMS);
    CHECK(reass_memory(s->ipv4.reass) <= REASS_MEMORY_LIMIT);
    CHECK(arp_cache_count(n->arp) <= ARP_CACHE_SIZE);
}

/* Applies the fix-ups that flags ask for, in place. */
static void fix_frame(uint8_t *f, size_t len, uint8_t flags, const uint8_t our_mac[6])
{
    if (len < ETHER_HDR_LEN)
        return;
    if (flags & 0x04)
        memcpy(f, our_mac, ETHER_ADDR_LEN);
    if (flags & 0x08)
        be16_put(f + 12, ETHERTYPE_IPV4);
    if (be16_get(f + 12) != ETHERTYPE_IPV4)
        return;
    uint8_t *ip = f + ETHER_HDR_LEN;
    size_t left = len - ETHER_HDR_LEN;
    if (left < IPV4_HDR_MIN)
        return;
    size_t hdr_len = (size_t)(ip[0] & 0x0f) * 4;
    if (hdr_len < IPV4_HDR_MIN || hdr_len > left)
        return;
    if (flags & 0x01) {
        be16_put(ip + 10, 0);
        be16_put(ip + 10, csum_finish(csum_add(0, ip, hdr_len)));
    }
    size_t total = be16_get(ip + 2);
    bool fragment = (be16_get(ip + 6) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) != 0;
    if (!(flags & 0x02) || fragment || total < hdr_len || total > left)
        return;
    uint8_t *l4 = ip + hdr_len;
    size_t l4_len = total - hdr_len;
    if (ip[9] == IP_PROTO_ICMP && l4_len >= ICMP_HDR_LEN) {
        be16_put(l4 + 2, 0);
        be16_put(l4 + 2, csum_finish(csum_add(0, l4, l4_len)));
    } else if (ip[9] == IP_PROTO_UDP && l4_len >= UDP_HDR_LEN) {
        size_t udp_len = be16_get(l4 + 4);
        if (udp_len < UDP_HDR_LEN || udp_len > l4_len)
            return;
        be16_put(l4 + 6, 0);
        uint16_t sum = csum_finish(csum_add(
            csum_pseudo_ipv4(be32_get(ip + 12), be32_get(ip + 16), IP_PROTO_UDP,
                             (uint16_t)udp_len),
            l4, udp_len));
        be16_put(l4 + 6, sum == 0 ? 0xffff : sum);
    }
}

/* True when the frame would reach TCP code: a datagram for TCP, or an
 * ICMP message quoting one. */
static bool reaches_tcp(const uint8_t *f, size_t len)
{
    if (FUZZ_TCP || len < ETHER_HDR_LEN + IPV4_HDR_MIN || be16_get(f + 12) != ETHERTYPE_IPV4)
        return false;
    const uint8_t *ip = f + ETHER_HDR_LEN;
    if (ip[9] == IP_PROTO_TCP)
        return true;
    if (ip[9] != IP_PROTO_ICMP)
        return false;
    /* A quote could be split across ICMP fragments: none of those. */
    if ((be16_get(ip + 6) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) != 0)
        return true;
    /* Look for a TCP quote wherever one could start. */
    size_t hdr_len = (size_t)(ip[0] & 0x0f) * 4;
    for (size_t off = ETHER_HDR_LEN + hdr_len; off + 10 <= len; off++)
        if ((f[off] >> 4) == 4 && f[off + 9] == IP_PROTO_TCP)
            return true;
    return false;
}

/* Splits the input into frames; returns how many. */
static unsigned split(const uint8_t *data, size_t size, const uint8_t **frames, size_t *lens,
                      uint8_t *flags)
{
    unsigned n = 0;
    size_t off = 0;
    while (off < size && n < MAX_FRAMES) {
        if (size - off < 3)
            break;
        size_t len = be16_get(data + off + 1);
        if (len > size - off - 3)
            break;
        flags[n] = data[off];
        frames[n] = data + off + 3;
        lens[n] = len;
        n++;
        off += 3 + len;
    }
    if (n == 0 || off != size) {
        /* Not records: one raw frame. */
        flags[0] = 0;
        frames[0] = data;
        lens[0] = size;
        return 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536 * 2)
        return 0;
    struct stack *s = stack_create(NULL, 1);
    struct stack *p = stack_create(NULL, 2);
    CHECK(s != NULL && p != NULL);
    s->log_fd = -1;
    p->log_fd = -1;
    struct netif *n, *pn;
    CHECK(vwire_open_pair(s, p, &n, &pn) == 0);
    CHECK(stack_configure_netif(s, n, OUR_IP, 24, GATEWAY_IP) == 0);
    struct netif *lo = loopback_open(s);
    CHECK(lo != NULL);
    netif_set_addr(lo, 0x7f000001u, 8);
    route_add(s, 0x7f000000u, 8, 0, lo);
    s->loopback = lo;
    uint64_t now = T0;
    stack_run(s, now);
    /* Something to answer: an echo waiting for the gateway's MAC, one to a
     * host beyond it, and one over loopback. */
    icmp_echo_start(s, GATEWAY_IP, 1, 56, 2000000, echo_done, 1);
    icmp_echo_start(s, 0xc6336407u, 2, 1600, 2000000, echo_done, 2);
    icmp_echo_start(s, OUR_IP, 3, 100, 2000000, echo_done, 3);

    const uint8_t *frames[MAX_FRAMES];
    size_t lens[MAX_FRAMES];
    uint8_t flags[MAX_FRAMES];
    unsigned count = split(data, size, frames, lens, flags);
    for (unsigned i = 0; i < count; i++) {
        uint8_t *f = malloc(lens[i] ? lens[i] : 1);
        CHECK(f != NULL);
        memcpy(f, frames[i], lens[i]);
        fix_frame(f, lens[i], flags[i], n->mac);
        if (flags[i] >> 4)
            now += (1000ull << (flags[i] >> 4));
        stack_run(s, now);
        if (!reaches_tcp(f, lens[i]))
            netif_deliver(n, f, lens[i]);
        free(f);
        stack_run(s, now);
        check_bounds(s, n);
    }
    /* A few virtual milliseconds, then every timer runs out: the clock
     * jumps from deadline to deadline for 70 s. */
    for (unsigned i = 0; i < 5; i++)
        stack_run(s, now += 1000);
    uint64_t end = now + 70000000;
    for (unsigned turns = 0; turns < 10000; turns++) {
        uint64_t next = stack_run(s, now);
        check_bounds(s, n);
        if (next == TIME_NEVER || next > end)
            break;
        now = next > now ? next : now + 1;
    }
    CHECK(reass_pending(s->ipv4.reass) == 0 && reass_memory(s->ipv4.reass) == 0);
    stack_destroy(s);
    stack_destroy(p);
    return 0;
}

/* ---- seeds ----------------------------------------------------------------
 * With FUZZ_INPUT_SEEDS=DIR in the environment, the target writes a few
 * inputs made of real frames into DIR and exits (scripts/fuzz does this
 * for an empty corpus): ARP both ways, the gateway's echo reply, an echo
 * request, UDP, a fragmented datagram, an ICMP error about our echo, and
 * a lone fragment left to time out. */

int LLVMFuzzerInitialize(int *argc, char ***argv);

struct seed {
    uint8_t buf[8192];
    size_t len;
};

static void seed_add(struct seed *sd, uint8_t flags, const uint8_t *frame, size_t len)
{
    if (sd->len + 3 + len > sizeof(sd->buf))
        return;
    sd->buf[sd->len] = flags;
    be16_put(sd->buf + sd->len + 1, (uint16_t)len);
    memcpy(sd->buf + sd->len + 3, frame, len);
    sd->len += 3 + len;
}

static void seed_write(const char *dir, const char *name, const struct seed *sd)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return;
    fwrite(sd->buf, 1, sd->len, f);
    fclose(f);
}

static const uint8_t gw_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};

static size_t seed_arp(uint8_t *f, const uint8_t dst[6], uint16_t op, uint32_t tpa)
{
    struct ether_repr eth = {.ethertype = ETHERTYPE_ARP};
    memcpy(eth.dst, dst, 6);
    memcpy(eth.src, gw_mac, 6);
    ether_emit(&eth, f);
    struct arp_repr arp = {.op = op, .spa = GATEWAY_IP, .tpa = tpa};
    memcpy(arp.sha, gw_mac, 6);
    arp_emit(&arp, f + ETHER_HDR_LEN);
    return ETHER_HDR_LEN + ARP_PKT_LEN;
}

static size_t seed_ip(uint8_t *f, const uint8_t dst_mac[6], uint8_t proto, uint16_t id,
                      uint16_t frag_offset, bool mf, const uint8_t *payload, size_t len)
{
    struct ether_repr eth = {.ethertype = ETHERTYPE_IPV4};
    memcpy(eth.dst, dst_mac, 6);
    memcpy(eth.src, gw_mac, 6);
    ether_emit(&eth, f);
    struct ipv4_repr ip = {.hdr_len = IPV4_HDR_MIN, .total_len = (uint16_t)(IPV4_HDR_MIN + len),
                           .id = id, .more_fragments = mf, .frag_offset = frag_offset,
                           .ttl = 64, .proto = proto, .src = GATEWAY_IP, .dst = OUR_IP};
    ipv4_emit(&ip, f + ETHER_HDR_LEN);
    memcpy(f + ETHER_HDR_LEN + IPV4_HDR_MIN, payload, len);
    return ETHER_HDR_LEN + IPV4_HDR_MIN + len;
}

static void write_seeds(const char *dir)
{
    /* The stack as LLVMFuzzerTestOneInput makes it, to learn its MAC and
     * the echo request it sends once the gateway is resolved. */
    struct stack *s = stack_create(NULL, 1);
    struct stack *p = stack_create(NULL, 2);
    struct netif *n, *pn;
    if (s == NULL || p == NULL || vwire_open_pair(s, p, &n, &pn) < 0)
        return;
    s->log_fd = p->log_fd = -1;
    stack_configure_netif(s, n, OUR_IP, 24, GATEWAY_IP);
    stack_run(s, T0);
    icmp_echo_start(s, GATEWAY_IP, 1, 56, 2000000, echo_done, 1);
    static uint8_t f[2048], rx[STACK_RX_BUF];
    size_t len = seed_arp(f, n->mac, ARP_OP_REPLY, OUR_IP);
    netif_deliver(n, f, len);
    ssize_t got;
    uint8_t echo_req[128];
    size_t echo_len = 0;
    while ((got = pn->ops->recv(pn, rx, sizeof(rx))) > 0) {
        if (got > ETHER_HDR_LEN + IPV4_HDR_MIN && be16_get(rx + 12) == ETHERTYPE_IPV4 &&
            rx[ETHER_HDR_LEN + 9] == IP_PROTO_ICMP && (size_t)got <= sizeof(echo_req)) {
            memcpy(echo_req, rx, (size_t)got);
            echo_len = (size_t)got;
        }
    }
    uint8_t our_mac[6];
    memcpy(our_mac, n->mac, 6);
    stack_destroy(s);
    stack_destroy(p);
    if (echo_len == 0)
        return;
    const uint8_t *req_icmp = echo_req + ETHER_HDR_LEN + IPV4_HDR_MIN;
    size_t req_icmp_len = echo_len - ETHER_HDR_LEN - IPV4_HDR_MIN;
    static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t msg[1600];
    struct seed sd;

    /* ARP: a request for us, then the gateway's reply and its echo reply. */
    sd.len = 0;
    seed_add(&sd, 0, f, seed_arp(f, bcast, ARP_OP_REQUEST, OUR_IP));
    seed_write(dir, "arp-request", &sd);
    sd.len = 0;
    seed_add(&sd, 0, f, seed_arp(f, our_mac, ARP_OP_REPLY, OUR_IP));
    struct icmp_repr reply = {.type = ICMP_ECHO_REPLY, .rest = be32_get(req_icmp + 4),
                              .data = req_icmp + ICMP_HDR_LEN,
                              .data_len = req_icmp_len - ICMP_HDR_LEN};
    icmp_emit(&reply, msg);
    seed_add(&sd, 0, f, seed_ip(f, our_mac, IP_PROTO_ICMP, 1, 0, false, msg, req_icmp_len));
    seed_write(dir, "arp-reply-echo-reply", &sd);

    /* An ICMP error about our echo. */
    sd.len = 0;
    seed_add(&sd, 0, f, seed_arp(f, our_mac, ARP_OP_REPLY, OUR_IP));
    struct icmp_repr err = {.type = ICMP_DEST_UNREACH, .code = ICMP_UNREACH_HOST,
                            .data = echo_req + ETHER_HDR_LEN, .data_len = IPV4_HDR_MIN + 8};
    icmp_emit(&err, msg);
    seed_add(&sd, 0, f,
             seed_ip(f, our_mac, IP_PROTO_ICMP, 2, 0, false, msg, ICMP_HDR_LEN + err.data_len));
    seed_write(dir, "icmp-error", &sd);

    /* An echo request, and UDP, to us. */
    uint8_t data[64];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)i;
    struct icmp_repr req = {.type = ICMP_ECHO_REQUEST, .rest = 0x12340001u, .data = data,
                            .data_len = sizeof(data)};
    icmp_emit(&req, msg);
    sd.len = 0;
    seed_add(&sd, 0, f,
             seed_ip(f, our_mac, IP_PROTO_ICMP, 3, 0, false, msg, ICMP_HDR_LEN + sizeof(data)));
    seed_write(dir, "echo-request", &sd);
    struct udp_repr udp = {.src_port = 5353, .dst_port = 9, .payload = data,
                           .payload_len = sizeof(data)};
    udp_emit_ipv4(&udp, GATEWAY_IP, OUR_IP, msg);
    sd.len = 0;
    seed_add(&sd, 0, f,
             seed_ip(f, our_mac, IP_PROTO_UDP, 4, 0, false, msg, UDP_HDR_LEN + sizeof(data)));
    seed_write(dir, "udp", &sd);

    /* A UDP datagram in three fragments, and a lone fragment that times
     * out (the flags advance the clock past the reassembly timeout). */
    uint8_t big[1200];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7);
    struct udp_repr budp = {.src_port = 5353, .dst_port = 9, .payload = big,
                            .payload_len = sizeof(big) - UDP_HDR_LEN};
    udp_emit_ipv4(&budp, GATEWAY_IP, OUR_IP, msg);
    sd.len = 0;
    seed_add(&sd, 0, f, seed_ip(f, our_mac, IP_PROTO_UDP, 5, 400, true, msg + 400, 400));
    seed_add(&sd, 0, f, seed_ip(f, our_mac, IP_PROTO_UDP, 5, 800, false, msg + 800, 400));
    seed_add(&sd, 0, f, seed_ip(f, our_mac, IP_PROTO_UDP, 5, 0, true, msg, 400));
    seed_write(dir, "udp-fragments", &sd);
    sd.len = 0;
    seed_add(&sd, 0, f, seed_ip(f, our_mac, IP_PROTO_UDP, 6, 0, true, msg, 400));
    seed_add(&sd, 0xf0, f, seed_arp(f, bcast, ARP_OP_REQUEST, OUR_IP));
    seed_write(dir, "fragment-timeout", &sd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("FUZZ_INPUT_SEEDS");
    if (dir != NULL && dir[0] != '\0') {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}
