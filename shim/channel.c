/* Control channel client: configuration snapshot, lazy stack start or
 * join, per-thread channels (item 8), request ids so that a reply to an
 * abandoned request (EINTR, timeout) is skipped (item 7).
 *
 * The shim keeps its own channels rather than the native API's
 * api_call(): it needs a timed wait, a channel per thread that a forked
 * child can drop in its atfork handler, and a spare channel for a request
 * made from a signal handler while the thread's own channel is busy. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "api.h"
#include "channel.h"
#include "ctl.h"
#include "shim.h"

static struct toysock_config config;
static int config_rc = -EINVAL;
static char config_err[512];
static bool loopback_stack;

static pthread_mutex_t start_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(struct toysock *) stack_handle;
static atomic_bool stack_is_owner;
static atomic_bool exiting;

/* Bumped in a forked child: every channel opened before is gone. */
static atomic_uint_fast64_t channel_gen = 1;

struct channel {
    uint64_t gen;
    int fd;
    uint32_t next_id;
    bool busy;
};
static _Thread_local struct channel thread_channel;
static pthread_key_t channel_key;

void shim_config_snapshot(void);
void shim_channel_init(void);
void shim_fork_prepare_channel(void);
void shim_fork_parent_channel(void);

void shim_config_snapshot(void)
{
    config_rc = toysock_config_from_env(&config, config_err, sizeof(config_err));
    const char *lb = getenv("TOYSOCK_LOOPBACK");
    loopback_stack = config_rc == 0 ? config.loopback_stack : (lb && strcmp(lb, "stack") == 0);
    const char *path = shim_log_path_for_stack();
    if (config_rc == 0 && path[0] != '\0')
        snprintf(config.log_file, sizeof(config.log_file), "%s", path);
}

const struct toysock_config *shim_config(void)
{
    return config_rc == 0 ? &config : NULL;
}

bool shim_loopback_stack(void)
{
    return loopback_stack;
}

static void channel_release(void *value)
{
    int fd = (int)(intptr_t)value - 1;
    if (thread_channel.gen == atomic_load(&channel_gen) && thread_channel.fd == fd) {
        shim_fd_unhide_close(fd);
        thread_channel.fd = -1;
        thread_channel.gen = 0;
    }
}

void shim_channel_init(void)
{
    pthread_key_create(&channel_key, channel_release);
}

bool shim_stack_running(void)
{
    return atomic_load(&stack_handle) != NULL;
}

bool shim_stack_owner(void)
{
    return shim_stack_running() && atomic_load(&stack_is_owner);
}

static int channel_open(void)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    unsigned name_len = ctl_socket_name(config.iface, sun.sun_path, sizeof(sun.sun_path));
    int fd = (int)RAW(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, 0, 0, 0);
    if (fd < 0)
        return fd;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + name_len);
    long rc = RAW(SYS_connect, fd, &sun, len, 0, 0, 0);
    if (rc < 0) {
        sys_close(fd);
        return (int)rc;
    }
    return shim_fd_hide(fd);
}

int shim_stack_ensure(void)
{
    if (atomic_load(&stack_handle) != NULL)
        return 0;
    pthread_mutex_lock(&start_lock);
    if (atomic_load(&stack_handle) != NULL) {
        pthread_mutex_unlock(&start_lock);
        return 0;
    }
    if (atomic_load(&exiting)) {
        pthread_mutex_unlock(&start_lock);
        return -ENETDOWN;
    }
    if (config_rc < 0) {
        char line[600];
        snprintf(line, sizeof(line), "%s (network calls fail with ENETDOWN)", config_err);
        shim_log_once(SHIM_LOG_ERROR, line);
        pthread_mutex_unlock(&start_lock);
        return -ENETDOWN;
    }
    char err[512] = "";
    struct toysock *ts = NULL;
    /* The stack opens kernel sockets of its own (TAP ioctls, libpcap):
     * everything this thread calls meanwhile goes straight to libc. */
    shim_internal++;
    int rc = toysock_open(&config, &ts, err, sizeof(err));
    shim_internal--;
    if (rc < 0) {
        char line[600];
        snprintf(line, sizeof(line), "%s (network calls fail with ENETDOWN)",
                 err[0] != '\0' ? err : strerror(-rc));
        shim_log_once(SHIM_LOG_ERROR, line);
        pthread_mutex_unlock(&start_lock);
        return -ENETDOWN;
    }
    /* Owner (the stack runs as a thread here) or joiner, as the native
     * API knows it. */
    atomic_store(&stack_is_owner, api_owns_stack(ts));
    atomic_store(&stack_handle, ts);
    pthread_mutex_unlock(&start_lock);
    return 0;
}

/* The stack went away under a joiner (its owner exited): forget it so the
 * next call starts or joins again. */
static void stack_lost(void)
{
    pthread_mutex_lock(&start_lock);
    /* The handle of a joined stack holds only a channel, already closed:
     * it is leaked rather than closed (toysock_close would touch the
     * api module's per-thread channels). */
    atomic_store(&stack_handle, NULL);
    atomic_store(&stack_is_owner, false);
    pthread_mutex_unlock(&start_lock);
}

static int send_request(int fd, const struct ctl_msg *msg, const int *fds, unsigned nfds)
{
    struct msghdr mh;
    struct iovec iov;
    union ctl_control control;
    ctl_msghdr_for_request(&mh, &iov, &control, msg, fds, nfds);
    long n = sys_sendmsg(fd, &mh, MSG_NOSIGNAL);
    return n < 0 ? (int)n : 0;
}

static void channel_drop(struct channel *ch)
{
    if (ch->fd >= 0 && ch->gen == atomic_load(&channel_gen))
        shim_fd_unhide_close(ch->fd);
    ch->fd = -1;
    ch->gen = 0;
}

int shim_call(struct ctl_msg *msg, const int *fds, unsigned nfds, int timeout_ms)
{
    if (nfds > CTL_MAX_FDS)
        return -EINVAL;
    SHIM_SAVE_ERRNO;
    int rc = shim_stack_ensure();
    if (rc < 0)
        return rc;
    struct channel spare = {.fd = -1};
    struct channel *ch = &thread_channel;
    if (ch->busy)
        ch = &spare; /* a signal handler interrupted a request of this thread */
    uint64_t gen = atomic_load(&channel_gen);
    for (int attempt = 0; ch->gen != gen || ch->fd < 0; attempt++) {
        int fd = channel_open();
        if (fd >= 0) {
            ch->fd = fd;
            ch->gen = gen;
            ch->next_id = 1;
            if (ch == &thread_channel)
                pthread_setspecific(channel_key, (void *)(intptr_t)(fd + 1));
            break;
        }
        if (attempt > 0 || (fd != -ECONNREFUSED && fd != -ENOENT))
            return -ENETDOWN;
        /* Nobody listens on the link's control socket any more. */
        stack_lost();
        if ((rc = shim_stack_ensure()) < 0)
            return rc;
    }
    ch->busy = true;
    msg->id = ch->next_id++;
    rc = send_request(ch->fd, msg, fds, nfds);
    if (rc < 0) {
        channel_drop(ch);
        ch->busy = false;
        return -ENETDOWN;
    }
    for (;;) {
        if (timeout_ms >= 0) {
            struct pollfd p = {.fd = ch->fd, .events = POLLIN};
            int n = poll(&p, 1, timeout_ms);
            if (n == 0) {
                rc = -EINPROGRESS;
                break;
            }
            if (n < 0) {
                rc = -errno;
                break;
            }
        }
        struct ctl_msg reply;
        ssize_t n = REAL(recv)(ch->fd, &reply, sizeof(reply), 0);
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0) {
            channel_drop(ch);
            rc = -ENETDOWN;
            break;
        }
        if ((size_t)n == sizeof(reply) && reply.id == msg->id) {
            *msg = reply;
            rc = reply.result;
            break;
        }
        /* A late reply to a request this thread abandoned: skip it. */
    }
    ch->busy = false;
    if (ch == &spare)
        channel_drop(ch);
    SHIM_RESTORE_ERRNO;
    return rc;
}

/* Moves the stack this process runs into a continuation process (DESIGN
 * §3 Lifetime); this process then uses it like any joiner. */
void shim_stack_handover(void)
{
    struct toysock *ts = atomic_load(&stack_handle);
    if (ts == NULL || !atomic_load(&stack_is_owner))
        return;
    shim_internal++;
    int rc = api_handover(ts);
    shim_internal--;
    if (rc == 0)
        atomic_store(&stack_is_owner, false);
}

/* At exit: a stack that sockets, unfinished connections or other
 * processes still need lives on in a continuation process, so the program
 * exits at once and nothing is cut short; an idle one just stops. */
void shim_stack_exit(void)
{
    struct toysock *ts = atomic_load(&stack_handle);
    if (ts == NULL || !atomic_load(&stack_is_owner))
        return;
    shim_internal++;
    bool needed = api_needed_after_exit(ts);
    shim_internal--;
    if (needed) {
        shim_stack_handover();
        if (!atomic_load(&stack_is_owner)) {
            atomic_store(&exiting, true);
            return;
        }
    }
    shim_stack_shutdown();
}

void shim_stack_shutdown(void)
{
    pthread_mutex_lock(&start_lock);
    atomic_store(&exiting, true);
    struct toysock *ts = atomic_exchange(&stack_handle, NULL);
    pthread_mutex_unlock(&start_lock);
    if (ts != NULL) {
        shim_internal++;
        toysock_close(ts);
        shim_internal--;
    }
}

void shim_fork_prepare_channel(void)
{
    pthread_mutex_lock(&start_lock);
}

void shim_fork_parent_channel(void)
{
    pthread_mutex_unlock(&start_lock);
}

void shim_channel_after_fork(void)
{
    pthread_mutex_init(&start_lock, NULL);
    /* The fds were closed by fdreg_close_all(); the child joins the
     * parent's stack (or starts one) on its next need. */
    atomic_fetch_add(&channel_gen, 1);
    thread_channel.fd = -1;
    thread_channel.gen = 0;
    thread_channel.busy = false;
    atomic_store(&stack_handle, NULL);
    atomic_store(&stack_is_owner, false);
}
