/* TCP output: one tcp_output() decides what a connection sends now, from
 * its state and the intent flags that input, timers and the API set
 * (TF_ACKNOW, TF_DELACK, TF_FORCE_ONE, TF_WND_PROBE), FreeBSD style.
 *
 *   tcp_output()
 *     -> output_syn()              SYN-SENT / SYN-RECEIVED: SYN, SYN-ACK
 *     -> output_one() per segment, at most TCP_OUTPUT_BURST:
 *          output_sack_rexmit()    RFC 6675 NextSeg() rules 1 and 3
 *          output_new_data()       windows, Nagle, sender SWS, FIN
 *     -> send_pure_ack()           TF_ACKNOW or a window update
 *     -> the retransmit or persist timer
 *   every segment: tcp_xmit() -> options, window (receiver SWS) ->
 *                  tcp_emit_ipv4() -> ipv4_output()
 *
 * Also here: RSTs (tcp_send_rst, tcp_send_rst_reply), challenge ACKs
 * (RFC 5961 §7 rate limit), retransmission of one segment, and the SYN-ACK
 * of a SYN cookie. */
#include <errno.h>
#include <string.h>

#include "ipv4.h"
#include "tcp_priv.h"

/* ---- Clocks ---- */

uint32_t tcp_ts_clock(const struct stack *stack)
{
    return (uint32_t)(stack->now_us / 1000);
}

uint32_t tcp_ts_now(const struct tcp_pcb *pcb)
{
    return tcp_ts_clock(pcb->stack) + pcb->ts_offset;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* ---- The receive window (RFC 9293 §3.8.6.2.2) ---- */

/* Free receive space: the ring's, or before it exists the configured size. */
static uint32_t rcv_space(const struct tcp_pcb *pcb)
{
    if (pcb->rcv.data == NULL)
        return pcb->opts.rcvbuf;
    return (uint32_t)tcp_rcvbuf_window(&pcb->rcv);
}

static uint32_t rcv_capacity(const struct tcp_pcb *pcb)
{
    return pcb->rcv.data == NULL ? pcb->opts.rcvbuf : (uint32_t)pcb->rcv.cap;
}

/* The window currently offered: right edge minus rcv_nxt. */
static uint32_t rcv_cur_window(const struct tcp_pcb *pcb)
{
    return seq_gt(pcb->rcv_adv, pcb->rcv_nxt) ? pcb->rcv_adv - pcb->rcv_nxt : 0;
}

/* The window to offer now. The right edge never moves left (RFC 9293
 * §3.8.6.2.2 "shrinking the window" is discouraged), and it moves right
 * only by at least min(buffer/2, MSS): receiver SWS avoidance. */
static uint32_t rcv_window_pick(const struct tcp_pcb *pcb)
{
    uint32_t space = rcv_space(pcb);
    uint32_t cur = rcv_cur_window(pcb);
    uint32_t max = (uint32_t)65535 << pcb->rcv_wscale;
    if (space > max)
        space = max;
    /* Only what the scaled field can express: otherwise the rounding in
     * window_field would make an update look due forever. */
    space &= ~((1u << pcb->rcv_wscale) - 1);
    if (space <= cur)
        return cur;
    uint32_t threshold = min_u32(rcv_capacity(pcb) / 2, pcb->advmss);
    if (space - cur < threshold)
        return cur;
    return space;
}

bool tcp_window_update_due(const struct tcp_pcb *pcb)
{
    uint32_t cur = rcv_cur_window(pcb);
    uint32_t next = rcv_window_pick(pcb);
    if (next <= cur)
        return false;
    uint32_t inc = next - cur;
    /* FreeBSD's rule (two segments, or half the buffer), plus Linux's: a
     * window that at least doubles from below half the buffer, so a peer
     * stalled on a nearly closed window hears of the opening at once. */
    return inc >= 2u * pcb->advmss || 2 * inc >= rcv_capacity(pcb) ||
           (2 * cur <= rcv_capacity(pcb) && next >= 2 * cur);
}

/* The window field for a segment, and the bookkeeping of what it offers. */
static uint16_t window_field(struct tcp_pcb *pcb, bool syn)
{
    if (syn) {
        /* RFC 7323 §2.2: the window in a SYN is never scaled. */
        uint32_t w = min_u32(rcv_space(pcb), 65535);
        pcb->rcv_wnd = w;
        if (pcb->state != TCP_SYN_SENT && seq_gt(pcb->rcv_nxt + w, pcb->rcv_adv))
            pcb->rcv_adv = pcb->rcv_nxt + w;
        return (uint16_t)w;
    }
    uint8_t ws = pcb->rcv_wscale;
    uint32_t win = rcv_window_pick(pcb);
    uint32_t cur = rcv_cur_window(pcb);
    uint32_t raw = win >> ws;
    if (raw > 65535)
        raw = 65535;
    /* Rounding down to the scale must not pull the edge back: round up. */
    if ((raw << ws) < cur)
        raw = min_u32((cur + (1u << ws) - 1) >> ws, 65535);
    uint32_t adv = raw << ws;
    if (seq_gt(pcb->rcv_nxt + adv, pcb->rcv_adv))
        pcb->rcv_adv = pcb->rcv_nxt + adv;
    pcb->rcv_wnd = adv;
    return (uint16_t)raw;
}

/* ---- Options ---- */

/* RFC 2018 §4: the first block holds the segment that arrived last; the
 * rest follow highest first (newer data tends to sit higher). */
static void sack_blocks_fill(const struct tcp_pcb *pcb, struct tcp_repr *r)
{
    uint32_t lefts[TCP_RANGES_MAX], rights[TCP_RANGES_MAX];
    unsigned n = tcp_rcvbuf_ranges(&pcb->rcv, pcb->rcv_nxt, lefts, rights, TCP_RANGES_MAX);
    if (n == 0)
        return;
    unsigned first = n - 1;
    for (unsigned i = 0; i < n; i++)
        if (seq_geq(pcb->ooo_left, lefts[i]) && seq_lt(pcb->ooo_left, rights[i]))
            first = i;
    r->sack[0].left = lefts[first];
    r->sack[0].right = rights[first];
    unsigned count = 1;
    for (unsigned i = n; i-- > 0 && count < TCP_SACK_MAX_BLOCKS;) {
        if (i == first)
            continue;
        r->sack[count].left = lefts[i];
        r->sack[count].right = rights[i];
        count++;
    }
    r->sack_count = (uint8_t)count;
}

static void options_fill(struct tcp_pcb *pcb, struct tcp_repr *r, bool syn)
{
    bool offer_all = pcb->state == TCP_SYN_SENT; /* our SYN offers everything */
    if (syn) {
        r->has_mss = true;
        r->mss = pcb->advmss;
        if (offer_all || (pcb->flags & TF_WS_OK)) {
            r->has_wscale = true;
            r->wscale = pcb->rcv_wscale;
        }
        r->sack_permitted = offer_all || (pcb->flags & TF_SACK_OK);
        if (offer_all || (pcb->flags & TF_TS_OK)) {
            r->has_timestamps = true;
            r->ts_val = tcp_ts_now(pcb);
            r->ts_ecr = offer_all ? 0 : pcb->ts_recent;
        }
        return;
    }
    if (pcb->flags & TF_TS_OK) {
        r->has_timestamps = true;
        r->ts_val = tcp_ts_now(pcb);
        r->ts_ecr = pcb->ts_recent;
    }
    if ((pcb->flags & TF_SACK_OK) && pcb->rcv.data != NULL && tcp_rcvbuf_has_gaps(&pcb->rcv))
        sack_blocks_fill(pcb, r);
}

/* The MSS the path and the peer allow, before options (Linux's mss_clamp
 * against the route), floored by TCP_MIN_SND_MSS. */
static uint32_t mss_base(const struct tcp_pcb *pcb)
{
    uint32_t m = min_u32(pcb->peer_mss, pcb->mtu_mss);
    if (pcb->opts.user_mss != 0)
        m = min_u32(m, pcb->opts.user_mss);
    return m < TCP_MIN_SND_MSS ? TCP_MIN_SND_MSS : m;
}

uint32_t tcp_eff_mss(const struct tcp_pcb *pcb)
{
    uint32_t m = mss_base(pcb);
    if (pcb->flags & TF_TS_OK)
        m -= TCP_TS_OPT_LEN;
    return m;
}

/* ---- Emission ---- */

static void route_mtu_shrink(struct tcp_pcb *pcb)
{
    unsigned mtu = ipv4_mtu_for(pcb->stack, pcb->remote_addr);
    if (mtu >= 68 && mtu - 40 < pcb->mtu_mss) {
        pcb->mtu_mss = (uint16_t)(mtu - 40);
        tcp_mss_changed(pcb);
    }
}

/* Builds and sends one segment of pcb's connection: [seq, seq + *len) of
 * the send buffer with *flags. The payload is cut when SACK blocks leave
 * less room (then a FIN stays for a later segment). Returns ipv4_output's
 * result. */
static int tcp_xmit(struct tcp_pcb *pcb, uint32_t seq, uint32_t *len, uint8_t *flags)
{
    struct stack *stack = pcb->stack;
    struct tcp_repr r;
    memset(&r, 0, sizeof(r));
    bool syn = *flags & TCP_SYN;
    r.src_port = pcb->local_port;
    r.dst_port = pcb->remote_port;
    r.seq = seq;
    if (*flags & TCP_ACK)
        r.ack = pcb->rcv_nxt;
    /* RFC 7323 §5.3 note: RSTs go without timestamps (and without SACK). */
    if (!(*flags & TCP_RST))
        options_fill(pcb, &r, syn);
    r.window = window_field(pcb, syn);
    size_t hdr = tcp_hdr_len(&r);
    uint32_t room = mss_base(pcb) - (uint32_t)(hdr - TCP_HDR_MIN);
    /* A retransmission keeps its original boundaries (a cut would leave a
     * sliver to send on its own): it gives up SACK blocks instead. New
     * data keeps them and is cut, the stream simply continues after. */
    while (*len > room && r.sack_count > 0 && seq_lt(seq, pcb->snd_max)) {
        r.sack_count--;
        hdr = tcp_hdr_len(&r);
        room = mss_base(pcb) - (uint32_t)(hdr - TCP_HDR_MIN);
    }
    if (*len > room) {
        *len = room;
        *flags &= (uint8_t)~TCP_FIN;
    }
    r.flags = *flags;
    struct pkt *pkt = pkt_alloc(hdr + *len);
    if (pkt == NULL)
        return -ENOBUFS;
    if (*len > 0)
        tcp_sndbuf_peek(&pcb->snd, seq - pcb->snd_buf_seq, pkt->data + hdr, *len);
    r.payload = pkt->data + hdr;
    r.payload_len = *len;
    tcp_emit_ipv4(&r, pcb->local_addr, pcb->remote_addr, pkt->data);

    if (*flags & TCP_ACK) {
        pcb->last_ack_sent = pcb->rcv_nxt;
        pcb->rcv_unacked = 0;
        pcb->flags &= ~(TF_ACKNOW | TF_DELACK);
        timer_cancel(stack, &pcb->t_delack);
    }
    pcb->segs_out++;
    STAT_INC(stack, tcp_tx_segments);
    if (*flags & TCP_RST)
        STAT_INC(stack, tcp_tx_rst);
    if (stack->log_level >= TOYSOCK_LOG_TRACE) {
        char line[160];
        tcp_fmt(&r, line, sizeof(line));
        LOG_TRACE(stack, "tx %s", line);
    }
    /* DF on every segment, as Linux does (RFC 1191 path MTU discovery):
     * our MSS comes from the route MTU, so only a smaller hop on the path
     * can refuse it, and its ICMP lowers mtu_mss (tcp_error_input). */
    struct ipv4_tx_opts o = {.dont_fragment = true};
    int rc = ipv4_output(stack, pkt, IP_PROTO_TCP, pcb->local_addr, pcb->remote_addr, &o);
    if (rc == -EMSGSIZE)
        route_mtu_shrink(pcb);
    return rc;
}

/* ---- Retransmissions during SACK recovery ---- */

static long send_data(struct tcp_pcb *pcb, uint32_t seq, uint32_t len, bool fin);

void tcp_rxt_reset(struct tcp_pcb *pcb)
{
    pcb->rxt_count = 0;
}

static void rxt_remove(struct tcp_pcb *pcb, unsigned i)
{
    memmove(&pcb->rxt[i], &pcb->rxt[i + 1], (pcb->rxt_count - i - 1) * sizeof(pcb->rxt[0]));
    pcb->rxt_count--;
}

static void rxt_note(struct tcp_pcb *pcb, uint32_t seq, uint32_t end)
{
    for (unsigned i = 0; i < pcb->rxt_count; i++)
        if (pcb->rxt[i].seq == seq) {
            rxt_remove(pcb, i); /* sent again: it moves to the end */
            break;
        }
    if (pcb->rxt_count == TCP_RXT_TRACK)
        rxt_remove(pcb, 0); /* bounded: the oldest is forgotten (RTO remains) */
    pcb->rxt[pcb->rxt_count++] = (struct tcp_rxt_rec){
        .seq = seq, .end = end, .order = ++pcb->rxt_order, .high_at = pcb->snd_max};
}

void tcp_rxt_detect_lost(struct tcp_pcb *pcb)
{
    /* The newest retransmission that has arrived (cumulatively acked or
     * wholly SACKed)... */
    uint32_t delivered = 0;
    bool any = false;
    for (unsigned i = 0; i < pcb->rxt_count;) {
        struct tcp_rxt_rec *r = &pcb->rxt[i];
        uint32_t hole = 0;
        if (seq_gt(r->end, pcb->snd_una)) {
            if (seq_lt(r->seq, pcb->snd_una))
                r->seq = pcb->snd_una;
            tcp_sack_next_hole(&pcb->sb, r->seq, r->end, &hole);
        }
        if (hole == 0) {
            if (!any || seq_gt(r->order, delivered))
                delivered = r->order;
            any = true;
            rxt_remove(pcb, i);
            continue;
        }
        i++;
    }
    /* ...proves every one sent before it and still missing lost; so does
     * new data sent after it and SACKed (Linux's old lost-retransmit
     * rule). */
    uint32_t high = tcp_sack_high(&pcb->sb, pcb->snd_una);
    for (unsigned i = 0; i < pcb->rxt_count; i++)
        if (((any && seq_lt(pcb->rxt[i].order, delivered)) || seq_gt(high, pcb->rxt[i].high_at)) &&
            !pcb->rxt[i].lost) {
            pcb->rxt[i].lost = true;
            STAT_INC(pcb->stack, tcp_lost_retransmits);
        }
}

/* A retransmission known lost goes again before anything else. */
static bool output_rxt_lost(struct tcp_pcb *pcb, uint32_t mss)
{
    for (unsigned i = 0; i < pcb->rxt_count; i++) {
        struct tcp_rxt_rec *r = &pcb->rxt[i];
        if (!r->lost)
            continue;
        if (!seq_gt(r->end, pcb->snd_una)) {
            rxt_remove(pcb, i);
            return false;
        }
        if (seq_lt(r->seq, pcb->snd_una))
            r->seq = pcb->snd_una;
        uint32_t len = min_u32(r->end - r->seq, mss);
        uint32_t end = tcp_snd_end(pcb);
        if (seq_gt(r->seq + len, end))
            len = seq_gt(end, r->seq) ? end - r->seq : 0;
        if (len == 0) {
            rxt_remove(pcb, i);
            return false;
        }
        return send_data(pcb, r->seq, len, false) > 0;
    }
    return false;
}

/* Sends [seq, seq + len) plus FIN and does the sender's bookkeeping: the
 * highest sequence sent, RTT timing (Karn: a retransmission is never
 * timed), counters, the retransmit timer. Returns the sequence space
 * actually sent, or -1 when the segment could not go out. */
static long send_data(struct tcp_pcb *pcb, uint32_t seq, uint32_t len, bool fin)
{
    struct stack *stack = pcb->stack;
    uint8_t flags = TCP_ACK;
    if (fin)
        flags |= TCP_FIN;
    if (len > 0 && seq + len == tcp_snd_end(pcb))
        flags |= TCP_PSH; /* the buffer is drained: deliver promptly */
    int rc = tcp_xmit(pcb, seq, &len, &flags);
    if (rc == -EMSGSIZE || rc == -ENOBUFS)
        return -1;
    fin = flags & TCP_FIN;
    uint32_t end = seq + len + (fin ? 1 : 0);
    bool rexmit = seq_lt(seq, pcb->snd_max);
    pcb->bytes_sent += len;
    if (len > 0)
        pcb->last_send_us = stack->now_us;
    if (rexmit) {
        STAT_INC(stack, tcp_tx_retransmits);
        pcb->total_retrans++;
        pcb->bytes_retrans += len;
        pcb->flags &= ~TF_RTT_TIMING;
        if (len > 0 && (pcb->flags & TF_SACK_OK) && (pcb->flags & (TF_IN_RECOVERY | TF_RTO_LOSS)))
            rxt_note(pcb, seq, seq + len);
    } else if (!(pcb->flags & TF_RTT_TIMING)) {
        pcb->flags |= TF_RTT_TIMING;
        pcb->rtt_seq = seq;
        pcb->rtt_start_us = stack->now_us;
    }
    if (seq_gt(end, pcb->snd_max))
        pcb->snd_max = end;
    if (!timer_armed(&pcb->t_rexmt) || (pcb->flags & TF_PERSIST))
        tcp_rexmt_arm(pcb);
    if (rc < 0)
        return -1; /* no route now: the segment counts as lost, RTO recovers */
    return (long)(end - seq);
}

static void send_pure_ack(struct tcp_pcb *pcb)
{
    uint32_t len = 0;
    uint8_t flags = TCP_ACK;
    tcp_xmit(pcb, pcb->snd_max, &len, &flags);
}

/* A segment the peer must answer with an ACK: out of its window (one
 * before snd_una), carrying nothing. Zero-window and keepalive probes
 * (Linux's tcp_xmit_probe_skb). */
static void send_probe(struct tcp_pcb *pcb)
{
    uint32_t len = 0;
    uint8_t flags = TCP_ACK;
    tcp_xmit(pcb, pcb->snd_una - 1, &len, &flags);
}

/* ---- What to send ---- */

/* Bytes in the network outside recovery: what was sent from snd_una to
 * snd_nxt. Going back after an RTO with SACK, what the peer SACKed since
 * and what is known lost again have left the network (Linux's in_flight
 * in the Loss state). */
static uint32_t flight_size(const struct tcp_pcb *pcb)
{
    uint32_t flight = pcb->snd_nxt - pcb->snd_una;
    if (!(pcb->flags & TF_RTO_LOSS) || !(pcb->flags & TF_SACK_OK))
        return flight;
    uint32_t gone = pcb->sb.sacked_bytes - tcp_sack_bytes_above(&pcb->sb, pcb->snd_nxt);
    for (unsigned i = 0; i < pcb->rxt_count; i++)
        if (pcb->rxt[i].lost)
            gone += pcb->rxt[i].end - pcb->rxt[i].seq;
    return gone >= flight ? 0 : flight - gone;
}

/* Bytes in the network as loss recovery counts them: RFC 6675 SetPipe()
 * with SACK; without, NewReno's inflation expressed as Linux does, each
 * duplicate ACK being one segment that left the network. */
static uint32_t recovery_pipe(const struct tcp_pcb *pcb, uint32_t mss)
{
    if (pcb->flags & TF_SACK_OK)
        return tcp_sack_pipe(&pcb->sb, pcb->snd_una, pcb->snd_max, pcb->high_rxt, mss,
                             TCP_DUPTHRESH);
    uint32_t flight = pcb->snd_max - pcb->snd_una;
    uint64_t left = (uint64_t)pcb->dupacks * mss;
    return left >= flight ? 0 : flight - (uint32_t)left;
}

/* RFC 6675 NextSeg() rules 1 and 3 during SACK recovery: retransmit the
 * first hole presumed lost; failing that (and when no new data can go, the
 * caller's rule 2), the first unSACKed hole not yet retransmitted. */
static bool output_sack_rexmit(struct tcp_pcb *pcb, uint32_t mss, bool rule3)
{
    uint32_t from = seq_max(pcb->high_rxt, pcb->snd_una);
    uint32_t seq, len;
    if (!tcp_sack_next_lost(&pcb->sb, from, mss, TCP_DUPTHRESH, &seq, &len)) {
        if (!rule3)
            return false;
        seq = tcp_sack_next_hole(&pcb->sb, from, tcp_sack_high(&pcb->sb, pcb->snd_una), &len);
        if (len == 0)
            return false;
    }
    len = min_u32(len, mss);
    uint32_t end = tcp_snd_end(pcb);
    bool fin = tcp_fin_queued(pcb) && seq + len == end && seq_gt(pcb->snd_max, end);
    if (seq_gt(seq + len, end))
        len = end - seq;
    long sent = send_data(pcb, seq, len, fin);
    if (sent <= 0)
        return false;
    pcb->high_rxt = seq + (uint32_t)sent;
    return true;
}

/* New data (or data again after an RTO, from snd_nxt), with the peer's
 * window, cwnd, Nagle (RFC 9293 §3.7.4) and sender SWS avoidance (RFC 9293
 * §3.8.6.2.1). Returns true when a segment went out. */
static bool output_new_data(struct tcp_pcb *pcb, uint32_t mss, uint32_t flight)
{
    uint32_t end = tcp_snd_end(pcb);
    bool fin_q = tcp_fin_queued(pcb);
    /* Going back after an RTO: what the peer has SACKed since needs no
     * second copy. */
    if ((pcb->flags & TF_SACK_OK) && seq_lt(pcb->snd_nxt, pcb->snd_max) && pcb->sb.count > 0) {
        uint32_t hole;
        pcb->snd_nxt = tcp_sack_next_hole(&pcb->sb, pcb->snd_nxt, pcb->snd_max, &hole);
    }
    uint32_t avail = seq_lt(pcb->snd_nxt, end) ? end - pcb->snd_nxt : 0;
    bool fin_next = fin_q && seq_leq(pcb->snd_nxt, end);
    if (avail == 0 && !fin_next)
        return false;

    uint32_t right = pcb->snd_una + pcb->snd_wnd;
    uint32_t peer_room = seq_gt(right, pcb->snd_nxt) ? right - pcb->snd_nxt : 0;
    uint32_t cwnd = pcb->cc.cwnd;
    /* RFC 3042 limited transmit: one new segment per early duplicate ACK. */
    if (!(pcb->flags & TF_IN_RECOVERY) && pcb->dupacks > 0 && pcb->dupacks < TCP_DUPTHRESH)
        cwnd += pcb->dupacks * mss;
    uint32_t cc_room = cwnd > flight ? cwnd - flight : 0;
    uint32_t len = min_u32(min_u32(avail, mss), min_u32(peer_room, cc_room));

    bool send = false;
    if (len > 0) {
        bool again = seq_lt(pcb->snd_nxt, pcb->snd_max); /* after an RTO */
        bool all = len == avail;
        /* Nagle (RFC 9293 §3.7.4) in Minshall's form, as Linux: a small
         * segment waits while another small one is unacknowledged, so the
         * tail of a large write is not held for a delayed ACK. */
        bool nagle_ok = pcb->opts.nodelay || fin_q || !seq_gt(pcb->snd_sml, pcb->snd_una);
        if (len == mss || again)
            send = true;
        else if (all && nagle_ok)
            send = true;
        else if (nagle_ok && pcb->max_sndwnd > 0 && len >= pcb->max_sndwnd / 2)
            send = true; /* the peer's window is small: half of it is worth it */
        else if (pcb->flags & TF_FORCE_ONE)
            send = true; /* persist timer: SWS override */
    }
    /* The FIN follows the last byte, when the peer's window can take it. */
    bool fin = fin_next && pcb->snd_nxt + len == end && (send || len == 0) && peer_room >= len + 1;
    if (!send && !fin)
        return false;
    pcb->flags &= ~TF_FORCE_ONE;
    long sent = send_data(pcb, pcb->snd_nxt, len, fin);
    if (sent < 0)
        return false;
    pcb->snd_nxt += (uint32_t)sent;
    if (len < mss)
        pcb->snd_sml = pcb->snd_nxt;
    return sent > 0;
}

/* RFC 6675 NextSeg() rule 4, once per recovery: when nothing else may
 * go, one segment holding the highest unSACKed byte, so that a lost tail
 * is found by SACK rather than by the RTO. */
static bool output_rescue(struct tcp_pcb *pcb, uint32_t mss)
{
    if (pcb->flags & TF_RESCUED)
        return false;
    uint32_t data_end = tcp_snd_end(pcb);
    uint32_t top = seq_lt(data_end, pcb->snd_max) ? data_end : pcb->snd_max;
    uint32_t high = tcp_sack_high(&pcb->sb, pcb->snd_una);
    uint32_t last; /* one past the highest unSACKed byte */
    if (seq_lt(high, top)) {
        last = top;
    } else if (pcb->sb.count > 0) {
        last = pcb->sb.left[pcb->sb.count - 1];
        for (unsigned i = pcb->sb.count - 1; i > 0 && pcb->sb.right[i - 1] == last; i--)
            last = pcb->sb.left[i - 1];
    } else {
        return false;
    }
    if (!seq_gt(last, pcb->snd_una))
        return false;
    uint32_t seq = last - pcb->snd_una > mss ? last - mss : pcb->snd_una;
    pcb->flags |= TF_RESCUED;
    return send_data(pcb, seq, last - seq, false) > 0;
}

/* RFC 5681 §4.1: after an idle period longer than the RTO the ACK clock
 * is gone; restart from at most the initial window (Linux's
 * tcp_slow_start_after_idle). */
static void cwnd_restart_after_idle(struct tcp_pcb *pcb, uint32_t mss)
{
    if (!pcb->cc_ready || pcb->snd_una != pcb->snd_max || pcb->last_send_us == 0 ||
        pcb->stack->now_us - pcb->last_send_us <= tcp_rto_backed_off(pcb))
        return;
    uint64_t iw = (uint64_t)mss * 2 > 14600 ? (uint64_t)mss * 2 : 14600;
    if (iw > (uint64_t)mss * 10)
        iw = (uint64_t)mss * 10;
    if (pcb->cc.cwnd > iw)
        pcb->cc.cwnd = (uint32_t)iw;
}

static bool output_one(struct tcp_pcb *pcb)
{
    uint32_t mss = tcp_eff_mss(pcb);
    cwnd_restart_after_idle(pcb, mss);
    if (pcb->flags & TF_IN_RECOVERY) {
        uint32_t pipe = recovery_pipe(pcb, mss);
        if (pcb->cc.cwnd < pipe + mss)
            return false; /* RFC 6675 §5 step (C): cwnd - pipe >= 1 SMSS */
        if (!(pcb->flags & TF_SACK_OK))
            return output_new_data(pcb, mss, pipe);
        if (output_rxt_lost(pcb, mss) || output_sack_rexmit(pcb, mss, false))
            return true;
        if (output_new_data(pcb, mss, pipe))
            return true;
        return output_sack_rexmit(pcb, mss, true) || output_rescue(pcb, mss);
    }
    /* Going back after an RTO: a resent segment that SACKs show lost
     * again goes first, within cwnd, instead of waiting for another RTO. */
    if ((pcb->flags & TF_RTO_LOSS) && pcb->rxt_count > 0 &&
        pcb->cc.cwnd >= flight_size(pcb) + mss && output_rxt_lost(pcb, mss))
        return true;
    return output_new_data(pcb, mss, flight_size(pcb));
}

/* SYN-SENT and SYN-RECEIVED: the SYN (or SYN-ACK) when it is due. */
static void output_syn(struct tcp_pcb *pcb)
{
    if (pcb->snd_nxt != pcb->iss) {
        if (pcb->state == TCP_SYN_RECEIVED && (pcb->flags & TF_ACKNOW))
            send_pure_ack(pcb);
        return;
    }
    uint8_t flags = TCP_SYN;
    if (pcb->state == TCP_SYN_RECEIVED)
        flags |= TCP_ACK;
    uint32_t len = 0;
    bool again = pcb->snd_max != pcb->iss;
    if (again) {
        pcb->flags |= TF_SYN_RETRANS;
        pcb->flags &= ~TF_RTT_TIMING;
        pcb->total_retrans++;
        STAT_INC(pcb->stack, tcp_tx_retransmits);
    } else {
        pcb->flags |= TF_RTT_TIMING;
        pcb->rtt_seq = pcb->iss;
        pcb->rtt_start_us = pcb->stack->now_us;
    }
    tcp_xmit(pcb, pcb->iss, &len, &flags);
    pcb->snd_nxt = pcb->iss + 1;
    pcb->snd_max = pcb->iss + 1;
    if (!timer_armed(&pcb->t_rexmt))
        tcp_rexmt_arm(pcb);
}

void tcp_output(struct tcp_pcb *pcb)
{
    switch (pcb->state) {
    case TCP_CLOSED:
    case TCP_LISTEN: return;
    case TCP_SYN_SENT:
    case TCP_SYN_RECEIVED: output_syn(pcb); return;
    case TCP_TIME_WAIT:
        if (pcb->flags & TF_ACKNOW)
            send_pure_ack(pcb);
        return;
    default: break;
    }
    if (pcb->flags & TF_WND_PROBE) {
        pcb->flags &= ~TF_WND_PROBE;
        send_probe(pcb);
    }
    unsigned sent = 0;
    while (sent < TCP_OUTPUT_BURST && output_one(pcb))
        sent++;
    if (sent == TCP_OUTPUT_BURST)
        tcp_kick(pcb); /* more may be allowed: continue next turn */
    /* A window update only when reading opened the window: after the
     * handshake the scaled window simply rides on the next ACK. */
    if ((pcb->flags & TF_ACKNOW) || (sent == 0 && (pcb->flags & TF_WND_CHECK) &&
                                     pcb->rcv.data != NULL && tcp_window_update_due(pcb)))
        send_pure_ack(pcb);
    pcb->flags &= ~TF_WND_CHECK;

    /* Nothing in flight, yet something waits (zero or small window): the
     * persist timer probes until the window opens (RFC 9293 §3.8.6.1). */
    uint32_t end = tcp_snd_end(pcb);
    bool waiting = seq_lt(pcb->snd_nxt, end) || (tcp_fin_queued(pcb) && seq_leq(pcb->snd_nxt, end));
    if (pcb->snd_una == pcb->snd_max && waiting && !timer_armed(&pcb->t_rexmt))
        tcp_persist_arm(pcb);
}

/* ---- Control segments ---- */

void tcp_send_ack(struct tcp_pcb *pcb)
{
    pcb->flags |= TF_ACKNOW;
}

bool tcp_send_challenge_ack(struct tcp_pcb *pcb)
{
    struct stack *stack = pcb->stack;
    /* RFC 5961 §7: bounded per connection (a global limit would leak the
     * count to an off-path attacker, CVE-2016-5696). */
    if (stack->now_us - pcb->chall_window_us >= 1000000) {
        pcb->chall_window_us = stack->now_us;
        pcb->chall_count = 0;
    }
    if (pcb->chall_count >= TCP_CHALLENGE_ACKS_PER_S) {
        STAT_INC(stack, tcp_challenge_ack_limited);
        return false;
    }
    pcb->chall_count++;
    STAT_INC(stack, tcp_challenge_acks);
    pcb->flags |= TF_ACKNOW;
    return true;
}

void tcp_send_rst(struct tcp_pcb *pcb)
{
    uint32_t len = 0;
    uint8_t flags = TCP_RST | TCP_ACK;
    tcp_xmit(pcb, pcb->snd_max, &len, &flags);
}

void tcp_retransmit_at(struct tcp_pcb *pcb, uint32_t seq, uint32_t maxlen)
{
    uint32_t end = tcp_snd_end(pcb);
    uint32_t len = seq_lt(seq, end) ? min_u32(end - seq, maxlen) : 0;
    bool fin = tcp_fin_queued(pcb) && seq + len == end && seq_gt(pcb->snd_max, end);
    if (len == 0 && !fin)
        return;
    long sent = send_data(pcb, seq, len, fin);
    if (sent > 0 && seq_gt(seq + (uint32_t)sent, pcb->high_rxt))
        pcb->high_rxt = seq + (uint32_t)sent;
}

/* Emits a segment that belongs to no connection (RST replies, cookie
 * SYN-ACKs) from local to remote. */
static void xmit_stateless(struct stack *stack, struct tcp_repr *r, uint32_t local, uint32_t remote)
{
    size_t hdr = tcp_hdr_len(r);
    struct pkt *pkt = pkt_alloc(hdr);
    if (pkt == NULL)
        return;
    r->payload = NULL;
    r->payload_len = 0;
    tcp_emit_ipv4(r, local, remote, pkt->data);
    STAT_INC(stack, tcp_tx_segments);
    if (r->flags & TCP_RST)
        STAT_INC(stack, tcp_tx_rst);
    struct ipv4_tx_opts o = {.dont_fragment = true};
    ipv4_output(stack, pkt, IP_PROTO_TCP, local, remote, &o);
}

void tcp_send_rst_reply(struct stack *stack, const struct ipv4_repr *ip, const struct tcp_repr *seg)
{
    if (seg->flags & TCP_RST)
        return; /* never answer a reset with a reset */
    struct tcp_repr r;
    memset(&r, 0, sizeof(r));
    r.src_port = seg->dst_port;
    r.dst_port = seg->src_port;
    /* RFC 9293 §3.10.7.1: with an ACK, <SEQ=SEG.ACK><CTL=RST>; without,
     * <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SEG.LEN counting SYN and
     * FIN. */
    if (seg->flags & TCP_ACK) {
        r.seq = seg->ack;
        r.flags = TCP_RST;
    } else {
        uint32_t seg_len = (uint32_t)seg->payload_len + ((seg->flags & TCP_SYN) ? 1 : 0) +
                           ((seg->flags & TCP_FIN) ? 1 : 0);
        r.seq = 0;
        r.ack = seg->seq + seg_len;
        r.flags = TCP_RST | TCP_ACK;
    }
    xmit_stateless(stack, &r, ip->dst, ip->src);
}

void tcp_send_cookie_synack(struct stack *stack, const struct tcp_pcb *listener,
                            const struct ipv4_repr *ip, const struct tcp_repr *syn, uint32_t iss,
                            uint16_t mss, uint32_t ts_val, uint32_t ts_offset)
{
    (void)ts_offset;
    struct tcp_repr r;
    memset(&r, 0, sizeof(r));
    r.src_port = syn->dst_port;
    r.dst_port = syn->src_port;
    r.seq = iss;
    r.ack = syn->seq + 1;
    r.flags = TCP_SYN | TCP_ACK;
    r.window = (uint16_t)min_u32(listener->opts.rcvbuf, 65535);
    r.has_mss = true;
    r.mss = mss;
    /* Without timestamps there is nowhere to keep window scaling and SACK,
     * so the cookie's connection goes without them (documented). */
    if (syn->has_timestamps) {
        r.has_timestamps = true;
        r.ts_val = ts_val;
        r.ts_ecr = syn->ts_val;
        r.sack_permitted = syn->sack_permitted;
        if (syn->has_wscale) {
            r.has_wscale = true;
            uint8_t ws = 0;
            while (ws < TCP_WSCALE_MAX && (listener->opts.rcvbuf >> ws) > 65535)
                ws++;
            r.wscale = ws;
        }
    }
    xmit_stateless(stack, &r, ip->dst, ip->src);
}
