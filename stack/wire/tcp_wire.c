/* TCP segments over IPv4 (RFC 9293 §3.1): header and option validation,
 * emission with the usual option layout, and a one-line text form. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "be.h"
#include "checksum.h"
#include "tcp_wire.h"

/* Field offsets (RFC 9293 §3.1). */
#define TCP_OFF_SRC_PORT 0
#define TCP_OFF_DST_PORT 2
#define TCP_OFF_SEQ 4
#define TCP_OFF_ACK 8
#define TCP_OFF_DATA_OFF 12 /* high nibble: header length in 32-bit words */
#define TCP_OFF_FLAGS 13
#define TCP_OFF_WINDOW 14
#define TCP_OFF_CHECKSUM 16
#define TCP_OFF_URGENT 18

#define TCP_OPTLEN_MSS 4
#define TCP_OPTLEN_WSCALE 3
#define TCP_OPTLEN_SACK_PERM 2
#define TCP_OPTLEN_TIMESTAMP 10
#define TCP_SACK_BLOCK_LEN 8

/* Walks the option list (RFC 9293 §3.2): EOL ends it, NOP is one byte, every
 * other kind carries a length byte counting kind and length. */
static enum wire_err tcp_parse_options(const uint8_t *opt, size_t left, struct tcp_repr *r)
{
    while (left > 0) {
        uint8_t kind = opt[0];
        if (kind == TCP_OPT_EOL)
            break;
        if (kind == TCP_OPT_NOP) {
            opt++;
            left--;
            continue;
        }
        if (left < 2 || opt[1] < 2 || opt[1] > left)
            return WIRE_BAD_OPTION;
        uint8_t olen = opt[1];
        switch (kind) {
        case TCP_OPT_MSS:
            if (olen != TCP_OPTLEN_MSS)
                return WIRE_BAD_OPTION;
            r->has_mss = true;
            r->mss = be16_get(opt + 2);
            break;
        case TCP_OPT_WSCALE:
            if (olen != TCP_OPTLEN_WSCALE)
                return WIRE_BAD_OPTION;
            r->has_wscale = true;
            /* RFC 7323 §2.3: log a shift above 14 and use 14. */
            r->wscale = opt[2] > TCP_WSCALE_MAX ? TCP_WSCALE_MAX : opt[2];
            break;
        case TCP_OPT_SACK_PERM:
            if (olen != TCP_OPTLEN_SACK_PERM)
                return WIRE_BAD_OPTION;
            r->sack_permitted = true;
            break;
        case TCP_OPT_TIMESTAMP:
            if (olen != TCP_OPTLEN_TIMESTAMP)
                return WIRE_BAD_OPTION;
            r->has_timestamps = true;
            r->ts_val = be32_get(opt + 2);
            r->ts_ecr = be32_get(opt + 6);
            break;
        case TCP_OPT_SACK: {
            size_t blocks = (size_t)(olen - 2) / TCP_SACK_BLOCK_LEN;
            if ((olen - 2) % TCP_SACK_BLOCK_LEN != 0 || blocks < 1 ||
                blocks > TCP_SACK_MAX_BLOCKS)
                return WIRE_BAD_OPTION;
            r->sack_count = (uint8_t)blocks;
            for (size_t i = 0; i < blocks; i++) {
                r->sack[i].left = be32_get(opt + 2 + i * TCP_SACK_BLOCK_LEN);
                r->sack[i].right = be32_get(opt + 6 + i * TCP_SACK_BLOCK_LEN);
            }
            break;
        }
        default: /* unknown kinds are skipped by their length */
            break;
        }
        opt += olen;
        left -= olen;
    }
    return WIRE_OK;
}

enum wire_err tcp_parse_ipv4(const uint8_t *buf, size_t len, uint32_t src, uint32_t dst,
                             struct tcp_repr *out)
{
    if (len < TCP_HDR_MIN)
        return WIRE_TRUNCATED;
    size_t hdr_len = (size_t)(buf[TCP_OFF_DATA_OFF] >> 4) * 4;
    if (hdr_len < TCP_HDR_MIN)
        return WIRE_BAD_HDR_LEN;
    if (hdr_len > len)
        return WIRE_TRUNCATED;
    /* The pseudo-header carries the segment length in 16 bits. */
    if (len > UINT16_MAX)
        return WIRE_BAD_TOTAL_LEN;
    uint32_t sum = csum_pseudo_ipv4(src, dst, IP_PROTO_TCP, (uint16_t)len);
    if (csum_finish(csum_add(sum, buf, len)) != 0)
        return WIRE_BAD_CHECKSUM;

    struct tcp_repr r;
    memset(&r, 0, sizeof(r));
    r.src_port = be16_get(buf + TCP_OFF_SRC_PORT);
    r.dst_port = be16_get(buf + TCP_OFF_DST_PORT);
    if (r.src_port == 0 || r.dst_port == 0)
        return WIRE_BAD_FIELD;
    r.seq = be32_get(buf + TCP_OFF_SEQ);
    r.ack = be32_get(buf + TCP_OFF_ACK);
    /* The four reserved bits below the data offset are ignored. */
    r.flags = buf[TCP_OFF_FLAGS];
    r.window = be16_get(buf + TCP_OFF_WINDOW);
    r.urgent = be16_get(buf + TCP_OFF_URGENT);
    enum wire_err err = tcp_parse_options(buf + TCP_HDR_MIN, hdr_len - TCP_HDR_MIN, &r);
    if (err != WIRE_OK)
        return err;
    r.hdr_len = (uint8_t)hdr_len;
    r.payload = buf + hdr_len;
    r.payload_len = len - hdr_len;
    *out = r;
    return WIRE_OK;
}

/* Option bytes before any SACK option: MSS 4, SACK-permitted and
 * timestamps 12 together (4 when alone), window scale 4. At most 20. */
static size_t tcp_fixed_opts_len(const struct tcp_repr *r)
{
    size_t len = 0;
    if (r->has_mss)
        len += 4;
    if (r->has_timestamps)
        len += 12; /* SACK-permitted, if any, takes the place of two NOPs */
    else if (r->sack_permitted)
        len += 4;
    if (r->has_wscale)
        len += 4;
    return len;
}

unsigned tcp_sack_emit_count(const struct tcp_repr *r)
{
    unsigned n = r->sack_count < TCP_SACK_MAX_BLOCKS ? r->sack_count : TCP_SACK_MAX_BLOCKS;
    /* NOP, NOP, kind, length, then the blocks. */
    size_t room = TCP_HDR_MAX - TCP_HDR_MIN - tcp_fixed_opts_len(r);
    size_t fit = room < 4 ? 0 : (room - 4) / TCP_SACK_BLOCK_LEN;
    return n < fit ? n : (unsigned)fit;
}

size_t tcp_hdr_len(const struct tcp_repr *r)
{
    size_t len = TCP_HDR_MIN + tcp_fixed_opts_len(r);
    unsigned n = tcp_sack_emit_count(r);
    if (n > 0)
        len += 4 + (size_t)n * TCP_SACK_BLOCK_LEN;
    return len;
}

void tcp_emit_header_ipv4(const struct tcp_repr *r, uint8_t *buf)
{
    size_t hdr_len = tcp_hdr_len(r);
    be16_put(buf + TCP_OFF_SRC_PORT, r->src_port);
    be16_put(buf + TCP_OFF_DST_PORT, r->dst_port);
    be32_put(buf + TCP_OFF_SEQ, r->seq);
    be32_put(buf + TCP_OFF_ACK, r->ack);
    buf[TCP_OFF_DATA_OFF] = (uint8_t)(hdr_len / 4 << 4);
    buf[TCP_OFF_FLAGS] = r->flags;
    be16_put(buf + TCP_OFF_WINDOW, r->window);
    be16_put(buf + TCP_OFF_CHECKSUM, 0);
    be16_put(buf + TCP_OFF_URGENT, r->urgent);

    /* Every option group is 4 bytes aligned, so no padding is needed. */
    uint8_t *p = buf + TCP_HDR_MIN;
    if (r->has_mss) {
        p[0] = TCP_OPT_MSS;
        p[1] = TCP_OPTLEN_MSS;
        be16_put(p + 2, r->mss);
        p += 4;
    }
    if (r->has_timestamps) {
        if (r->sack_permitted) {
            p[0] = TCP_OPT_SACK_PERM;
            p[1] = TCP_OPTLEN_SACK_PERM;
        } else {
            p[0] = TCP_OPT_NOP;
            p[1] = TCP_OPT_NOP;
        }
        p[2] = TCP_OPT_TIMESTAMP;
        p[3] = TCP_OPTLEN_TIMESTAMP;
        be32_put(p + 4, r->ts_val);
        be32_put(p + 8, r->ts_ecr);
        p += 12;
    } else if (r->sack_permitted) {
        p[0] = TCP_OPT_NOP;
        p[1] = TCP_OPT_NOP;
        p[2] = TCP_OPT_SACK_PERM;
        p[3] = TCP_OPTLEN_SACK_PERM;
        p += 4;
    }
    if (r->has_wscale) {
        p[0] = TCP_OPT_NOP;
        p[1] = TCP_OPT_WSCALE;
        p[2] = TCP_OPTLEN_WSCALE;
        p[3] = r->wscale;
        p += 4;
    }
    unsigned n = tcp_sack_emit_count(r);
    if (n > 0) {
        p[0] = TCP_OPT_NOP;
        p[1] = TCP_OPT_NOP;
        p[2] = TCP_OPT_SACK;
        p[3] = (uint8_t)(2 + n * TCP_SACK_BLOCK_LEN);
        p += 4;
        for (unsigned i = 0; i < n; i++) {
            be32_put(p, r->sack[i].left);
            be32_put(p + 4, r->sack[i].right);
            p += TCP_SACK_BLOCK_LEN;
        }
    }
}

void tcp_emit_ipv4(const struct tcp_repr *r, uint32_t src, uint32_t dst, uint8_t *buf)
{
    size_t hdr_len = tcp_hdr_len(r);
    /* Payload first: it may sit anywhere in buf, even where the header goes. */
    if (r->payload_len > 0)
        memmove(buf + hdr_len, r->payload, r->payload_len);
    tcp_emit_header_ipv4(r, buf);
    uint16_t seg_len = (uint16_t)(hdr_len + r->payload_len);
    uint32_t sum = csum_pseudo_ipv4(src, dst, IP_PROTO_TCP, seg_len);
    be16_put(buf + TCP_OFF_CHECKSUM, csum_finish(csum_add(sum, buf, seg_len)));
}

/* snprintf that appends, remembering the full length even past outlen. */
struct fmt_state {
    char *out;
    size_t outlen;
    size_t pos;
    bool failed;
};

static void fmt_add(struct fmt_state *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fmt_add(struct fmt_state *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *dst = f->pos < f->outlen ? f->out + f->pos : NULL;
    size_t room = f->pos < f->outlen ? f->outlen - f->pos : 0;
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        f->failed = true;
    else
        f->pos += (size_t)n;
}

int tcp_fmt(const struct tcp_repr *r, char *out, size_t outlen)
{
    static const char letters[] = "FSRPAUEC"; /* bit 0 (FIN) to bit 7 (CWR) */
    char flags[9];
    size_t nflags = 0;
    for (unsigned bit = 0; bit < 8; bit++)
        if (r->flags & (1u << bit))
            flags[nflags++] = letters[bit];
    if (nflags == 0)
        flags[nflags++] = '-';
    flags[nflags] = '\0';

    struct fmt_state f = {out, outlen, 0, false};
    if (outlen > 0)
        out[0] = '\0';
    fmt_add(&f, "%u > %u [%s] seq=%u", r->src_port, r->dst_port, flags, r->seq);
    if (r->flags & TCP_ACK)
        fmt_add(&f, " ack=%u", r->ack);
    fmt_add(&f, " win=%u len=%zu", r->window, r->payload_len);
    if (r->flags & TCP_URG)
        fmt_add(&f, " urg=%u", r->urgent);

    const char *sep = " <";
    if (r->has_mss) {
        fmt_add(&f, "%smss %u", sep, r->mss);
        sep = ",";
    }
    if (r->sack_permitted) {
        fmt_add(&f, "%ssackOK", sep);
        sep = ",";
    }
    if (r->has_timestamps) {
        fmt_add(&f, "%sts %u:%u", sep, r->ts_val, r->ts_ecr);
        sep = ",";
    }
    if (r->has_wscale) {
        fmt_add(&f, "%sws %u", sep, r->wscale);
        sep = ",";
    }
    unsigned nsack = r->sack_count < TCP_SACK_MAX_BLOCKS ? r->sack_count : TCP_SACK_MAX_BLOCKS;
    if (nsack > 0) {
        fmt_add(&f, "%ssack", sep);
        for (unsigned i = 0; i < nsack; i++)
            fmt_add(&f, " %u-%u", r->sack[i].left, r->sack[i].right);
        sep = ",";
    }
    if (sep[0] == ',')
        fmt_add(&f, ">");

    if (f.failed || f.pos > INT_MAX)
        return -1;
    return (int)f.pos;
}
