/* TCP socket options: SOL_SOCKET and IPPROTO_TCP options kernel TCP
 * supports, mapped onto tcp_options; TCP_INFO in the native layout. */
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* not netinet/tcp.h: its state enum clashes with ours */
#include <string.h>
#include <sys/socket.h>

#include "ctl_proto.h"
#include "sock_opt.h"
#include "tcp.h"

/* Linux bounds for buffer sizes (net.core.*mem_max defaults). */
#define BUF_MIN 4608
#define BUF_MAX (4u << 20)

static int get_int(const struct ctl_msg *msg, int *out)
{
    if (msg->u.opt.len < sizeof(int))
        return -EINVAL;
    memcpy(out, msg->u.opt.value, sizeof(int));
    return 0;
}

static void put_int(struct ctl_msg *reply, int value)
{
    memcpy(reply->u.opt.value, &value, sizeof(value));
    reply->u.opt.len = sizeof(value);
}

static uint32_t clamp_buf(int v)
{
    if (v < 0)
        v = 0;
    /* Linux doubles the request for bookkeeping overhead. */
    uint64_t doubled = (uint64_t)v * 2;
    if (doubled < BUF_MIN)
        doubled = BUF_MIN;
    if (doubled > BUF_MAX)
        doubled = BUF_MAX;
    return (uint32_t)doubled;
}

static int set_option(struct tcp_pcb *pcb, const struct ctl_msg *msg)
{
    struct tcp_options o = *tcp_get_options(pcb);
    int v = 0;
    if (msg->u.opt.level == IPPROTO_TCP && msg->u.opt.name == TCP_CONGESTION) {
        size_t n = msg->u.opt.len < sizeof(o.congestion) - 1 ? msg->u.opt.len
                                                             : sizeof(o.congestion) - 1;
        memcpy(o.congestion, msg->u.opt.value, n);
        o.congestion[n] = '\0';
        return tcp_set_options(pcb, &o);
    }
    if (msg->u.opt.level == SOL_SOCKET && msg->u.opt.name == SO_LINGER) {
        struct linger l;
        if (msg->u.opt.len < sizeof(l))
            return -EINVAL;
        memcpy(&l, msg->u.opt.value, sizeof(l));
        o.linger_zero = l.l_onoff && l.l_linger == 0;
        return tcp_set_options(pcb, &o);
    }
    int rc = get_int(msg, &v);
    if (rc < 0)
        return rc;
    switch (msg->u.opt.level) {
    case SOL_SOCKET:
        switch (msg->u.opt.name) {
        case SO_KEEPALIVE: o.keepalive = v != 0; break;
        case SO_SNDBUF: o.sndbuf = clamp_buf(v); break;
        case SO_RCVBUF: o.rcvbuf = clamp_buf(v); break;
        case SO_REUSEADDR:
        case SO_REUSEPORT:
        case SO_BROADCAST:
        case SO_OOBINLINE: return 0; /* recorded by the caller's cache */
        default: return -ENOPROTOOPT;
        }
        break;
    case IPPROTO_TCP:
        switch (msg->u.opt.name) {
        case TCP_NODELAY: o.nodelay = v != 0; break;
        case TCP_KEEPIDLE:
            if (v < 1 || v > 32767)
                return -EINVAL;
            o.keepidle_s = (uint32_t)v;
            break;
        case TCP_KEEPINTVL:
            if (v < 1 || v > 32767)
                return -EINVAL;
            o.keepintvl_s = (uint32_t)v;
            break;
        case TCP_KEEPCNT:
            if (v < 1 || v > 127)
                return -EINVAL;
            o.keepcnt = (uint32_t)v;
            break;
        case TCP_MAXSEG:
            if (v != 0 && (v < 88 || v > 65495))
                return -EINVAL;
            o.user_mss = (uint16_t)v;
            break;
        case TCP_SYNCNT:
            if (v < 1 || v > 127)
                return -EINVAL;
            o.syn_retries = (uint8_t)v;
            break;
        case TCP_CORK:
        case TCP_QUICKACK:
        case TCP_DEFER_ACCEPT:
        case TCP_NOTSENT_LOWAT:
        case TCP_USER_TIMEOUT: return 0; /* accepted; no effect yet */
        default: return -ENOPROTOOPT;
        }
        break;
    case IPPROTO_IP:
        switch (msg->u.opt.name) {
        case IP_TOS:
        case IP_TTL:
        case IP_MTU_DISCOVER:
        case IP_RECVERR: return 0; /* harmless to accept */
        default: return -ENOPROTOOPT;
        }
    default: return -ENOPROTOOPT;
    }
    return tcp_set_options(pcb, &o);
}

/* Reads an option from a connection's options and TCP_INFO (live, or as
 * they were when it ended). */
static int get_option(const struct tcp_options *o, const struct toysock_tcp_info *info,
                      const struct ctl_msg *msg, struct ctl_msg *reply)
{
    reply->u.opt.level = msg->u.opt.level;
    reply->u.opt.name = msg->u.opt.name;
    switch (msg->u.opt.level) {
    case SOL_SOCKET:
        switch (msg->u.opt.name) {
        case SO_KEEPALIVE: put_int(reply, o->keepalive); return 0;
        case SO_SNDBUF: put_int(reply, (int)o->sndbuf); return 0;
        case SO_RCVBUF: put_int(reply, (int)o->rcvbuf); return 0;
        case SO_LINGER: {
            struct linger l = {.l_onoff = o->linger_zero, .l_linger = 0};
            memcpy(reply->u.opt.value, &l, sizeof(l));
            reply->u.opt.len = sizeof(l);
            return 0;
        }
        default: return -ENOPROTOOPT;
        }
    case IPPROTO_TCP:
        switch (msg->u.opt.name) {
        case TCP_NODELAY: put_int(reply, o->nodelay); return 0;
        case TCP_KEEPIDLE: put_int(reply, (int)o->keepidle_s); return 0;
        case TCP_KEEPINTVL: put_int(reply, (int)o->keepintvl_s); return 0;
        case TCP_KEEPCNT: put_int(reply, (int)o->keepcnt); return 0;
        case TCP_SYNCNT: put_int(reply, o->syn_retries); return 0;
        case TCP_MAXSEG: put_int(reply, (int)(info->snd_mss ? info->snd_mss : 536)); return 0;
        case TCP_CONGESTION:
            /* TCP_CA_NAME_MAX bytes, NUL-padded, as Linux returns it. */
            memset(reply->u.opt.value, 0, 16);
            memcpy(reply->u.opt.value, o->congestion, strnlen(o->congestion, 15));
            reply->u.opt.len = 16;
            return 0;
        case TCP_INFO:
            memcpy(reply->u.opt.value, info, sizeof(*info));
            reply->u.opt.len = sizeof(*info);
            return 0;
        default: return -ENOPROTOOPT;
        }
    default: return -ENOPROTOOPT;
    }
}

int sock_option(struct tcp_pcb *pcb, const struct ctl_msg *msg, struct ctl_msg *reply)
{
    if (pcb == NULL)
        return -EINVAL;
    if (msg->op == CTL_OP_SOCK_SETOPT)
        return set_option(pcb, msg);
    struct toysock_tcp_info info;
    tcp_get_info(pcb, &info);
    return get_option(tcp_get_options(pcb), &info, msg, reply);
}

int sock_option_closed(const struct tcp_options *opts, const struct toysock_tcp_info *last,
                       const struct ctl_msg *msg, struct ctl_msg *reply)
{
    /* Kernel TCP still takes options on a closed socket (SO_LINGER just
     * before close, buffer sizes); they change nothing any more. */
    if (msg->op == CTL_OP_SOCK_SETOPT)
        return 0;
    struct toysock_tcp_info info = *last;
    info.state = TCP_CLOSED;
    return get_option(opts, &info, msg, reply);
}
