/* TCP segment format (RFC 9293 §3.1) with the options we speak: MSS
 * (RFC 9293 §3.2), window scale and timestamps (RFC 7323), SACK-permitted
 * and SACK (RFC 2018).
 *
 * Like the rest of wire/, this only checks format. Flag combinations
 * (SYN+FIN, SYN+RST), urgent pointers, options on the wrong kind of segment
 * and sequence numbers are for protocol logic to judge. */
#ifndef TOYSOCK_WIRE_TCP_WIRE_H
#define TOYSOCK_WIRE_TCP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

#define TCP_HDR_MIN 20
#define TCP_HDR_MAX 60

/* Header flags: the byte at offset 13. */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* Option kinds. */
#define TCP_OPT_EOL 0
#define TCP_OPT_NOP 1
#define TCP_OPT_MSS 2       /* length 4, RFC 9293 §3.2 */
#define TCP_OPT_WSCALE 3    /* length 3, RFC 7323 §2 */
#define TCP_OPT_SACK_PERM 4 /* length 2, RFC 2018 §2 */
#define TCP_OPT_SACK 5      /* length 2 + 8n, RFC 2018 §3 */
#define TCP_OPT_TIMESTAMP 8 /* length 10, RFC 7323 §3 */

#define TCP_WSCALE_MAX 14   /* larger shifts are treated as 14, RFC 7323 §2.3 */
#define TCP_SACK_MAX_BLOCKS 4

struct tcp_sack_block {
    uint32_t left;  /* first sequence number of the block */
    uint32_t right; /* sequence number just past the block */
};

struct tcp_repr {
    uint16_t src_port;
    uint16_t dst_port;
    uint32_t seq;
    uint32_t ack;
    uint8_t flags;   /* TCP_FIN | TCP_SYN | ... */
    uint16_t window; /* raw, unscaled */
    uint16_t urgent; /* as on the wire, whether or not URG is set */
    /* options: */
    bool has_mss;
    uint16_t mss;
    bool has_wscale;
    uint8_t wscale; /* clamped to TCP_WSCALE_MAX by the parser */
    bool sack_permitted;
    bool has_timestamps;
    uint32_t ts_val;
    uint32_t ts_ecr;
    uint8_t sack_count; /* blocks in sack[], most recent first */
    struct tcp_sack_block sack[TCP_SACK_MAX_BLOCKS];
    const uint8_t *payload; /* points into the parsed buffer */
    size_t payload_len;
    uint8_t hdr_len; /* bytes, options included; set by the parser, ignored on emit */
};

/* Validates a segment of len bytes received from src to dst (host-order
 * addresses): length and data offset, the checksum with the IPv4
 * pseudo-header over the whole segment, non-zero ports, and the option list.
 * Unknown options are skipped; a later duplicate of a known option wins.
 * On error *out is left untouched. */
enum wire_err tcp_parse_ipv4(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst,
                             struct tcp_repr *out);

/* Header length (options included, a multiple of 4, at most TCP_HDR_MAX)
 * that the emitter produces for r. Options go in the usual order: MSS,
 * SACK-permitted, timestamps, window scale, SACK. When they do not all fit,
 * trailing SACK blocks are dropped (at least two always fit). */
size_t tcp_hdr_len(const struct tcp_repr *r);

/* Number of r's SACK blocks that the emitter will send. */
unsigned tcp_sack_emit_count(const struct tcp_repr *r);

/* Writes the header and options (tcp_hdr_len(r) bytes) with a zero checksum
 * field; the caller (or a device that offloads it) fills the checksum. */
void tcp_emit_header_ipv4(const struct tcp_repr *r, uint8_t *buf);

/* Writes header, options and payload (moved from r->payload, which may
 * overlap buf) and the checksum with the IPv4 pseudo-header. buf holds
 * tcp_hdr_len(r) + r->payload_len bytes, at most 65535. r->wscale is sent as
 * given, even above TCP_WSCALE_MAX. */
void tcp_emit_ipv4(const struct tcp_repr *r, uint32_t src, uint32_t dst, uint8_t *buf);

/* One-line description for debug logs, e.g.
 *   "40000 > 80 [SA] seq=1000 ack=2001 win=65535 len=0 <mss 1460,sackOK,ts 7:0,ws 7>"
 * Returns what snprintf would: the length of the whole line, even when it was
 * cut to fit outlen (out may be NULL when outlen is 0), or -1. */
int tcp_fmt(const struct tcp_repr *r, char *out, size_t outlen);

#endif
