/* Wire formats: each protocol's header parsed from untrusted bytes into a
 * validated representation (X_parse), and emitted from one into a buffer of
 * exactly X_hdr_len bytes (X_emit). Nothing here keeps state or trusts a
 * length it has not checked against the bytes it was given.
 *
 * Parsers return WIRE_OK or one of the wire_err reasons; the protocol module
 * that called them turns the reason into a named drop counter. */
#ifndef TOYSOCK_WIRE_H
#define TOYSOCK_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wire_err {
    WIRE_OK = 0,
    WIRE_TRUNCATED,     /* fewer bytes than the header or its length field say */
    WIRE_BAD_VERSION,
    WIRE_BAD_HDR_LEN,   /* IHL < 5, data offset < 5, options past the header */
    WIRE_BAD_TOTAL_LEN, /* length field smaller than the header, or a fragment
                         * reaching past 65535 bytes (past the frame: TRUNCATED) */
    WIRE_BAD_CHECKSUM,
    WIRE_BAD_ADDRESS,   /* source address that no host may use */
    WIRE_BAD_OPTION,    /* malformed option list */
    WIRE_BAD_FIELD,     /* a field with a value the format forbids */
    WIRE_UNSUPPORTED,   /* well formed, but not a variant we handle */
};

const char *wire_err_name(enum wire_err err);

/* ---- Ethernet II ---- */
#define ETHER_ADDR_LEN 6
#define ETHER_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806
#define ETHERTYPE_IPV6 0x86dd

struct ether_repr {
    uint8_t dst[ETHER_ADDR_LEN];
    uint8_t src[ETHER_ADDR_LEN];
    uint16_t ethertype;
};

enum wire_err ether_parse(const uint8_t *buf, size_t len, struct ether_repr *out);
void ether_emit(const struct ether_repr *repr, uint8_t *buf);
bool ether_is_broadcast(const uint8_t mac[ETHER_ADDR_LEN]);
/* Group bit set, broadcast excluded: test ether_is_broadcast separately. */
bool ether_is_multicast(const uint8_t mac[ETHER_ADDR_LEN]);
/* Writes "xx:xx:xx:xx:xx:xx" into out (at least 18 bytes). */
void ether_fmt(const uint8_t mac[ETHER_ADDR_LEN], char *out, size_t outlen);
/* Parses "xx:xx:xx:xx:xx:xx"; false on anything else, mac then untouched. */
bool ether_addr_parse(const char *text, uint8_t mac[ETHER_ADDR_LEN]);

/* ---- ARP for IPv4 over Ethernet (RFC 826) ---- */
#define ARP_PKT_LEN 28
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

struct arp_repr {
    uint16_t op;
    uint8_t sha[ETHER_ADDR_LEN];
    uint32_t spa; /* host order */
    uint8_t tha[ETHER_ADDR_LEN];
    uint32_t tpa; /* host order */
};

enum wire_err arp_parse(const uint8_t *buf, size_t len, struct arp_repr *out);
void arp_emit(const struct arp_repr *repr, uint8_t *buf);

/* ---- IPv4 (RFC 791) ---- */
#define IPV4_HDR_MIN 20
#define IPV4_HDR_MAX 60
#define IPV4_MAX_DATAGRAM 65535
#define IP_PROTO_ICMP 1
#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17
#define IPV4_FLAG_DF 0x4000
#define IPV4_FLAG_MF 0x2000
#define IPV4_FRAG_OFFSET_MASK 0x1fff

struct ipv4_repr {
    uint8_t hdr_len;     /* bytes, options included */
    uint8_t tos;
    uint16_t total_len;  /* header + payload, as on the wire */
    uint16_t id;
    bool dont_fragment;
    bool more_fragments;
    uint16_t frag_offset; /* bytes */
    uint8_t ttl;
    uint8_t proto;
    uint32_t src; /* host order */
    uint32_t dst; /* host order */
    const uint8_t *options; /* points into the parsed buffer; NULL on emit */
    uint8_t options_len;
};

/* Validates version, IHL, total length against len, checksum, and the source
 * address (not multicast, not limited broadcast). Bytes past total_len are
 * link padding and are not part of the datagram. */
enum wire_err ipv4_parse(const uint8_t *buf, size_t len, struct ipv4_repr *out);
/* Emits a 20-byte header (options are not emitted) with its checksum. */
void ipv4_emit(const struct ipv4_repr *repr, uint8_t *buf);
/* "a.b.c.d" of a host-order address into out (at least 16 bytes). */
void ipv4_fmt(uint32_t addr, char *out, size_t outlen);
/* Parses dotted-quad (decimal, no leading zeros, as inet_pton) into a
 * host-order address; false on anything else, addr then untouched. */
bool ipv4_addr_parse(const char *text, uint32_t *addr);

/* ---- ICMPv4 (RFC 792) ---- */
#define ICMP_HDR_LEN 8
#define ICMP_ECHO_REPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_ECHO_REQUEST 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_UNREACH_NET 0
#define ICMP_UNREACH_HOST 1
#define ICMP_UNREACH_PROTOCOL 2
#define ICMP_UNREACH_PORT 3
#define ICMP_UNREACH_FRAG_NEEDED 4

struct icmp_repr {
    uint8_t type;
    uint8_t code;
    uint32_t rest; /* id<<16|seq for echo; next-hop MTU in the low 16 bits for frag-needed */
    const uint8_t *data;
    size_t data_len;
};

/* Validates the length and the checksum over the whole message. */
enum wire_err icmp_parse(const uint8_t *buf, size_t len, struct icmp_repr *out);
/* Emits header + data (copied from repr->data) and the checksum; buf holds
 * ICMP_HDR_LEN + data_len bytes. */
void icmp_emit(const struct icmp_repr *repr, uint8_t *buf);

/* ---- UDP (RFC 768) ---- */
#define UDP_HDR_LEN 8

struct udp_repr {
    uint16_t src_port;
    uint16_t dst_port;
    const uint8_t *payload;
    size_t payload_len;
};

/* Validates length (header field against len) and, when non-zero, the
 * checksum with the IPv4 pseudo-header. Trailing bytes past the length
 * field are ignored. */
enum wire_err udp_parse_ipv4(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst,
                             struct udp_repr *out);
/* Emits header + payload (copied) with the checksum; buf holds
 * UDP_HDR_LEN + payload_len bytes. */
void udp_emit_ipv4(const struct udp_repr *repr, uint32_t src, uint32_t dst, uint8_t *buf);

#endif
