/* TCP timers, four per connection on the stack's timer heap:
 *
 *   t_rexmt   retransmission (RFC 6298), SYN and SYN-ACK retries, or the
 *             persist timer with zero-window probes (RFC 9293 §3.8.6.1)
 *   t_delack  delayed ACK (RFC 9293 §3.8.6.3, at most 40 ms here)
 *   t_keep    keepalive (RFC 9293 §3.8.4), 2MSL in TIME-WAIT, and the
 *             FIN-WAIT-2 timeout of an orphaned connection
 *   t_kick    zero delay: deferred owner events and a continued burst
 *
 * Each handler changes intent or state, calls tcp_output(), then
 * tcp_pcb_release() (which may free the pcb). */
#include "tcp_priv.h"

#define PCB_OF(timer, member) TCP_CONTAINER(timer, struct tcp_pcb, member)

static void rexmt_fire(struct stack *stack, struct timer *timer);
static void delack_fire(struct stack *stack, struct timer *timer);
static void keep_fire(struct stack *stack, struct timer *timer);
static void kick_fire(struct stack *stack, struct timer *timer);

void tcp_timers_init(struct tcp_pcb *pcb)
{
    timer_init(&pcb->t_rexmt, rexmt_fire);
    timer_init(&pcb->t_delack, delack_fire);
    timer_init(&pcb->t_keep, keep_fire);
    timer_init(&pcb->t_kick, kick_fire);
}

void tcp_timers_cancel(struct tcp_pcb *pcb)
{
    timer_cancel(pcb->stack, &pcb->t_rexmt);
    timer_cancel(pcb->stack, &pcb->t_delack);
    timer_cancel(pcb->stack, &pcb->t_keep);
    pcb->flags &= ~TF_PERSIST;
}

/* ---- RTT and RTO (RFC 6298) ---- */

void tcp_rtt_sample(struct tcp_pcb *pcb, uint32_t rtt_us)
{
    if (!(pcb->flags & TF_HAD_RTT)) {
        /* §2.2: the first measurement. */
        pcb->srtt_us = rtt_us;
        pcb->rttvar_us = rtt_us / 2;
        pcb->flags |= TF_HAD_RTT;
    } else {
        /* §2.3 with alpha 1/8, beta 1/4. */
        uint32_t delta = pcb->srtt_us > rtt_us ? pcb->srtt_us - rtt_us : rtt_us - pcb->srtt_us;
        pcb->rttvar_us = (uint32_t)(((uint64_t)pcb->rttvar_us * 3 + delta) / 4);
        pcb->srtt_us = (uint32_t)(((uint64_t)pcb->srtt_us * 7 + rtt_us) / 8);
    }
    /* RTO = SRTT + max(G, 4 * RTTVAR), G = 1 ms (the timestamp clock),
     * bounded by Linux's 200 ms floor (§2.4 asks 1 s) and 120 s. */
    uint64_t var4 = (uint64_t)pcb->rttvar_us * 4;
    uint64_t rto = pcb->srtt_us + (var4 > 1000 ? var4 : 1000);
    if (rto < TCP_RTO_MIN_US)
        rto = TCP_RTO_MIN_US;
    if (rto > TCP_RTO_MAX_US)
        rto = TCP_RTO_MAX_US;
    pcb->rto_us = (uint32_t)rto;
}

uint64_t tcp_rto_backed_off(const struct tcp_pcb *pcb)
{
    uint64_t rto = pcb->rto_us;
    for (unsigned i = 0; i < pcb->rxtshift && rto < TCP_RTO_MAX_US; i++)
        rto *= 2;
    return rto > TCP_RTO_MAX_US ? TCP_RTO_MAX_US : rto;
}

void tcp_rexmt_arm(struct tcp_pcb *pcb)
{
    pcb->flags &= ~TF_PERSIST;
    timer_arm(pcb->stack, &pcb->t_rexmt, pcb->stack->now_us + tcp_rto_backed_off(pcb));
}

void tcp_rexmt_cancel(struct tcp_pcb *pcb)
{
    timer_cancel(pcb->stack, &pcb->t_rexmt);
    pcb->flags &= ~TF_PERSIST;
}

void tcp_persist_arm(struct tcp_pcb *pcb)
{
    if (timer_armed(&pcb->t_rexmt))
        return;
    uint64_t t = pcb->rto_us;
    for (unsigned i = 0; i < pcb->persist_shift && t < TCP_RTO_MAX_US; i++)
        t *= 2;
    if (t > TCP_RTO_MAX_US)
        t = TCP_RTO_MAX_US;
    pcb->flags |= TF_PERSIST;
    timer_arm(pcb->stack, &pcb->t_rexmt, pcb->stack->now_us + t);
}

void tcp_delack_arm(struct tcp_pcb *pcb)
{
    if (!timer_armed(&pcb->t_delack))
        timer_arm(pcb->stack, &pcb->t_delack, pcb->stack->now_us + TCP_DELACK_US);
}

static bool keepalive_state(enum tcp_state s)
{
    return s >= TCP_ESTABLISHED && s != TCP_TIME_WAIT;
}

void tcp_keep_reset(struct tcp_pcb *pcb)
{
    if (!pcb->opts.keepalive || !keepalive_state(pcb->state) || timer_armed(&pcb->t_keep))
        return;
    uint64_t idle = (uint64_t)pcb->opts.keepidle_s * 1000000;
    timer_arm(pcb->stack, &pcb->t_keep, pcb->last_rcv_us + idle);
}

void tcp_timewait_arm(struct tcp_pcb *pcb)
{
    uint64_t t = (uint64_t)pcb->stack->cfg.tcp_timewait_ms * 1000;
    timer_arm(pcb->stack, &pcb->t_keep, pcb->stack->now_us + t);
}

void tcp_finwait2_arm(struct tcp_pcb *pcb)
{
    timer_arm(pcb->stack, &pcb->t_keep, pcb->stack->now_us + TCP_FIN_WAIT_2_US);
}

void tcp_kick(struct tcp_pcb *pcb)
{
    /* One microsecond on: the next turn, not this one (a timer armed at
     * now would run again in the same timer pass). */
    if (!timer_armed(&pcb->t_kick))
        timer_arm(pcb->stack, &pcb->t_kick, pcb->stack->now_us + 1);
}

/* ---- Handlers ---- */

static unsigned syn_retries(const struct tcp_pcb *pcb)
{
    if (pcb->opts.syn_retries != 0)
        return pcb->opts.syn_retries;
    return pcb->stack->cfg.tcp_syn_retries;
}

static void give_up(struct tcp_pcb *pcb)
{
    STAT_INC(pcb->stack, tcp_conn_timeout);
    tcp_set_closed(pcb, tcp_timeout_error(pcb));
}

/* SYN-SENT and SYN-RECEIVED: the handshake segment again, doubling. */
static void rexmt_handshake(struct tcp_pcb *pcb)
{
    bool child = (pcb->flags & TF_PASSIVE) && pcb->state == TCP_SYN_RECEIVED;
    unsigned limit = child ? TCP_SYNACK_RETRIES : syn_retries(pcb);
    if (pcb->rxtshift >= limit) {
        if (child)
            tcp_set_closed(pcb, 0); /* an embryo just goes (RFC 9293: back to LISTEN) */
        else
            give_up(pcb);
        return;
    }
    STAT_INC(pcb->stack, tcp_timeouts);
    pcb->rxtshift++;
    pcb->snd_nxt = pcb->iss;
    tcp_output(pcb);
}

/* RFC 6298 §5.4-5.6 and RFC 5681 §3.1: retransmit the earliest segment,
 * back off, collapse the window, go back to snd_una (go-back-N; RFC 2018
 * §8: the SACK scoreboard is forgotten, the receiver may have reneged). */
static void rexmt_data(struct tcp_pcb *pcb)
{
    if (pcb->snd_una == pcb->snd_max)
        return;
    unsigned limit = (pcb->flags & TF_DETACHED) ? 8 : TCP_RETRIES2; /* tcp_orphan_retries */
    /* A peer that shrank its window to zero under our data answers the
     * retransmissions like zero-window probes: while it does (something
     * heard within TCP_RTO_MAX), it is alive (RFC 1122 §4.2.2.17; Linux). */
    bool probing = pcb->snd_wnd == 0 && !(pcb->flags & TF_DETACHED) &&
                   pcb->stack->now_us - pcb->last_rcv_us <= TCP_RTO_MAX_US;
    if (pcb->rxtshift >= limit && !probing) {
        give_up(pcb);
        return;
    }
    STAT_INC(pcb->stack, tcp_timeouts);
    uint32_t flight = pcb->snd_max - pcb->snd_una;
    LOG_DEBUG(pcb->stack,
              "rto %u:%u shift %u flight %u recovery %d loss %d rexmitted %u sacked %u dupacks %u",
              pcb->local_port, pcb->remote_port, pcb->rxtshift, flight,
              (pcb->flags & TF_IN_RECOVERY) != 0, (pcb->flags & TF_RTO_LOSS) != 0,
              seq_gt(pcb->high_rxt, pcb->snd_una) ? pcb->high_rxt - pcb->snd_una : 0,
              pcb->sb.sacked_bytes, pcb->dupacks);
    /* RFC 5681 §3.1: ssthresh only at the first timeout of a segment. */
    if (pcb->rxtshift == 0 && pcb->cc_ready)
        pcb->cc.ops->on_rto(&pcb->cc, flight, pcb->stack->now_us);
    if (pcb->rxtshift < 64)
        pcb->rxtshift++;
    if (pcb->snd_wnd == 0)
        pcb->flags |= TF_WND_PROBE; /* nothing fits the window: ask for it */
    pcb->recover = pcb->snd_max;
    pcb->flags |= TF_RTO_LOSS;
    pcb->flags &= ~(TF_IN_RECOVERY | TF_RTT_TIMING | TF_PARTIAL_SEEN);
    pcb->dupacks = 0;
    tcp_sack_reset(&pcb->sb);
    tcp_rxt_reset(pcb);
    pcb->high_rxt = pcb->snd_una;
    pcb->snd_nxt = pcb->snd_una;
    tcp_output(pcb);
    if (!timer_armed(&pcb->t_rexmt))
        tcp_rexmt_arm(pcb); /* the segment could not go out: try again */
}

/* RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: probe a zero window with
 * backoff for as long as the peer answers. An orphan (owner closed) gives
 * up after TCP_RETRIES2 probes so that a peer that never reads cannot pin
 * it. */
static void persist_fire(struct tcp_pcb *pcb)
{
    pcb->flags &= ~TF_PERSIST;
    if (!tcp_state_synchronized(pcb->state) || pcb->state == TCP_TIME_WAIT ||
        pcb->snd_una != pcb->snd_max)
        return;
    if ((pcb->flags & TF_DETACHED) && pcb->persist_shift >= TCP_RETRIES2) {
        tcp_send_rst(pcb);
        give_up(pcb);
        return;
    }
    if (pcb->persist_shift < 31)
        pcb->persist_shift++;
    if (pcb->snd_wnd == 0) {
        STAT_INC(pcb->stack, tcp_window_probes);
        pcb->flags |= TF_WND_PROBE;
    } else {
        pcb->flags |= TF_FORCE_ONE; /* a small window: send what fits */
    }
    tcp_output(pcb);
    pcb->flags &= ~TF_FORCE_ONE;
}

static void rexmt_fire(struct stack *stack, struct timer *timer)
{
    (void)stack;
    struct tcp_pcb *pcb = PCB_OF(timer, t_rexmt);
    if (pcb->flags & TF_PERSIST)
        persist_fire(pcb);
    else if (pcb->state == TCP_SYN_SENT || pcb->state == TCP_SYN_RECEIVED)
        rexmt_handshake(pcb);
    else if (tcp_state_synchronized(pcb->state) && pcb->state != TCP_TIME_WAIT)
        rexmt_data(pcb);
    tcp_pcb_release(pcb);
}

static void delack_fire(struct stack *stack, struct timer *timer)
{
    (void)stack;
    struct tcp_pcb *pcb = PCB_OF(timer, t_delack);
    if (pcb->flags & TF_DELACK) {
        pcb->flags |= TF_ACKNOW;
        tcp_output(pcb);
    }
    tcp_pcb_release(pcb);
}

/* Keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): after keepidle of
 * silence, probes every keepintvl; keepcnt unanswered ones end the
 * connection with ETIMEDOUT (and an RST, as Linux sends). */
static void keepalive_fire(struct tcp_pcb *pcb)
{
    struct stack *stack = pcb->stack;
    if (!pcb->opts.keepalive || !keepalive_state(pcb->state))
        return;
    uint64_t idle = (uint64_t)pcb->opts.keepidle_s * 1000000;
    uint64_t intvl = (uint64_t)pcb->opts.keepintvl_s * 1000000;
    /* Data outstanding: the retransmission timer watches the peer. */
    if (pcb->snd_una != pcb->snd_max || seq_lt(pcb->snd_nxt, tcp_snd_end(pcb))) {
        timer_arm(stack, &pcb->t_keep, stack->now_us + intvl);
        return;
    }
    if (stack->now_us - pcb->last_rcv_us < idle && pcb->keep_probes == 0) {
        timer_arm(stack, &pcb->t_keep, pcb->last_rcv_us + idle);
        return;
    }
    if (pcb->keep_probes >= pcb->opts.keepcnt) {
        tcp_send_rst(pcb);
        give_up(pcb);
        return;
    }
    pcb->keep_probes++;
    STAT_INC(stack, tcp_keepalive_probes);
    pcb->flags |= TF_WND_PROBE; /* the same segment: one before snd_una */
    tcp_output(pcb);
    timer_arm(stack, &pcb->t_keep, stack->now_us + intvl);
}

static void keep_fire(struct stack *stack, struct timer *timer)
{
    (void)stack;
    struct tcp_pcb *pcb = PCB_OF(timer, t_keep);
    if (pcb->state == TCP_TIME_WAIT) {
        tcp_timewait_kill(pcb);
    } else if (pcb->state == TCP_FIN_WAIT_2 && (pcb->flags & TF_DETACHED)) {
        /* An orphan whose peer never closes (Linux's tcp_fin_timeout). */
        tcp_send_rst(pcb);
        tcp_set_closed(pcb, 0);
    } else {
        keepalive_fire(pcb);
    }
    tcp_pcb_release(pcb);
}

static void kick_fire(struct stack *stack, struct timer *timer)
{
    (void)stack;
    struct tcp_pcb *pcb = PCB_OF(timer, t_kick);
    tcp_output(pcb);
    tcp_pcb_release(pcb);
}
