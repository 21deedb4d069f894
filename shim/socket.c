/* The socket API over bridges (DESIGN §3): socket, bind, listen, accept,
 * accept4, connect, getsockname, getpeername, shutdown, getsockopt,
 * setsockopt, close, and the fd-number calls that must keep the table
 * right (dup, dup2, dup3, close_range, closefrom).
 *
 * socket() makes a local socketpair and starts nothing (item 21); the
 * stack end stays with the shim until the first bind/connect/listen/send
 * hands it over. Loopback goes to the kernel by swapping a kernel socket
 * in under the same fd number (item 13). poll, select and epoll_wait need
 * no interposition at all: a bridge is a real fd; only epoll_ctl is
 * recorded (epoll.c) so registrations survive the swaps. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>

#include "channel.h"
#include "fdreg.h"
#include "shim.h"
#include "sock.h"
#include "tcp.h"

/* Bytes written ahead of a connect to hold POLLOUT back (item 1). */
#define CONNECT_FILLER 1500

/* ---- Addresses ---- */

static bool v4_loopback(uint32_t a)
{
    return (a >> 24) == 127;
}

int sa_parse(const struct tsock *s, const struct sockaddr *sa, socklen_t len, bool for_bind,
             struct sa_parsed *out)
{
    memset(out, 0, sizeof(*out));
    if (sa == NULL)
        return -EFAULT;
    if (len < (socklen_t)sizeof(sa_family_t))
        return -EINVAL;
    if (sa->sa_family == AF_UNSPEC) {
        out->unspec = true;
        if (!for_bind)
            return 0; /* connect(AF_UNSPEC): dissolve the association */
        /* bind(AF_UNSPEC, INADDR_ANY) is taken as AF_INET for old code. */
        const struct sockaddr_in *sin = (const void *)sa;
        if (s->domain != AF_INET || len < (socklen_t)sizeof(*sin) ||
            sin->sin_addr.s_addr != htonl(INADDR_ANY))
            return -EAFNOSUPPORT;
        out->port = ntohs(sin->sin_port);
        out->kind = AK_ANY;
        out->unspec = false;
        return 0;
    }
    if (s->domain == AF_INET) {
        if (sa->sa_family != AF_INET)
            return -EAFNOSUPPORT;
        if (len < (socklen_t)sizeof(struct sockaddr_in))
            return -EINVAL;
        const struct sockaddr_in *sin = (const void *)sa;
        out->addr = ntohl(sin->sin_addr.s_addr);
        out->port = ntohs(sin->sin_port);
    } else {
        /* inet6: the length is checked before the family, as Linux does. */
        if (len < 24)
            return -EINVAL;
        if (sa->sa_family != AF_INET6)
            return -EAFNOSUPPORT;
        const struct sockaddr_in6 *sin6 = (const void *)sa;
        const struct in6_addr *a = &sin6->sin6_addr;
        out->port = ntohs(sin6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            if (s->v6only)
                return for_bind ? -EINVAL : -ENETUNREACH;
            uint32_t v4;
            memcpy(&v4, &a->s6_addr[12], 4);
            out->addr = ntohl(v4);
        } else if (IN6_IS_ADDR_UNSPECIFIED(a)) {
            /* bind: the dual-stack wildcard; connect: this host. */
            out->kind = !for_bind ? AK_LOOPBACK : s->v6only ? AK_V6_ANY : AK_ANY;
            return 0;
        } else if (IN6_IS_ADDR_LOOPBACK(a)) {
            out->kind = AK_LOOPBACK;
            return 0;
        } else {
            out->kind = AK_V6;
            return 0;
        }
    }
    if (out->addr == 0)
        out->kind = for_bind ? AK_ANY : AK_LOOPBACK; /* connect to 0.0.0.0 is local */
    else if (v4_loopback(out->addr))
        out->kind = AK_LOOPBACK;
    else
        out->kind = AK_V4;
    return 0;
}

void sa_store(int domain, uint32_t addr, uint16_t port, struct sockaddr *sa, socklen_t *len)
{
    union {
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } u;
    memset(&u, 0, sizeof(u));
    socklen_t full;
    if (domain == AF_INET6) {
        u.in6.sin6_family = AF_INET6;
        u.in6.sin6_port = htons(port);
        if (addr != 0) {
            u.in6.sin6_addr.s6_addr[10] = 0xff;
            u.in6.sin6_addr.s6_addr[11] = 0xff;
            uint32_t n = htonl(addr);
            memcpy(&u.in6.sin6_addr.s6_addr[12], &n, 4);
        }
        full = sizeof(u.in6);
    } else {
        u.in.sin_family = AF_INET;
        u.in.sin_port = htons(port);
        u.in.sin_addr.s_addr = htonl(addr);
        full = sizeof(u.in);
    }
    if (sa != NULL && len != NULL && *len > 0)
        memcpy(sa, &u, *len < full ? *len : full);
    if (len != NULL)
        *len = full;
}

/* ---- Requests ---- */

static void record_endpoints(struct tsock *s, const struct ctl_msg *msg)
{
    const struct ctl_sock *r = &msg->u.sock;
    if (r->local.port != 0 || r->local.addr != 0) {
        s->local = r->local;
        s->bound = true;
    }
    if (r->remote.port != 0)
        s->remote = r->remote;
}

/* A request with up to two extra fds: a new stack end, and for listen
 * the new bridge's program end, which names the socket from then on. */
static int tsock_request_fds(struct tsock *s, int fd, struct ctl_msg *msg, int timeout_ms,
                             int extra_fd, int key_fd)
{
    int fds[CTL_MAX_FDS];
    unsigned n = 0;
    fds[n++] = fd;
    bool first = !s->contacted;
    if (extra_fd >= 0)
        fds[n++] = extra_fd;
    else if (first && s->stack_end >= 0)
        fds[n++] = s->stack_end;
    if (key_fd >= 0 && n == 2)
        fds[n++] = key_fd;
    if (msg->op == CTL_OP_SOCK_BIND || msg->op == CTL_OP_SOCK_LISTEN ||
        msg->op == CTL_OP_SOCK_CONNECT || msg->op == CTL_OP_SOCK_STATUS) {
        /* (u.sock only: it overlaps u.opt) */
        msg->u.sock.proto = (uint32_t)s->protocol;
        if (s->type == SOCK_DGRAM)
            msg->u.sock.cookie = s->cookie;
    }
    int op = (int)msg->op;
    int rc = shim_call(msg, fds, n, timeout_ms);
    if (rc == -ENETDOWN)
        return rc; /* never delivered: the stack end is still ours */
    if (first) {
        /* The stack took its end (or refused the socket outright). */
        if (rc == -ENOTSOCK || rc == -EBADF || rc == -ENOBUFS) {
            s->fresh_needed = true;
        } else {
            s->contacted = true;
        }
        if (s->stack_end >= 0) {
            shim_fd_unhide_close(s->stack_end);
            s->stack_end = -1;
        }
    }
    if (rc >= 0 && (op == CTL_OP_SOCK_BIND || op == CTL_OP_SOCK_LISTEN ||
                    op == CTL_OP_SOCK_CONNECT || op == CTL_OP_SOCK_STATUS))
        record_endpoints(s, msg);
    return rc;
}

int tsock_request(struct tsock *s, int fd, struct ctl_msg *msg, int timeout_ms, int extra_fd)
{
    return tsock_request_fds(s, fd, msg, timeout_ms, extra_fd, -1);
}

/* Options set before the socket reached the stack, sent now. */
static void replay_stack_options(struct tsock *s, int fd)
{
    for (unsigned i = 0; i < s->nopts; i++) {
        struct ts_opt o;
        tsock_lock(s);
        o = s->opts[i];
        tsock_unlock(s);
        if (tsock_opt_classify(s, o.level, o.name) != OPT_STACK)
            continue;
        struct ctl_msg msg = {.op = CTL_OP_SOCK_SETOPT};
        msg.u.opt.level = o.level == SOL_SOCKET && o.name == SO_SNDBUFFORCE ? SOL_SOCKET : o.level;
        msg.u.opt.name = o.name == SO_SNDBUFFORCE   ? SO_SNDBUF
                         : o.name == SO_RCVBUFFORCE ? SO_RCVBUF
                                                    : o.name;
        msg.u.opt.len = o.len;
        memcpy(msg.u.opt.value, o.val, o.len);
        int rc = tsock_request(s, fd, &msg, -1, -1);
        if (rc < 0)
            shim_log(SHIM_LOG_DEBUG, "replaying option %d/%d on fd %d: %s", o.level, o.name, fd,
                     strerror(-rc));
    }
}

static bool has_stack_options(struct tsock *s)
{
    for (unsigned i = 0; i < s->nopts; i++)
        if (tsock_opt_classify(s, s->opts[i].level, s->opts[i].name) == OPT_STACK)
            return true;
    return false;
}

static int do_bind_request(struct tsock *s, int fd, uint32_t addr, uint16_t port)
{
    struct ctl_msg msg = {.op = CTL_OP_SOCK_BIND};
    msg.u.sock.local = (struct ctl_endpoint){.addr = addr, .port = port, .family = AF_INET};
    if (s->reuseaddr)
        msg.flags |= CTL_F_REUSEADDR;
    if (s->reuseport)
        msg.flags |= CTL_F_REUSEPORT | (s->type == SOCK_STREAM ? CTL_F_REUSEADDR : 0);
    bool first = !s->contacted;
    int rc = tsock_request(s, fd, &msg, -1, -1);
    if (first && s->contacted)
        replay_stack_options(s, fd);
    if (rc >= 0) {
        s->bound = true;
        s->local = msg.u.sock.local;
    }
    return rc;
}

/* First contact for connect/listen: options need the stack's socket to
 * exist before the SYN (buffer sizes, SYN retries), so a socket with
 * recorded options is bound to an ephemeral port first. */
static int contact_with_options(struct tsock *s, int fd)
{
    if (s->contacted || !has_stack_options(s))
        return 0;
    return do_bind_request(s, fd, 0, 0);
}

/* ---- Bridges: swapping what an fd number refers to ---- */

static void replay_native_options(struct tsock *s, int fd, bool all, bool to_kernel)
{
    for (unsigned i = 0; i < s->nopts; i++) {
        struct ts_opt o;
        tsock_lock(s);
        o = s->opts[i];
        tsock_unlock(s);
        if (!all && tsock_opt_classify(s, o.level, o.name) != OPT_NATIVE)
            continue;
        if (to_kernel)
            REAL(setsockopt)(fd, o.level, o.name, o.val, o.len);
        else
            sys_setsockopt(fd, o.level, o.name, o.val, o.len);
    }
}

/* Makes fd refer to newfd's file (closing newfd), keeping O_NONBLOCK,
 * FD_CLOEXEC and the recorded epoll registrations (item 13). */
static int swap_in(int fd, struct tsock *s, int newfd)
{
    long fl = sys_fcntl(fd, F_GETFL, 0);
    long fdfl = sys_fcntl(fd, F_GETFD, 0);
    if (fl < 0 || fdfl < 0)
        return (int)(fl < 0 ? fl : fdfl);
    struct ts_epreg regs[TS_MAX_EPOLL];
    unsigned nregs = 0;
    tsock_lock(s);
    for (unsigned i = 0; i < s->nep; i++)
        if (s->ep[i].fd == fd)
            regs[nregs++] = s->ep[i];
    tsock_unlock(s);
    /* The old file may live on (a child's copy): its
     * registrations would keep firing for this number. */
    for (unsigned i = 0; i < nregs; i++)
        RAW(SYS_epoll_ctl, regs[i].epfd, EPOLL_CTL_DEL, fd, NULL, 0, 0);
    int rc = sys_dup3(newfd, fd, (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
    if (rc < 0) {
        for (unsigned i = 0; i < nregs; i++)
            RAW(SYS_epoll_ctl, regs[i].epfd, EPOLL_CTL_ADD, fd, &regs[i].ev, 0, 0);
        return rc;
    }
    sys_close(newfd);
    if (fl & O_NONBLOCK) {
        long nfl = sys_fcntl(fd, F_GETFL, 0);
        if (nfl >= 0)
            sys_fcntl(fd, F_SETFL, nfl | O_NONBLOCK);
    }
    for (unsigned i = 0; i < nregs; i++)
        RAW(SYS_epoll_ctl, regs[i].epfd, EPOLL_CTL_ADD, fd, &regs[i].ev, 0, 0);
    return 0;
}

/* A new bridge under fd: after a failed connect (Linux lets a socket
 * connect again) or in a forked child that lost the pending stack end. */
static int fresh_bridge(int fd, struct tsock *s)
{
    int sv[2];
    int rc = sys_socketpair(AF_UNIX, tsock_bridge_type(s->type) | SOCK_CLOEXEC, 0, sv);
    if (rc < 0)
        return rc;
    rc = swap_in(fd, s, sv[0]);
    if (rc < 0) {
        sys_close(sv[0]);
        sys_close(sv[1]);
        return rc;
    }
    if (s->stack_end >= 0)
        shim_fd_unhide_close(s->stack_end);
    s->stack_end = shim_fd_hide(sv[1]);
    fd_identity(fd, &s->dev, &s->ino);
    s->contacted = false;
    s->fresh_needed = false;
    s->bound = false;
    s->udp_connected = false;
    s->shut_wr = false;
    memset(&s->local, 0, sizeof(s->local));
    memset(&s->remote, 0, sizeof(s->remote));
    atomic_store(&s->state, TS_UNCONNECTED);
    replay_native_options(s, fd, false, false);
    return 0;
}

int tsock_swap_to_kernel(int fd, struct tsock *s)
{
    int k = REAL(socket)(s->domain, s->type | SOCK_CLOEXEC, s->protocol);
    if (k < 0)
        return -errno;
    int rc = swap_in(fd, s, k);
    if (rc < 0) {
        sys_close(k);
        return rc;
    }
    replay_native_options(s, fd, true, true);
    fdt_clear(fd);
    return 0;
}

/* ---- socket ---- */

struct tsock *tsock_lookup_ctl(int fd)
{
    if (shim_bypass_ctl())
        return NULL;
    struct tsock *s = fdt_lookup(fd);
    if (s != NULL && s->type == 0)
        return NULL; /* known not to be ours */
    return s;
}

SHIM_EXPORT int socket(int domain, int type, int protocol)
{
    if (shim_bypass_ctl())
        return REAL(socket) ? REAL(socket)(domain, type, protocol)
                            : (int)raw_ret(RAW(SYS_socket, domain, type, protocol, 0, 0, 0));
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    bool ours = (domain == AF_INET || domain == AF_INET6) &&
                ((base == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP)) ||
                 (base == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP)));
    if (!ours) {
        int fd = REAL(socket)(domain, type, protocol);
        if (fd >= 0 && fdt_get(fd) != NULL)
            fdt_clear(fd);
        return fd;
    }
    SHIM_SAVE_ERRNO;
    struct tsock *s = tsock_new();
    if (s == NULL) {
        errno = ENOBUFS;
        return -1;
    }
    int sv[2];
    int rc = sys_socketpair(AF_UNIX,
                            tsock_bridge_type(base) | SOCK_CLOEXEC | (type & SOCK_NONBLOCK), 0, sv);
    if (rc < 0) {
        tsock_unref(s);
        errno = -rc;
        return -1;
    }
    /* sv[0], the lower number, is the program's: the number the kernel
     * would have given (item 10). */
    if (!(type & SOCK_CLOEXEC))
        sys_fcntl(sv[0], F_SETFD, 0);
    s->domain = domain;
    s->type = base;
    s->protocol = base == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP;
    s->stack_end = shim_fd_hide(sv[1]);
    fd_identity(sv[0], &s->dev, &s->ino);
    if (base == SOCK_DGRAM) {
        /* The cookie tells the stack our headered datagrams from bare
         * ones written behind the shim's back (item 5). */
        if (RAW(SYS_getrandom, &s->cookie, sizeof(s->cookie), GRND_NONBLOCK, 0, 0, 0) !=
            (long)sizeof(s->cookie))
            s->cookie = ((uint64_t)sv[0] << 32) ^ (uint64_t)(uintptr_t)s ^ 0x9e3779b97f4a7c15ull;
        if (s->cookie == 0)
            s->cookie = 1;
    }
    if (fdt_set(sv[0], s) < 0) {
        tsock_unref(s);
        sys_close(sv[0]);
        errno = ENOMEM;
        return -1;
    }
    tsock_unref(s); /* the table holds it */
    SHIM_RESTORE_ERRNO;
    return sv[0];
}

/* ---- bind ---- */

SHIM_EXPORT int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct tsock *s = tsock_lookup_ctl(fd);
    if (s == NULL)
        return REAL(bind) ? REAL(bind)(fd, sa, len)
                          : (int)raw_ret(RAW(SYS_bind, fd, sa, len, 0, 0, 0));
    SHIM_SAVE_ERRNO;
    struct sa_parsed p;
    int rc = sa_parse(s, sa, len, true, &p);
    if (rc == 0 && (s->bound || atomic_load(&s->state) != TS_UNCONNECTED))
        rc = -EINVAL;
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    if ((p.kind == AK_LOOPBACK && !shim_loopback_stack()) || p.kind == AK_V6_ANY) {
        /* Loopback is the kernel's (item 13); an IPv6-only wildcard has
         * nothing the stack could serve yet. */
        rc = tsock_swap_to_kernel(fd, s);
        if (rc < 0) {
            errno = -rc;
            return -1;
        }
        SHIM_RESTORE_ERRNO;
        return REAL(bind)(fd, sa, len);
    }
    if (p.kind == AK_V6) {
        errno = EADDRNOTAVAIL;
        return -1;
    }
    if (s->fresh_needed && (rc = fresh_bridge(fd, s)) < 0) {
        errno = -rc;
        return -1;
    }
    rc = do_bind_request(s, fd, p.addr, p.port);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    SHIM_RESTORE_ERRNO;
    return 0;
}

/* ---- listen ---- */

SHIM_EXPORT int listen(int fd, int backlog)
{
    struct tsock *s = tsock_lookup_ctl(fd);
    if (s == NULL)
        return REAL(listen) ? REAL(listen)(fd, backlog)
                            : (int)raw_ret(RAW(SYS_listen, fd, backlog, 0, 0, 0, 0));
    SHIM_SAVE_ERRNO;
    int state = atomic_load(&s->state);
    if (s->type != SOCK_STREAM) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (state == TS_LISTENING)
        return 0;
    if (state != TS_UNCONNECTED) {
        errno = EINVAL;
        return -1;
    }
    int rc;
    if (s->fresh_needed && (rc = fresh_bridge(fd, s)) < 0) {
        errno = -rc;
        return -1;
    }
    if ((rc = contact_with_options(s, fd)) < 0) {
        errno = -rc;
        return -1;
    }
    /* The listener's bridge carries each connection as SCM_RIGHTS over a
     * SOCK_SEQPACKET pair (item 11): the stack gets the new end, the
     * program's fd becomes the other one. */
    int sv[2];
    if ((rc = sys_socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) < 0) {
        errno = -rc;
        return -1;
    }
    /* The request carries the new bridge's program end too: the stack
     * names the listener by it from now on, so the program's fd (which
     * becomes that end) keeps naming it, also in forked children. */
    struct ctl_msg msg = {.op = CTL_OP_SOCK_LISTEN};
    msg.u.sock.local =
        (struct ctl_endpoint){.addr = s->local.addr, .port = s->local.port, .family = AF_INET};
    msg.u.sock.backlog = backlog;
    if (s->reuseaddr || s->reuseport)
        msg.flags |= CTL_F_REUSEADDR;
    rc = tsock_request_fds(s, fd, &msg, -1, sv[1], sv[0]);
    sys_close(sv[1]);
    if (rc < 0) {
        sys_close(sv[0]);
        errno = -rc;
        return -1;
    }
    if (s->stack_end >= 0) {
        /* First contact was this listen: the stream stack end is spare. */
        shim_fd_unhide_close(s->stack_end);
        s->stack_end = -1;
    }
    s->contacted = true;
    rc = swap_in(fd, s, sv[0]);
    if (rc < 0) {
        sys_close(sv[0]);
        errno = -rc;
        return -1;
    }
    replay_native_options(s, fd, false, false);
    fd_identity(fd, &s->dev, &s->ino);
    s->bound = true;
    s->local = msg.u.sock.local;
    atomic_store(&s->state, TS_LISTENING);
    SHIM_RESTORE_ERRNO;
    return 0;
}

/* ---- accept ---- */

static int accept_impl(int fd, struct sockaddr *sa, socklen_t *alen, int flags, bool is4)
{
    struct tsock *s = tsock_lookup_ctl(fd);
    if (s == NULL) {
        int nfd;
        if (!is4)
            nfd = REAL(accept) ? REAL(accept)(fd, sa, alen)
                               : (int)raw_ret(RAW(SYS_accept, fd, sa, alen, 0, 0, 0));
        else
            nfd = REAL(accept4) ? REAL(accept4)(fd, sa, alen, flags)
                                : (int)raw_ret(RAW(SYS_accept4, fd, sa, alen, flags, 0, 0));
        if (nfd >= 0 && !shim_bypass() && fdt_get(nfd) != NULL)
            fdt_clear(nfd);
        return nfd;
    }
    if (s->type != SOCK_STREAM) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) {
        errno = EINVAL;
        return -1;
    }
    if (atomic_load(&s->state) != TS_LISTENING) {
        errno = EINVAL;
        return -1;
    }
    if (alen != NULL && (int)*alen < 0) {
        errno = EINVAL;
        return -1;
    }
    SHIM_SAVE_ERRNO;
    /* Trap 1 of item 11: with the fd table full, recvmsg would consume the
     * connection and drop its fd; the kernel says EMFILE and keeps it. */
    long probe = sys_fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (probe < 0) {
        errno = (int)-probe;
        return -1;
    }
    sys_close((int)probe);
    struct ctl_accept_hdr hdr;
    struct iovec iov = {.iov_base = &hdr, .iov_len = sizeof(hdr)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf)};
    ssize_t n = REAL(recvmsg)(fd, &mh, (flags & SOCK_CLOEXEC) ? MSG_CMSG_CLOEXEC : 0);
    if (n < 0)
        return -1; /* EAGAIN, EINTR, ETIMEDOUT (SO_RCVTIMEO) as the kernel gives */
    int nfd = ctl_msghdr_take_fd(&mh);
    if (n == 0 && nfd < 0) {
        errno = EINVAL; /* the listener was shut down */
        return -1;
    }
    if (nfd < 0 || (size_t)n != sizeof(hdr)) {
        if (nfd >= 0)
            sys_close(nfd);
        errno = ECONNABORTED;
        return -1;
    }
    if (flags & SOCK_NONBLOCK) {
        long fl = sys_fcntl(nfd, F_GETFL, 0);
        sys_fcntl(nfd, F_SETFL, fl | O_NONBLOCK);
    }
    struct tsock *c = tsock_new();
    if (c == NULL) {
        sys_close(nfd);
        errno = ENOBUFS;
        return -1;
    }
    c->domain = s->domain;
    c->type = SOCK_STREAM;
    c->protocol = IPPROTO_TCP;
    c->contacted = true;
    c->bound = true;
    c->local = hdr.local;
    c->remote = hdr.remote;
    atomic_store(&c->state, TS_CONNECTED);
    fd_identity(nfd, &c->dev, &c->ino);
    /* Accepted sockets inherit the listener's options, as on Linux. */
    tsock_lock(s);
    c->nopts = s->nopts;
    memcpy(c->opts, s->opts, sizeof(c->opts));
    c->v6only = s->v6only;
    tsock_unlock(s);
    fdt_set(nfd, c);
    tsock_unref(c);
    if (sa != NULL && alen != NULL)
        sa_store(s->domain, hdr.remote.addr, hdr.remote.port, sa, alen);
    SHIM_RESTORE_ERRNO;
    return nfd;
}

SHIM_EXPORT int accept(int fd, struct sockaddr *sa, socklen_t *alen)
{
    return accept_impl(fd, sa, alen, 0, false);
}

SHIM_EXPORT int accept4(int fd, struct sockaddr *sa, socklen_t *alen, int flags)
{
    return accept_impl(fd, sa, alen, flags, true);
}

/* ---- connect ---- */

void tsock_filler_settle(struct tsock *s, int fd)
{
    if (!atomic_load(&s->filler_pending))
        return;
    int queued = 0;
    if (sys_ioctl(fd, SIOCOUTQ, &queued) < 0 || queued != 0)
        return;
    if (atomic_exchange(&s->filler_pending, false)) {
        int v = s->saved_sndbuf / 2; /* Linux doubles what is set */
        sys_setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
    }
}

/* Item 1: shrink the program end's send buffer and park a filler in the
 * bridge, so that POLLOUT appears only once the stack has read it (on
 * success) and POLLERR|POLLHUP when it closes without reading (failure). */
static uint32_t filler_arm(struct tsock *s, int fd)
{
    int cur = 0;
    socklen_t len = sizeof(cur);
    if (sys_getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &len) < 0)
        return 0;
    s->saved_sndbuf = cur;
    int tiny = 1;
    sys_setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &tiny, sizeof(tiny));
    static const char filler[CONNECT_FILLER];
    long n = RAW(SYS_sendto, fd, filler, sizeof(filler), MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0);
    atomic_store(&s->filler_pending, true);
    return n > 0 ? (uint32_t)n : 0;
}

/* What the stack says of a connection in progress. */
int tsock_connect_progress(struct tsock *s, int fd, bool clear, bool *established)
{
    struct ctl_msg msg = {.op = CTL_OP_SOCK_STATUS};
    if (clear)
        msg.flags = CTL_F_CLEAR_ERROR;
    *established = false;
    int rc = tsock_request(s, fd, &msg, -1, -1);
    if (rc < 0)
        return 0;
    if (msg.u.sock.error != 0) {
        if (clear) {
            atomic_store(&s->state, TS_UNCONNECTED);
            s->fresh_needed = true;
        }
        return msg.u.sock.error;
    }
    if (msg.u.sock.state >= TCP_ESTABLISHED) {
        *established = true;
        atomic_store(&s->state, TS_CONNECTED);
        tsock_filler_settle(s, fd);
    } else if (msg.u.sock.state == TCP_CLOSED && clear) {
        /* Over without an error left to report (another caller took it). */
        atomic_store(&s->state, TS_UNCONNECTED);
        s->fresh_needed = true;
        return ECONNABORTED;
    }
    return 0;
}

static int connect_timeout_ms(int fd)
{
    struct timeval tv = {0};
    socklen_t len = sizeof(tv);
    if (sys_getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO_OLD, &tv, &len) < 0 ||
        (tv.tv_sec == 0 && tv.tv_usec == 0))
        return -1;
    long long ms = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
    return ms > 0x7fffffff ? 0x7fffffff : ms < 1 ? 1 : (int)ms;
}

static int stream_connect(int fd, struct tsock *s, const struct sa_parsed *p)
{
    int state = atomic_load(&s->state);
    if (state == TS_LISTENING || state == TS_CONNECTED)
        return -EISCONN;
    if (state == TS_CONNECTING) {
        /* As Linux: EALREADY while pending; 0 once when it has completed
         * (EISCONN after that); the error once when it failed. */
        bool est;
        int err = tsock_connect_progress(s, fd, true, &est);
        if (err != 0)
            return -err;
        return est ? 0 : -EALREADY;
    }
    if (p->unspec)
        return 0;
    if (p->kind == AK_V6)
        return -ENETUNREACH; /* no IPv6 in the stack yet (DESIGN §7) */
    int rc;
    if (s->fresh_needed && (rc = fresh_bridge(fd, s)) < 0)
        return rc;
    if ((rc = contact_with_options(s, fd)) < 0)
        return rc;
    bool nonblock = (sys_fcntl(fd, F_GETFL, 0) & O_NONBLOCK) != 0;
    struct ctl_msg msg = {.op = CTL_OP_SOCK_CONNECT};
    msg.u.sock.remote = (struct ctl_endpoint){.addr = p->addr, .port = p->port, .family = AF_INET};
    msg.u.sock.filler_len = filler_arm(s, fd);
    if (!nonblock)
        msg.flags = CTL_F_WAIT;
    atomic_store(&s->state, TS_CONNECTING);
    /* A blocking connect waits on the channel, bounded by SO_SNDTIMEO as
     * Linux bounds it (then EINPROGRESS, the connect going on). */
    rc = tsock_request(s, fd, &msg, nonblock ? -1 : connect_timeout_ms(fd), -1);
    if (rc == -EINPROGRESS || rc == -EINTR)
        return rc; /* still connecting; the late reply is skipped by id */
    if (rc < 0) {
        atomic_store(&s->state, TS_UNCONNECTED);
        s->fresh_needed = true;
        atomic_store(&s->filler_pending, false);
        return rc;
    }
    if (nonblock)
        return -EINPROGRESS;
    atomic_store(&s->state, TS_CONNECTED);
    tsock_filler_settle(s, fd);
    return 0;
}

static int dgram_connect(int fd, struct tsock *s, const struct sa_parsed *p)
{
    int rc;
    if (p->unspec) {
        s->udp_connected = false;
        memset(&s->remote, 0, sizeof(s->remote));
        return 0;
    }
    if (p->kind == AK_V6)
        return -ENETUNREACH;
    if (s->fresh_needed && (rc = fresh_bridge(fd, s)) < 0)
        return rc;
    if (!s->contacted && (rc = tsock_udp_autobind(s, fd)) < 0)
        return rc;
    struct ctl_msg msg = {.op = CTL_OP_SOCK_CONNECT};
    msg.u.sock.remote = (struct ctl_endpoint){.addr = p->addr, .port = p->port, .family = AF_INET};
    rc = tsock_request(s, fd, &msg, -1, -1);
    if (rc < 0)
        return rc;
    s->udp_connected = true;
    s->remote = msg.u.sock.remote;
    atomic_store(&s->state, TS_CONNECTED);
    return 0;
}

SHIM_EXPORT int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct tsock *s = tsock_lookup_ctl(fd);
    if (s == NULL)
        return REAL(connect) ? REAL(connect)(fd, sa, len)
                             : (int)raw_ret(RAW(SYS_connect, fd, sa, len, 0, 0, 0));
    SHIM_SAVE_ERRNO;
    struct sa_parsed p;
    int rc = sa_parse(s, sa, len, false, &p);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    if (p.kind == AK_LOOPBACK && !shim_loopback_stack() && !p.unspec) {
        int state = atomic_load(&s->state);
        if ((s->type == SOCK_STREAM && state != TS_UNCONNECTED) ||
            (s->type == SOCK_DGRAM && s->contacted && s->bound && s->local.port != 0 &&
             s->local.addr != 0)) {
            errno = state == TS_CONNECTING ? EALREADY : EISCONN;
            return -1;
        }
        if ((rc = tsock_swap_to_kernel(fd, s)) < 0) {
            errno = -rc;
            return -1;
        }
        SHIM_RESTORE_ERRNO;
        return REAL(connect)(fd, sa, len);
    }
    rc = s->type == SOCK_STREAM ? stream_connect(fd, s, &p) : dgram_connect(fd, s, &p);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    SHIM_RESTORE_ERRNO;
    return 0;
}

/* ---- Datagram sockets: the implicit bind of the first send ---- */

int tsock_udp_autobind(struct tsock *s, int fd)
{
    if (s->contacted && s->bound)
        return 0;
    int rc = 0;
    tsock_lock(s); /* two threads sending first: one bind */
    bool need = !(s->contacted && s->bound);
    tsock_unlock(s);
    if (need)
        rc = do_bind_request(s, fd, 0, 0);
    return rc;
}

/* ---- names ---- */

static int name_impl(int fd, struct sockaddr *sa, socklen_t *len, bool peer)
{
    struct tsock *s = tsock_lookup_ctl(fd);
    if (s == NULL) {
        int (*fn)(int, struct sockaddr *, socklen_t *) =
            peer ? REAL(getpeername) : REAL(getsockname);
        int rc =
            fn ? fn(fd, sa, len)
               : (int)raw_ret(RAW(peer ? SYS_getpeername : SYS_getsockname, fd, sa, len, 0, 0, 0));
        if (rc == 0 && !shim_bypass_ctl() && sa != NULL && len != NULL &&
            sa->sa_family == AF_UNIX && shim_stack_running()) {
            /* Maybe a bridge we do not know (inherited across exec,
             * received over SCM_RIGHTS): ask the stack (item 9). */
            s = tsock_adopt(fd);
            if (s == NULL)
                return rc;
        } else {
            return rc;
        }
    }
    if (sa == NULL || len == NULL) {
        errno = EFAULT;
        return -1;
    }
    if ((int)*len < 0) {
        errno = EINVAL;
        return -1;
    }
    SHIM_SAVE_ERRNO;
    if (!peer) {
        sa_store(s->domain, s->local.addr, s->local.port, sa, len);
        return 0;
    }
    int state = atomic_load(&s->state);
    if (s->type == SOCK_STREAM && state == TS_CONNECTING) {
        bool est;
        tsock_connect_progress(s, fd, false, &est);
        state = atomic_load(&s->state);
    }
    bool connected = s->type == SOCK_STREAM ? state == TS_CONNECTED : s->udp_connected;
    if (!connected) {
        errno = ENOTCONN;
        return -1;
    }
    sa_store(s->domain, s->remote.addr, s->remote.port, sa, len);
    SHIM_RESTORE_ERRNO;
    return 0;
}

SHIM_EXPORT int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    return name_impl(fd, sa, len, false);
}

SHIM_EXPORT int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
    return name_impl(fd, sa, len, true);
}

struct tsock *tsock_adopt(int fd)
{
    int type = 0;
    socklen_t len = sizeof(type);
    if (sys_getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return NULL;
    struct tsock *s = tsock_new();
    if (s == NULL)
        return NULL;
    fd_identity(fd, &s->dev, &s->ino);
    struct ctl_msg msg = {.op = CTL_OP_SOCK_STATUS};
    int fds[1] = {fd};
    int rc = shim_call(&msg, fds, 1, 2000);
    if (rc < 0) {
        /* Remember the answer: a kernel socket, not asked again. */
        s->type = 0;
        fdt_set(fd, s);
        tsock_unref(s);
        return NULL;
    }
    bool udp = msg.u.sock.proto == IPPROTO_UDP;
    s->domain = AF_INET;
    s->type = udp ? SOCK_DGRAM : SOCK_STREAM;
    s->protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
    s->contacted = true;
    s->local = msg.u.sock.local;
    s->remote = msg.u.sock.remote;
    s->bound = s->local.port != 0;
    if (type == SOCK_SEQPACKET && !udp)
        atomic_store(&s->state, TS_LISTENING);
    else if (s->type == SOCK_STREAM && msg.u.sock.state >= TCP_ESTABLISHED)
        atomic_store(&s->state, TS_CONNECTED);
    else if (s->type == SOCK_DGRAM && s->remote.port != 0) {
        s->udp_connected = true;
        atomic_store(&s->state, TS_CONNECTED);
    }
    fdt_set(fd, s);
    tsock_unref(s);
    return s;
}

/* ---- shutdown ---- */

SHIM_EXPORT int shutdown(int fd, int how)
{
    struct tsock *s = tsock_lookup_ctl(fd);
    if (s == NULL)
        return REAL(shutdown) ? REAL(shutdown)(fd, how)
                              : (int)raw_ret(RAW(SYS_shutdown, fd, how, 0, 0, 0, 0));
    if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR) {
        errno = EINVAL;
        return -1;
    }
    int state = atomic_load(&s->state);
    bool connected = s->type == SOCK_STREAM ? (state == TS_CONNECTED || state == TS_CONNECTING)
                                            : s->udp_connected;
    if (state == TS_LISTENING) {
        /* Linux closes a listener on SHUT_RD: blocked accepts return. */
        if (how == SHUT_WR)
            return 0;
        return REAL(shutdown)(fd, how);
    }
    if (!connected) {
        errno = ENOTCONN; /* AF_UNIX would say 0 (item 6) */
        return -1;
    }
    if (s->type == SOCK_DGRAM) {
        /* A datagram bridge that hangs up is a closed socket to the
         * stack: writing is refused here, reading stops natively. */
        if (how != SHUT_RD)
            s->shut_wr = true;
        if (how != SHUT_WR)
            return REAL(shutdown)(fd, SHUT_RD);
        return 0;
    }
    /* Natively on the bridge, so the FIN follows the data (item 3). */
    int rc = REAL(shutdown)(fd, how);
    if (rc == 0 && how != SHUT_RD)
        s->shut_wr = true;
    return rc;
}

int tsock_final_error(struct tsock *s, int fd)
{
    if (shim_bypass_ctl())
        return 0;
    dev_t dev;
    ino_t ino;
    if (!fd_identity(fd, &dev, &ino) || dev != s->dev || ino != s->ino)
        return 0;
    if (atomic_load(&s->state) == TS_CONNECTING) {
        bool est;
        return tsock_connect_progress(s, fd, true, &est);
    }
    struct ctl_msg msg = {.op = CTL_OP_SOCK_STATUS, .flags = CTL_F_CLEAR_ERROR};
    if (tsock_request(s, fd, &msg, -1, -1) < 0)
        return 0;
    return msg.u.sock.error;
}

void shim_raise_sigpipe(void)
{
    SHIM_SAVE_ERRNO;
    RAW(SYS_tgkill, sys_getpid(), sys_gettid(), SIGPIPE, 0, 0, 0);
    SHIM_RESTORE_ERRNO;
}

/* ---- close and the fd-number calls ---- */

int shim_close_impl(int fd)
{
    if (shim_bypass())
        return REAL(close) ? REAL(close)(fd) : (int)raw_ret(RAW(SYS_close, fd, 0, 0, 0, 0, 0));
    if (shim_fd_hidden(fd)) {
        /* The stack's and the shim's own fds do not exist for the program
         * (item 10). */
        errno = EBADF;
        return -1;
    }
    if ((fdt_get(fd) != NULL || shim_epfd_marked(fd)) && sys_getpid() == shim_pid) {
        /* Forget before closing: once closed, the number may be reused
         * by another thread at once. */
        fdt_clear(fd);
        if (shim_epfd_marked(fd)) {
            shim_epfd_unmark(fd);
            tsock_ep_forget_epfd(fd);
        }
    }
    return REAL(close)(fd);
}

SHIM_EXPORT int close(int fd)
{
    return shim_close_impl(fd);
}

static void share_entry(int from, int to)
{
    if (sys_getpid() != shim_pid)
        return;
    struct tsock *s = fdt_get(from);
    if (s != NULL)
        fdt_set(to, s);
    else if (fdt_get(to) != NULL)
        fdt_clear(to);
}

SHIM_EXPORT int dup(int fd)
{
    if (shim_bypass())
        return REAL(dup) ? REAL(dup)(fd) : (int)raw_ret(RAW(SYS_dup, fd, 0, 0, 0, 0, 0));
    if (shim_fd_hidden(fd)) {
        errno = EBADF;
        return -1;
    }
    int r = REAL(dup)(fd);
    if (r >= 0)
        share_entry(fd, r);
    return r;
}

static int dup3_impl(int fd, int fd2, int flags, bool is3)
{
    if (shim_bypass()) {
        if (is3)
            return REAL(dup3) ? REAL(dup3)(fd, fd2, flags)
                              : (int)raw_ret(RAW(SYS_dup3, fd, fd2, flags, 0, 0, 0));
        return REAL(dup2) ? REAL(dup2)(fd, fd2) : (int)raw_ret(raw_dup2(fd, fd2));
    }
    if (shim_fd_hidden(fd)) {
        errno = EBADF;
        return -1;
    }
    if (shim_fd_hidden(fd2)) {
        /* The number is the stack's: it cannot be handed over. */
        errno = EBUSY;
        return -1;
    }
    int r = is3 ? REAL(dup3)(fd, fd2, flags) : REAL(dup2)(fd, fd2);
    if (r >= 0 && fd != fd2)
        share_entry(fd, fd2);
    return r;
}

SHIM_EXPORT int dup2(int fd, int fd2)
{
    return dup3_impl(fd, fd2, 0, false);
}

SHIM_EXPORT int dup3(int fd, int fd2, int flags)
{
    return dup3_impl(fd, fd2, flags, true);
}

int shim_fcntl_dup_note(int fd, int newfd)
{
    share_entry(fd, newfd);
    return newfd;
}

/* close_range/closefrom skip the hidden fds (item 10). */
static int close_span(unsigned first, unsigned last, int flags)
{
    if (first > last)
        return 0;
    long r = REAL(close_range) ? REAL(close_range)(first, last, flags)
                               : raw_ret(RAW(SYS_close_range, first, last, flags, 0, 0, 0));
    if (r < 0 && errno == ENOSYS) {
        for (unsigned fd = first; fd <= last && fd < 65536; fd++)
            RAW(SYS_close, fd, 0, 0, 0, 0, 0);
        return 0;
    }
    return (int)r;
}

SHIM_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    if (shim_bypass() || sys_getpid() != shim_pid || (flags & CLOSE_RANGE_CLOEXEC)) {
        /* A vfork child's table is its own; close-on-exec is already set
         * on every hidden fd. */
        return REAL(close_range) ? REAL(close_range)(first, last, flags)
                                 : (int)raw_ret(RAW(SYS_close_range, first, last, flags, 0, 0, 0));
    }
    if (first > last) {
        errno = EINVAL;
        return -1;
    }
    fdt_clear_range(first, last);
    unsigned start = first;
    int rc = 0;
    unsigned scan_end = last < FDREG_LIMIT ? last : FDREG_LIMIT - 1;
    for (unsigned fd = first; fd <= scan_end && fd >= first; fd++) {
        if (shim_fd_hidden((int)fd)) {
            if (fd > start && close_span(start, fd - 1, flags) < 0)
                rc = -1;
            start = fd + 1;
        }
    }
    if (start <= last && close_span(start, last, flags) < 0)
        rc = -1;
    return rc;
}

SHIM_EXPORT void closefrom(int lowfd)
{
    if (lowfd < 0)
        lowfd = 0;
    close_range((unsigned)lowfd, ~0u, 0);
}

/* For syscall() dispatch (io.c). */
SHIM_ALIAS(socket);
SHIM_ALIAS(bind);
SHIM_ALIAS(listen);
SHIM_ALIAS(accept);
SHIM_ALIAS(accept4);
SHIM_ALIAS(connect);
SHIM_ALIAS(getsockname);
SHIM_ALIAS(getpeername);
SHIM_ALIAS(shutdown);
SHIM_ALIAS(dup);
SHIM_ALIAS(dup2);
SHIM_ALIAS(dup3);
SHIM_ALIAS(close_range);
