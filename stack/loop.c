/* The stack thread's event loop: sample the clock once per turn, run the
 * stack, serve ready fds, sleep on epoll until the next deadline. It never
 * uses signals: another thread stops it through an eventfd. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdreg.h"
#include "loop.h"
#include "stack.h"

#define LOOP_MAX_EVENTS 64

struct loop {
    struct stack *stack;
    int epoll_fd;
    struct loop_watch timer_watch;
    struct loop_watch stop_watch;
    struct loop_watch netif_watches[STACK_MAX_NETIFS];
    unsigned netif_watch_count;
    bool stopping;
    uint64_t stop_deadline;
    bool (*busy)(struct stack *stack);
    uint64_t max_drain_us;
    uint64_t armed_deadline;
    bool (*before_sleep)(struct stack *stack);
    /* Handover to a continuation process. */
    struct loop_watch handover_watch;
    bool handover_pending;
    int handover_reply_fd; /* the requester's eventfd */
    bool handed_over;      /* this process no longer runs the stack */
    bool continuation;     /* this process is the continuation */
    bool (*idle)(struct stack *stack);
    atomic_bool running; /* loop_run is turning (read by other threads) */
};

static _Thread_local bool forking_continuation;

uint64_t clock_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int loop_watch_add(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = watch};
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_ADD, watch->fd, &ev) < 0 ? -errno : 0;
}

int loop_watch_mod(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = watch};
    return epoll_ctl(loop->epoll_fd, EPOLL_CTL_MOD, watch->fd, &ev) < 0 ? -errno : 0;
}

void loop_watch_del(struct loop *loop, struct loop_watch *watch)
{
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, watch->fd, NULL);
}

static void drain_fd(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    (void)loop;
    (void)events;
    uint64_t value;
    ssize_t n = read(watch->fd, &value, sizeof(value));
    (void)n;
}

static void on_stop(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    drain_fd(loop, watch, events);
    if (!loop->stopping)
        loop->stop_deadline = clock_now_us() + loop->max_drain_us;
    loop->stopping = true;
}

void loop_set_drain(struct loop *loop, bool (*busy)(struct stack *stack), uint64_t max_drain_us)
{
    loop->busy = busy;
    loop->max_drain_us = max_drain_us;
}

/* Stop now, or keep turning while there is still data to deliver. */
static bool loop_done(struct loop *loop)
{
    if (loop->handed_over)
        return true;
    if (loop->continuation && loop->idle != NULL && loop->idle(loop->stack))
        return true;
    if (!loop->stopping)
        return false;
    if (loop->busy == NULL || clock_now_us() >= loop->stop_deadline)
        return true;
    return !loop->busy(loop->stack);
}

/* Link fds only wake the loop: stack_run reads every link each turn. */
static void on_netif(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    (void)loop;
    (void)watch;
    (void)events;
}

static void on_handover(struct loop *loop, struct loop_watch *watch, uint32_t events)
{
    drain_fd(loop, watch, events);
    loop->handover_pending = true;
}

bool loop_in_handover(void)
{
    return forking_continuation;
}

bool loop_is_continuation(const struct loop *loop)
{
    return loop->continuation;
}

/* The fork itself. Returns 1 in the continuation, 0 in this process, or
 * -errno. */
static int fork_continuation(struct loop *loop)
{
    forking_continuation = true;
    pid_t mid = fork();
    if (mid < 0) {
        forking_continuation = false;
        return -errno;
    }
    if (mid == 0) {
        /* Double fork: the continuation is never the program's child, so
         * the program's wait() calls never see it. */
        pid_t cont = fork();
        if (cont != 0)
            _exit(cont < 0 ? 1 : 0);
        forking_continuation = false;
        setsid();
        fdreg_close_all_but_stack();
        int null_fd = open("/dev/null", O_RDWR);
        while (null_fd >= 0 && null_fd < 2)
            null_fd = dup(null_fd);
        loop->continuation = true;
        return 1;
    }
    int status;
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
        ;
    forking_continuation = false;
    return 0;
}

static void run_handover(struct loop *loop)
{
    loop->handover_pending = false;
    int rc = fork_continuation(loop);
    if (rc == 1)
        return; /* the continuation: serve on */
    uint64_t reply = rc == 0 ? 1 : (uint64_t)(1000 - rc);
    if (rc == 0) {
        loop->handed_over = true;
        fdreg_close_stack_fds();
    }
    ssize_t n = write(loop->handover_reply_fd, &reply, sizeof(reply));
    (void)n;
}

int loop_handover(struct loop *loop, bool (*idle)(struct stack *stack))
{
    if (!atomic_load(&loop->running))
        return -ESRCH; /* nobody would answer */
    int reply_fd = fdreg_take_client(eventfd(0, EFD_CLOEXEC));
    if (reply_fd < 0)
        return reply_fd < -1 ? reply_fd : -errno;
    loop->idle = idle;
    loop->handover_reply_fd = reply_fd;
    uint64_t one = 1;
    ssize_t n = write(loop->handover_watch.fd, &one, sizeof(one));
    uint64_t reply = 0;
    /* Bounded: a loop that died meanwhile must not hang the caller. */
    struct pollfd p = {.fd = reply_fd, .events = POLLIN};
    if (n == (ssize_t)sizeof(one)) {
        int waited;
        while ((waited = poll(&p, 1, 10000)) < 0 && errno == EINTR)
            ;
        if (waited == 1 && read(reply_fd, &reply, sizeof(reply)) < 0)
            reply = 0;
    }
    fdreg_close(reply_fd);
    if (reply == 1)
        return 0;
    return reply >= 1000 ? -(int)(reply - 1000) : -EIO;
}

int loop_create(struct stack *stack, struct loop **out)
{
    struct loop *loop = calloc(1, sizeof(*loop));
    if (loop == NULL)
        return -ENOMEM;
    loop->stack = stack;
    loop->armed_deadline = TIME_NEVER;
    loop->epoll_fd = fdreg_take(epoll_create1(EPOLL_CLOEXEC));
    loop->timer_watch.fd = fdreg_take(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    loop->timer_watch.fn = drain_fd;
    loop->stop_watch.fd = fdreg_take(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    loop->stop_watch.fn = on_stop;
    loop->handover_watch.fd = fdreg_take(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    loop->handover_watch.fn = on_handover;
    loop->handover_reply_fd = -1;
    int rc = 0;
    if (loop->epoll_fd < 0 || loop->timer_watch.fd < 0 || loop->stop_watch.fd < 0 ||
        loop->handover_watch.fd < 0)
        rc = -errno;
    if (rc == 0)
        rc = loop_watch_add(loop, &loop->timer_watch, EPOLLIN);
    if (rc == 0)
        rc = loop_watch_add(loop, &loop->stop_watch, EPOLLIN);
    if (rc == 0)
        rc = loop_watch_add(loop, &loop->handover_watch, EPOLLIN);
    for (unsigned i = 0; rc == 0 && i < stack->netif_count; i++) {
        if (stack->netifs[i]->fd < 0)
            continue;
        struct loop_watch *w = &loop->netif_watches[loop->netif_watch_count++];
        w->fd = stack->netifs[i]->fd;
        w->fn = on_netif;
        rc = loop_watch_add(loop, w, EPOLLIN);
    }
    if (rc < 0) {
        loop_destroy(loop);
        return rc;
    }
    *out = loop;
    return 0;
}

void loop_destroy(struct loop *loop)
{
    if (loop == NULL)
        return;
    fdreg_close(loop->timer_watch.fd);
    fdreg_close(loop->stop_watch.fd);
    fdreg_close(loop->handover_watch.fd);
    fdreg_close(loop->epoll_fd);
    free(loop);
}

struct stack *loop_stack(struct loop *loop)
{
    return loop->stack;
}

void loop_set_before_sleep(struct loop *loop, bool (*fn)(struct stack *stack))
{
    loop->before_sleep = fn;
}

static void arm_timer(struct loop *loop, uint64_t deadline)
{
    if (deadline == loop->armed_deadline)
        return;
    loop->armed_deadline = deadline;
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    if (deadline != TIME_NEVER) {
        /* 0 would disarm the timer: an overdue deadline fires at once. */
        uint64_t at = deadline ? deadline : 1;
        its.it_value.tv_sec = (time_t)(at / 1000000u);
        its.it_value.tv_nsec = (long)(at % 1000000u) * 1000;
    }
    timerfd_settime(loop->timer_watch.fd, TFD_TIMER_ABSTIME, &its, NULL);
}

void loop_run(struct loop *loop)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    atomic_store(&loop->running, true);
    while (!loop_done(loop)) {
        uint64_t next = stack_run(loop->stack, clock_now_us());
        /* Socket work can queue frames on fd-less interfaces (loopback)
         * and their input can make more socket work: settle both before
         * sleeping, boundedly. */
        bool settled = loop->before_sleep == NULL;
        for (int round = 0; round < 8 && !settled; round++) {
            if (!loop->before_sleep(loop->stack))
                settled = true;
            else
                next = stack_run(loop->stack, clock_now_us());
        }
        if (!settled)
            next = 0;
        int timeout = -1;
        if (next <= clock_now_us())
            timeout = 0;
        else
            arm_timer(loop, next);
        if (loop->stopping && timeout != 0) {
            /* Draining: look again at least every 10 ms. */
            timeout = 10;
        }
        int n = epoll_wait(loop->epoll_fd, events, LOOP_MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR)
            break;
        loop->stack->now_us = clock_now_us();
        for (int i = 0; i < n; i++) {
            struct loop_watch *watch = events[i].data.ptr;
            watch->fn(loop, watch, events[i].events);
        }
        if (loop->handover_pending)
            run_handover(loop);
    }
    atomic_store(&loop->running, false);
}

void loop_stop(struct loop *loop)
{
    uint64_t one = 1;
    ssize_t n = write(loop->stop_watch.fd, &one, sizeof(one));
    (void)n;
}
