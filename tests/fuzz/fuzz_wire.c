/* libFuzzer target: every wire parser on the input (Ethernet, ARP, IPv4
 * with options, ICMP, UDP, and the address text forms), each on a buffer
 * of exactly the input's length. What a parser accepts must keep the
 * promises of its representation, and must survive an emit/parse round
 * trip unchanged. TCP is left out while it is being rewritten.
 *
 *   build-fuzz/tests/fuzz/fuzz_wire CORPUS_DIR */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wire/be.h"
#include "wire/checksum.h"
#include "wire/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                          \
    do {                                                                                     \
        if (!(cond))                                                                         \
            __builtin_trap();                                                                \
    } while (0)

static void fuzz_ether(const uint8_t *data, size_t size)
{
    struct ether_repr eth;
    enum wire_err err = ether_parse(data, size, &eth);
    if (err != WIRE_OK) {
        CHECK(err == WIRE_TRUNCATED || err == WIRE_UNSUPPORTED);
        return;
    }
    CHECK(size >= ETHER_HDR_LEN && eth.ethertype >= 0x0600);
    uint8_t out[ETHER_HDR_LEN];
    ether_emit(&eth, out);
    CHECK(memcmp(out, data, ETHER_HDR_LEN) == 0);
    char text[18];
    ether_fmt(eth.src, text, sizeof(text));
    uint8_t mac[ETHER_ADDR_LEN];
    CHECK(ether_addr_parse(text, mac));
    CHECK(memcmp(mac, eth.src, ETHER_ADDR_LEN) == 0);
}

static void fuzz_arp(const uint8_t *data, size_t size)
{
    struct arp_repr arp;
    if (arp_parse(data, size, &arp) != WIRE_OK)
        return;
    CHECK(size >= ARP_PKT_LEN);
    CHECK(arp.op == ARP_OP_REQUEST || arp.op == ARP_OP_REPLY);
    uint8_t out[ARP_PKT_LEN];
    arp_emit(&arp, out);
    CHECK(memcmp(out, data, ARP_PKT_LEN) == 0);
}

static void fuzz_icmp(const uint8_t *data, size_t size)
{
    struct icmp_repr icmp;
    if (icmp_parse(data, size, &icmp) != WIRE_OK)
        return;
    CHECK(size >= ICMP_HDR_LEN && icmp.data == data + ICMP_HDR_LEN);
    CHECK(icmp.data_len == size - ICMP_HDR_LEN);
    uint8_t *out = malloc(size);
    if (out == NULL)
        return;
    icmp_emit(&icmp, out);
    struct icmp_repr again;
    CHECK(icmp_parse(out, size, &again) == WIRE_OK);
    CHECK(again.type == icmp.type && again.code == icmp.code && again.rest == icmp.rest);
    CHECK(again.data_len == icmp.data_len);
    CHECK(memcmp(again.data, icmp.data, icmp.data_len) == 0);
    free(out);
}

static void fuzz_udp(const uint8_t *data, size_t size, uint32_t src, uint32_t dst)
{
    struct udp_repr udp;
    if (udp_parse_ipv4(data, size, src, dst, &udp) != WIRE_OK)
        return;
    CHECK(size >= UDP_HDR_LEN && udp.payload == data + UDP_HDR_LEN);
    CHECK(UDP_HDR_LEN + udp.payload_len <= size);
    CHECK(udp.payload_len == (size_t)be16_get(data + 4) - UDP_HDR_LEN);
    CHECK(udp.dst_port != 0);
    size_t len = UDP_HDR_LEN + udp.payload_len;
    uint8_t *out = malloc(len);
    if (out == NULL)
        return;
    udp_emit_ipv4(&udp, src, dst, out);
    struct udp_repr again;
    CHECK(udp_parse_ipv4(out, len, src, dst, &again) == WIRE_OK);
    CHECK(again.src_port == udp.src_port && again.dst_port == udp.dst_port);
    CHECK(again.payload_len == udp.payload_len);
    CHECK(memcmp(again.payload, udp.payload, udp.payload_len) == 0);
    /* Same bytes, except where the input said "no checksum". */
    if (be16_get(data + 6) != 0)
        CHECK(memcmp(out, data, len) == 0);
    free(out);
}

static void fuzz_ipv4(const uint8_t *data, size_t size)
{
    struct ipv4_repr ip;
    if (ipv4_parse(data, size, &ip) != WIRE_OK)
        return;
    CHECK(ip.hdr_len >= IPV4_HDR_MIN && ip.hdr_len <= IPV4_HDR_MAX && ip.hdr_len % 4 == 0);
    CHECK(ip.hdr_len <= ip.total_len && ip.total_len <= size);
    CHECK(ip.options_len == ip.hdr_len - IPV4_HDR_MIN);
    CHECK(ip.options_len == 0 ? ip.options == NULL : ip.options == data + IPV4_HDR_MIN);
    CHECK(ip.frag_offset % 8 == 0);
    CHECK((size_t)ip.frag_offset + ip.total_len <= IPV4_MAX_DATAGRAM);
    CHECK(ip.src >> 28 < 0xe);
    /* Round trip of the header without its options. */
    struct ipv4_repr plain = ip;
    plain.hdr_len = IPV4_HDR_MIN;
    plain.options = NULL;
    plain.options_len = 0;
    plain.total_len = (uint16_t)(ip.total_len - ip.options_len);
    uint8_t out[IPV4_HDR_MIN];
    ipv4_emit(&plain, out);
    struct ipv4_repr again;
    CHECK(ipv4_parse(out, sizeof(out), &again) == WIRE_OK ||
          plain.total_len > IPV4_HDR_MIN); /* then out is only the header */
    CHECK(memcmp(out + 4, data + 4, 6) == 0);   /* id, flags, offset, ttl, proto */
    CHECK(memcmp(out + 12, data + 12, 8) == 0); /* addresses */
    /* The payload, as the stack would hand it on. */
    const uint8_t *payload = data + ip.hdr_len;
    size_t len = (size_t)ip.total_len - ip.hdr_len;
    uint8_t *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return;
    memcpy(copy, payload, len);
    fuzz_icmp(copy, len);
    fuzz_udp(copy, len, ip.src, ip.dst);
    free(copy);
}

static void fuzz_text(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return;
    memcpy(text, data, size);
    text[size] = '\0';
    uint8_t mac[ETHER_ADDR_LEN];
    if (ether_addr_parse(text, mac)) {
        char back[18];
        ether_fmt(mac, back, sizeof(back));
        CHECK(strlen(text) == 17);
        uint8_t again[ETHER_ADDR_LEN];
        CHECK(ether_addr_parse(back, again) && memcmp(again, mac, ETHER_ADDR_LEN) == 0);
    }
    uint32_t addr;
    if (ipv4_addr_parse(text, &addr)) {
        char back[16];
        ipv4_fmt(addr, back, sizeof(back));
        /* Canonical text only: what we print is what we took. */
        CHECK(strcmp(back, text) == 0);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_ether(data, size);
    fuzz_arp(data, size);
    fuzz_ipv4(data, size);
    fuzz_icmp(data, size);
    /* UDP with addresses taken from the input's first bytes when present. */
    uint32_t src = size >= 4 ? be32_get(data) : 0xc0000201u;
    uint32_t dst = size >= 8 ? be32_get(data + 4) : 0xc0000202u;
    fuzz_udp(data, size, src, dst);
    /* The same bytes behind an Ethernet header, as a frame's payload. */
    if (size >= ETHER_HDR_LEN) {
        size_t len = size - ETHER_HDR_LEN;
        uint8_t *copy = malloc(len ? len : 1);
        if (copy != NULL) {
            memcpy(copy, data + ETHER_HDR_LEN, len);
            fuzz_arp(copy, len);
            fuzz_ipv4(copy, len);
            free(copy);
        }
    }
    fuzz_text(data, size);
    return 0;
}
