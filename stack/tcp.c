/* TCP module: init and teardown, the lifecycle helpers every other TCP
 * file uses (events to the owner, closing, releasing), errors reported by
 * ICMP or the link (RFC 1122 §4.2.3.9, RFC 5927), connection setup shared
 * by active and passive opens, and tcp_info.
 *
 *   tcp_error_input() -> tcp_conn_lookup() -> PMTU / hard / soft error
 *   entry points end in tcp_pcb_release() -> tcp_events_flush() -> free */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ipv4.h"
#include "tcp_priv.h"
#include "wire/be.h"

static void key_fill(struct rng *rng, uint8_t key[16])
{
    uint64_t a = rng_next(rng), b = rng_next(rng);
    memcpy(key, &a, 8);
    memcpy(key + 8, &b, 8);
}

int tcp_init(struct stack *stack)
{
    struct tcp_stack *ts = calloc(1, sizeof(*ts));
    if (ts == NULL)
        return -ENOMEM;
    ts->conn_hash = calloc(TCP_CONN_BUCKETS, sizeof(*ts->conn_hash));
    ts->bind_hash = calloc(TCP_BIND_BUCKETS, sizeof(*ts->bind_hash));
    ts->listen_hash = calloc(TCP_BIND_BUCKETS, sizeof(*ts->listen_hash));
    if (ts->conn_hash == NULL || ts->bind_hash == NULL || ts->listen_hash == NULL) {
        free(ts->conn_hash);
        free(ts->bind_hash);
        free(ts->listen_hash);
        free(ts);
        return -ENOMEM;
    }
    ts->all.next = ts->all.prev = &ts->all;
    tcp_queue_init(&ts->timewait);
    /* Secrets from the stack's RNG: seeded simulations stay deterministic,
     * and a real stack is seeded from the kernel's CSPRNG. */
    key_fill(&stack->rng, ts->hash_key);
    key_fill(&stack->rng, ts->isn_key);
    key_fill(&stack->rng, ts->port_key);
    key_fill(&stack->rng, ts->ts_key);
    key_fill(&stack->rng, ts->cookie_key);
    ts->port_next = (uint32_t)rng_next(&stack->rng);
    stack->tcp = ts;
    return 0;
}

void tcp_destroy(struct stack *stack)
{
    struct tcp_stack *ts = stack->tcp;
    if (ts == NULL)
        return;
    /* The stack is going away: no events, no segments; first cut the
     * links between pcbs so that freeing in any order is safe. */
    for (struct tcp_dnode *n = ts->all.next; n != &ts->all; n = n->next) {
        struct tcp_pcb *pcb = TCP_CONTAINER(n, struct tcp_pcb, all_node);
        pcb->listener = NULL;
        pcb->in_timewait_list = false;
        pcb->owner_fn = NULL;
    }
    while (ts->all.next != &ts->all)
        tcp_pcb_free(TCP_CONTAINER(ts->all.next, struct tcp_pcb, all_node));
    free(ts->conn_hash);
    free(ts->bind_hash);
    free(ts->listen_hash);
    free(ts);
    stack->tcp = NULL;
}

const char *tcp_state_name(enum tcp_state state)
{
    static const char *const names[] = {
        [TCP_CLOSED] = "CLOSED",           [TCP_LISTEN] = "LISTEN",
        [TCP_SYN_SENT] = "SYN-SENT",       [TCP_SYN_RECEIVED] = "SYN-RECEIVED",
        [TCP_ESTABLISHED] = "ESTABLISHED", [TCP_CLOSE_WAIT] = "CLOSE-WAIT",
        [TCP_FIN_WAIT_1] = "FIN-WAIT-1",   [TCP_CLOSING] = "CLOSING",
        [TCP_LAST_ACK] = "LAST-ACK",       [TCP_FIN_WAIT_2] = "FIN-WAIT-2",
        [TCP_TIME_WAIT] = "TIME-WAIT",
    };
    if ((unsigned)state >= sizeof(names) / sizeof(names[0]))
        return "UNKNOWN";
    return names[state];
}

void tcp_options_default(struct tcp_options *o)
{
    memset(o, 0, sizeof(*o));
    o->sndbuf = TCP_DEFAULT_BUF;
    o->rcvbuf = TCP_DEFAULT_BUF;
    o->keepidle_s = 7200;
    o->keepintvl_s = 75;
    o->keepcnt = 9;
    strcpy(o->congestion, "cubic");
}

/* ---- Events ---- */

void tcp_event_post(struct tcp_pcb *pcb, unsigned events)
{
    if (pcb->flags & TF_CLOSED_EV)
        return;
    pcb->ev_pending |= events;
}

void tcp_event_post_closed(struct tcp_pcb *pcb)
{
    if (pcb->flags & TF_CLOSED_EV)
        return;
    pcb->flags |= TF_CLOSED_EV;
    pcb->ev_pending |= TCP_EV_CLOSED;
}

void tcp_events_flush(struct tcp_pcb *pcb)
{
    struct tcp_stack *ts = pcb->stack->tcp;
    while (pcb->ev_pending != 0 && pcb->owner_fn != NULL && !pcb->in_callback && pcb->user_held) {
        /* Never one owner's callback inside another's (a listener's owner
         * accepting and writing): the inner events wait for the next turn. */
        if (ts->callbacks_running > 0) {
            tcp_kick(pcb);
            return;
        }
        unsigned ev = pcb->ev_pending;
        pcb->ev_pending = 0;
        pcb->in_callback = true;
        ts->callbacks_running++;
        pcb->owner_fn(pcb, pcb->owner, ev);
        ts->callbacks_running--;
        pcb->in_callback = false;
        if (ev & TCP_EV_CLOSED) {
            pcb->ev_pending = 0;
            break;
        }
    }
}

/* ---- Lifecycle ---- */

void tcp_child_unlink(struct tcp_pcb *pcb)
{
    struct tcp_pcb *l = pcb->listener;
    if (l == NULL)
        return;
    tcp_queue_remove(pcb->in_acceptq ? &l->acceptq : &l->synq, &pcb->q_node);
    pcb->in_acceptq = false;
    pcb->listener = NULL;
}

void tcp_set_closed(struct tcp_pcb *pcb, int err)
{
    if (err != 0 && pcb->error == 0)
        pcb->error = err;
    if (pcb->state == TCP_CLOSED)
        return;
    tcp_timers_cancel(pcb);
    if (pcb->in_timewait_list) {
        tcp_queue_remove(&pcb->stack->tcp->timewait, &pcb->q_node);
        pcb->in_timewait_list = false;
    }
    tcp_conn_hash_remove(pcb);
    tcp_listen_hash_remove(pcb);
    /* A port the owner bound stays bound while the owner holds the pcb
     * (Linux's SOCK_BINDPORT_LOCK): it may connect or listen again. */
    if (!pcb->user_held || (pcb->flags & TF_PORT_AUTO))
        tcp_bind_remove(pcb);
    if (pcb->listener != NULL)
        tcp_child_unlink(pcb);
    pcb->state = TCP_CLOSED;
    pcb->flags &=
        ~(TF_ACKNOW | TF_DELACK | TF_PERSIST | TF_WND_PROBE | TF_FORCE_ONE | TF_IN_RECOVERY);
    tcp_sndbuf_free(&pcb->snd);
    if (!pcb->user_held)
        tcp_rcvbuf_free(&pcb->rcv);
    tcp_event_post_closed(pcb);
}

bool tcp_pcb_release(struct tcp_pcb *pcb)
{
    tcp_events_flush(pcb);
    if (pcb->state != TCP_CLOSED || pcb->user_held || pcb->in_callback || pcb->listener != NULL)
        return false;
    tcp_pcb_free(pcb);
    return true;
}

int tcp_buffers_alloc(struct tcp_pcb *pcb)
{
    if (pcb->snd.data == NULL && tcp_sndbuf_init(&pcb->snd, pcb->opts.sndbuf) < 0)
        return -ENOMEM;
    if (pcb->rcv.data == NULL && tcp_rcvbuf_init(&pcb->rcv, pcb->opts.rcvbuf) < 0) {
        tcp_sndbuf_free(&pcb->snd);
        return -ENOMEM;
    }
    pcb->flags |= TF_OPTS_LOCKED;
    return 0;
}

int tcp_timeout_error(const struct tcp_pcb *pcb)
{
    /* Linux reports the last ICMP error instead of ETIMEDOUT when one was
     * seen (sk_err_soft). */
    return pcb->soft_error != 0 ? pcb->soft_error : ETIMEDOUT;
}

void tcp_mss_init(struct tcp_pcb *pcb)
{
    unsigned mtu = ipv4_mtu_for(pcb->stack, pcb->remote_addr);
    if (mtu < 68 + 40)
        mtu = 576; /* no route yet: RFC 9293's default datagram size */
    uint32_t mss = mtu - 40;
    if (mss > 65535)
        mss = 65535;
    pcb->mtu_mss = (uint16_t)mss;
    pcb->advmss = (uint16_t)mss;
    if (pcb->opts.user_mss != 0 && pcb->opts.user_mss < pcb->advmss)
        pcb->advmss = pcb->opts.user_mss;
    pcb->rcv_mss = pcb->advmss < TCP_DEFAULT_MSS ? pcb->advmss : TCP_DEFAULT_MSS;
}

void tcp_mss_changed(struct tcp_pcb *pcb)
{
    if (!pcb->cc_ready)
        return;
    uint32_t mss = tcp_eff_mss(pcb);
    pcb->cc.mss = mss;
    if (pcb->cc.cwnd < mss)
        pcb->cc.cwnd = mss;
}

void tcp_cc_setup(struct tcp_pcb *pcb)
{
    const struct tcp_cc_ops *ops = tcp_cc_find(pcb->opts.congestion);
    if (ops == NULL)
        ops = tcp_cc_find("cubic");
    uint32_t mss = tcp_eff_mss(pcb);
    tcp_cc_init(&pcb->cc, ops, mss, pcb->stack->now_us);
    /* RFC 5681 §3.1: after a lost SYN or SYN-ACK, start with one segment. */
    if (pcb->flags & TF_SYN_RETRANS)
        pcb->cc.cwnd = mss;
    pcb->cc_ready = true;
}

void tcp_established(struct tcp_pcb *pcb)
{
    pcb->state = TCP_ESTABLISHED;
    tcp_cc_setup(pcb);
    /* RFC 6298 §5.7: a SYN timed out and no RTT was measured: 3 s. */
    if ((pcb->flags & TF_SYN_RETRANS) && !(pcb->flags & TF_HAD_RTT))
        pcb->rto_us = (uint32_t)TCP_RTO_AFTER_SYN_LOSS_US;
    pcb->rxtshift = 0;
    pcb->recover = pcb->snd_una;
    pcb->high_rxt = pcb->snd_una;
    pcb->last_rcv_us = pcb->stack->now_us;
    tcp_rexmt_cancel(pcb);
    tcp_keep_reset(pcb);
    if (!(pcb->flags & TF_PASSIVE))
        tcp_event_post(pcb, TCP_EV_CONNECTED | TCP_EV_WRITABLE);
    /* A shutdown asked for before the handshake ended (RFC 9293 §3.10.4:
     * queued until ESTABLISHED). */
    if (pcb->flags & TF_SHUT_WR)
        pcb->state = TCP_FIN_WAIT_1;
}

/* ---- Errors about our segments (ICMP, ARP failure) ---- */

static void error_pmtu(struct tcp_pcb *pcb, unsigned mtu)
{
    /* RFC 1191 §6.3 with RFC 8201's floor: mtu 0 (an old router) tells
     * nothing we could trust, so it is ignored. */
    if (mtu < 68 || mtu - 40 >= pcb->mtu_mss)
        return;
    uint32_t mss = mtu - 40;
    pcb->mtu_mss = (uint16_t)(mss < TCP_MIN_SND_MSS ? TCP_MIN_SND_MSS : mss);
    STAT_INC(pcb->stack, tcp_pmtu_updates);
    tcp_mss_changed(pcb);
    if (tcp_state_synchronized(pcb->state) && pcb->snd_una != pcb->snd_max) {
        /* The segments in flight were too big: send them again now, as
         * Linux's tcp_simple_retransmit, without a congestion response. */
        pcb->snd_nxt = pcb->snd_una;
        pcb->flags &= ~TF_RTT_TIMING;
        tcp_output(pcb);
    }
}

void tcp_error_input(struct stack *stack, const struct ipv4_repr *orig, const uint8_t *payload,
                     size_t payload_len, int err, unsigned mtu)
{
    /* A full local queue drops a segment: that is loss, retransmission
     * handles it (this also keeps us out of re-entry from ipv4_output). */
    if (err == ENOBUFS || payload_len < 8 || stack->tcp == NULL)
        return;
    uint16_t sport = be16_get(payload), dport = be16_get(payload + 2);
    uint32_t seq = be32_get(payload + 4);
    struct tcp_pcb *pcb = tcp_conn_lookup(stack, orig->src, sport, orig->dst, dport);
    if (pcb == NULL || pcb->state == TCP_TIME_WAIT)
        return;
    /* RFC 5927 §4.1: only errors quoting a sequence number in flight. */
    if (!(seq_geq(seq, pcb->snd_una) && seq_lt(seq, pcb->snd_max))) {
        STAT_INC(stack, tcp_icmp_ignored);
        return;
    }
    if (err == EMSGSIZE) {
        error_pmtu(pcb, mtu);
    } else if (pcb->state == TCP_SYN_SENT) {
        /* The connect fails at once (Linux; RFC 1122 §4.2.3.9 allows it
         * for an unreachable destination before the connection exists). */
        tcp_set_closed(pcb, err);
    } else if (pcb->state == TCP_SYN_RECEIVED && (pcb->flags & TF_PASSIVE)) {
        tcp_set_closed(pcb, err); /* an embryo: drop it (Linux's tcp_req_err) */
    } else {
        pcb->soft_error = err; /* RFC 1122 §4.2.3.9: soft in synchronized states */
    }
    tcp_pcb_release(pcb);
}

/* ---- tcp_info ---- */

static uint32_t ca_state(const struct tcp_pcb *pcb)
{
    if (pcb->flags & TF_RTO_LOSS)
        return 4;
    if (pcb->flags & TF_IN_RECOVERY)
        return 3;
    return pcb->dupacks > 0 ? 1 : 0;
}

void tcp_get_info(const struct tcp_pcb *pcb, struct toysock_tcp_info *info)
{
    memset(info, 0, sizeof(*info));
    uint32_t mss = tcp_eff_mss(pcb);
    if (mss == 0)
        mss = 1;
    info->state = (uint8_t)pcb->state;
    info->ca_state = (uint8_t)ca_state(pcb);
    info->retransmits = pcb->rxtshift;
    info->backoff = pcb->rxtshift;
    if (pcb->flags & TF_WS_OK) {
        info->snd_wscale = pcb->snd_wscale;
        info->rcv_wscale = pcb->rcv_wscale;
        info->options |= 4;
    }
    if (pcb->flags & TF_TS_OK)
        info->options |= 1;
    if (pcb->flags & TF_SACK_OK)
        info->options |= 2;
    info->rto = (uint32_t)tcp_rto_backed_off(pcb);
    info->ato = (uint32_t)TCP_DELACK_US;
    info->snd_mss = mss;
    info->rcv_mss = pcb->rcv_mss;
    uint32_t in_flight = pcb->snd_max - pcb->snd_una;
    info->unacked = (in_flight + mss - 1) / mss;
    info->sacked = pcb->sb.sacked_bytes / mss;
    if (pcb->flags & TF_IN_RECOVERY) {
        uint32_t rexmitted = seq_gt(pcb->high_rxt, pcb->snd_una) ? pcb->high_rxt - pcb->snd_una : 0;
        info->retrans = (rexmitted + mss - 1) / mss;
        info->lost = info->retrans;
    }
    /* An RTT below one loop turn measures 0; once measured, say at least
     * 1 µs so that "measured" and "never measured" differ. */
    info->rtt = (pcb->flags & TF_HAD_RTT) && pcb->srtt_us == 0 ? 1 : pcb->srtt_us;
    info->rttvar = pcb->rttvar_us;
    if (pcb->cc_ready) {
        info->snd_cwnd = pcb->cc.cwnd / mss;
        info->snd_ssthresh = pcb->cc.ssthresh == UINT32_MAX ? 0x7fffffffu : pcb->cc.ssthresh / mss;
    } else {
        info->snd_ssthresh = 0x7fffffffu;
    }
    info->advmss = pcb->advmss;
    info->rcv_space = (uint32_t)(pcb->rcv.data != NULL ? pcb->rcv.cap : pcb->opts.rcvbuf);
    info->total_retrans = pcb->total_retrans;
    info->bytes_acked = pcb->bytes_acked;
    info->bytes_received = pcb->bytes_received;
    info->bytes_sent = pcb->bytes_sent;
    info->bytes_retrans = pcb->bytes_retrans;
    info->segs_out = pcb->segs_out;
    info->segs_in = pcb->segs_in;
    info->snd_wnd = pcb->snd_wnd;
    info->rcv_wnd = pcb->rcv_wnd;
    uint32_t end = tcp_snd_end(pcb);
    info->notsent_bytes = seq_gt(end, pcb->snd_max) ? end - pcb->snd_max : 0;
}
