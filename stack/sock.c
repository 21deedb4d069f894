/* Sockets bridged to programs: the stack end of each bridge, the pumps
 * that move bytes between it and TCP, listeners handing connections over
 * as SCM_RIGHTS, and the socket requests of the control channel.
 *
 * TCP events only mark a socket; the marked sockets are pumped at the end
 * of the loop turn (sock_reap), outside TCP's callbacks. Bridge events are
 * pumped at once. A socket whose bridge is gone lingers as a "zombie" (its
 * error and endpoints still answer SO_ERROR and getpeername) until a
 * bounded FIFO evicts it. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_proto.h"
#include "fdreg.h"
#include "loop.h"
#include "sock_priv.h"
#include "sock_opt.h"
#include "stack.h"
#include "tcp.h"

static void sock_tcp_event(struct tcp_pcb *pcb, void *owner, unsigned events);
static void on_bridge(struct loop *loop, struct loop_watch *watch, uint32_t events);
static void connect_timeout(struct stack *stack, struct timer *timer);
static void connect_reply(struct sock *s, int result);
static void pump_accept(struct sock *s);

struct sock_table *sock_table_of(const struct stack *stack)
{
    return stack->socks;
}

static unsigned bucket_of(dev_t dev, ino_t ino)
{
    uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev;
    return (unsigned)(h >> 40) % SOCK_HASH_BUCKETS;
}

static struct sock *sock_lookup(struct sock_table *t, dev_t dev, ino_t ino)
{
    for (struct sock *s = t->buckets[bucket_of(dev, ino)]; s; s = s->hash_next)
        if (s->prog_ino == ino && s->prog_dev == dev)
            return s;
    return NULL;
}

static void sock_unhash(struct sock *s)
{
    struct sock **pp = &s->table->buckets[bucket_of(s->prog_dev, s->prog_ino)];
    while (*pp && *pp != s)
        pp = &(*pp)->hash_next;
    if (*pp)
        *pp = s->hash_next;
}

void sock_set_interest(struct sock *s, uint32_t events)
{
    if (s->watch.fd < 0)
        return;
    if (s->watch_parked) {
        s->watch_parked = false;
        s->interest = events;
        loop_watch_add(s->table->loop, &s->watch, events);
        return;
    }
    if (events == s->interest)
        return;
    s->interest = events;
    loop_watch_mod(s->table->loop, &s->watch, events);
}

/* EPOLLHUP is reported whatever we ask for: while the socket can do
 * nothing about it (TCP's send buffer is full), the watch leaves epoll so
 * the loop does not spin, and TCP_EV_WRITABLE brings it back. */
static void park_watch(struct sock *s)
{
    if (s->watch.fd < 0 || s->watch_parked)
        return;
    loop_watch_del(s->table->loop, &s->watch);
    s->watch_parked = true;
}

void sock_mark_work(struct sock *s)
{
    if (s->on_work_list || s->zombie)
        return;
    s->on_work_list = true;
    s->work_next = s->table->work;
    s->table->work = s;
}

static struct sock *sock_new(struct stack *stack, int stack_fd, const struct stat *prog)
{
    struct sock_table *t = sock_table_of(stack);
    if (t->count >= SOCK_MAX)
        return NULL;
    struct sock *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->table = t;
    s->watch.fd = stack_fd;
    s->watch.fn = on_bridge;
    s->prog_dev = prog->st_dev;
    s->prog_ino = prog->st_ino;
    s->parked_fd = -1;
    timer_init(&s->connect_timer, connect_timeout);
    int flags = fcntl(stack_fd, F_GETFL);
    fcntl(stack_fd, F_SETFL, flags | O_NONBLOCK);
    /* Only hang-ups at first; pumps ask for more as they need it. */
    s->interest = EPOLLRDHUP;
    if (loop_watch_add(t->loop, &s->watch, s->interest) < 0) {
        free(s);
        return NULL;
    }
    unsigned b = bucket_of(s->prog_dev, s->prog_ino);
    s->hash_next = t->buckets[b];
    t->buckets[b] = s;
    t->count++;
    return s;
}

static void bridge_close(struct sock *s)
{
    if (s->watch.fd < 0)
        return;
    loop_watch_del(s->table->loop, &s->watch);
    /* shutdown first: copies of the program end held elsewhere (forked
     * children) must still see the hang-up. */
    shutdown(s->watch.fd, SHUT_RDWR);
    fdreg_close(s->watch.fd);
    s->watch.fd = -1;
}

static void endpoints_from_pcb(struct sock *s)
{
    if (s->pcb == NULL)
        return;
    tcp_local_endpoint(s->pcb, &s->local.addr, &s->local.port);
    tcp_remote_endpoint(s->pcb, &s->remote.addr, &s->remote.port);
    s->local.family = s->remote.family = AF_INET;
}

static void sock_free(struct sock *s)
{
    struct stack *stack = loop_stack(s->table->loop);
    if (s->on_work_list) {
        struct sock **pp = &s->table->work;
        while (*pp != NULL && *pp != s)
            pp = &(*pp)->work_next;
        if (*pp == s)
            *pp = s->work_next;
        s->on_work_list = false;
    }
    if (s->connect_waiting)
        connect_reply(s, -ECONNABORTED);
    timer_cancel(stack, &s->connect_timer);
    bridge_close(s);
    if (s->pcb != NULL) {
        tcp_set_owner(s->pcb, NULL, NULL);
        tcp_abort(s->pcb);
    }
    if (s->parked != NULL)
        sock_free(s->parked);
    if (s->parked_fd >= 0)
        fdreg_close(s->parked_fd);
    if (s->udp != NULL)
        dgram_release(s);
    sock_unhash(s);
    s->table->count--;
    free(s);
}

/* The bridge is gone: keep the record for status queries, bounded. */
void sock_make_zombie(struct sock *s)
{
    struct sock_table *t = s->table;
    if (s->zombie)
        return;
    struct stack *stack = loop_stack(t->loop);
    timer_cancel(stack, &s->connect_timer);
    /* A blocking connect must not wait forever on a socket that is gone. */
    if (s->connect_waiting)
        connect_reply(s, -(s->final_error ? s->final_error : ECONNABORTED));
    bridge_close(s);
    s->rx_blocked = false;
    if (s->parked != NULL) {
        sock_free(s->parked);
        s->parked = NULL;
    }
    if (s->parked_fd >= 0) {
        fdreg_close(s->parked_fd);
        s->parked_fd = -1;
    }
    if (s->udp != NULL)
        dgram_release(s);
    s->zombie = true;
    s->zombie_next = NULL;
    if (t->zombies_tail)
        t->zombies_tail->zombie_next = s;
    else
        t->zombies_head = s;
    t->zombies_tail = s;
    t->zombie_count++;
}

/* Hands the pcb back to TCP: an orderly close, or RST when data the
 * program will never read is still waiting (RFC 9293 §3.10.4). */
static void release_pcb(struct sock *s, bool abort)
{
    if (s->pcb == NULL)
        return;
    endpoints_from_pcb(s);
    tcp_get_info(s->pcb, &s->last_info);
    s->last_opts = *tcp_get_options(s->pcb);
    s->have_last_info = true;
    tcp_set_owner(s->pcb, NULL, NULL);
    if (abort)
        tcp_abort(s->pcb);
    else
        tcp_close(s->pcb);
    s->pcb = NULL;
}

/* ---- Program to TCP ---- */

static bool bridge_hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 1 && (p.revents & POLLHUP);
}

static void program_closed(struct sock *s, bool with_unread)
{
    release_pcb(s, with_unread);
    sock_make_zombie(s);
}

static void pump_tx(struct sock *s)
{
    struct sock_table *t = s->table;
    while (s->pcb != NULL && !s->tx_eof && !s->connecting && s->watch.fd >= 0) {
        size_t space = tcp_send_space(s->pcb);
        if (space == 0)
            return; /* TCP_EV_WRITABLE resumes */
        if (space > sizeof(t->scratch))
            space = sizeof(t->scratch);
        ssize_t n = recv(s->watch.fd, t->scratch, space, MSG_DONTWAIT);
        if (n > 0) {
            long taken = tcp_send(s->pcb, t->scratch, (size_t)n);
            if (taken < 0)
                s->tx_eof = true; /* the connection failed: drop the rest */
            continue;
        }
        if (n < 0) {
            if (errno == ECONNRESET) /* closed with our data unread */
                program_closed(s, true);
            return;
        }
        /* EOF: the program shut down writing, or closed. A hang-up means
         * nothing more can cross the bridge either way: TCP finishes alone
         * (FIN after the queued data, or RST when data will go unread). */
        s->tx_eof = true;
        if (bridge_hung_up(s->watch.fd)) {
            program_closed(s, tcp_recv_available(s->pcb) > 0);
            return;
        }
        tcp_shutdown_write(s->pcb);
    }
}

/* ---- TCP to program ---- */

static void forward_fin(struct sock *s)
{
    if (!s->fin_forwarded && s->watch.fd >= 0) {
        shutdown(s->watch.fd, SHUT_WR);
        s->fin_forwarded = true;
    }
}

/* The connection is over: the program reads EOF after the data already
 * in the bridge, and its writes fail with EPIPE, so the shim asks for the
 * real error (SHIM-PITFALLS item 4). */
static void bridge_finish(struct sock *s)
{
    if (s->watch.fd >= 0)
        shutdown(s->watch.fd, SHUT_RDWR);
    s->fin_forwarded = true;
    s->tx_eof = true;
}

/* Data stays in TCP's ring until the bridge takes it: peek, send, then
 * consume what was sent. A full bridge keeps the TCP window closing and
 * waits for EPOLLOUT. */
static void pump_rx(struct sock *s)
{
    struct sock_table *t = s->table;
    if (s->watch.fd < 0 || s->connecting)
        return;
    s->rx_blocked = false;
    while (s->pcb != NULL) {
        size_t n = tcp_recv_peek(s->pcb, t->scratch, sizeof(t->scratch));
        if (n == 0)
            break;
        if (s->rx_discard) {
            tcp_recv(s->pcb, NULL, n); /* SHUT_RD or closed: keep ACKing, drop */
            continue;
        }
        ssize_t w = send(s->watch.fd, t->scratch, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            s->rx_discard = true;
            continue;
        }
        if (w > 0)
            tcp_recv(s->pcb, NULL, (size_t)w);
        if (w < 0 || (size_t)w < n) {
            s->rx_blocked = true;
            return;
        }
    }
    if (s->pcb == NULL || tcp_recv_eof(s->pcb) || s->closed_event) {
        s->eof_seen = true;
        forward_fin(s);
    }
}

static void update_interest(struct sock *s)
{
    if (s->watch.fd < 0)
        return;
    uint32_t ev = 0;
    if (s->kind == SOCK_KIND_LISTENER) {
        ev = EPOLLRDHUP;
        if (s->parked != NULL && !s->parked_retry)
            ev |= EPOLLOUT;
    } else {
        /* Once the program shut down writing, RDHUP stays true: asking for
         * it again would wake the loop forever. */
        if (!s->tx_eof)
            ev |= EPOLLRDHUP;
        if (s->pcb != NULL && !s->tx_eof && !s->connecting && tcp_send_space(s->pcb) > 0)
            ev |= EPOLLIN;
        if (s->rx_blocked)
            ev |= EPOLLOUT;
        if (s->hup_seen && !(ev & (EPOLLIN | EPOLLOUT))) {
            park_watch(s);
            return;
        }
    }
    sock_set_interest(s, ev);
}

/* ---- Connect ---- */

static void connect_reply(struct sock *s, int result)
{
    if (!s->connect_waiting)
        return;
    s->connect_waiting = false;
    struct ctl_msg reply = {.op = CTL_OP_SOCK_CONNECT, .id = s->connect_id, .result = result};
    reply.u.sock.local = s->local;
    reply.u.sock.remote = s->remote;
    s->table->reply(loop_stack(s->table->loop), s->connect_cookie, &reply);
}

static void connect_succeeded(struct sock *s)
{
    struct stack *stack = loop_stack(s->table->loop);
    timer_cancel(stack, &s->connect_timer);
    s->connecting = false;
    endpoints_from_pcb(s);
    /* The filler held POLLOUT back; taking it lets the program see the
     * socket writable exactly now. */
    uint32_t left = s->filler_len;
    while (left > 0 && s->watch.fd >= 0) {
        ssize_t n = recv(s->watch.fd, s->table->scratch,
                         left < SOCK_SCRATCH ? left : SOCK_SCRATCH, MSG_DONTWAIT);
        if (n <= 0)
            break;
        left -= (uint32_t)n;
    }
    s->filler_len = 0;
    connect_reply(s, 0);
}

static void connect_failed(struct sock *s, int err)
{
    struct stack *stack = loop_stack(s->table->loop);
    timer_cancel(stack, &s->connect_timer);
    s->connecting = false;
    s->error = s->final_error = err;
    connect_reply(s, -err);
    release_pcb(s, false);
    if (s->filler_len > 0) {
        /* Closing with the filler unread gives the program POLLERR and
         * ECONNRESET natively; SO_ERROR then tells the real error. */
        loop_watch_del(s->table->loop, &s->watch);
        fdreg_close(s->watch.fd);
        s->watch.fd = -1;
        sock_make_zombie(s);
    } else {
        bridge_finish(s);
    }
}

static void connect_timeout(struct stack *stack, struct timer *timer)
{
    (void)stack;
    struct sock *s = container_of(timer, struct sock, connect_timer);
    if (s->kind == SOCK_KIND_LISTENER) {
        /* The listener's retry of a parked connection (ETOOMANYREFS). */
        s->parked_retry = false;
        if (!s->zombie) {
            pump_accept(s);
            update_interest(s);
        }
        return;
    }
    if (s->connecting)
        connect_failed(s, ETIMEDOUT);
}

/* ---- Listener ---- */

static int make_bridge(int type, int fds[2])
{
    if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) < 0)
        return -errno;
    fds[0] = fdreg_take(fds[0]);
    fds[1] = fdreg_take(fds[1]);
    return 0;
}

/* Offers one accepted connection's program end to the listener bridge. */
static int offer_connection(struct sock *listener, struct sock *child, int prog_fd)
{
    struct ctl_accept_hdr hdr = {.local = child->local, .remote = child->remote};
    struct iovec iov = {.iov_base = &hdr, .iov_len = sizeof(hdr)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr mh = {.msg_iov = &iov,
                        .msg_iovlen = 1,
                        .msg_control = control.buf,
                        .msg_controllen = sizeof(control.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &prog_fd, sizeof(int));
    if (sendmsg(listener->watch.fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
        return -errno;
    return 0;
}

static void pump_accept(struct sock *s)
{
    struct stack *stack = loop_stack(s->table->loop);
    while (s->pcb != NULL && s->watch.fd >= 0) {
        struct sock *child = s->parked;
        int prog_fd = s->parked_fd;
        if (child == NULL) {
            struct tcp_pcb *pcb = tcp_accept(s->pcb);
            if (pcb == NULL)
                return;
            int fds[2];
            struct stat st;
            if (make_bridge(SOCK_STREAM, fds) < 0) {
                tcp_abort(pcb);
                continue;
            }
            if (fstat(fds[0], &st) < 0 || (child = sock_new(stack, fds[1], &st)) == NULL) {
                fdreg_close(fds[0]);
                fdreg_close(fds[1]);
                tcp_abort(pcb);
                continue;
            }
            child->pcb = pcb;
            tcp_set_owner(pcb, sock_tcp_event, child);
            endpoints_from_pcb(child);
            prog_fd = fds[0];
            sock_mark_work(child); /* data may already be waiting */
        }
        int rc = offer_connection(s, child, prog_fd);
        if (rc == -EAGAIN || rc == -ETOOMANYREFS) {
            s->parked = child;
            s->parked_fd = prog_fd;
            /* EAGAIN clears when the program accepts (EPOLLOUT); too many
             * fds in flight does not show in poll: retry on a timer. */
            s->parked_retry = rc == -ETOOMANYREFS;
            if (s->parked_retry)
                timer_arm(stack, &s->connect_timer, stack->now_us + 10000);
            return;
        }
        s->parked = NULL;
        s->parked_fd = -1;
        fdreg_close(prog_fd);
        if (rc < 0) /* the program closed the listener */
            return;
    }
}

/* ---- Events ---- */

static void sock_tcp_event(struct tcp_pcb *pcb, void *owner, unsigned events)
{
    (void)pcb;
    struct sock *s = owner;
    if (s == NULL)
        return;
    if (events & TCP_EV_CLOSED) {
        s->closed_event = true;
        s->final_error = tcp_error(s->pcb);
        if (s->final_error != 0)
            s->error = s->final_error;
    }
    sock_mark_work(s);
}

/* The connection ended and everything it received reached the bridge:
 * the pcb goes back to TCP and the program reads EOF/EPIPE. */
static void finish_if_drained(struct sock *s)
{
    if (s->closed_event && s->pcb != NULL &&
        tcp_recv_available(s->pcb) == 0) {
        endpoints_from_pcb(s);
        release_pcb(s, false);
        bridge_finish(s);
    }
}

static void sock_do_work(struct sock *s)
{
    if (s->zombie)
        return;
    if (s->kind == SOCK_KIND_DGRAM) {
        dgram_do_work(s);
        return;
    }
    if (s->kind == SOCK_KIND_LISTENER) {
        pump_accept(s);
        if (s->closed_event) /* a listener only closes when aborted */
            release_pcb(s, false);
    } else {
        if (s->connecting && s->pcb != NULL) {
            enum tcp_state st = tcp_get_state(s->pcb);
            if (s->closed_event)
                connect_failed(s, s->final_error ? s->final_error : ECONNREFUSED);
            else if (st >= TCP_ESTABLISHED)
                connect_succeeded(s);
        }
        if (s->zombie)
            return;
        pump_rx(s);
        pump_tx(s);
        if (s->zombie)
            return;
        finish_if_drained(s);
    }
    update_interest(s);
}

static void on_bridge(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    (void)loop;
    struct sock *s = container_of(watch, struct sock, watch);
    if (s->watch.fd < 0 || s->zombie)
        return;
    if (s->kind == SOCK_KIND_DGRAM) {
        dgram_on_bridge(s, events);
        return;
    }
    if (s->kind == SOCK_KIND_LISTENER) {
        if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) {
            program_closed(s, false);
            return;
        }
        if (events & EPOLLOUT)
            pump_accept(s);
        update_interest(s);
        return;
    }
    if (events & EPOLLERR) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(s->watch.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        program_closed(s, true); /* closed with our data unread */
        return;
    }
    if (events & EPOLLHUP)
        s->hup_seen = true;
    if (events & EPOLLOUT)
        pump_rx(s);
    if (s->zombie)
        return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP))
        pump_tx(s);
    if (s->zombie)
        return;
    finish_if_drained(s);
    if ((events & EPOLLHUP) && (s->pcb == NULL || s->closed_event)) {
        /* The connection is over and the program is gone. */
        program_closed(s, false);
        return;
    }
    if ((events & EPOLLHUP) && s->tx_eof) {
        /* Both directions are shut: nothing more can cross the bridge. */
        if (s->pcb != NULL && !s->fin_forwarded)
            program_closed(s, tcp_recv_available(s->pcb) > 0);
        else
            program_closed(s, false);
        return;
    }
    if (s->connecting && (events & EPOLLHUP)) {
        program_closed(s, true);
        return;
    }
    update_interest(s);
}

bool sock_reap(struct stack *stack)
{
    struct sock_table *t = sock_table_of(stack);
    if (t == NULL)
        return false;
    bool worked = t->work != NULL;
    /* Sockets are taken off the list one at a time, so one freed meanwhile
     * (sock_free unlinks it) is never visited. Pumping may mark more:
     * the budget keeps the turn bounded, the loop comes back at once. */
    for (unsigned budget = 4 * (t->count + 1); t->work != NULL && budget > 0; budget--) {
        struct sock *s = t->work;
        t->work = s->work_next;
        s->on_work_list = false;
        sock_do_work(s);
    }
    while (t->zombie_count > SOCK_ZOMBIES_MAX) {
        struct sock *z = t->zombies_head;
        t->zombies_head = z->zombie_next;
        if (t->zombies_head == NULL)
            t->zombies_tail = NULL;
        t->zombie_count--;
        sock_free(z);
    }
    return worked;
}

/* ---- Requests ---- */

static struct tcp_pcb *sock_pcb_new(struct sock *s)
{
    struct tcp_pcb *pcb = tcp_pcb_new(loop_stack(s->table->loop));
    if (pcb != NULL)
        tcp_set_owner(pcb, sock_tcp_event, s);
    return pcb;
}

/* Finds the socket named by the program end in fds[0], creating it on
 * first contact from the stack end in fds[1]. */
static int sock_resolve(struct stack *stack, const struct ctl_msg *msg, int *fds,
                        unsigned nfds, struct sock **out)
{
    struct stat st;
    if (nfds < 1 || fstat(fds[0], &st) < 0 || !S_ISSOCK(st.st_mode))
        return -ENOTSOCK;
    struct sock *s = sock_lookup(sock_table_of(stack), st.st_dev, st.st_ino);
    if (s != NULL) {
        if (nfds >= 2 && !s->zombie) {
            /* A new stack end replaces the old one (listen swaps a stream
             * bridge for a seqpacket one). */
            loop_watch_del(s->table->loop, &s->watch);
            fdreg_close(s->watch.fd);
            s->watch.fd = fds[1];
            fds[1] = -1;
            int fl = fcntl(s->watch.fd, F_GETFL);
            fcntl(s->watch.fd, F_SETFL, fl | O_NONBLOCK);
            s->interest = EPOLLRDHUP;
            s->watch_parked = false;
            s->hup_seen = false;
            loop_watch_add(s->table->loop, &s->watch, s->interest);
        }
        *out = s;
        return 0;
    }
    if (nfds < 2)
        return -EBADF;
    /* A stream bridge is TCP; a seqpacket one is a listener (LISTEN) or a
     * UDP socket (BIND, CONNECT). */
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fds[1], SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -EINVAL;
    bool udp = msg->u.sock.proto == IPPROTO_UDP ||
               (msg->u.sock.proto == 0 && type == SOCK_SEQPACKET &&
                msg->op != CTL_OP_SOCK_LISTEN);
    if (msg->op == CTL_OP_SOCK_LISTEN ? type != SOCK_SEQPACKET || udp
                                      : type != (udp ? SOCK_SEQPACKET : SOCK_STREAM))
        return -EINVAL;
    /* A listen on first contact names the socket by the new bridge's
     * program end, which becomes the program's fd. */
    struct stat key = st;
    if (nfds >= 3 && fds[2] >= 0 && fstat(fds[2], &key) < 0)
        key = st;
    s = sock_new(stack, fds[1], &key);
    if (s == NULL)
        return -ENOBUFS;
    if (udp)
        s->kind = SOCK_KIND_DGRAM;
    fds[1] = -1;
    *out = s;
    return 0;
}

/* From now on the socket is named by the program end in fd (listen swaps
 * the program's fd for the new bridge's end). */
static void sock_rekey(struct sock *s, int fd)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return;
    sock_unhash(s);
    s->prog_dev = st.st_dev;
    s->prog_ino = st.st_ino;
    unsigned b = bucket_of(s->prog_dev, s->prog_ino);
    s->hash_next = s->table->buckets[b];
    s->table->buckets[b] = s;
}

static int do_bind(struct sock *s, const struct ctl_msg *msg)
{
    if (s->pcb != NULL && (s->local.port != 0 || tcp_get_state(s->pcb) != TCP_CLOSED))
        return -EINVAL;
    if (s->pcb == NULL && (s->pcb = sock_pcb_new(s)) == NULL)
        return -ENOBUFS;
    int rc = tcp_bind(s->pcb, msg->u.sock.local.addr, msg->u.sock.local.port,
                      (msg->flags & CTL_F_REUSEADDR) != 0);
    if (rc == 0)
        endpoints_from_pcb(s);
    return rc;
}

static int do_listen(struct sock *s, const struct ctl_msg *msg)
{
    if (s->zombie)
        return -EINVAL;
    if (s->pcb == NULL && (s->pcb = sock_pcb_new(s)) == NULL)
        return -ENOBUFS;
    int rc;
    if (tcp_get_state(s->pcb) == TCP_LISTEN)
        return 0;
    if (tcp_get_state(s->pcb) != TCP_CLOSED)
        return -EINVAL;
    if (s->local.port == 0) {
        rc = tcp_bind(s->pcb, msg->u.sock.local.addr, msg->u.sock.local.port,
                      (msg->flags & CTL_F_REUSEADDR) != 0);
        if (rc < 0)
            return rc;
    }
    int type = 0;
    socklen_t len = sizeof(type);
    getsockopt(s->watch.fd, SOL_SOCKET, SO_TYPE, &type, &len);
    if (type != SOCK_SEQPACKET)
        return -EINVAL;
    int backlog = msg->u.sock.backlog;
    rc = tcp_listen(s->pcb, backlog <= 0 ? 1 : backlog);
    if (rc < 0)
        return rc;
    s->kind = SOCK_KIND_LISTENER;
    int sndbuf = LISTENER_BRIDGE_SNDBUF;
    setsockopt(s->watch.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    endpoints_from_pcb(s);
    update_interest(s);
    return 0;
}

static int do_connect(struct sock *s, const struct ctl_msg *msg, uint64_t cookie)
{
    if (s->zombie)
        return s->final_error ? -s->final_error : -EBADF;
    if (s->connecting)
        return -EALREADY;
    if (s->pcb == NULL) {
        if (s->closed_event)
            return -EISCONN;
        if ((s->pcb = sock_pcb_new(s)) == NULL)
            return -ENOBUFS;
    }
    if (tcp_get_state(s->pcb) >= TCP_ESTABLISHED)
        return -EISCONN;
    if (tcp_get_state(s->pcb) != TCP_CLOSED)
        return -EINVAL;
    int rc = tcp_connect(s->pcb, msg->u.sock.remote.addr, msg->u.sock.remote.port);
    if (rc < 0)
        return rc;
    s->connecting = true;
    s->filler_len = msg->u.sock.filler_len;
    endpoints_from_pcb(s);
    if (msg->flags & CTL_F_WAIT) {
        s->connect_waiting = true;
        s->connect_cookie = cookie;
        s->connect_id = msg->id;
        if (msg->u.sock.timeout_ms > 0) {
            struct stack *stack = loop_stack(s->table->loop);
            timer_arm(stack, &s->connect_timer,
                      stack->now_us + (uint64_t)msg->u.sock.timeout_ms * 1000u);
        }
        return 1; /* the reply waits for the handshake */
    }
    return 0;
}

static void fill_status(struct sock *s, struct ctl_msg *reply, bool clear)
{
    endpoints_from_pcb(s);
    reply->u.sock.local = s->local;
    reply->u.sock.remote = s->remote;
    reply->u.sock.error = s->error;
    reply->u.sock.state = s->pcb ? (uint32_t)tcp_get_state(s->pcb) : TCP_CLOSED;
    reply->u.sock.eof = s->eof_seen;
    if (clear)
        s->error = 0;
    /* After the pending error is read, reads keep failing with what ended
     * the connection only until it has been reported once. */
    if (!clear && s->error == 0 && s->final_error != 0 && s->fin_forwarded)
        reply->u.sock.error = s->final_error;
}

int sock_request(struct stack *stack, struct ctl_msg *msg, int *fds, unsigned nfds,
                 uint64_t cookie, struct ctl_msg *reply)
{
    struct sock *s = NULL;
    int rc = sock_table_of(stack) ? sock_resolve(stack, msg, fds, nfds, &s) : -ENETDOWN;
    if (rc == 0 && s->kind == SOCK_KIND_DGRAM) {
        switch (msg->op) {
        case CTL_OP_SOCK_BIND: rc = dgram_bind(s, msg); break;
        case CTL_OP_SOCK_CONNECT: rc = dgram_connect(s, msg); break;
        case CTL_OP_SOCK_STATUS:
            dgram_status(s, reply, (msg->flags & CTL_F_CLEAR_ERROR) != 0);
            rc = 0;
            break;
        case CTL_OP_SOCK_SETOPT:
        case CTL_OP_SOCK_GETOPT: rc = dgram_option(s, msg, reply); break;
        default: rc = -EOPNOTSUPP; break;
        }
    } else if (rc == 0) {
        switch (msg->op) {
        case CTL_OP_SOCK_BIND: rc = do_bind(s, msg); break;
        case CTL_OP_SOCK_LISTEN:
            rc = do_listen(s, msg);
            if (rc == 0 && nfds >= 3)
                sock_rekey(s, fds[2]);
            break;
        case CTL_OP_SOCK_CONNECT: rc = do_connect(s, msg, cookie); break;
        case CTL_OP_SOCK_STATUS:
            fill_status(s, reply, (msg->flags & CTL_F_CLEAR_ERROR) != 0);
            rc = 0;
            break;
        case CTL_OP_SOCK_SETOPT:
        case CTL_OP_SOCK_GETOPT:
            if (s->pcb == NULL && s->have_last_info)
                rc = sock_option_closed(&s->last_opts, &s->last_info, msg, reply);
            else
                rc = sock_option(s->pcb, msg, reply);
            break;
        default: rc = -EOPNOTSUPP; break;
        }
    }
    for (unsigned i = 0; i < nfds; i++)
        if (fds[i] >= 0)
            fdreg_close(fds[i]);
    if (rc == 1)
        return 0;
    /* Endpoints ride on replies that carry a struct ctl_sock; an option
     * reply's union holds the option instead. */
    if (s != NULL && (msg->op == CTL_OP_SOCK_BIND || msg->op == CTL_OP_SOCK_LISTEN ||
                      msg->op == CTL_OP_SOCK_CONNECT)) {
        if (s->kind != SOCK_KIND_DGRAM)
            endpoints_from_pcb(s);
        reply->u.sock.local = s->local;
        reply->u.sock.remote = s->remote;
    }
    reply->result = rc;
    return 1;
}

int sock_table_create(struct loop *loop, sock_reply_fn reply)
{
    struct stack *stack = loop_stack(loop);
    struct sock_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    t->loop = loop;
    t->reply = reply;
    stack->socks = t;
    return 0;
}

void sock_table_destroy(struct stack *stack)
{
    struct sock_table *t = sock_table_of(stack);
    if (t == NULL)
        return;
    for (unsigned b = 0; b < SOCK_HASH_BUCKETS; b++)
        while (t->buckets[b] != NULL)
            sock_free(t->buckets[b]);
    free(t);
    stack->socks = NULL;
}

unsigned sock_count(const struct stack *stack)
{
    return stack->socks ? stack->socks->count : 0;
}

bool sock_busy(struct stack *stack)
{
    struct sock_table *t = sock_table_of(stack);
    if (t == NULL)
        return false;
    for (unsigned b = 0; b < SOCK_HASH_BUCKETS; b++)
        for (struct sock *s = t->buckets[b]; s != NULL; s = s->hash_next)
            if (s->rx_blocked ||
                (s->pcb != NULL && tcp_get_state(s->pcb) >= TCP_ESTABLISHED &&
                 tcp_send_queued(s->pcb) > 0))
                return true;
    return false;
}

unsigned sock_live_count(const struct stack *stack)
{
    const struct sock_table *t = stack->socks;
    return t ? t->count - t->zombie_count : 0;
}
