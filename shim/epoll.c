/* epoll needs no interposition to work: a bridge is a real fd, so level-
 * and edge-triggered readiness, EPOLLEXCLUSIVE and friends are the
 * kernel's (so are poll and select, which are not interposed at all).
 * What dup2 loses is interposed: listen, a loopback swap or a fresh
 * bridge replace the file behind an fd number, and the epoll registration
 * of the old file does not follow (item 13: nginx registers upstream fds
 * before connect). epoll_ctl therefore records (epfd, fd, event) for
 * toysock sockets so the swap can re-add it. */
#include "fdtable.h"
#include "shim.h"

#define EPFD_LIMIT 65536
static atomic_uint_least64_t epfd_bits[EPFD_LIMIT / 64];

bool shim_epfd_marked(int fd)
{
    if (fd < 0 || fd >= EPFD_LIMIT)
        return false;
    return (atomic_load_explicit(&epfd_bits[fd / 64], memory_order_relaxed) >> (fd % 64)) & 1;
}

static void epfd_mark(int fd)
{
    if (fd >= 0 && fd < EPFD_LIMIT)
        atomic_fetch_or(&epfd_bits[fd / 64], (uint64_t)1 << (fd % 64));
}

void shim_epfd_unmark(int fd)
{
    if (fd >= 0 && fd < EPFD_LIMIT)
        atomic_fetch_and(&epfd_bits[fd / 64], ~((uint64_t)1 << (fd % 64)));
}

SHIM_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    int rc = REAL(epoll_ctl) ? REAL(epoll_ctl)(epfd, op, fd, ev)
                             : (int)raw_ret(RAW(SYS_epoll_ctl, epfd, op, fd, ev, 0, 0));
    if (rc != 0 || shim_bypass())
        return rc;
    struct tsock *s = fdt_get(fd);
    if (s == NULL || s->type == 0 || sys_getpid() != shim_pid)
        return rc;
    tsock_ep_record(s, epfd, op, fd, ev);
    if (op != EPOLL_CTL_DEL)
        epfd_mark(epfd);
    return rc;
}

SHIM_ALIAS(epoll_ctl);
