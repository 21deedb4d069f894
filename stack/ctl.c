/* The control channel, stack side: accept client channels, read requests,
 * answer at once or when the protocol finishes (ping), and forget a
 * client's pending work when it goes away. */
#include <errno.h>
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
#include "icmp.h"
#include "loop.h"
#include "stack.h"

#define CTL_MAX_CLIENTS 256

struct ctl_client {
    struct loop_watch watch; /* first: the watch callback casts back */
    struct ctl_state *ctl;
    bool in_use;
    uint32_t generation;
};

struct ctl_state {
    struct loop *loop;
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
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len);
    if (bind(fd, (struct sockaddr *)&sun, len) < 0 || listen(fd, 64) < 0) {
        int e = errno;
        close(fd);
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
    close(client->watch.fd);
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

static void ping_done(struct stack *stack, uint64_t cookie, int result, uint64_t rtt_us)
{
    uint32_t id;
    struct ctl_client *client = client_for_cookie(stack->ctl, cookie, &id);
    if (client == NULL)
        return;
    struct ctl_msg reply = {.op = CTL_OP_PING, .id = id, .result = result};
    reply.u.ping.rtt_us = rtt_us;
    client_send(client, &reply);
}

static void handle_request(struct ctl_client *client, struct ctl_msg *msg)
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
    default:
        STAT_INC(stack, ctl_errors);
        reply.result = -EOPNOTSUPP;
        break;
    }
    client_send(client, &reply);
}

static void on_client(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    (void)loop;
    struct ctl_client *client = (struct ctl_client *)watch;
    for (int i = 0; i < 16; i++) {
        struct ctl_msg msg;
        ssize_t n = recv(watch->fd, &msg, sizeof(msg), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n <= 0) {
            client_close(client);
            return;
        }
        if ((size_t)n != sizeof(msg)) {
            STAT_INC(loop_stack(client->ctl->loop), ctl_errors);
            continue;
        }
        handle_request(client, &msg);
    }
    (void)events;
}

static void on_listen(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    (void)events;
    struct ctl_state *ctl = loop_stack(loop)->ctl;
    for (;;) {
        int fd = accept4(watch->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        /* Only the same user may drive the stack. */
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
            (cred.uid != geteuid() && cred.uid != 0)) {
            close(fd);
            continue;
        }
        struct ctl_client *client = NULL;
        for (unsigned i = 0; i < CTL_MAX_CLIENTS && client == NULL; i++)
            if (!ctl->clients[i].in_use)
                client = &ctl->clients[i];
        if (client == NULL) {
            STAT_INC(loop_stack(loop), ctl_errors);
            close(fd);
            continue;
        }
        client->in_use = true;
        client->watch.fd = fd;
        client->watch.fn = on_client;
        if (loop_watch_add(loop, &client->watch, EPOLLIN) < 0) {
            close(fd);
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
    for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++) {
        ctl->clients[i].ctl = ctl;
        ctl->clients[i].watch.fd = -1;
    }
    ctl->listen_watch.fd = listen_fd;
    ctl->listen_watch.fn = on_listen;
    int rc = loop_watch_add(loop, &ctl->listen_watch, EPOLLIN);
    if (rc < 0) {
        close(listen_fd);
        free(ctl);
        return rc;
    }
    stack->ctl = ctl;
    return 0;
}

void ctl_stop(struct loop *loop)
{
    struct stack *stack = loop_stack(loop);
    struct ctl_state *ctl = stack->ctl;
    if (ctl == NULL)
        return;
    for (unsigned i = 0; i < CTL_MAX_CLIENTS; i++)
        if (ctl->clients[i].in_use)
            client_close(&ctl->clients[i]);
    loop_watch_del(loop, &ctl->listen_watch);
    close(ctl->listen_watch.fd);
    free(ctl);
    stack->ctl = NULL;
}
