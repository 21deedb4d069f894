/* TCP input: RFC 9293 §3.10.7 "SEGMENT ARRIVES", step by step.
 *
 *   tcp_input()                         parse (malformed: counted drop),
 *    |                                  SYN+FIN / SYN+RST dropped, demux
 *    +- tcp_conn_lookup() hit:
 *    |    segment_arrives()
 *    |     +- input_timewait()          TIME-WAIT (§3.10.7.4, RFC 6191 reuse)
 *    |     +- input_syn_sent()          §3.10.7.3
 *    |     +- input_other()             §3.10.7.4, the eight checks:
 *    |          check_sequence()          first (PAWS RFC 7323 §5, window, trim)
 *    |          check_rst()               second (RFC 5961 §3)
 *    |          check_syn()               fourth (RFC 5961 §4)
 *    |          check_ack()               fifth (RFC 5961 §5, SYN-RECEIVED)
 *    |            ack_new_data()          RTT, cc, NewReno / RFC 6675 recovery
 *    |            ack_duplicate()         fast retransmit (RFC 5681 §3.2)
 *    |          (sixth, URG: ignored, urgent data stays inline, RFC 6093)
 *    |          process_text()            seventh: receive ring, delayed ACK
 *    |          process_fin()             eighth
 *    |     then tcp_output() and tcp_pcb_release()
 *    +- tcp_listener_lookup() hit:
 *    |    tcp_listen_input()            §3.10.7.2: SYN queue or SYN cookie,
 *    |                                  cookie ACK -> established child
 *    +- otherwise: §3.10.7.1, an RST reply (tcp_send_rst_reply)
 *
 * The third check (security/compartment) does not apply: there is no
 * IP security option. */
#include <errno.h>
#include <string.h>

#include "ipv4.h"
#include "tcp_priv.h"

/* The parts of a segment that trimming changes (§3.10.7.4 first check:
 * "only the new parts are processed"). */
struct seg {
    const struct tcp_repr *th;
    uint32_t seq;      /* first sequence number, SYN included */
    uint32_t data_seq; /* sequence number of data[0] */
    const uint8_t *data;
    uint32_t len; /* data bytes left after trimming */
    bool fin;     /* FIN still inside the window */
    bool fin_dup; /* a FIN we had already received */
};

static uint32_t seg_space(const struct tcp_repr *th)
{
    return (uint32_t)th->payload_len + ((th->flags & TCP_SYN) ? 1 : 0) +
           ((th->flags & TCP_FIN) ? 1 : 0);
}

static uint32_t rcv_window(const struct tcp_pcb *pcb)
{
    return seq_gt(pcb->rcv_adv, pcb->rcv_nxt) ? pcb->rcv_adv - pcb->rcv_nxt : 0;
}

static void count_parse_error(struct stack *stack, enum wire_err err)
{
    if (err == WIRE_BAD_CHECKSUM)
        STAT_INC(stack, tcp_rx_bad_checksum);
    else
        STAT_INC(stack, tcp_rx_malformed);
}

/* ---- Options and timestamps ---- */

static uint8_t wscale_for(uint32_t rcvbuf)
{
    uint8_t ws = 0;
    while (ws < TCP_WSCALE_MAX && (rcvbuf >> ws) > 65535)
        ws++;
    return ws;
}

/* Options of the peer's SYN (or SYN-ACK): RFC 9293 §3.7.1 MSS, RFC 7323
 * §2.2 and §3.2 (window scale and timestamps only if both SYNs carry
 * them), RFC 2018 §2 SACK-permitted. Our SYN offered everything. */
static void syn_options_apply(struct tcp_pcb *pcb, const struct tcp_repr *th)
{
    pcb->peer_mss = th->has_mss && th->mss != 0 ? th->mss : TCP_DEFAULT_MSS;
    if (th->has_wscale) {
        pcb->flags |= TF_WS_OK;
        pcb->snd_wscale = th->wscale;
    } else {
        pcb->flags &= ~TF_WS_OK;
        pcb->snd_wscale = 0;
        pcb->rcv_wscale = 0;
    }
    if (th->sack_permitted)
        pcb->flags |= TF_SACK_OK;
    else
        pcb->flags &= ~TF_SACK_OK;
    if (th->has_timestamps) {
        pcb->flags |= TF_TS_OK;
        pcb->ts_recent = th->ts_val;
        pcb->ts_recent_us = pcb->stack->now_us;
    } else {
        pcb->flags &= ~TF_TS_OK;
    }
}

/* RFC 7323 §5.3 R1: PAWS rejects a segment whose TSval is older than
 * TS.Recent, unless TS.Recent has been idle for 24 days (§5.5). RSTs are
 * exempt (§5.3 note: their timestamps may not be trustworthy). */
static bool paws_reject(struct tcp_pcb *pcb, const struct tcp_repr *th)
{
    if (!(pcb->flags & TF_TS_OK) || !th->has_timestamps || (th->flags & TCP_RST))
        return false;
    if (!seq_lt(th->ts_val, pcb->ts_recent))
        return false;
    if (pcb->stack->now_us - pcb->ts_recent_us > TCP_PAWS_IDLE_US) {
        pcb->ts_recent = th->ts_val; /* stale TS.Recent: accept and restart */
        pcb->ts_recent_us = pcb->stack->now_us;
        return false;
    }
    return true;
}

/* RFC 7323 §4.3: TS.Recent follows the segment that covers the left edge
 * of our last ACK. */
static void ts_recent_update(struct tcp_pcb *pcb, const struct tcp_repr *th)
{
    if ((pcb->flags & TF_TS_OK) && th->has_timestamps && seq_leq(th->seq, pcb->last_ack_sent) &&
        seq_geq(th->ts_val, pcb->ts_recent)) {
        pcb->ts_recent = th->ts_val;
        pcb->ts_recent_us = pcb->stack->now_us;
    }
}

/* ---- Out-of-window answers ---- */

/* RFC 9293 §3.10.7.4 first check: an unacceptable segment draws an ACK.
 * Segments without data could be one half of an ACK loop, so those are
 * answered at most every 500 ms (Linux's tcp_invalid_ratelimit). */
static void ack_out_of_window(struct tcp_pcb *pcb, const struct tcp_repr *th)
{
    if (th->payload_len == 0 && !(th->flags & TCP_FIN)) {
        uint64_t now = pcb->stack->now_us;
        if (pcb->oow_last_us != 0 && now - pcb->oow_last_us < TCP_OOW_ACK_INTERVAL_US) {
            STAT_INC(pcb->stack, tcp_oow_ack_limited);
            return;
        }
        pcb->oow_last_us = now;
    }
    tcp_send_ack(pcb);
}

/* ---- First: sequence number (§3.10.7.4) ---- */

static bool seq_acceptable(const struct tcp_pcb *pcb, uint32_t seq, uint32_t space)
{
    uint32_t wnd = rcv_window(pcb);
    if (space == 0) {
        if (wnd == 0)
            return seq == pcb->rcv_nxt;
        return seq_in_window(seq, pcb->rcv_nxt, wnd);
    }
    /* With a zero window nothing is acceptable, "but special allowance
     * should be made to accept valid ACKs, URGs, and RSTs": a segment at
     * rcv_nxt passes for its control bits and loses its data below. */
    if (wnd == 0)
        return seq == pcb->rcv_nxt;
    return seq_in_window(seq, pcb->rcv_nxt, wnd) ||
           seq_in_window(seq + space - 1, pcb->rcv_nxt, wnd);
}

/* Trims the segment to [rcv_nxt, rcv_nxt + window): old bytes off the
 * front, bytes past the window (and a FIN there) off the end. Anything
 * cut means the peer needs to hear from us. */
static void seg_trim(struct tcp_pcb *pcb, struct seg *s)
{
    const struct tcp_repr *th = s->th;
    s->data_seq = th->seq + ((th->flags & TCP_SYN) ? 1 : 0);
    s->data = th->payload;
    s->len = (uint32_t)th->payload_len;
    s->fin = th->flags & TCP_FIN;
    s->fin_dup = false;
    if (seq_lt(s->data_seq, pcb->rcv_nxt)) {
        uint32_t cut = pcb->rcv_nxt - s->data_seq;
        if (cut >= s->len) {
            /* All data old. A FIN at data_seq + len is old too when that
             * is before rcv_nxt. */
            if (s->fin && seq_lt(s->data_seq + s->len, pcb->rcv_nxt)) {
                s->fin = false;
                s->fin_dup = true;
            }
            cut = s->len;
        }
        s->data += cut;
        s->len -= cut;
        s->data_seq += cut;
        pcb->flags |= TF_ACKNOW; /* a retransmission: our ACK may be lost */
    }
    /* A FIN right at the edge is kept: it needs no buffer (Linux also
     * takes a bare FIN into a zero window). */
    uint32_t right = pcb->rcv_nxt + rcv_window(pcb);
    if (seq_gt(s->data_seq + s->len, right)) {
        s->len = seq_gt(right, s->data_seq) ? right - s->data_seq : 0;
        s->fin = false;
        pcb->flags |= TF_ACKNOW;
    }
}

/* ---- Second: RST (RFC 5961 §3.2) ---- */

static void reset_received(struct tcp_pcb *pcb)
{
    STAT_INC(pcb->stack, tcp_conn_reset_rx);
    if (pcb->state == TCP_SYN_RECEIVED) {
        /* A passive embryo "returns to LISTEN": it just goes. An active
         * one (simultaneous open) was refused. */
        tcp_set_closed(pcb, (pcb->flags & TF_PASSIVE) ? 0 : ECONNREFUSED);
        return;
    }
    /* After the peer's FIN the program has read EOF already: like Linux's
     * tcp_reset, a reset then reads as EPIPE (writes fail, SIGPIPE). */
    tcp_set_closed(pcb, pcb->state == TCP_CLOSE_WAIT ? EPIPE : ECONNRESET);
}

/* ---- Fifth: ACK ---- */

/* Enter fast recovery: RFC 5681 §3.2 steps 2-3, RFC 6582 §3.2 step 2,
 * RFC 6675 §5 steps (4.1)-(4.3). The first segment presumed lost goes out
 * at once; the rest follows from tcp_output under pipe < cwnd. */
static void recovery_enter(struct tcp_pcb *pcb)
{
    uint32_t mss = tcp_eff_mss(pcb);
    pcb->recover = pcb->snd_max;
    pcb->flags |= TF_IN_RECOVERY;
    pcb->flags &= ~(TF_PARTIAL_SEEN | TF_RESCUED);
    tcp_rxt_reset(pcb);
    pcb->high_rxt = pcb->snd_una;
    STAT_INC(pcb->stack, tcp_fast_retransmits);
    pcb->cc.ops->on_loss(&pcb->cc, pcb->snd_max - pcb->snd_una, pcb->stack->now_us);
    tcp_retransmit_at(pcb, pcb->snd_una, mss);
    tcp_rexmt_arm(pcb);
}

/* RFC 5681 §2 "duplicate acknowledgment" (with SACK: RFC 6675's, an ACK
 * carrying new SACK information), and what follows from it. */
static void ack_duplicate(struct tcp_pcb *pcb, bool sack_news)
{
    uint32_t mss = tcp_eff_mss(pcb);
    pcb->dupacks++;
    if (pcb->flags & TF_IN_RECOVERY)
        return; /* pipe shrinks; tcp_output sends what it allows */
    /* RFC 5827 early retransmit: with fewer than four segments out and
     * nothing new to send, fewer duplicate ACKs can ever come. */
    unsigned thresh = TCP_DUPTHRESH;
    uint32_t oseg = (pcb->snd_max - pcb->snd_una + mss - 1) / mss;
    bool nothing_new = !seq_lt(pcb->snd_nxt, tcp_snd_end(pcb)) ||
                       !seq_lt(pcb->snd_nxt, pcb->snd_una + pcb->snd_wnd);
    if (oseg >= 2 && oseg < 4 && nothing_new)
        thresh = oseg - 1;
    bool lost = pcb->dupacks >= thresh ||
                (sack_news && tcp_sack_is_lost(&pcb->sb, pcb->snd_una, mss, thresh));
    /* One loss event, one recovery: not before snd_una reaches the point
     * where the last one ended (RFC 6675 §5.1: HighACK >= RecoveryPoint);
     * after an RTO, not before it passes what was in flight then (RFC
     * 6582 §3.2 step 1 and §4.1, the "more than recover" rule). */
    bool allowed = (pcb->flags & TF_RTO_LOSS) ? seq_gt(pcb->snd_una, pcb->recover)
                                              : seq_geq(pcb->snd_una, pcb->recover);
    if (lost && allowed)
        recovery_enter(pcb);
}

/* New data acknowledged (SND.UNA < SEG.ACK <= SND.NXT). */
static void ack_new_data(struct tcp_pcb *pcb, const struct tcp_repr *th)
{
    struct stack *stack = pcb->stack;
    uint32_t ack = th->ack;
    uint32_t acked = ack - pcb->snd_una;
    uint32_t mss = tcp_eff_mss(pcb);

    /* Bytes of the buffer now acknowledged (the SYN and FIN are not). */
    uint32_t buf_acked = 0;
    if (seq_gt(ack, pcb->snd_buf_seq)) {
        buf_acked = ack - pcb->snd_buf_seq;
        if (buf_acked > pcb->snd.len)
            buf_acked = (uint32_t)pcb->snd.len;
    }
    if (buf_acked > 0) {
        tcp_sndbuf_consume(&pcb->snd, buf_acked);
        pcb->snd_buf_seq += buf_acked;
        pcb->bytes_acked += buf_acked;
    }

    /* RTT (RFC 6298 §3): one segment at a time is timed on the µs clock,
     * Karn's rule cancelling the timing on a retransmission. While nothing
     * is timed (after a retransmission), the timestamp echo (RFC 7323 §4,
     * unambiguous) fills in; its 1 ms ticks say nothing below a
     * millisecond, so a 0 is not taken once an RTT is known. */
    uint32_t rtt_us = 0;
    bool have_rtt = false;
    if ((pcb->flags & TF_RTT_TIMING) && seq_gt(ack, pcb->rtt_seq)) {
        rtt_us = (uint32_t)(stack->now_us - pcb->rtt_start_us);
        have_rtt = true;
        pcb->flags &= ~TF_RTT_TIMING;
    } else if (!(pcb->flags & TF_RTT_TIMING) && (pcb->flags & TF_TS_OK) && th->has_timestamps &&
               th->ts_ecr != 0) {
        uint32_t ms = tcp_ts_now(pcb) - th->ts_ecr;
        if (ms < TCP_RTO_MAX_US / 1000 && (ms > 0 || !(pcb->flags & TF_HAD_RTT))) {
            rtt_us = ms * 1000;
            have_rtt = true;
        }
    }
    if (have_rtt)
        tcp_rtt_sample(pcb, rtt_us);

    pcb->snd_una = ack;
    if (seq_lt(pcb->snd_nxt, ack))
        pcb->snd_nxt = ack; /* after go-back-N, the original copies arrived */
    if (seq_lt(pcb->snd_sml, ack))
        pcb->snd_sml = ack; /* kept near snd_una, so it never wraps around it */
    pcb->rxtshift = 0;      /* RFC 6298 §5.7 note: a new ACK ends the backoff */
    pcb->persist_shift = 0;
    if (pcb->flags & TF_SACK_OK)
        tcp_sack_advance(&pcb->sb, ack);

    /* RFC 6298 §5.2-5.3; but NewReno's later partial ACKs leave the timer
     * alone (RFC 6582 §4.3, "Impatient"), so that many losses in one
     * window end in an RTO rather than one retransmission per RTT. */
    bool impatient = (pcb->flags & (TF_IN_RECOVERY | TF_SACK_OK | TF_PARTIAL_SEEN)) ==
                         (TF_IN_RECOVERY | TF_PARTIAL_SEEN) &&
                     seq_lt(ack, pcb->recover);
    if (pcb->snd_una == pcb->snd_max)
        tcp_rexmt_cancel(pcb);
    else if (!impatient)
        tcp_rexmt_arm(pcb);

    if (pcb->flags & TF_IN_RECOVERY) {
        if (seq_geq(ack, pcb->recover)) {
            /* Full ACK: recovery ends (RFC 6582 §3.2 step 3, RFC 6675). */
            pcb->flags &= ~TF_IN_RECOVERY;
            pcb->dupacks = 0;
            pcb->cc.ops->on_recovered(&pcb->cc, stack->now_us);
            tcp_rxt_reset(pcb);
        } else if (!(pcb->flags & TF_SACK_OK)) {
            /* NewReno partial ACK (RFC 6582 §3.2 step 4): the next hole
             * goes now; the dupacks it covers no longer inflate the
             * window (one of them was the retransmission); the timer
             * restarts on the first partial ACK only ("impatient"). */
            uint32_t segs = (acked + mss - 1) / mss;
            pcb->dupacks = pcb->dupacks + 1 > segs ? pcb->dupacks + 1 - segs : 0;
            tcp_retransmit_at(pcb, pcb->snd_una, mss);
            pcb->flags |= TF_PARTIAL_SEEN;
        }
    } else {
        pcb->dupacks = 0;
        if ((pcb->flags & TF_RTO_LOSS) && seq_geq(ack, pcb->recover)) {
            pcb->flags &= ~TF_RTO_LOSS;
            tcp_rxt_reset(pcb);
        }
        if (pcb->cc_ready && buf_acked > 0)
            pcb->cc.ops->on_ack(&pcb->cc, buf_acked, pcb->snd_max - pcb->snd_una, rtt_us,
                                stack->now_us);
    }
    if (buf_acked > 0 && !(pcb->flags & TF_SHUT_WR))
        tcp_event_post(pcb, TCP_EV_WRITABLE);
}

/* RFC 9293 §3.10.7.4: SND.WL1/SND.WL2 decide whether the segment may
 * update the send window (an old segment must not). */
static void window_update(struct tcp_pcb *pcb, const struct tcp_repr *th)
{
    if (seq_lt(pcb->snd_wl1, th->seq) ||
        (pcb->snd_wl1 == th->seq && seq_leq(pcb->snd_wl2, th->ack))) {
        uint32_t wnd = (uint32_t)th->window << pcb->snd_wscale;
        if (wnd > pcb->snd_wnd)
            pcb->persist_shift = 0;
        pcb->snd_wnd = wnd;
        pcb->snd_wl1 = th->seq;
        pcb->snd_wl2 = th->ack;
        if (wnd > pcb->max_sndwnd)
            pcb->max_sndwnd = wnd;
    }
}

static bool our_fin_acked(const struct tcp_pcb *pcb)
{
    return tcp_fin_queued(pcb) && seq_gt(pcb->snd_una, tcp_snd_end(pcb));
}

/* SYN-RECEIVED, on an acceptable ACK: the connection is established. A
 * passive child moves to its listener's accept queue, unless that is full:
 * then the ACK is dropped, as Linux does, and the SYN-ACK timer retries. */
static bool syn_received_complete(struct tcp_pcb *pcb, const struct tcp_repr *th)
{
    struct tcp_pcb *l = pcb->listener;
    if (l != NULL && l->acceptq.len > l->backlog) {
        STAT_INC(pcb->stack, tcp_drop_accept_queue_full);
        return false;
    }
    if (tcp_buffers_alloc(pcb) < 0) {
        STAT_INC(pcb->stack, tcp_drop_no_memory);
        return false;
    }
    pcb->snd_wnd = (uint32_t)th->window << pcb->snd_wscale;
    pcb->max_sndwnd = pcb->snd_wnd;
    pcb->snd_wl1 = th->seq;
    pcb->snd_wl2 = th->ack;
    tcp_established(pcb);
    if (l != NULL) {
        tcp_queue_remove(&l->synq, &pcb->q_node);
        tcp_queue_push(&l->acceptq, &pcb->q_node);
        pcb->in_acceptq = true;
        tcp_event_post(l, TCP_EV_ACCEPTABLE); /* flushed by segment_arrives */
    }
    return true;
}

/* The fifth check. Returns false when the segment is finished with. */
static bool check_ack(struct tcp_pcb *pcb, const struct tcp_repr *th)
{
    if (!(th->flags & TCP_ACK))
        return false; /* "if the ACK bit is off, drop the segment" */
    if (pcb->state == TCP_SYN_RECEIVED) {
        if (!(seq_lt(pcb->snd_una, th->ack) && seq_leq(th->ack, pcb->snd_max))) {
            /* <SEQ=SEG.ACK><CTL=RST> */
            STAT_INC(pcb->stack, tcp_drop_unacceptable);
            struct ipv4_repr ip = {.src = pcb->remote_addr, .dst = pcb->local_addr};
            tcp_send_rst_reply(pcb->stack, &ip, th);
            return false;
        }
        if (!syn_received_complete(pcb, th))
            return false;
    }
    /* RFC 5961 §5.2: acceptable only within [SND.UNA - MAX.SND.WND,
     * SND.NXT]; anything else draws a (rate-limited) challenge ACK. */
    if (seq_gt(th->ack, pcb->snd_max) || seq_lt(th->ack, pcb->snd_una - pcb->max_sndwnd)) {
        STAT_INC(pcb->stack, tcp_drop_unacceptable);
        tcp_send_challenge_ack(pcb);
        return false;
    }
    bool sack_news = false;
    if ((pcb->flags & TF_SACK_OK) && th->sack_count > 0) {
        for (unsigned i = 0; i < th->sack_count; i++)
            if (tcp_sack_add(&pcb->sb, th->sack[i].left, th->sack[i].right, pcb->snd_una,
                             pcb->snd_max))
                sack_news = true;
    }
    bool new_ack = seq_gt(th->ack, pcb->snd_una);
    if (new_ack)
        ack_new_data(pcb, th);
    if ((pcb->flags & TF_SACK_OK) && (pcb->flags & (TF_IN_RECOVERY | TF_RTO_LOSS)) &&
        pcb->rxt_count > 0)
        tcp_rxt_detect_lost(pcb);
    if (!new_ack && th->ack == pcb->snd_una && pcb->snd_una != pcb->snd_max && pcb->cc_ready) {
        /* RFC 5681 §2's duplicate ACK: no data, no SYN/FIN, same window.
         * With SACK, any ACK that SACKs new data counts (RFC 6675 §2),
         * also one carrying data in a two-way transfer. */
        bool pure = th->payload_len == 0 && !(th->flags & (TCP_SYN | TCP_FIN)) &&
                    ((uint32_t)th->window << pcb->snd_wscale) == pcb->snd_wnd;
        if ((pcb->flags & TF_SACK_OK) ? (sack_news || (pure && th->sack_count > 0)) : pure)
            ack_duplicate(pcb, sack_news);
    }
    if (seq_leq(pcb->snd_una, th->ack))
        window_update(pcb, th);
    pcb->keep_probes = 0;

    switch (pcb->state) {
    case TCP_FIN_WAIT_1:
        if (our_fin_acked(pcb)) {
            pcb->state = TCP_FIN_WAIT_2;
            if (pcb->flags & TF_DETACHED)
                tcp_finwait2_arm(pcb);
        }
        break;
    case TCP_CLOSING:
        if (our_fin_acked(pcb))
            tcp_timewait_enter(pcb);
        break;
    case TCP_LAST_ACK:
        if (our_fin_acked(pcb)) {
            tcp_set_closed(pcb, 0);
            return false;
        }
        break;
    default: break;
    }
    return true;
}

/* ---- Seventh: segment text ---- */

static void deliver_fin(struct tcp_pcb *pcb)
{
    pcb->rcv_nxt++;
    pcb->flags |= TF_RCVD_FIN | TF_ACKNOW;
    pcb->flags &= ~TF_FIN_PENDING;
    tcp_event_post(pcb, TCP_EV_READABLE);
    switch (pcb->state) {
    case TCP_SYN_RECEIVED:
    case TCP_ESTABLISHED: pcb->state = TCP_CLOSE_WAIT; break;
    case TCP_FIN_WAIT_1:
        pcb->state = TCP_CLOSING; /* our FIN is not acked, or we would be in FW2 */
        break;
    case TCP_FIN_WAIT_2: tcp_timewait_enter(pcb); break;
    default: break;
    }
}

/* Data after the owner closed has nobody to read it: RFC 9293 §3.10.4
 * (and Linux) answer with RST. */
static bool data_after_close(struct tcp_pcb *pcb)
{
    STAT_INC(pcb->stack, tcp_drop_after_close);
    tcp_send_rst(pcb);
    tcp_set_closed(pcb, ECONNRESET);
    return false;
}

static bool process_text(struct tcp_pcb *pcb, struct seg *s)
{
    if (s->len == 0)
        return true;
    if (pcb->state != TCP_ESTABLISHED && pcb->state != TCP_FIN_WAIT_1 &&
        pcb->state != TCP_FIN_WAIT_2)
        return true; /* after the peer's FIN, text is ignored */
    if (pcb->flags & TF_DETACHED)
        return data_after_close(pcb);
    if (s->len > pcb->rcv_mss && s->len <= pcb->advmss)
        pcb->rcv_mss = (uint16_t)s->len;
    uint32_t offset = s->data_seq - pcb->rcv_nxt;
    bool had_gaps = tcp_rcvbuf_has_gaps(&pcb->rcv);
    long n = tcp_rcvbuf_write(&pcb->rcv, offset, s->data, s->len);
    if (n < 0) {
        /* More holes than the assembler keeps: drop it, the peer resends. */
        STAT_INC(pcb->stack, tcp_drop_ooo_full);
        pcb->flags |= TF_ACKNOW;
        s->fin = false;
        return true;
    }
    if (offset > 0) {
        /* Out of order: an immediate duplicate ACK (RFC 5681 §4.2) with
         * SACK blocks naming this segment first. */
        pcb->ooo_left = s->data_seq;
        pcb->flags |= TF_ACKNOW;
        return true;
    }
    pcb->rcv_nxt += (uint32_t)n;
    pcb->bytes_received += (uint64_t)n;
    tcp_event_post(pcb, TCP_EV_READABLE);
    pcb->rcv_unacked += (uint32_t)n;
    /* Delayed ACKs (RFC 9293 §3.8.6.3, RFC 5681 §4.2): at least every
     * second full-sized segment, at once when a gap is being filled. */
    if (had_gaps || pcb->rcv_unacked >= 2u * pcb->rcv_mss) {
        pcb->flags |= TF_ACKNOW;
    } else {
        pcb->flags |= TF_DELACK;
        tcp_delack_arm(pcb);
    }
    return true;
}

/* ---- Eighth: FIN ---- */

static void process_fin(struct tcp_pcb *pcb, struct seg *s)
{
    if (s->fin_dup)
        pcb->flags |= TF_ACKNOW;
    if (s->fin) {
        uint32_t fin_seq = s->data_seq + s->len;
        if (fin_seq == pcb->rcv_nxt) {
            deliver_fin(pcb);
            return;
        }
        if (seq_gt(fin_seq, pcb->rcv_nxt) && pcb->rcv.data != NULL) {
            pcb->flags |= TF_FIN_PENDING; /* out of order: when the data is in */
            pcb->rcv_fin_seq = fin_seq;
        }
    }
    if ((pcb->flags & TF_FIN_PENDING) && pcb->rcv_nxt == pcb->rcv_fin_seq &&
        !(pcb->flags & TF_RCVD_FIN))
        deliver_fin(pcb);
}

/* ---- States ---- */

/* §3.10.7.4 for every state from SYN-RECEIVED to LAST-ACK. */
static void input_other(struct tcp_pcb *pcb, const struct tcp_repr *th)
{
    uint32_t space = seg_space(th);

    /* A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost. */
    if (pcb->state == TCP_SYN_RECEIVED && (th->flags & TCP_SYN) && !(th->flags & TCP_ACK) &&
        th->seq == pcb->irs) {
        pcb->snd_nxt = pcb->iss;
        return;
    }

    /* Simultaneous open (§3.5 Figure 7, line 5): the peer's SYN-ACK
     * acknowledges our SYN; its SYN is the one we already hold. It
     * completes the handshake here (as Linux does), rather than failing
     * the window test and waiting for the ACK that test would draw. */
    if (pcb->state == TCP_SYN_RECEIVED && !(pcb->flags & TF_PASSIVE) &&
        (th->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == (TCP_SYN | TCP_ACK) && th->seq == pcb->irs &&
        th->ack == pcb->snd_max) {
        if (check_ack(pcb, th))
            pcb->flags |= TF_ACKNOW;
        return;
    }

    /* First: sequence number, after PAWS (RFC 7323 §5.3). */
    if (paws_reject(pcb, th)) {
        STAT_INC(pcb->stack, tcp_drop_paws);
        ack_out_of_window(pcb, th);
        return;
    }
    if (!seq_acceptable(pcb, th->seq, space)) {
        STAT_INC(pcb->stack, tcp_drop_out_of_window);
        if (!(th->flags & TCP_RST))
            ack_out_of_window(pcb, th);
        return;
    }

    /* Second: RST. RFC 5961 §3.2: only an exact match resets; an RST
     * elsewhere in the window draws a challenge ACK. */
    if (th->flags & TCP_RST) {
        if (th->seq == pcb->rcv_nxt)
            reset_received(pcb);
        else
            tcp_send_challenge_ack(pcb);
        return;
    }

    /* Fourth: SYN. RFC 5961 §4.2: a challenge ACK in synchronized states;
     * in SYN-RECEIVED a passive embryo goes back to LISTEN (§3.10.7.4). */
    if (th->flags & TCP_SYN) {
        if (pcb->state == TCP_SYN_RECEIVED && (pcb->flags & TF_PASSIVE))
            tcp_set_closed(pcb, 0);
        else
            tcp_send_challenge_ack(pcb);
        return;
    }

    ts_recent_update(pcb, th);

    /* Fifth: ACK. */
    if (!check_ack(pcb, th))
        return;

    /* Sixth: URG. RFC 6093: the urgent pointer is ignored and urgent data
     * stays in the stream, even a pointer beyond the segment. */

    /* Seventh and eighth, on the segment trimmed to the window. */
    struct seg s = {.th = th, .seq = th->seq};
    seg_trim(pcb, &s);
    if (pcb->state == TCP_TIME_WAIT) {
        /* The ACK of our FIN took us here (CLOSING); nothing more. */
        return;
    }
    if (!process_text(pcb, &s))
        return;
    process_fin(pcb, &s);
}

/* §3.10.7.3 SYN-SENT. */
static void input_syn_sent(struct tcp_pcb *pcb, const struct ipv4_repr *ip,
                           const struct tcp_repr *th)
{
    bool has_ack = th->flags & TCP_ACK;
    /* First: the ACK must cover our SYN and nothing unsent. */
    if (has_ack && (seq_leq(th->ack, pcb->iss) || seq_gt(th->ack, pcb->snd_max))) {
        STAT_INC(pcb->stack, tcp_drop_unacceptable);
        tcp_send_rst_reply(pcb->stack, ip, th); /* <SEQ=SEG.ACK><CTL=RST>, not for RST */
        return;
    }
    /* Second: RST, acceptable only with an acceptable ACK (RFC 5961 §3.2
     * for SYN-SENT). */
    if (th->flags & TCP_RST) {
        if (has_ack) {
            STAT_INC(pcb->stack, tcp_conn_reset_rx);
            tcp_set_closed(pcb, ECONNREFUSED);
        }
        return;
    }
    /* Fourth: SYN. Fifth: neither SYN nor RST: drop. */
    if (!(th->flags & TCP_SYN))
        return;
    pcb->irs = th->seq;
    pcb->rcv_nxt = th->seq + 1;
    pcb->rcv_adv = pcb->rcv_nxt + pcb->rcv_wnd; /* what our SYN offered */
    pcb->last_ack_sent = pcb->rcv_nxt;
    syn_options_apply(pcb, th);
    pcb->snd_wnd = th->window; /* never scaled in a SYN (RFC 7323 §2.2) */
    pcb->max_sndwnd = pcb->snd_wnd;
    pcb->snd_wl1 = th->seq;
    pcb->snd_wl2 = th->ack;
    pcb->flags |= TF_ACKNOW;
    if (!has_ack) {
        /* Simultaneous open (§3.5 Figure 7): SYN-RECEIVED, and our SYN
         * again, now with an ACK. Text waits for a retransmission. */
        pcb->state = TCP_SYN_RECEIVED;
        pcb->snd_nxt = pcb->iss;
        pcb->rxtshift = 0;
        tcp_rexmt_cancel(pcb);
        return;
    }
    /* Our SYN is acknowledged: ESTABLISHED. */
    uint32_t rtt_us = 0;
    bool have_rtt = false;
    if ((pcb->flags & TF_TS_OK) && th->ts_ecr != 0) {
        uint32_t ms = tcp_ts_now(pcb) - th->ts_ecr;
        if (ms < TCP_RTO_MAX_US / 1000) {
            rtt_us = ms * 1000;
            have_rtt = true;
        }
    }
    if ((pcb->flags & TF_RTT_TIMING) && !(pcb->flags & TF_SYN_RETRANS)) {
        rtt_us = (uint32_t)(pcb->stack->now_us - pcb->rtt_start_us);
        have_rtt = true;
    }
    pcb->flags &= ~TF_RTT_TIMING;
    if (have_rtt)
        tcp_rtt_sample(pcb, rtt_us);
    pcb->snd_una = th->ack;
    if (seq_lt(pcb->snd_nxt, pcb->snd_una))
        pcb->snd_nxt = pcb->snd_una;
    tcp_established(pcb);
    /* Sixth onwards: data or a FIN in the SYN-ACK. */
    struct seg s = {.th = th, .seq = th->seq};
    seg_trim(pcb, &s);
    if (process_text(pcb, &s))
        process_fin(pcb, &s);
}

/* TIME-WAIT (§3.10.7.4, as Linux's tcp_timewait_state_process): a
 * retransmitted FIN is acknowledged and restarts 2MSL; an exact RST ends
 * it; other segments with data or SYN draw an ACK; duplicate ACKs are
 * dropped quietly. */
static void input_timewait(struct tcp_pcb *pcb, const struct tcp_repr *th)
{
    if (paws_reject(pcb, th)) {
        STAT_INC(pcb->stack, tcp_drop_paws);
        ack_out_of_window(pcb, th);
        return;
    }
    if (th->flags & TCP_RST) {
        if (seq_acceptable(pcb, th->seq, 0)) {
            if (th->seq == pcb->rcv_nxt) {
                tcp_timewait_kill(pcb);
            } else {
                tcp_send_challenge_ack(pcb);
            }
        }
        return;
    }
    if ((th->flags & TCP_FIN) && th->seq + (uint32_t)th->payload_len + 1 == pcb->rcv_nxt) {
        tcp_timewait_arm(pcb);
        pcb->flags |= TF_ACKNOW;
        return;
    }
    if (th->flags & TCP_SYN) {
        tcp_send_challenge_ack(pcb);
        return;
    }
    if (th->payload_len > 0 || (th->flags & TCP_FIN))
        ack_out_of_window(pcb, th);
}

static void segment_arrives(struct tcp_pcb *pcb, const struct ipv4_repr *ip,
                            const struct tcp_repr *th)
{
    struct stack *stack = pcb->stack;
    struct tcp_pcb *listener = pcb->listener;
    pcb->segs_in++;
    pcb->last_rcv_us = stack->now_us;
    switch (pcb->state) {
    case TCP_TIME_WAIT: input_timewait(pcb, th); break;
    case TCP_SYN_SENT: input_syn_sent(pcb, ip, th); break;
    default: input_other(pcb, th); break;
    }
    if (pcb->state != TCP_CLOSED)
        tcp_output(pcb);
    tcp_pcb_release(pcb);
    /* A child that completed tells its listener's owner only now, with
     * the segment fully processed. */
    if (listener != NULL)
        tcp_events_flush(listener);
}

/* ---- LISTEN (§3.10.7.2) ---- */

static struct tcp_pcb *child_create(struct tcp_pcb *l, const struct ipv4_repr *ip,
                                    const struct tcp_repr *th)
{
    struct stack *stack = l->stack;
    struct tcp_pcb *c = tcp_pcb_alloc(stack);
    if (c == NULL)
        return NULL;
    c->opts = l->opts;
    c->flags |= TF_PASSIVE | (l->flags & TF_REUSEADDR);
    c->local_addr = ip->dst;
    c->local_port = th->dst_port;
    c->remote_addr = ip->src;
    c->remote_port = th->src_port;
    c->ts_offset =
        tcp_ts_offset(stack, c->local_addr, c->local_port, c->remote_addr, c->remote_port);
    tcp_mss_init(c);
    c->rcv_wscale = wscale_for(c->opts.rcvbuf);
    c->last_rcv_us = stack->now_us;
    return c;
}

static void child_attach(struct tcp_pcb *l, struct tcp_pcb *c, bool established)
{
    tcp_conn_hash_insert(c);
    tcp_bind_insert(c);
    c->listener = l;
    c->in_acceptq = established;
    tcp_queue_push(established ? &l->acceptq : &l->synq, &c->q_node);
    STAT_INC(l->stack, tcp_passive_opens);
}

/* A SYN with room in the SYN queue: an embryo in SYN-RECEIVED answers
 * with SYN-ACK. Data in the SYN is not kept (it will be resent). */
static void listen_syn(struct tcp_pcb *l, const struct ipv4_repr *ip, const struct tcp_repr *th)
{
    struct tcp_pcb *c = child_create(l, ip, th);
    if (c == NULL) {
        STAT_INC(l->stack, tcp_drop_no_memory);
        return;
    }
    c->irs = th->seq;
    c->rcv_nxt = th->seq + 1;
    c->last_ack_sent = c->rcv_nxt;
    syn_options_apply(c, th);
    c->iss = tcp_isn(l->stack, c->local_addr, c->local_port, c->remote_addr, c->remote_port);
    c->snd_una = c->snd_nxt = c->snd_max = c->iss;
    c->snd_buf_seq = c->snd_sml = c->iss + 1;
    c->snd_wnd = th->window;
    c->max_sndwnd = th->window;
    c->snd_wl1 = th->seq;
    c->recover = c->iss;
    c->state = TCP_SYN_RECEIVED;
    child_attach(l, c, false);
    tcp_output(c); /* the SYN-ACK */
}

/* SYN queue full: answer with a SYN cookie (RFC 4987 §3.6) and keep
 * nothing. */
static void listen_syn_cookie(struct tcp_pcb *l, const struct ipv4_repr *ip,
                              const struct tcp_repr *th)
{
    struct stack *stack = l->stack;
    uint16_t mss;
    uint32_t iss = tcp_cookie_make(stack, ip, th, &mss);
    uint16_t route_mss =
        (uint16_t)(ipv4_mtu_for(stack, ip->src) > 40 ? ipv4_mtu_for(stack, ip->src) - 40
                                                     : TCP_DEFAULT_MSS);
    uint16_t adv =
        l->opts.user_mss != 0 && l->opts.user_mss < route_mss ? l->opts.user_mss : route_mss;
    uint32_t off = tcp_ts_offset(stack, ip->dst, th->dst_port, ip->src, th->src_port);
    uint32_t ts_val = tcp_cookie_ts_encode(tcp_ts_clock(stack) + off, th);
    l->last_overflow_us = stack->now_us;
    STAT_INC(stack, tcp_syncookies_sent);
    tcp_send_cookie_synack(stack, l, ip, th, iss, adv, ts_val, off);
}

/* The ACK that completes a cookie handshake: the connection is rebuilt
 * from the cookie and goes straight to the accept queue. */
static struct tcp_pcb *listen_cookie_ack(struct tcp_pcb *l, const struct ipv4_repr *ip,
                                         const struct tcp_repr *th)
{
    struct stack *stack = l->stack;
    uint16_t mss;
    if (!tcp_cookie_check(stack, ip, th, &mss)) {
        STAT_INC(stack, tcp_syncookies_failed);
        return NULL;
    }
    if (l->acceptq.len > l->backlog) {
        STAT_INC(stack, tcp_drop_accept_queue_full);
        return l; /* valid, but no room: drop quietly, the client resends */
    }
    struct tcp_pcb *c = child_create(l, ip, th);
    if (c == NULL || tcp_buffers_alloc(c) < 0) {
        STAT_INC(stack, tcp_drop_no_memory);
        if (c != NULL)
            tcp_pcb_free(c);
        return l;
    }
    STAT_INC(stack, tcp_syncookies_ok);
    c->irs = th->seq - 1;
    c->rcv_nxt = th->seq;
    c->last_ack_sent = c->rcv_nxt;
    c->iss = th->ack - 1;
    c->snd_una = c->snd_nxt = c->snd_max = th->ack;
    c->snd_buf_seq = c->snd_sml = th->ack;
    c->peer_mss = mss;
    c->rcv_wscale = 0;
    if (th->has_timestamps) {
        bool sack;
        int ws;
        tcp_cookie_ts_decode(th->ts_ecr, &sack, &ws);
        c->flags |= TF_TS_OK;
        c->ts_recent = th->ts_val;
        c->ts_recent_us = stack->now_us;
        if (sack)
            c->flags |= TF_SACK_OK;
        if (ws >= 0) {
            c->flags |= TF_WS_OK;
            c->snd_wscale = (uint8_t)ws;
            c->rcv_wscale = wscale_for(c->opts.rcvbuf);
        }
    }
    /* The window our SYN-ACK offered, unscaled. */
    c->rcv_wnd = c->opts.rcvbuf < 65535 ? c->opts.rcvbuf : 65535;
    c->rcv_adv = c->rcv_nxt + c->rcv_wnd;
    c->snd_wnd = (uint32_t)th->window << c->snd_wscale;
    c->max_sndwnd = c->snd_wnd;
    c->snd_wl1 = th->seq;
    c->snd_wl2 = th->ack;
    child_attach(l, c, true);
    tcp_established(c);
    tcp_event_post(l, TCP_EV_ACCEPTABLE);
    return c;
}

/* Cookies are honoured only for a while after the listener last sent some
 * (Linux's tcp_synq_no_recent_overflow), which keeps the blind-guessing
 * surface closed the rest of the time. */
static bool cookies_recent(const struct tcp_pcb *l)
{
    return l->last_overflow_us != 0 && l->stack->now_us - l->last_overflow_us < 130000000ull;
}

void tcp_listen_input(struct tcp_pcb *l, const struct ipv4_repr *ip, const struct tcp_repr *th)
{
    struct stack *stack = l->stack;
    /* First: an RST is ignored. */
    if (th->flags & TCP_RST)
        return;
    /* Second: an ACK is bad here, unless it returns a SYN cookie. */
    if (th->flags & TCP_ACK) {
        if (!(th->flags & TCP_SYN) && cookies_recent(l)) {
            struct tcp_pcb *c = listen_cookie_ack(l, ip, th);
            if (c == l)
                return;
            if (c != NULL) {
                segment_arrives(c, ip, th); /* data or FIN with the ACK */
                tcp_pcb_release(l);
                return;
            }
        }
        tcp_send_rst_reply(stack, ip, th);
        return;
    }
    /* Third: a SYN. */
    if (!(th->flags & TCP_SYN))
        return;
    if (l->acceptq.len > l->backlog) {
        STAT_INC(stack, tcp_drop_accept_queue_full); /* Linux's ListenOverflows */
        return;
    }
    if (l->synq.len >= l->synq_max || stack->tcp->pcb_count >= TCP_MAX_PCBS) {
        listen_syn_cookie(l, ip, th);
        return;
    }
    listen_syn(l, ip, th);
}

/* ---- Entry ---- */

/* RFC 6191 (and RFC 9293 §3.10.7.4 TIME-WAIT note): a new SYN may reopen
 * a tuple in TIME-WAIT when it is unambiguously newer: a larger timestamp,
 * or without timestamps a sequence number past the old connection's. */
static bool timewait_reusable(const struct tcp_pcb *tw, const struct tcp_repr *th)
{
    if ((th->flags & (TCP_SYN | TCP_ACK | TCP_RST)) != TCP_SYN)
        return false;
    if ((tw->flags & TF_TS_OK) && th->has_timestamps)
        return seq_gt(th->ts_val, tw->ts_recent);
    return seq_gt(th->seq, tw->rcv_nxt);
}

void tcp_input(struct stack *stack, const struct ipv4_repr *ip, const uint8_t *data, size_t len)
{
    struct tcp_repr th;
    enum wire_err err = tcp_parse_ipv4(data, len, ip->src, ip->dst, &th);
    if (err != WIRE_OK) {
        count_parse_error(stack, err);
        return;
    }
    STAT_INC(stack, tcp_rx_segments);
    if (stack->log_level >= TOYSOCK_LOG_TRACE) {
        char line[160];
        tcp_fmt(&th, line, sizeof(line));
        LOG_TRACE(stack, "rx %s", line);
    }
    /* Contradictory control bits: no state machine path makes sense. */
    if ((th.flags & TCP_SYN) && (th.flags & (TCP_FIN | TCP_RST))) {
        STAT_INC(stack, tcp_rx_bad_flags);
        return;
    }
    struct tcp_pcb *pcb = tcp_conn_lookup(stack, ip->dst, th.dst_port, ip->src, th.src_port);
    if (pcb != NULL && pcb->state == TCP_TIME_WAIT && timewait_reusable(pcb, &th) &&
        tcp_listener_lookup(stack, ip->dst, th.dst_port) != NULL) {
        STAT_INC(stack, tcp_timewait_reused);
        tcp_timewait_kill(pcb);
        tcp_pcb_release(pcb);
        pcb = NULL;
    }
    if (pcb != NULL) {
        segment_arrives(pcb, ip, &th);
        return;
    }
    struct tcp_pcb *l = tcp_listener_lookup(stack, ip->dst, th.dst_port);
    if (l != NULL) {
        tcp_listen_input(l, ip, &th);
        tcp_pcb_release(l);
        return;
    }
    /* §3.10.7.1 CLOSED: no connection; everything but an RST gets one. */
    STAT_INC(stack, tcp_rx_no_socket);
    tcp_send_rst_reply(stack, ip, &th);
}
