/* The native API's TCP calls: bridges are made here, in the caller, and
 * handed to the stack with the request that needs them. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api.h"
#include "ctl_proto.h"

/* TCP_INFO from <netinet/tcp.h>, whose state names clash with ours. */
#define TCP_INFO_OPTION 11

int toysock_tcp_connect(struct toysock *ts, uint32_t addr, uint16_t port, int timeout_ms)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0)
        return -errno;
    struct ctl_msg msg = {.op = CTL_OP_SOCK_CONNECT, .flags = CTL_F_WAIT};
    msg.u.sock.remote = (struct ctl_endpoint){.addr = addr, .port = port, .family = AF_INET};
    msg.u.sock.timeout_ms = timeout_ms > 0 ? (uint32_t)timeout_ms : 0;
    int rc = api_call(ts, &msg, pair, 2);
    close(pair[1]);
    if (rc < 0) {
        close(pair[0]);
        return rc;
    }
    return pair[0];
}

int toysock_tcp_listen(struct toysock *ts, uint32_t addr, uint16_t port, int backlog)
{
    int pair[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
        return -errno;
    struct ctl_msg msg = {.op = CTL_OP_SOCK_LISTEN, .flags = CTL_F_REUSEADDR};
    msg.u.sock.local = (struct ctl_endpoint){.addr = addr, .port = port, .family = AF_INET};
    msg.u.sock.backlog = backlog;
    int rc = api_call(ts, &msg, pair, 2);
    close(pair[1]);
    if (rc < 0) {
        close(pair[0]);
        return rc;
    }
    return pair[0];
}

int toysock_tcp_accept(struct toysock *ts, int listen_fd, uint32_t *peer_addr,
                       uint16_t *peer_port)
{
    (void)ts;
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
    ssize_t n = recvmsg(listen_fd, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -errno;
    if (n == 0)
        return -EINVAL; /* the listener was shut down */
    int fd = ctl_msghdr_take_fd(&mh);
    if (fd < 0 || (size_t)n != sizeof(hdr)) {
        if (fd >= 0)
            close(fd);
        return -EPROTO;
    }
    if (peer_addr)
        *peer_addr = hdr.remote.addr;
    if (peer_port)
        *peer_port = hdr.remote.port;
    return fd;
}

static int status(struct toysock *ts, int fd, struct ctl_msg *msg)
{
    int fds[1] = {fd};
    memset(msg, 0, sizeof(*msg));
    msg->op = CTL_OP_SOCK_STATUS;
    return api_call(ts, msg, fds, 1);
}

int toysock_tcp_local(struct toysock *ts, int fd, uint32_t *addr, uint16_t *port)
{
    struct ctl_msg msg;
    int rc = status(ts, fd, &msg);
    if (rc < 0)
        return rc;
    if (addr)
        *addr = msg.u.sock.local.addr;
    if (port)
        *port = msg.u.sock.local.port;
    return 0;
}

/* The error that ended the connection, or 0 for an orderly end. */
static int final_error(struct toysock *ts, int fd)
{
    struct ctl_msg msg;
    int rc = status(ts, fd, &msg);
    if (rc < 0)
        return rc;
    return -msg.u.sock.error;
}

ssize_t toysock_tcp_send(struct toysock *ts, int fd, const void *buf, size_t len)
{
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n >= 0)
        return n;
    int e = errno;
    if (e == EPIPE || e == ECONNRESET) {
        int rc = final_error(ts, fd);
        return rc < 0 ? rc : -EPIPE;
    }
    return -e;
}

ssize_t toysock_tcp_recv(struct toysock *ts, int fd, void *buf, size_t len)
{
    ssize_t n = recv(fd, buf, len, 0);
    if (n > 0 || (n == 0 && len == 0))
        return n;
    if (n < 0 && errno != ECONNRESET)
        return -errno;
    int rc = final_error(ts, fd);
    return rc < 0 ? rc : 0;
}

int toysock_tcp_info(struct toysock *ts, int fd, struct toysock_tcp_info *info)
{
    struct ctl_msg msg = {.op = CTL_OP_SOCK_GETOPT};
    msg.u.opt.level = IPPROTO_TCP;
    msg.u.opt.name = TCP_INFO_OPTION;
    int fds[1] = {fd};
    int rc = api_call(ts, &msg, fds, 1);
    if (rc < 0)
        return rc;
    size_t n = msg.u.opt.len < sizeof(*info) ? msg.u.opt.len : sizeof(*info);
    memset(info, 0, sizeof(*info));
    memcpy(info, msg.u.opt.value, n);
    return 0;
}

int toysock_tcp_setopt(struct toysock *ts, int fd, int level, int name, const void *value,
                       unsigned len)
{
    if (len > CTL_OPT_MAX)
        return -EINVAL;
    struct ctl_msg msg = {.op = CTL_OP_SOCK_SETOPT};
    msg.u.opt.level = level;
    msg.u.opt.name = name;
    msg.u.opt.len = len;
    memcpy(msg.u.opt.value, value, len);
    int fds[1] = {fd};
    return api_call(ts, &msg, fds, 1);
}
