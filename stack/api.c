/* The native API: open a stack in its own thread and talk to it over the
 * control channel (one channel per calling thread). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api.h"
#include "ctl.h"
#include "ctl_proto.h"
#include "fdreg.h"
#include "loop.h"
#include "sock.h"
#include "tcp.h"
#include "stack.h"

struct toysock {
    char iface[16];
    bool joined;          /* another process's stack: no thread here */
    struct stack *stack;  /* NULL when joined */
    struct loop *loop;
    pthread_t thread;
    uint64_t serial;
    int log_fd;
};

static atomic_uint_fast64_t next_serial = 1;

#define CHANNELS_PER_THREAD 4

struct channel {
    uint64_t serial; /* 0: free */
    int fd;
    uint32_t next_id;
};

static _Thread_local struct channel thread_channels[CHANNELS_PER_THREAD];

/* toysock_close lingers this long at most for data still in flight. */
#define LINGER_ON_CLOSE_US 10000000ull

static bool stack_has_work(struct stack *stack)
{
    return sock_busy(stack) || tcp_unfinished_count(stack) > 0;
}

static void *stack_thread(void *arg)
{
    struct toysock *ts = arg;
    loop_run(ts->loop);
    /* The continuation's only thread: its stack is done. _exit, so none of
     * the program's atexit handlers (copied by fork) run here. */
    if (loop_is_continuation(ts->loop))
        _exit(0);
    return NULL;
}

/* A continuation serves until nobody needs it: no bridge open, no
 * connection unfinished, no client channel connected. */
static bool continuation_idle(struct stack *stack)
{
    return sock_live_count(stack) == 0 && tcp_unfinished_count(stack) == 0 &&
           ctl_client_count(stack) == 0;
}

/* One handover at a time: two threads forking at once must not both ask
 * the loop (the second finds the stack gone and has nothing to do). */
static pthread_mutex_t handover_lock = PTHREAD_MUTEX_INITIALIZER;

int api_handover(struct toysock *ts)
{
    pthread_mutex_lock(&handover_lock);
    if (ts->joined) {
        pthread_mutex_unlock(&handover_lock);
        return 0;
    }
    int rc = loop_handover(ts->loop, continuation_idle);
    if (rc < 0) {
        pthread_mutex_unlock(&handover_lock);
        return rc;
    }
    pthread_join(ts->thread, NULL);
    /* This process's copies of the stack's fds are closed; its memory is
     * left as it is (freeing it would touch state the continuation owns
     * by copy, and would send nothing anyway). */
    ts->joined = true;
    ts->stack = NULL;
    ts->loop = NULL;
    pthread_mutex_unlock(&handover_lock);
    return 0;
}

bool api_owns_stack(const struct toysock *ts)
{
    return ts != NULL && !ts->joined;
}

bool api_in_handover(void)
{
    return loop_in_handover();
}

bool api_needed_after_exit(struct toysock *ts)
{
    if (ts == NULL || ts->joined)
        return false;
    struct ctl_msg msg = {.op = CTL_OP_USAGE};
    if (api_call(ts, &msg, NULL, 0) < 0)
        return false;
    return msg.u.usage.live_sockets > 0 || msg.u.usage.unfinished > 0 ||
           msg.u.usage.foreign_clients > 0;
}

static int open_log(const struct toysock_config *cfg, char *err, size_t errlen)
{
    if (cfg->log_file[0] == '\0')
        return STDERR_FILENO;
    int fd = fdreg_take(open(cfg->log_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "TOYSOCK_LOG_FILE: cannot open '%s': %s", cfg->log_file,
                 strerror(e));
        return -e;
    }
    return fd;
}

/* Closes this thread's channel to ts, if it has one. */
static void drop_channel(const struct toysock *ts)
{
    for (unsigned i = 0; i < CHANNELS_PER_THREAD; i++)
        if (thread_channels[i].serial == ts->serial) {
            fdreg_close(thread_channels[i].fd);
            thread_channels[i].serial = 0;
        }
}

void api_forget_channels(void)
{
    for (unsigned i = 0; i < CHANNELS_PER_THREAD; i++)
        thread_channels[i].serial = 0;
}

/* Joins the stack another program runs on the link, if its configuration
 * is the one we were given (DESIGN §3: one link, one stack). */
static int join_stack(struct toysock *ts, const struct toysock_config *cfg, char *err,
                      size_t errlen)
{
    struct ctl_msg msg = {.op = CTL_OP_HELLO};
    int rc = api_call(ts, &msg, NULL, 0);
    if (rc < 0) {
        drop_channel(ts);
        snprintf(err, errlen,
                 "TOYSOCK_IFACE: %s is locked by a toysock stack that does not answer: %s",
                 cfg->iface, strerror(-rc));
        return rc;
    }
    const struct ctl_hello *h = &msg.u.hello;
    const char *var = NULL;
    if (h->addr != cfg->addr || h->prefix_len != cfg->prefix_len)
        var = "TOYSOCK_ADDR";
    else if (h->gateway != cfg->gateway)
        var = "TOYSOCK_GATEWAY";
    else if (h->mtu != cfg->mtu)
        var = "TOYSOCK_MTU";
    if (var != NULL) {
        snprintf(err, errlen,
                 "%s: differs from the stack already serving %s (pid %d); use its settings "
                 "or another link",
                 var, cfg->iface, (int)h->pid);
        drop_channel(ts);
        return -EINVAL;
    }
    return 0;
}

int toysock_open(const struct toysock_config *cfg, struct toysock **out, char *err,
                 size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    struct toysock *ts = calloc(1, sizeof(*ts));
    if (ts == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    ts->log_fd = open_log(cfg, err, errlen);
    if (ts->log_fd < 0) {
        int rc = ts->log_fd;
        free(ts);
        return rc;
    }
    /* The control listener's name is the lock on the link: bind it before
     * touching the device, so two stacks never race for it. */
    memcpy(ts->iface, cfg->iface, sizeof(ts->iface));
    ts->iface[sizeof(ts->iface) - 1] = '\0';
    ts->serial = atomic_fetch_add(&next_serial, 1);
    int listen_fd;
    int rc;
    /* A stack already serves this link: join it. A continuation may exit
     * just as we come (it had gone idle): then the name is free again and
     * we start our own, a few times at most. */
    for (int attempt = 0;; attempt++) {
        rc = ctl_listen(cfg->iface, &listen_fd);
        if (rc != -EADDRINUSE)
            break;
        ts->joined = true;
        rc = join_stack(ts, cfg, err, errlen);
        if (rc == 0) {
            *out = ts;
            return 0;
        }
        ts->joined = false;
        bool gone = rc == -ECONNREFUSED || rc == -ECONNRESET || rc == -EPIPE;
        if (!gone || attempt >= 20)
            goto fail_log;
        usleep(50000);
    }
    if (rc < 0) {
        snprintf(err, errlen, "control socket for %s: %s", cfg->iface, strerror(-rc));
        goto fail_log;
    }
    ts->stack = stack_create(cfg, 0);
    if (ts->stack == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
        fdreg_close(listen_fd);
        goto fail_log;
    }
    ts->stack->log_fd = ts->log_fd;
    ts->stack->now_us = clock_now_us();
    rc = stack_attach_configured(ts->stack, err, errlen);
    if (rc == 0)
        rc = loop_create(ts->stack, &ts->loop);
    if (rc == 0)
        rc = ctl_start(ts->loop, listen_fd); /* owns listen_fd from here on, also on failure */
    else
        fdreg_close(listen_fd);
    if (rc == 0)
        loop_set_drain(ts->loop, stack_has_work, LINGER_ON_CLOSE_US);
    if (rc < 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "cannot start the stack: %s", strerror(-rc));
        goto fail_stack;
    }
    /* The stack thread must never run a signal handler of the program. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = -pthread_create(&ts->thread, NULL, stack_thread, ts);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start the stack thread: %s", strerror(-rc));
        ctl_stop(ts->loop);
        goto fail_stack;
    }
    *out = ts;
    return 0;

fail_stack:
    loop_destroy(ts->loop);
    stack_destroy(ts->stack);
fail_log:
    if (ts->log_fd != STDERR_FILENO)
        fdreg_close(ts->log_fd);
    free(ts);
    return rc;
}

void toysock_close(struct toysock *ts)
{
    if (ts == NULL)
        return;
    drop_channel(ts);
    if (ts->joined) {
        free(ts);
        return;
    }
    loop_stop(ts->loop);
    pthread_join(ts->thread, NULL);
    ctl_stop(ts->loop);
    loop_destroy(ts->loop);
    if (ts->log_fd != STDERR_FILENO)
        fdreg_close(ts->log_fd);
    stack_destroy(ts->stack);
    free(ts);
}

static int channel_connect(const struct toysock *ts)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    unsigned name_len = ctl_socket_name(ts->iface, sun.sun_path, sizeof(sun.sun_path));
    int fd = fdreg_take_client(socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
    if (fd < 0)
        return fd < -1 ? fd : -errno;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len);
    if (connect(fd, (struct sockaddr *)&sun, len) < 0) {
        int e = errno;
        fdreg_close(fd);
        return -e;
    }
    return fd;
}

static struct channel *channel_get(const struct toysock *ts, int *rc)
{
    struct channel *free_slot = NULL;
    for (unsigned i = 0; i < CHANNELS_PER_THREAD; i++) {
        if (thread_channels[i].serial == ts->serial)
            return &thread_channels[i];
        if (free_slot == NULL && thread_channels[i].serial == 0)
            free_slot = &thread_channels[i];
    }
    if (free_slot == NULL) {
        /* Every slot belongs to some stack; recycle the first. */
        free_slot = &thread_channels[0];
        fdreg_close(free_slot->fd);
        free_slot->serial = 0;
    }
    int fd = channel_connect(ts);
    if (fd < 0) {
        *rc = fd;
        return NULL;
    }
    free_slot->serial = ts->serial;
    free_slot->fd = fd;
    free_slot->next_id = 1;
    return free_slot;
}

static int send_request(int fd, const struct ctl_msg *msg, const int *fds, unsigned nfds)
{
    struct msghdr mh;
    struct iovec iov;
    union ctl_control control;
    ctl_msghdr_for_request(&mh, &iov, &control, msg, fds, nfds);
    return sendmsg(fd, &mh, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* One request, one reply; a reply with another id belongs to a request
 * this thread gave up on and is skipped. */
int api_call(struct toysock *ts, struct ctl_msg *msg, const int *fds, unsigned nfds)
{
    if (nfds > CTL_MAX_FDS)
        return -EINVAL;
    int rc = 0;
    struct channel *ch = channel_get(ts, &rc);
    if (ch == NULL)
        return rc;
    msg->id = ch->next_id++;
    rc = send_request(ch->fd, msg, fds, nfds);
    if (rc < 0)
        return rc;
    for (;;) {
        struct ctl_msg reply;
        ssize_t n = recv(ch->fd, &reply, sizeof(reply), 0);
        if (n < 0)
            return -errno;
        if (n == 0)
            return -ECONNRESET;
        if ((size_t)n == sizeof(reply) && reply.id == msg->id) {
            *msg = reply;
            return reply.result;
        }
    }
}

int toysock_stats(struct toysock *ts, struct toysock_stat *out, size_t max)
{
    struct ctl_msg msg = {.op = CTL_OP_STATS};
    int rc = api_call(ts, &msg, NULL, 0);
    if (rc < 0)
        return rc;
    unsigned n = msg.u.stats.count;
    for (unsigned i = 0; i < n && i < max; i++) {
        out[i].name = stack_stats_name(i);
        out[i].value = msg.u.stats.values[i];
    }
    return (int)n;
}

int toysock_ping(struct toysock *ts, uint32_t dst, uint16_t seq, size_t payload_len,
                 int timeout_ms, uint64_t *rtt_us)
{
    if (timeout_ms < 0 || payload_len > 65507)
        return -EINVAL;
    struct ctl_msg msg = {.op = CTL_OP_PING};
    msg.u.ping.dst = dst;
    msg.u.ping.seq = seq;
    msg.u.ping.payload_len = (uint32_t)payload_len;
    msg.u.ping.timeout_ms = (uint32_t)timeout_ms;
    int rc = api_call(ts, &msg, NULL, 0);
    if (rc == 0 && rtt_us != NULL)
        *rtt_us = msg.u.ping.rtt_us;
    return rc;
}
