/* The connection API of tcp.h (RFC 9293 §3.9.1 user calls: OPEN, SEND,
 * RECEIVE, CLOSE, ABORT, STATUS) for the socket layer and the simulator.
 * Every call runs on the stack thread and ends at a point where the pcb
 * is consistent: output is sent, events are delivered, a finished pcb that
 * no one holds is freed. */
#include <errno.h>
#include <string.h>

#include "ipv4.h"
#include "tcp_priv.h"

#define TCP_MIN_USER_MSS 88 /* Linux's TCP_MIN_MSS for TCP_MAXSEG */

struct tcp_pcb *tcp_pcb_new(struct stack *stack)
{
    struct tcp_pcb *pcb = tcp_pcb_alloc(stack);
    if (pcb != NULL)
        pcb->user_held = true;
    return pcb;
}

void tcp_set_owner(struct tcp_pcb *pcb, tcp_event_fn fn, void *owner)
{
    pcb->owner_fn = fn;
    pcb->owner = owner;
    /* Events that came before there was an owner (a child that got data
     * before tcp_accept) are delivered at the next turn. */
    if (pcb->ev_pending != 0 && fn != NULL)
        tcp_kick(pcb);
}

void *tcp_owner(const struct tcp_pcb *pcb)
{
    return pcb->owner;
}

const struct tcp_options *tcp_get_options(const struct tcp_pcb *pcb)
{
    return &pcb->opts;
}

static uint32_t buf_clamp(uint32_t v)
{
    if (v < TCP_BUF_MIN)
        return TCP_BUF_MIN;
    return v > TCP_BUF_LIMIT ? TCP_BUF_LIMIT : v;
}

int tcp_set_options(struct tcp_pcb *pcb, const struct tcp_options *o)
{
    char name[sizeof(o->congestion) + 1];
    memcpy(name, o->congestion, sizeof(o->congestion));
    name[sizeof(o->congestion)] = '\0';
    const struct tcp_cc_ops *ops = tcp_cc_find(name[0] != '\0' ? name : "cubic");
    if (ops == NULL)
        return -ENOENT; /* what setsockopt(TCP_CONGESTION) says */
    if (o->user_mss != 0 && o->user_mss < TCP_MIN_USER_MSS)
        return -EINVAL;
    if (o->keepidle_s < 1 || o->keepidle_s > 32767 || o->keepintvl_s < 1 ||
        o->keepintvl_s > 32767 || o->keepcnt < 1 || o->keepcnt > 127 || o->syn_retries > 127)
        return -EINVAL;
    struct tcp_options old = pcb->opts;
    pcb->opts = *o;
    memcpy(pcb->opts.congestion, ops->name, strlen(ops->name) + 1);
    if (pcb->flags & TF_OPTS_LOCKED) {
        /* The rings exist: their sizes stay. */
        pcb->opts.sndbuf = old.sndbuf;
        pcb->opts.rcvbuf = old.rcvbuf;
    } else {
        pcb->opts.sndbuf = buf_clamp(o->sndbuf);
        pcb->opts.rcvbuf = buf_clamp(o->rcvbuf);
    }
    if (pcb->cc_ready && ops != pcb->cc.ops) {
        uint32_t cwnd = pcb->cc.cwnd, ssthresh = pcb->cc.ssthresh;
        tcp_cc_init(&pcb->cc, ops, tcp_eff_mss(pcb), pcb->stack->now_us);
        pcb->cc.cwnd = cwnd;
        pcb->cc.ssthresh = ssthresh;
    }
    if (o->user_mss != old.user_mss && pcb->state != TCP_CLOSED)
        tcp_mss_changed(pcb);
    if (o->keepalive && !old.keepalive)
        tcp_keep_reset(pcb);
    if (o->nodelay && !old.nodelay && tcp_state_synchronized(pcb->state))
        tcp_output(pcb); /* Linux pushes what Nagle held */
    tcp_pcb_release(pcb);
    return 0;
}

int tcp_bind(struct tcp_pcb *pcb, uint32_t addr, uint16_t port, bool reuseaddr)
{
    struct stack *stack = pcb->stack;
    if ((pcb->flags & TF_BOUND) || pcb->state != TCP_CLOSED || pcb->local_port != 0)
        return -EINVAL;
    if (addr != 0 && !stack_is_local_addr(stack, addr))
        return -EADDRNOTAVAIL;
    if (reuseaddr)
        pcb->flags |= TF_REUSEADDR;
    else
        pcb->flags &= ~TF_REUSEADDR;
    if (port == 0) {
        int rc = tcp_port_pick_bind(stack, pcb, addr);
        if (rc < 0)
            return rc;
    } else {
        int rc = tcp_bind_check(stack, pcb, addr, port, reuseaddr);
        if (rc < 0)
            return rc;
        pcb->local_port = port;
    }
    pcb->local_addr = addr;
    tcp_bind_insert(pcb);
    return 0;
}

int tcp_listen(struct tcp_pcb *pcb, int backlog)
{
    struct stack *stack = pcb->stack;
    if (backlog < 0)
        backlog = 0;
    if (backlog > TCP_BACKLOG_MAX)
        backlog = TCP_BACKLOG_MAX;
    if (pcb->state == TCP_LISTEN) {
        pcb->backlog = (unsigned)backlog;
        pcb->synq_max = (unsigned)(backlog > TCP_SYNQ_MIN ? backlog : TCP_SYNQ_MIN);
        return 0;
    }
    if (pcb->state != TCP_CLOSED || pcb->remote_port != 0)
        return -EINVAL;
    if (!(pcb->flags & TF_BOUND)) {
        int rc = tcp_port_pick_bind(stack, pcb, 0);
        if (rc < 0)
            return rc;
        pcb->local_addr = 0;
        tcp_bind_insert(pcb);
    } else {
        int rc = tcp_listen_check(stack, pcb);
        if (rc < 0)
            return rc;
    }
    /* Linux's sk_acceptq_is_full is "more than backlog": the queue holds
     * backlog + 1 established connections. */
    pcb->backlog = (unsigned)backlog;
    pcb->synq_max = (unsigned)(backlog > TCP_SYNQ_MIN ? backlog : TCP_SYNQ_MIN);
    pcb->state = TCP_LISTEN;
    tcp_listen_hash_insert(pcb);
    return 0;
}

/* Makes a closed pcb that was connected before ready for another connect
 * (as a Linux socket can connect again after a failure). */
static void conn_state_reset(struct tcp_pcb *pcb)
{
    uint32_t keep = pcb->flags & (TF_REUSEADDR | TF_BOUND | TF_PORT_AUTO);
    if ((keep & TF_BOUND) && (keep & TF_PORT_AUTO)) {
        tcp_bind_remove(pcb);
        pcb->local_port = 0;
        pcb->local_addr = 0;
        keep &= ~(TF_BOUND | TF_PORT_AUTO);
    }
    pcb->flags = keep;
    pcb->error = 0;
    pcb->soft_error = 0;
    pcb->remote_addr = 0;
    pcb->remote_port = 0;
    pcb->ev_pending = 0;
    tcp_sndbuf_free(&pcb->snd);
    tcp_rcvbuf_free(&pcb->rcv);
    tcp_sack_reset(&pcb->sb);
    pcb->cc_ready = false;
    pcb->rxtshift = pcb->persist_shift = pcb->keep_probes = 0;
    pcb->dupacks = 0;
    pcb->srtt_us = pcb->rttvar_us = 0;
    pcb->rto_us = (uint32_t)TCP_RTO_INITIAL_US;
    pcb->peer_mss = TCP_DEFAULT_MSS;
    pcb->snd_wscale = pcb->rcv_wscale = 0;
    pcb->snd_wnd = pcb->max_sndwnd = 0;
}

static uint8_t rcv_wscale_for(uint32_t rcvbuf)
{
    uint8_t ws = 0;
    while (ws < TCP_WSCALE_MAX && (rcvbuf >> ws) > 65535)
        ws++;
    return ws;
}

/* The 4-tuple for an explicitly bound port must be unused; a TIME_WAIT
 * holder older than a second gives way (Linux's tcp_tw_reuse). */
static int tuple_claim(struct stack *stack, struct tcp_pcb *pcb)
{
    struct tcp_pcb *old = tcp_conn_lookup(stack, pcb->local_addr, pcb->local_port, pcb->remote_addr,
                                          pcb->remote_port);
    if (old == NULL)
        return 0;
    if (old->state == TCP_TIME_WAIT && stack->now_us - old->tw_start_us >= TCP_TIMEWAIT_REUSE_US) {
        STAT_INC(stack, tcp_timewait_reused);
        tcp_timewait_kill(old);
        tcp_pcb_release(old);
        return 0;
    }
    return -EADDRNOTAVAIL;
}

int tcp_connect(struct tcp_pcb *pcb, uint32_t addr, uint16_t port)
{
    struct stack *stack = pcb->stack;
    switch (pcb->state) {
    case TCP_CLOSED: break;
    case TCP_SYN_SENT:
    case TCP_SYN_RECEIVED: return -EALREADY;
    default: return -EISCONN;
    }
    if (pcb->remote_port != 0)
        conn_state_reset(pcb);
    if (port == 0 || addr == 0)
        return -ECONNREFUSED;
    uint32_t src = pcb->local_addr != 0 ? pcb->local_addr : ipv4_source_for(stack, addr);
    if (src == 0)
        return -ENETUNREACH;
    if (pcb->local_addr != 0 && ipv4_source_for(stack, addr) == 0)
        return -ENETUNREACH;
    pcb->remote_addr = addr;
    pcb->remote_port = port;
    pcb->local_addr = src;
    int rc;
    if (!(pcb->flags & TF_BOUND)) {
        rc = tcp_port_pick_connect(stack, pcb);
        if (rc == 0) {
            pcb->flags |= TF_PORT_AUTO;
            tcp_bind_insert(pcb);
        }
    } else {
        rc = tuple_claim(stack, pcb);
    }
    if (rc == 0)
        rc = tcp_buffers_alloc(pcb);
    if (rc < 0) {
        if (pcb->flags & TF_PORT_AUTO) {
            tcp_bind_remove(pcb);
            pcb->flags &= ~TF_PORT_AUTO;
            pcb->local_port = 0;
            pcb->local_addr = 0;
        }
        pcb->remote_addr = 0;
        pcb->remote_port = 0;
        return rc;
    }
    tcp_mss_init(pcb);
    pcb->rcv_wscale = rcv_wscale_for(pcb->opts.rcvbuf);
    pcb->ts_offset = tcp_ts_offset(stack, pcb->local_addr, pcb->local_port, pcb->remote_addr, port);
    pcb->iss = tcp_isn(stack, pcb->local_addr, pcb->local_port, pcb->remote_addr, port);
    pcb->snd_una = pcb->snd_nxt = pcb->snd_max = pcb->iss;
    pcb->snd_buf_seq = pcb->snd_sml = pcb->iss + 1;
    pcb->recover = pcb->iss;
    pcb->last_rcv_us = stack->now_us;
    pcb->state = TCP_SYN_SENT;
    tcp_conn_hash_insert(pcb);
    STAT_INC(stack, tcp_active_opens);
    tcp_output(pcb);
    tcp_pcb_release(pcb);
    return 0;
}

struct tcp_pcb *tcp_accept(struct tcp_pcb *listener)
{
    if (listener->state != TCP_LISTEN)
        return NULL;
    struct tcp_dnode *n = tcp_queue_first(&listener->acceptq);
    if (n == NULL)
        return NULL;
    struct tcp_pcb *c = TCP_CONTAINER(n, struct tcp_pcb, q_node);
    tcp_child_unlink(c);
    c->user_held = true;
    c->flags &= ~TF_PASSIVE;
    return c;
}

long tcp_send(struct tcp_pcb *pcb, const void *data, size_t len)
{
    if (pcb->error != 0)
        return -pcb->error;
    switch (pcb->state) {
    case TCP_CLOSED: return pcb->remote_port == 0 ? -ENOTCONN : -EPIPE;
    case TCP_LISTEN: return -ENOTCONN;
    case TCP_SYN_SENT:
    case TCP_SYN_RECEIVED:
    case TCP_ESTABLISHED:
    case TCP_CLOSE_WAIT: break;
    default: return -EPIPE; /* our FIN is queued or sent */
    }
    if (pcb->flags & TF_SHUT_WR)
        return -EPIPE;
    if (pcb->snd.data == NULL)
        return -ENOTCONN;
    size_t n = tcp_sndbuf_append(&pcb->snd, data, len);
    if (n > 0 && tcp_state_synchronized(pcb->state))
        tcp_output(pcb);
    tcp_pcb_release(pcb);
    return (long)n;
}

size_t tcp_send_space(const struct tcp_pcb *pcb)
{
    if (pcb->snd.data == NULL || (pcb->flags & TF_SHUT_WR) || pcb->error != 0)
        return 0;
    return tcp_sndbuf_space(&pcb->snd);
}

size_t tcp_send_queued(const struct tcp_pcb *pcb)
{
    return pcb->snd.len;
}

size_t tcp_recv(struct tcp_pcb *pcb, void *buf, size_t len)
{
    if (pcb->rcv.data == NULL)
        return 0;
    size_t n = tcp_rcvbuf_read(&pcb->rcv, buf, len);
    if (n > 0 && tcp_state_synchronized(pcb->state) && pcb->state != TCP_TIME_WAIT) {
        pcb->flags |= TF_WND_CHECK;
        tcp_output(pcb); /* a window update, if the opening is worth one */
    }
    if (pcb->rcv.ready == 0 && (pcb->state == TCP_TIME_WAIT || pcb->state == TCP_CLOSED))
        tcp_rcvbuf_free(&pcb->rcv); /* kept only for this read */
    return n;
}

size_t tcp_recv_peek(const struct tcp_pcb *pcb, void *buf, size_t len)
{
    if (pcb->rcv.data == NULL)
        return 0;
    return tcp_rcvbuf_peek(&pcb->rcv, buf, len);
}

size_t tcp_recv_available(const struct tcp_pcb *pcb)
{
    return pcb->rcv.ready;
}

bool tcp_recv_eof(const struct tcp_pcb *pcb)
{
    /* The FIN was reached and the owner has read every byte before it. */
    return (pcb->flags & TF_RCVD_FIN) && pcb->rcv.ready == 0;
}

int tcp_shutdown_write(struct tcp_pcb *pcb)
{
    switch (pcb->state) {
    case TCP_CLOSED:
    case TCP_LISTEN: return -ENOTCONN;
    case TCP_SYN_SENT:
    case TCP_SYN_RECEIVED:
        pcb->flags |= TF_SHUT_WR; /* after the handshake (RFC 9293 §3.10.4) */
        return 0;
    case TCP_ESTABLISHED:
        pcb->flags |= TF_SHUT_WR;
        pcb->state = TCP_FIN_WAIT_1;
        break;
    case TCP_CLOSE_WAIT:
        pcb->flags |= TF_SHUT_WR;
        pcb->state = TCP_LAST_ACK;
        break;
    default: return 0; /* already shut */
    }
    tcp_output(pcb);
    tcp_pcb_release(pcb);
    return 0;
}

/* A listener going away takes its children: embryos silently, accepted-
 * but-not-taken connections with an RST (as Linux's inet_csk_listen_stop). */
static void listener_stop(struct tcp_pcb *l)
{
    struct tcp_dnode *n;
    while ((n = tcp_queue_first(&l->synq)) != NULL) {
        struct tcp_pcb *c = TCP_CONTAINER(n, struct tcp_pcb, q_node);
        tcp_set_closed(c, 0);
        tcp_pcb_release(c);
    }
    while ((n = tcp_queue_first(&l->acceptq)) != NULL) {
        struct tcp_pcb *c = TCP_CONTAINER(n, struct tcp_pcb, q_node);
        if (c->state != TCP_TIME_WAIT)
            tcp_send_rst(c);
        tcp_set_closed(c, ECONNABORTED);
        tcp_pcb_release(c);
    }
}

static void detach(struct tcp_pcb *pcb)
{
    pcb->user_held = false;
    pcb->owner_fn = NULL;
    pcb->owner = NULL;
    pcb->ev_pending = 0;
    pcb->flags |= TF_DETACHED;
}

void tcp_close(struct tcp_pcb *pcb)
{
    detach(pcb);
    switch (pcb->state) {
    case TCP_LISTEN:
        listener_stop(pcb);
        tcp_set_closed(pcb, 0);
        break;
    case TCP_SYN_SENT:
        tcp_set_closed(pcb, 0); /* RFC 9293 §3.10.4: delete the TCB */
        break;
    case TCP_CLOSED: break;
    case TCP_TIME_WAIT:
        tcp_rcvbuf_free(&pcb->rcv); /* nobody will read it now */
        break;
    default:
        if (pcb->opts.linger_zero || pcb->rcv.ready > 0) {
            /* RFC 9293 §3.10.4 / RFC 2525 §2.17: unread data (or
             * SO_LINGER 0) aborts with RST rather than a FIN that would
             * pretend it was delivered. */
            if (pcb->state != TCP_SYN_RECEIVED || !(pcb->flags & TF_PASSIVE))
                tcp_send_rst(pcb);
            tcp_set_closed(pcb, ECONNABORTED);
            break;
        }
        if (pcb->state == TCP_SYN_RECEIVED) {
            pcb->flags |= TF_SHUT_WR;
        } else if (pcb->state == TCP_ESTABLISHED) {
            pcb->flags |= TF_SHUT_WR;
            pcb->state = TCP_FIN_WAIT_1;
        } else if (pcb->state == TCP_CLOSE_WAIT) {
            pcb->flags |= TF_SHUT_WR;
            pcb->state = TCP_LAST_ACK;
        } else if (pcb->state == TCP_FIN_WAIT_2) {
            tcp_finwait2_arm(pcb);
        }
        tcp_output(pcb);
        break;
    }
    tcp_pcb_release(pcb);
}

void tcp_abort(struct tcp_pcb *pcb)
{
    detach(pcb);
    if (pcb->state == TCP_LISTEN)
        listener_stop(pcb);
    else if (pcb->state >= TCP_SYN_RECEIVED && pcb->state != TCP_TIME_WAIT)
        tcp_send_rst(pcb);
    tcp_set_closed(pcb, ECONNABORTED);
    tcp_pcb_free(pcb);
}

enum tcp_state tcp_get_state(const struct tcp_pcb *pcb)
{
    return pcb->state;
}

int tcp_error(const struct tcp_pcb *pcb)
{
    return pcb->error;
}

void tcp_local_endpoint(const struct tcp_pcb *pcb, uint32_t *addr, uint16_t *port)
{
    *addr = pcb->local_addr;
    *port = pcb->local_port;
}

void tcp_remote_endpoint(const struct tcp_pcb *pcb, uint32_t *addr, uint16_t *port)
{
    *addr = pcb->remote_addr;
    *port = pcb->remote_port;
}

unsigned tcp_pcb_count(const struct stack *stack)
{
    return stack->tcp != NULL ? stack->tcp->pcb_count : 0;
}

unsigned tcp_unfinished_count(const struct stack *stack)
{
    const struct tcp_stack *ts = stack->tcp;
    if (ts == NULL)
        return 0;
    unsigned n = 0;
    for (const struct tcp_dnode *d = ts->all.next; d != &ts->all; d = d->next) {
        const struct tcp_pcb *pcb = TCP_CONTAINER(d, struct tcp_pcb, all_node);
        if (pcb->state != TCP_CLOSED && pcb->state != TCP_LISTEN && pcb->state != TCP_TIME_WAIT)
            n++;
    }
    return n;
}
