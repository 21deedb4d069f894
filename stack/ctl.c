/* The control channel, stack side: accept client channels, read requests,
 * answer at once or when the protocol finishes (ping), and forget a
 * client's pending work when it goes away. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "ctl_proto.h"
#include "fdreg.h"
#include "icmp.h"
#include "loop.h"
#include "sock.h"
#include "tcp.h"
#include "stack.h"

#define CTL_MAX_CLIENTS 256

struct ctl_client {
    struct loop_watch watch; /* first: the watch callback casts back */
    struct ctl_state *ctl;
    bool in_use;
    uint32_t generation;
    pid_t pid; /* the client's process (SO_PEERCRED) */
};

struct ctl_state {
    struct loop *loop;
    int spare_fd; /* given up to accept-and-refuse when fds run out */
    struct loop_watch listen_watch;
    struct ctl_client clients[CTL_MAX_CLIENTS];
};

unsigned ctl_socket_name(const char *iface, char *out, unsigned outlen)
{
    struct stat st;
    unsigned long long netns = 0;
    if (stat("/proc/self/ns/net", &st) == 0)
        netns = (unsigned long long)st.st_ino;
    int n = snprintf(out, outlen, "%ctoysock.%llu.%s", '\0', netns, iface);
    return n < 0 ? 0 : (unsigned)n < outlen ? (unsigned)n : outlen - 1;
}

int ctl_listen(const char *iface, int *out_fd)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    unsigned name_len = ctl_socket_name(iface, sun.sun_path, sizeof(sun.sun_path));
    int fd = fdreg_take(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return fd < -1 ? fd : -errno;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len);
    if (bind(fd, (struct sockaddr *)&sun, len) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        fdreg_close(fd);
        return -e;
    }
    *out_fd = fd;
    return 0;
}

/* A request answered later is named by a cookie: client slot, the slot's
 * generation (so a reused slot is told apart) and the request id. */
static uint64_t request_cookie(const struct ctl_client *client, uint32_t id)
{
    uint64_t index = (uint64_t)(client - client->ctl->clients);
    return index << 48 | (uint64_t)(client->generation & 0xffff) << 32 | id;
}

static struct ctl_client *client_for_cookie(struct ctl_state *ctl, uint64_t cookie,
                                            uint32_t *id)
{
    uint64_t index = cookie >> 48;
    if (ctl == NULL || index >= CTL_MAX_CLIENTS)
        return NULL;
    struct ctl_client *client = &ctl->clients[index];
    if (!client->in_use || (client->generation & 0xffff) != ((cookie >> 32) & 0xffff))
        return NULL;
    *id = (uint32_t)cookie;
    return client;
}

static void client_close(struct ctl_client *client)
{
    loop_watch_del(client->ctl->loop, &client->watch);
    fdreg_close(client->watch.fd);
    client->watch.fd = -1;
    client->in_use = false;
    client->generation++;
}

static void client_send(struct ctl_client *client, const struct ctl_msg *msg)
{
    /* Replies are small and the client waits for each: a full socket means
     * a broken client, which loses the reply. */
    if (send(client->watch.fd, msg, sizeof(*msg), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        STAT_INC(loop_stack(client->ctl->loop), ctl_errors);
}

/* A reply that the protocols produced later (connect, ping). */
static void deferred_reply(struct stack *stack, uint64_t cookie, const struct ctl_msg *reply)
{
    uint32_t id;
    struct ctl_client *client = client_for_cookie(stack->ctl, cookie, &id);
    if (client == NULL)
        return;
    struct ctl_msg msg = *reply;
    msg.id = id;
    client_send(client, &msg);
}

static void ping_done(struct stack *stack, uint64_t cookie, int result, uint64_t rtt_us)
{
    struct ctl_msg reply = {.op = CTL_OP_PING, .result = result};
    reply.u.ping.rtt_us = rtt_us;
    deferred_reply(stack, cookie, &reply);
}

static void handle_request(struct ctl_client *client, struct ctl_msg *msg, int *fds,
                           unsigned nfds)
{
    struct stack *stack = loop_stack(client->ctl->loop);
    STAT_INC(stack, ctl_requests);
    struct ctl_msg reply = {.op = msg->op, .id = msg->id};
    switch (msg->op) {
    case CTL_OP_STATS: {
        unsigned n = stack_stats_count();
        if (n > CTL_MAX_STATS)
            n = CTL_MAX_STATS;
        for (unsigned i = 0; i < n; i++)
            reply.u.stats.values[i] = stack_stats_value(&stack->stats, i);
        reply.u.stats.count = n;
        reply.result = (int32_t)n;
        break;
    }
    case CTL_OP_PING: {
        uint64_t cookie = request_cookie(client, msg->id);
        uint64_t timeout_us = (uint64_t)msg->u.ping.timeout_ms * 1000u;
        int rc = icmp_echo_start(stack, msg->u.ping.dst, msg->u.ping.seq,
                                 msg->u.ping.payload_len, timeout_us, ping_done, cookie);
        if (rc == 0)
            return; /* answered by ping_done */
        reply.result = rc;
        break;
    }
    case CTL_OP_HELLO:
        reply.u.hello = (struct ctl_hello){.addr = stack->cfg.addr,
                                           .gateway = stack->cfg.gateway,
                                           .mtu = stack->cfg.mtu,
                                           .prefix_len = stack->cfg.prefix_len,
                                           .pid = getpid()};
        break;
    case CTL_OP_USAGE: {
        unsigned foreign = 0;
        for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++)
            foreign += client->ctl->clients[i].in_use && client->ctl->clients[i].pid != getpid();
        reply.u.usage = (struct ctl_usage){.live_sockets = sock_live_count(stack),
                                           .unfinished = tcp_unfinished_count(stack),
                                           .foreign_clients = foreign};
        break;
    }
    case CTL_OP_SOCK_BIND:
    case CTL_OP_SOCK_LISTEN:
    case CTL_OP_SOCK_CONNECT:
    case CTL_OP_SOCK_STATUS:
    case CTL_OP_SOCK_SETOPT:
    case CTL_OP_SOCK_GETOPT:
        /* sock_request owns the fds from here on. */
        if (!sock_request(stack, msg, fds, nfds, request_cookie(client, msg->id), &reply))
            return;
        nfds = 0;
        break;
    default:
        STAT_INC(stack, ctl_errors);
        reply.result = -EOPNOTSUPP;
        break;
    }
    for (unsigned i = 0; i < nfds; i++)
        fdreg_close(fds[i]);
    client_send(client, &reply);
}

/* Reads one request and the fds that came with it. Returns the byte
 * count, 0 at end of stream, -errno on error. */
static ssize_t recv_request(int fd, struct ctl_msg *msg, int *fds, unsigned *nfds)
{
    struct iovec iov = {.iov_base = msg, .iov_len = sizeof(*msg)};
    union {
        char buf[CMSG_SPACE(CTL_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf)};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -errno;
    *nfds = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        unsigned count = (unsigned)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (unsigned i = 0; i < count; i++) {
            int got;
            memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (*nfds < CTL_MAX_FDS)
                fds[(*nfds)++] = fdreg_take(got);
            else
                close(got);
        }
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        /* More fds than a request may carry: refuse the request. */
        for (unsigned i = 0; i < *nfds; i++)
            fdreg_close(fds[i]);
        *nfds = 0;
        return -EMSGSIZE;
    }
    return n;
}

static void on_client(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    (void)loop;
    (void)events;
    struct ctl_client *client = (struct ctl_client *)watch;
    for (int i = 0; i < 16 && client->in_use; i++) {
        struct ctl_msg msg;
        int fds[CTL_MAX_FDS];
        unsigned nfds = 0;
        ssize_t n = recv_request(watch->fd, &msg, fds, &nfds);
        if (n == -EAGAIN || n == -EINTR)
            return;
        if (n == -EMSGSIZE) {
            STAT_INC(loop_stack(client->ctl->loop), ctl_errors);
            continue;
        }
        if (n <= 0) {
            client_close(client);
            return;
        }
        if ((size_t)n != sizeof(msg)) {
            STAT_INC(loop_stack(client->ctl->loop), ctl_errors);
            for (unsigned k = 0; k < nfds; k++)
                fdreg_close(fds[k]);
            continue;
        }
        handle_request(client, &msg, fds, nfds);
    }
}

static void on_listen(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    (void)events;
    struct ctl_state *ctl = loop_stack(loop)->ctl;
    for (;;) {
        int fd = fdreg_take(accept4(watch->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && ctl->spare_fd >= 0) {
            /* Out of fds: the pending client would keep the listener
             * readable and the loop spinning. Refuse it with the spare. */
            fdreg_close(ctl->spare_fd);
            int refused = accept4(watch->fd, NULL, NULL, SOCK_CLOEXEC);
            if (refused >= 0)
                close(refused);
            ctl->spare_fd = fdreg_take(open("/dev/null", O_RDONLY | O_CLOEXEC));
            STAT_INC(loop_stack(loop), ctl_errors);
            continue;
        }
        if (fd < 0)
            return;
        /* Only the same user may drive the stack. */
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
            (cred.uid != geteuid() && cred.uid != 0)) {
            fdreg_close(fd);
            continue;
        }
        struct ctl_client *client = NULL;
        for (unsigned i = 0; i < CTL_MAX_CLIENTS && client == NULL; i++)
            if (!ctl->clients[i].in_use)
                client = &ctl->clients[i];
        if (client == NULL) {
            STAT_INC(loop_stack(loop), ctl_errors);
            fdreg_close(fd);
            continue;
        }
        client->in_use = true;
        client->pid = cred.pid;
        client->watch.fd = fd;
        client->watch.fn = on_client;
        if (loop_watch_add(loop, &client->watch, EPOLLIN) < 0) {
            fdreg_close(fd);
            client->in_use = false;
        }
    }
}

int ctl_start(struct loop *loop, int listen_fd)
{
    struct stack *stack = loop_stack(loop);
    struct ctl_state *ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return -ENOMEM;
    ctl->loop = loop;
    ctl->spare_fd = fdreg_take(open("/dev/null", O_RDONLY | O_CLOEXEC));
    for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
        ctl->clients[i].ctl = ctl;
        ctl->clients[i].watch.fd = -1;
    }
    ctl->listen_watch.fd = listen_fd;
    ctl->listen_watch.fn = on_listen;
    int rc = loop_watch_add(loop, &ctl->listen_watch, EPOLLIN);
    if (rc < 0) {
        fdreg_close(listen_fd);
        fdreg_close(ctl->spare_fd);
        free(ctl);
        return rc;
    }
    stack->ctl = ctl;
    rc = sock_table_create(loop, deferred_reply);
    if (rc < 0) {
        ctl_stop(loop);
        return rc;
    }
    loop_set_before_sleep(loop, sock_reap);
    return 0;
}

void ctl_stop(struct loop *loop)
{
    struct stack *stack = loop_stack(loop);
    struct ctl_state *ctl = stack->ctl;
    sock_table_destroy(stack);
    if (ctl == NULL)
        return;
    for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++)
        if (ctl->clients[i].in_use)
            client_close(&ctl->clients[i]);
    loop_watch_del(loop, &ctl->listen_watch);
    fdreg_close(ctl->listen_watch.fd);
    fdreg_close(ctl->spare_fd);
    free(ctl);
    stack->ctl = NULL;
}

unsigned ctl_client_count(const struct stack *stack)
{
    const struct ctl_state *ctl = stack->ctl;
    unsigned n = 0;
    for (unsigned i = 0; ctl != NULL && i < CTL_MAX_CLIENTS; i++)
        n += ctl->clients[i].in_use;
    return n;
}
