/* Datagram bridges: UDP sockets bridged to programs over SOCK_SEQPACKET
 * pairs. Every datagram carries a struct dgram_hdr the program never sees
 * (the shim adds and strips it); a datagram without the bridge's cookie is
 * bare payload for the connected peer (a raw syscall behind the shim's
 * back), or dropped on an unconnected socket (SHIM-PITFALLS item 5).
 * Arriving datagrams wait in the UDP socket's bounded queue until the
 * bridge takes them, so the program's SO_RCVBUF bounds memory. */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "ipv4.h"
#include "sock_priv.h"
#include "stack.h"
#include "udp.h"

/* Datagrams moved per bridge event, so one busy socket cannot starve the
 * loop. */
#define DGRAM_BATCH 64

static void dgram_event(struct udp_pcb *pcb, void *owner, unsigned events)
{
    (void)pcb;
    (void)events;
    sock_mark_work(owner);
}

static int ensure_pcb(struct sock *s, const struct ctl_msg *msg)
{
    if (s->udp != NULL)
        return 0;
    s->udp = udp_pcb_new(loop_stack(s->table->loop));
    if (s->udp == NULL)
        return -ENOBUFS;
    udp_set_owner(s->udp, dgram_event, s);
    s->dgram_cookie = msg->u.sock.cookie;
    udp_set_reuse(s->udp, (msg->flags & CTL_F_REUSEADDR) != 0,
                  (msg->flags & CTL_F_REUSEPORT) != 0);
    sock_set_interest(s, EPOLLIN | EPOLLRDHUP);
    return 0;
}

static void endpoints(struct sock *s)
{
    udp_local_endpoint(s->udp, &s->local.addr, &s->local.port);
    udp_remote_endpoint(s->udp, &s->remote.addr, &s->remote.port);
    s->local.family = s->remote.family = AF_INET;
}

int dgram_bind(struct sock *s, const struct ctl_msg *msg)
{
    int rc = ensure_pcb(s, msg);
    if (rc < 0)
        return rc;
    rc = udp_bind(s->udp, msg->u.sock.local.addr, msg->u.sock.local.port,
                  (msg->flags & CTL_F_REUSEADDR) != 0, (msg->flags & CTL_F_REUSEPORT) != 0);
    endpoints(s);
    return rc;
}

int dgram_connect(struct sock *s, const struct ctl_msg *msg)
{
    int rc = ensure_pcb(s, msg);
    if (rc < 0)
        return rc;
    rc = udp_connect(s->udp, msg->u.sock.remote.addr, msg->u.sock.remote.port);
    endpoints(s);
    return rc;
}

void dgram_release(struct sock *s)
{
    if (s->udp == NULL)
        return;
    endpoints(s);
    udp_set_owner(s->udp, NULL, NULL);
    udp_close(s->udp);
    s->udp = NULL;
}

/* Program to network: each datagram in the bridge, sent now. */
static void pump_out(struct sock *s)
{
    struct stack *stack = loop_stack(s->table->loop);
    uint8_t *buf = s->table->scratch;
    for (int i = 0; i < DGRAM_BATCH && s->udp != NULL; i++) {
        ssize_t n = recv(s->watch.fd, buf, SOCK_SCRATCH, MSG_DONTWAIT);
        if (n < 0)
            return;
        struct dgram_hdr hdr;
        const uint8_t *payload = buf;
        size_t len = (size_t)n;
        uint32_t dst = 0;
        uint16_t port = 0;
        if (len >= sizeof(hdr) && (memcpy(&hdr, buf, sizeof(hdr)), hdr.cookie == s->dgram_cookie)) {
            payload += sizeof(hdr);
            len -= sizeof(hdr);
            dst = hdr.addr;
            port = hdr.port;
        } else if (!udp_is_connected(s->udp)) {
            STAT_INC(stack, udp_tx_errors); /* no header, no destination */
            continue;
        }
        long rc = udp_sendto(s->udp, dst, port, payload, len);
        if (rc < 0)
            LOG_DEBUG(stack, "udp send from bridge: %s", strerror((int)-rc));
    }
}

static bool send_record(struct sock *s, const struct dgram_hdr *hdr, const void *payload,
                        size_t len)
{
    struct iovec iov[2] = {{.iov_base = (void *)hdr, .iov_len = sizeof(*hdr)},
                           {.iov_base = (void *)payload, .iov_len = len}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
    return sendmsg(s->watch.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0;
}

/* Network to program: queued datagrams (and a pending error) into the
 * bridge while it has room. Returns false when the bridge is full; a batch
 * that stops with datagrams left marks the socket for another round. */
static bool pump_in(struct sock *s)
{
    uint8_t *buf = s->table->scratch;
    for (int i = 0; i < DGRAM_BATCH && s->udp != NULL; i++) {
        int err = udp_pending_error(s->udp);
        if (err != 0) {
            struct dgram_hdr hdr = {.flags = DGRAM_F_ERROR, .error = err};
            if (!send_record(s, &hdr, NULL, 0))
                return false;
            udp_take_error(s->udp);
            continue;
        }
        uint32_t src;
        uint16_t sport;
        size_t full;
        long n = udp_recv(s->udp, buf, SOCK_SCRATCH, &src, &sport, NULL, true, &full);
        if (n < 0)
            return true; /* empty */
        struct dgram_hdr hdr = {.cookie = s->dgram_cookie, .addr = src, .port = sport};
        if (!send_record(s, &hdr, buf, (size_t)n)) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
                return false;
            /* The program cannot take it (closed): drop it. */
        }
        udp_recv(s->udp, buf, 0, NULL, NULL, NULL, false, &full);
    }
    if (s->udp != NULL && udp_queued_count(s->udp) > 0)
        sock_mark_work(s);
    return true;
}

static void update(struct sock *s, bool bridge_full)
{
    sock_set_interest(s, EPOLLIN | EPOLLRDHUP | (bridge_full ? EPOLLOUT : 0));
}

void dgram_on_bridge(struct sock *s, uint32_t events)
{
    if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
        sock_make_zombie(s);
        return;
    }
    if (events & EPOLLIN)
        pump_out(s);
    bool full = false;
    if (events & EPOLLOUT)
        full = !pump_in(s);
    update(s, full || (s->interest & EPOLLOUT && !(events & EPOLLOUT)));
}

void dgram_do_work(struct sock *s)
{
    update(s, !pump_in(s));
}

void dgram_status(struct sock *s, struct ctl_msg *reply, bool clear)
{
    if (s->udp != NULL) {
        endpoints(s);
        reply->u.sock.error = clear ? udp_take_error(s->udp) : udp_pending_error(s->udp);
    }
    reply->u.sock.local = s->local;
    reply->u.sock.remote = s->remote;
    reply->u.sock.proto = IPPROTO_UDP;
}

/* Linux doubles buffer sizes and bounds them. */
static size_t doubled(int v)
{
    size_t d = v < 0 ? 0 : (size_t)v * 2;
    if (d < UDP_RCVBUF_MIN)
        d = UDP_RCVBUF_MIN;
    if (d > UDP_RCVBUF_MAX)
        d = UDP_RCVBUF_MAX;
    return d;
}

int dgram_option(struct sock *s, const struct ctl_msg *msg, struct ctl_msg *reply)
{
    if (s->udp == NULL)
        return -EINVAL;
    int level = msg->u.opt.level, name = msg->u.opt.name, v = 0;
    bool set = msg->op == CTL_OP_SOCK_SETOPT;
    if (set) {
        if (msg->u.opt.len < sizeof(int))
            return -EINVAL;
        memcpy(&v, msg->u.opt.value, sizeof(int));
    }
    int out = 0;
    if (level == SOL_SOCKET && name == SO_BROADCAST) {
        if (set)
            udp_set_broadcast(s->udp, v != 0);
        out = udp_get_broadcast(s->udp);
    } else if (level == SOL_SOCKET && name == SO_RCVBUF) {
        if (set) {
            udp_set_rcvbuf(s->udp, doubled(v));
            /* The bridge holds datagrams too: size it alike (item 5). */
            int bytes = (int)doubled(v) / 2;
            setsockopt(s->watch.fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
        }
        out = (int)udp_get_rcvbuf(s->udp);
    } else if (level == SOL_SOCKET && name == SO_ERROR && !set) {
        out = udp_take_error(s->udp);
    } else if (level == SOL_SOCKET &&
               (name == SO_SNDBUF || name == SO_REUSEADDR || name == SO_REUSEPORT)) {
        if (!set)
            return -ENOPROTOOPT; /* answered from the shim's cache */
        return 0;
    } else if (level == IPPROTO_IP && (name == IP_TTL || name == IP_TOS)) {
        if (!set)
            return -ENOPROTOOPT;
        struct ipv4_tx_opts opts = {0};
        if (name == IP_TTL)
            opts.ttl = (uint8_t)(v > 0 && v < 256 ? v : 0);
        else
            opts.tos = (uint8_t)v;
        udp_set_tx_opts(s->udp, &opts);
        return 0;
    } else if (level == IPPROTO_IP &&
               (name == IP_MTU_DISCOVER || name == IP_RECVERR || name == IP_PKTINFO)) {
        return set ? 0 : -ENOPROTOOPT;
    } else {
        return -ENOPROTOOPT;
    }
    reply->u.opt.level = level;
    reply->u.opt.name = name;
    memcpy(reply->u.opt.value, &out, sizeof(out));
    reply->u.opt.len = sizeof(out);
    return 0;
}
