/* A bitmap of the stack's own fds, and moving them out of the program's
 * way. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdreg.h"

#define WORD_BITS 64
#define WORDS (FDREG_LIMIT / WORD_BITS)
static _Atomic uint64_t stack_fds[WORDS];
static _Atomic uint64_t client_fds[WORDS];

static void mark_in(_Atomic uint64_t *set, int fd, bool on)
{
    if (fd < 0 || fd >= FDREG_LIMIT)
        return;
    uint64_t bit = (uint64_t)1 << (fd % WORD_BITS);
    if (on)
        atomic_fetch_or(&set[fd / WORD_BITS], bit);
    else
        atomic_fetch_and(&set[fd / WORD_BITS], ~bit);
}

static void mark(int fd, bool on)
{
    mark_in(stack_fds, fd, on);
    if (!on)
        mark_in(client_fds, fd, false);
}

bool fdreg_is_stack(int fd)
{
    if (fd < 0 || fd >= FDREG_LIMIT)
        return false;
    uint64_t bits = atomic_load(&stack_fds[fd / WORD_BITS]) |
                    atomic_load(&client_fds[fd / WORD_BITS]);
    return (bits >> (fd % WORD_BITS)) & 1;
}

int fdreg_take_client(int fd)
{
    fd = fdreg_take(fd);
    if (fd >= 0) {
        mark_in(stack_fds, fd, false);
        mark_in(client_fds, fd, true);
    }
    return fd;
}

int fdreg_take(int fd)
{
    if (fd < 0)
        return fd;
    if (fd >= FDREG_BASE) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        mark(fd, true);
        return fd;
    }
    int high = fcntl(fd, F_DUPFD_CLOEXEC, FDREG_BASE);
    if (high < 0) {
        /* The soft limit is below FDREG_BASE: raise it if the hard limit
         * allows, else keep the low number. */
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max &&
            rl.rlim_max > FDREG_BASE + 1) {
            rl.rlim_cur = rl.rlim_max < FDREG_LIMIT ? rl.rlim_max : FDREG_LIMIT;
            setrlimit(RLIMIT_NOFILE, &rl);
            high = fcntl(fd, F_DUPFD_CLOEXEC, FDREG_BASE);
        }
    }
    if (high < 0) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        mark(fd, true);
        return fd;
    }
    close(fd);
    mark(high, true);
    return high;
}

void fdreg_note(int fd)
{
    mark(fd, true);
}

void fdreg_note_client(int fd)
{
    mark_in(client_fds, fd, true);
}

void fdreg_forget(int fd)
{
    mark(fd, false);
}

void fdreg_close(int fd)
{
    if (fd < 0)
        return;
    mark(fd, false);
    close(fd);
}

static void close_set(_Atomic uint64_t *set)
{
    for (int w = 0; w < WORDS; w++) {
        uint64_t bits = atomic_exchange(&set[w], 0);
        while (bits) {
            int b = __builtin_ctzll(bits);
            bits &= bits - 1;
            syscall(SYS_close, w * WORD_BITS + b);
        }
    }
}

void fdreg_close_all(void)
{
    close_set(stack_fds);
    close_set(client_fds);
}

void fdreg_close_stack_fds(void)
{
    close_set(stack_fds);
}

void fdreg_close_all_but_stack(void)
{
    /* close_range over the gaps between the stack's fds. */
    int start = 0;
    for (int fd = 0; fd < FDREG_LIMIT; fd++) {
        if (!((atomic_load(&stack_fds[fd / WORD_BITS]) >> (fd % WORD_BITS)) & 1))
            continue;
        if (fd > start)
            syscall(SYS_close_range, (unsigned)start, (unsigned)(fd - 1), 0u);
        start = fd + 1;
    }
    syscall(SYS_close_range, (unsigned)start, ~0u, 0u);
    for (int w = 0; w < WORDS; w++)
        atomic_store(&client_fds[w], 0);
}
