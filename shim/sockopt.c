/* Socket options (item 6): an allowlist, each (level, name) answered by
 * the stack (SETOPT/GETOPT), applied natively on the bridge as well
 * (timeouts, which the kernel must enforce on blocking calls), or kept by
 * the shim; everything else gets the errno kernel TCP/UDP would give, and
 * nothing falls through to the AF_UNIX bridge (SO_PEERCRED there would
 * give a remote peer the stack's local identity). SO_TYPE, SO_DOMAIN,
 * SO_PROTOCOL, SO_ACCEPTCONN, buffer sizes and a clean SO_ERROR come from
 * the cache without a round trip (item 21). Options set before the socket
 * reaches the stack are recorded and replayed on first contact. */
#include <linux/sockios.h>
#include <linux/tcp.h> /* struct tcp_info; netinet/tcp.h's state enum clashes */
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "channel.h"
#include "shim.h"
#include "sock.h"
#include "tcp.h"

#ifndef SO_RCVTIMEO_NEW
#define SO_RCVTIMEO_NEW 66
#define SO_SNDTIMEO_NEW 67
#endif

/* Linux clamps for SO_SNDBUF/SO_RCVBUF (what the stack applies too). */
#define BUF_MIN 4608
#define BUF_MAX (4u << 20)
#define BUF_DEFAULT 262144

/* ---- Options: which ones go where (item 6) ---- */

int tsock_opt_classify(const struct tsock *s, int level, int name)
{
    bool tcp = s->type == SOCK_STREAM;
    switch (level) {
    case SOL_SOCKET:
        switch (name) {
        case SO_RCVTIMEO_OLD:
        case SO_SNDTIMEO_OLD:
        case SO_RCVTIMEO_NEW:
        case SO_SNDTIMEO_NEW:
        case SO_RCVLOWAT: return OPT_NATIVE;
        case SO_SNDBUF:
        case SO_RCVBUF:
        case SO_SNDBUFFORCE:
        case SO_RCVBUFFORCE:
        case SO_BROADCAST: return OPT_STACK;
        case SO_KEEPALIVE:
        case SO_LINGER:
        case SO_OOBINLINE: return tcp ? OPT_STACK : OPT_CACHE;
        case SO_REUSEADDR:
        case SO_REUSEPORT: return tcp ? OPT_STACK : OPT_CACHE;
        case SO_PRIORITY:
        case SO_DONTROUTE:
        case SO_MARK:
        case SO_INCOMING_CPU:
        case SO_BUSY_POLL:
        case SO_BINDTODEVICE: return OPT_CACHE;
        case SO_TYPE:
        case SO_DOMAIN:
        case SO_PROTOCOL:
        case SO_ACCEPTCONN:
        case SO_ERROR:
        case SO_SNDLOWAT: return OPT_RDONLY;
        default:
            /* SO_PEERCRED, SO_PEERSEC, SO_PEERGROUPS, SO_PEERPIDFD would
             * describe the stack, not the remote peer; timestamps and
             * filters would be accepted and never honoured. */
            return -ENOPROTOOPT;
        }
    case IPPROTO_TCP:
        if (!tcp)
            return -ENOPROTOOPT;
        switch (name) {
        case TCP_NODELAY:
        case TCP_MAXSEG:
        case TCP_CORK:
        case TCP_KEEPIDLE:
        case TCP_KEEPINTVL:
        case TCP_KEEPCNT:
        case TCP_SYNCNT:
        case TCP_QUICKACK:
        case TCP_DEFER_ACCEPT:
        case TCP_NOTSENT_LOWAT:
        case TCP_USER_TIMEOUT:
        case TCP_CONGESTION: return OPT_STACK;
        case TCP_INFO: return OPT_RDONLY;
        default: return -ENOPROTOOPT;
        }
    case IPPROTO_IP:
        switch (name) {
        case IP_TOS:
        case IP_TTL: return OPT_STACK;
        case IP_MTU_DISCOVER: return tcp ? OPT_STACK : OPT_CACHE;
        case IP_RECVERR:
            /* UDP programs set it to read the error queue, which is not
             * emulated: refuse rather than accept and ignore (item 6). */
            return tcp ? OPT_STACK : -ENOPROTOOPT;
        case IP_MTU: return OPT_RDONLY;
        default: return -ENOPROTOOPT;
        }
    case IPPROTO_IPV6:
        if (s->domain != AF_INET6)
            return -ENOPROTOOPT;
        switch (name) {
        case IPV6_V6ONLY:
        case IPV6_TCLASS:
        case IPV6_UNICAST_HOPS:
        case IPV6_MTU_DISCOVER:
        case IPV6_RECVERR: return OPT_CACHE;
        default: return -ENOPROTOOPT;
        }
    default: return -ENOPROTOOPT;
    }
}

static bool opt_is_int(int level, int name)
{
    if (level == SOL_SOCKET)
        return name != SO_LINGER && name != SO_RCVTIMEO_OLD && name != SO_SNDTIMEO_OLD &&
               name != SO_RCVTIMEO_NEW && name != SO_SNDTIMEO_NEW && name != SO_BINDTODEVICE;
    return !(level == IPPROTO_TCP && (name == TCP_CONGESTION || name == TCP_INFO));
}

/* The checks the stack would make, for options recorded before the
 * socket reached it (mirrors stack/sock_opt.c). */
static int opt_validate(const struct tsock *s, int level, int name, const void *val, socklen_t len)
{
    int v = 0;
    if (opt_is_int(level, name)) {
        if (len < (socklen_t)sizeof(int))
            return -EINVAL;
        memcpy(&v, val, sizeof(v));
    }
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_LINGER: return len < (socklen_t)sizeof(struct linger) ? -EINVAL : 0;
        case SO_PRIORITY: return (v < 0 || v > 6) && geteuid() != 0 ? -EPERM : 0;
        case SO_MARK:
        case SO_SNDBUFFORCE:
        case SO_RCVBUFFORCE: return geteuid() != 0 ? -EPERM : 0;
        case SO_BINDTODEVICE: {
            const struct toysock_config *cfg = shim_config();
            char name_buf[IFNAMSIZ] = "";
            size_t n = len < sizeof(name_buf) - 1 ? len : sizeof(name_buf) - 1;
            memcpy(name_buf, val, n);
            name_buf[n] = '\0';
            if (name_buf[0] == '\0' || (cfg != NULL && strcmp(name_buf, cfg->iface) == 0))
                return 0;
            return -ENODEV;
        }
        default: return 0;
        }
    }
    if (level == IPPROTO_TCP) {
        switch (name) {
        case TCP_KEEPIDLE:
        case TCP_KEEPINTVL: return v < 1 || v > 32767 ? -EINVAL : 0;
        case TCP_KEEPCNT:
        case TCP_SYNCNT: return v < 1 || v > 127 ? -EINVAL : 0;
        case TCP_MAXSEG: return v != 0 && (v < 88 || v > 65495) ? -EINVAL : 0;
        case TCP_CONGESTION: {
            char cc[16] = "";
            size_t n = len < sizeof(cc) - 1 ? len : sizeof(cc) - 1;
            memcpy(cc, val, n);
            return strcmp(cc, "cubic") == 0 || strcmp(cc, "reno") == 0 ? 0 : -ENOENT;
        }
        default: return 0;
        }
    }
    if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY && (s->bound || s->contacted))
        return -EINVAL;
    if (level == IPPROTO_IP && name == IP_TTL && (v < -1 || v == 0 || v > 255))
        return -EINVAL;
    return 0;
}

static int opt_cached_int(struct tsock *s, int level, int name, int dflt)
{
    int v = dflt;
    tsock_lock(s);
    const struct ts_opt *o = tsock_opt_find(s, level, name);
    if (o != NULL && o->len >= sizeof(int))
        memcpy(&v, o->val, sizeof(v));
    tsock_unlock(s);
    return v;
}

static int buf_size(int v)
{
    uint64_t d = v < 0 ? 0 : (uint64_t)v * 2;
    if (d < BUF_MIN)
        d = BUF_MIN;
    if (d > BUF_MAX)
        d = BUF_MAX;
    return (int)d;
}

/* ---- options ---- */

static int so_error(struct tsock *s, int fd)
{
    int state = atomic_load(&s->state);
    if (s->connect_error != 0) {
        int e = s->connect_error;
        s->connect_error = 0;
        return e;
    }
    if (s->type != SOCK_STREAM)
        return 0;
    if (state == TS_CONNECTING) {
        bool est;
        return tsock_connect_progress(s, fd, true, &est);
    }
    if (state == TS_CONNECTED) {
        /* A clean socket answers from the cache (item 21); only a bridge
         * that shows a hang-up asks the stack what happened. */
        struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
        struct timespec zero = {0, 0};
        if (RAW(SYS_ppoll, &p, 1, &zero, NULL, 0, 0) == 1 &&
            (p.revents & (POLLHUP | POLLERR | POLLRDHUP)))
            return tsock_final_error(s, fd);
    }
    return 0;
}

static int put_opt(void *val, socklen_t *len, const void *src, socklen_t n)
{
    if ((int)*len < 0)
        return -EINVAL;
    if (*len < n)
        n = *len;
    memcpy(val, src, n);
    *len = n;
    return 0;
}

static int put_int(void *val, socklen_t *len, int v)
{
    return put_opt(val, len, &v, sizeof(v));
}

static uint8_t linux_tcp_state(uint32_t st)
{
    switch (st) {
    case TCP_LISTEN: return 10;
    case TCP_SYN_SENT: return 2;
    case TCP_SYN_RECEIVED: return 3;
    case TCP_ESTABLISHED: return 1;
    case TCP_CLOSE_WAIT: return 8;
    case TCP_FIN_WAIT_1: return 4;
    case TCP_CLOSING: return 11;
    case TCP_LAST_ACK: return 9;
    case TCP_FIN_WAIT_2: return 5;
    case TCP_TIME_WAIT: return 6;
    default: return 7; /* TCP_CLOSE */
    }
}

/* TCP_INFO in the kernel's layout, from the stack's record (item 6). */
static int tcp_info_get(struct tsock *s, int fd, void *val, socklen_t *len)
{
    struct tcp_info ti;
    memset(&ti, 0, sizeof(ti));
    int state = atomic_load(&s->state);
    ti.tcpi_state = state == TS_LISTENING ? 10 : 7;
    if (s->contacted) {
        struct ctl_msg msg = {.op = CTL_OP_SOCK_GETOPT};
        msg.u.opt.level = IPPROTO_TCP;
        msg.u.opt.name = TCP_INFO;
        int rc = tsock_request(s, fd, &msg, -1, -1);
        if (rc >= 0) {
            struct toysock_tcp_info t;
            memset(&t, 0, sizeof(t));
            size_t n = msg.u.opt.len < sizeof(t) ? msg.u.opt.len : sizeof(t);
            memcpy(&t, msg.u.opt.value, n);
            if (msg.u.opt.level != IPPROTO_TCP || msg.u.opt.name != TCP_INFO) {
                /* The reply's first bytes were overwritten by endpoints (a
                 * stack that fills u.sock in every socket reply): state,
                 * ca_state, retransmits and backoff are lost; take the
                 * state from a status query. */
                memset(&t, 0, 4);
                struct ctl_msg st = {.op = CTL_OP_SOCK_STATUS};
                if (tsock_request(s, fd, &st, -1, -1) >= 0)
                    t.state = (uint8_t)st.u.sock.state;
            }
            ti.tcpi_state = linux_tcp_state(t.state);
            ti.tcpi_ca_state = t.ca_state;
            ti.tcpi_retransmits = t.retransmits;
            ti.tcpi_backoff = t.backoff;
            ti.tcpi_options = t.options;
            ti.tcpi_snd_wscale = t.snd_wscale & 0xf;
            ti.tcpi_rcv_wscale = t.rcv_wscale & 0xf;
            ti.tcpi_rto = t.rto;
            ti.tcpi_ato = t.ato;
            ti.tcpi_snd_mss = t.snd_mss;
            ti.tcpi_rcv_mss = t.rcv_mss;
            ti.tcpi_unacked = t.unacked;
            ti.tcpi_sacked = t.sacked;
            ti.tcpi_lost = t.lost;
            ti.tcpi_retrans = t.retrans;
            const struct toysock_config *cfg = shim_config();
            ti.tcpi_pmtu = cfg != NULL ? cfg->mtu : 1500;
            ti.tcpi_rtt = t.rtt;
            ti.tcpi_rttvar = t.rttvar;
            ti.tcpi_snd_ssthresh = t.snd_ssthresh;
            ti.tcpi_snd_cwnd = t.snd_cwnd;
            ti.tcpi_advmss = t.advmss;
            ti.tcpi_reordering = 3;
            ti.tcpi_rcv_space = t.rcv_space;
            ti.tcpi_total_retrans = t.total_retrans;
            ti.tcpi_bytes_acked = t.bytes_acked;
            ti.tcpi_bytes_received = t.bytes_received;
            ti.tcpi_segs_out = t.segs_out;
            ti.tcpi_segs_in = t.segs_in;
            int queued = 0;
            sys_ioctl(fd, SIOCOUTQ, &queued);
            ti.tcpi_notsent_bytes = t.notsent_bytes + (uint32_t)(queued > 0 ? queued : 0);
            ti.tcpi_min_rtt = t.rtt;
            ti.tcpi_bytes_sent = t.bytes_sent;
            ti.tcpi_bytes_retrans = t.bytes_retrans;
            ti.tcpi_snd_wnd = t.snd_wnd;
        }
    }
    return put_opt(val, len, &ti, sizeof(ti));
}

static int getsockopt_impl(struct tsock *s, int fd, int level, int name, void *val, socklen_t *len)
{
    if (val == NULL || len == NULL)
        return -EFAULT;
    int kind = tsock_opt_classify(s, level, name);
    if (kind < 0)
        return kind;
    bool tcp = s->type == SOCK_STREAM;
    int state = atomic_load(&s->state);
    if (kind == OPT_NATIVE)
        return sys_getsockopt(fd, level, name, val, len);
    if (level == SOL_SOCKET) {
        switch (name) {
        case SO_TYPE: return put_int(val, len, s->type);
        case SO_DOMAIN: return put_int(val, len, s->domain);
        case SO_PROTOCOL: return put_int(val, len, s->protocol);
        case SO_ACCEPTCONN: return put_int(val, len, state == TS_LISTENING);
        case SO_ERROR: return put_int(val, len, so_error(s, fd));
        case SO_SNDLOWAT: return put_int(val, len, 1);
        case SO_SNDBUF:
        case SO_RCVBUF: {
            int forced =
                opt_cached_int(s, level, name == SO_SNDBUF ? SO_SNDBUFFORCE : SO_RCVBUFFORCE, -1);
            int v = forced >= 0 ? forced : opt_cached_int(s, level, name, -1);
            return put_int(val, len, v >= 0 ? buf_size(v) : BUF_DEFAULT);
        }
        case SO_LINGER: {
            struct linger l = {0, 0};
            tsock_lock(s);
            const struct ts_opt *o = tsock_opt_find(s, level, name);
            if (o != NULL && o->len >= sizeof(l))
                memcpy(&l, o->val, sizeof(l));
            tsock_unlock(s);
            l.l_onoff = l.l_onoff != 0;
            return put_opt(val, len, &l, sizeof(l));
        }
        case SO_BINDTODEVICE: {
            char dev[IFNAMSIZ] = "";
            tsock_lock(s);
            const struct ts_opt *o = tsock_opt_find(s, level, name);
            if (o != NULL)
                memcpy(dev, o->val, o->len < sizeof(dev) - 1 ? o->len : sizeof(dev) - 1);
            tsock_unlock(s);
            return put_opt(val, len, dev, (socklen_t)strlen(dev) + (dev[0] ? 1 : 0));
        }
        case SO_INCOMING_CPU: return put_int(val, len, opt_cached_int(s, level, name, -1));
        default: {
            int v = opt_cached_int(s, level, name, 0);
            if (name != SO_PRIORITY && name != SO_MARK && name != SO_BUSY_POLL)
                v = v != 0;
            return put_int(val, len, v);
        }
        }
    }
    if (level == IPPROTO_TCP) {
        const struct toysock_config *cfg = shim_config();
        switch (name) {
        case TCP_INFO: return tcp_info_get(s, fd, val, len);
        case TCP_MAXSEG: {
            int v = opt_cached_int(s, level, name, 0);
            if (state == TS_CONNECTED && s->contacted) {
                struct ctl_msg msg = {.op = CTL_OP_SOCK_GETOPT};
                msg.u.opt.level = IPPROTO_TCP;
                msg.u.opt.name = TCP_MAXSEG;
                if (tsock_request(s, fd, &msg, -1, -1) >= 0 && msg.u.opt.len == sizeof(int))
                    memcpy(&v, msg.u.opt.value, sizeof(v));
            }
            return put_int(val, len, v > 0 ? v : 536);
        }
        case TCP_CONGESTION: {
            char cc[16] = "cubic";
            tsock_lock(s);
            const struct ts_opt *o = tsock_opt_find(s, level, name);
            if (o != NULL) {
                memset(cc, 0, sizeof(cc));
                memcpy(cc, o->val, o->len < sizeof(cc) - 1 ? o->len : sizeof(cc) - 1);
            }
            tsock_unlock(s);
            return put_opt(val, len, cc, sizeof(cc));
        }
        case TCP_KEEPIDLE: return put_int(val, len, opt_cached_int(s, level, name, 7200));
        case TCP_KEEPINTVL: return put_int(val, len, opt_cached_int(s, level, name, 75));
        case TCP_KEEPCNT: return put_int(val, len, opt_cached_int(s, level, name, 9));
        case TCP_SYNCNT:
            return put_int(
                val, len,
                opt_cached_int(s, level, name, cfg != NULL ? (int)cfg->tcp_syn_retries : 6));
        case TCP_NOTSENT_LOWAT: return put_int(val, len, opt_cached_int(s, level, name, 0));
        case TCP_NODELAY:
        case TCP_CORK:
        case TCP_QUICKACK: return put_int(val, len, opt_cached_int(s, level, name, 0) != 0);
        default: return put_int(val, len, opt_cached_int(s, level, name, 0));
        }
    }
    if (level == IPPROTO_IP) {
        switch (name) {
        case IP_MTU: {
            const struct toysock_config *cfg = shim_config();
            bool connected = tcp ? state == TS_CONNECTED : s->udp_connected;
            if (!connected)
                return -ENOTCONN;
            return put_int(val, len, cfg != NULL ? (int)cfg->mtu : 1500);
        }
        case IP_TTL: {
            int v = opt_cached_int(s, level, name, -1);
            return put_int(val, len, v > 0 ? v : 64);
        }
        case IP_MTU_DISCOVER:
            return put_int(val, len, opt_cached_int(s, level, name, tcp ? IP_PMTUDISC_WANT : 1));
        default: return put_int(val, len, opt_cached_int(s, level, name, 0));
        }
    }
    /* IPPROTO_IPV6 */
    switch (name) {
    case IPV6_UNICAST_HOPS: {
        int v = opt_cached_int(s, level, name, -1);
        return put_int(val, len, v > 0 ? v : 64);
    }
    case IPV6_V6ONLY: return put_int(val, len, s->v6only);
    default: return put_int(val, len, opt_cached_int(s, level, name, 0));
    }
}

/* An IP-level option on an AF_UNIX fd we do not know may be about a bridge
 * that came by fork, exec or SCM_RIGHTS (item 9): ask the stack. */
static struct tsock *adopt_unknown_bridge(int fd)
{
    int dom = 0;
    socklen_t dl = sizeof(dom);
    if (sys_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &dl) < 0 || dom != AF_UNIX)
        return NULL;
    return tsock_adopt(fd);
}

SHIM_EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    struct tsock *s = tsock_lookup_ctl(fd);
    if (s == NULL) {
        int rc = REAL(getsockopt) ? REAL(getsockopt)(fd, level, name, val, len)
                                  : (int)raw_ret(RAW(SYS_getsockopt, fd, level, name, val, len, 0));
        if (shim_bypass_ctl() || !shim_stack_running() || level == SOL_SOCKET ||
            (s = adopt_unknown_bridge(fd)) == NULL)
            return rc;
    }
    SHIM_SAVE_ERRNO;
    int rc = getsockopt_impl(s, fd, level, name, val, len);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    SHIM_RESTORE_ERRNO;
    return 0;
}

static int setsockopt_impl(struct tsock *s, int fd, int level, int name, const void *val,
                           socklen_t len)
{
    if (level == SOL_SOCKET && name == SO_ZEROCOPY)
        return -EOPNOTSUPP; /* AF_UNIX's refusal, kept (item 6) */
    int kind = tsock_opt_classify(s, level, name);
    if (kind < 0)
        return kind;
    if (kind == OPT_RDONLY)
        return -ENOPROTOOPT;
    if (len > 0 && val == NULL)
        return -EFAULT;
    if ((int)len < 0)
        return -EINVAL;
    int rc = opt_validate(s, level, name, val, len);
    if (rc < 0)
        return rc;
    if (kind == OPT_NATIVE) {
        rc = sys_setsockopt(fd, level, name, val, len);
        if (rc < 0)
            return rc;
    } else if (kind == OPT_STACK && s->contacted) {
        /* Synchronous, so that it is in force before anything the program
         * does next (SO_LINGER then close; item 3). */
        struct ctl_msg msg = {.op = CTL_OP_SOCK_SETOPT};
        msg.u.opt.level = level;
        msg.u.opt.name = name == SO_SNDBUFFORCE   ? SO_SNDBUF
                         : name == SO_RCVBUFFORCE ? SO_RCVBUF
                                                  : name;
        if (len > CTL_OPT_MAX)
            len = CTL_OPT_MAX;
        msg.u.opt.len = len;
        memcpy(msg.u.opt.value, val, len);
        rc = tsock_request(s, fd, &msg, -1, -1);
        if (rc < 0)
            return rc;
    }
    int v = 0;
    if (opt_is_int(level, name) && len >= sizeof(int))
        memcpy(&v, val, sizeof(v));
    if (level == SOL_SOCKET && name == SO_REUSEADDR)
        s->reuseaddr = v != 0;
    if (level == SOL_SOCKET && name == SO_REUSEPORT)
        s->reuseport = v != 0;
    if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY)
        s->v6only = v != 0;
    if (!tsock_opt_record(s, level, name, val, len))
        shim_log(SHIM_LOG_DEBUG, "fd %d: option record full, %d/%d not kept", fd, level, name);
    return 0;
}

SHIM_EXPORT int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    struct tsock *s = tsock_lookup_ctl(fd);
    if (s == NULL) {
        int rc = REAL(setsockopt) ? REAL(setsockopt)(fd, level, name, val, len)
                                  : (int)raw_ret(RAW(SYS_setsockopt, fd, level, name, val, len, 0));
        if (rc == 0 || shim_bypass_ctl() || !shim_stack_running() || level == SOL_SOCKET ||
            (s = adopt_unknown_bridge(fd)) == NULL)
            return rc;
    }
    SHIM_SAVE_ERRNO;
    int rc = setsockopt_impl(s, fd, level, name, val, len);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    SHIM_RESTORE_ERRNO;
    return 0;
}

SHIM_ALIAS(getsockopt);
SHIM_ALIAS(setsockopt);
