/* The data path: read/write/recv/send families, the _chk variants,
 * sendfile, and libc syscall() for the socket syscall numbers (item 5:
 * libuv and dig send and receive datagrams through syscall()).
 *
 * Stream sockets: the kernel's own result, except that 0, EPIPE and
 * ECONNRESET ask the stack once whether a reset or a timeout ended the
 * connection (item 4); writes add MSG_NOSIGNAL and SIGPIPE is raised here
 * only where the kernel would (EPIPE without MSG_NOSIGNAL).
 *
 * Datagram sockets: every datagram carries a struct dgram_hdr in iov[0]
 * that the program never sees; lengths (MSG_TRUNC, MSG_PEEK) exclude it.
 *
 * No lock and no allocation on these paths (item 16): they are called
 * from signal handlers. A file that is not a toysock socket costs one
 * table lookup (two atomic loads). */
#include <fcntl.h>
#include <string.h>
#include <sys/sendfile.h>
#include <time.h>

#include "fdtable.h"
#include "shim.h"
#include "sock.h"

#define HDR sizeof(struct dgram_hdr)
#define UDP_MAX_PAYLOAD 65507
#define IOV_MAX_SHIM 1024

extern void __chk_fail(void) __attribute__((noreturn));
ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen);
ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags, struct sockaddr *sa,
                       socklen_t *alen);

static inline struct tsock *data_sock(int fd)
{
    if (shim_bypass())
        return NULL;
    struct tsock *s = fdt_get(fd);
    return s != NULL && s->type != 0 ? s : NULL;
}

/* ---- Stream sockets ---- */

/* 0: go ahead; 1: the entry was stale, pass through; -errno otherwise. */
static int stream_check(struct tsock *s, int fd, bool sending)
{
    int st = atomic_load_explicit(&s->state, memory_order_relaxed);
    if (st == TS_CONNECTED || st == TS_CONNECTING) {
        if (sending && atomic_load_explicit(&s->filler_pending, memory_order_relaxed))
            tsock_filler_settle(s, fd);
        return 0;
    }
    if (sys_getpid() != shim_pid || fdt_lookup(fd) != s)
        return 1;
    /* Never connected, or a listener (whose bridge must not be read or
     * written: it carries connections). */
    return sending ? -EPIPE : -ENOTCONN;
}

static ssize_t stream_recv_done(struct tsock *s, int fd, ssize_t n, size_t want)
{
    if (n > 0)
        return n;
    if (n == 0) {
        if (want == 0)
            return 0;
        int e = tsock_final_error(s, fd);
        if (e != 0) {
            errno = e;
            return -1;
        }
        return 0;
    }
    int e0 = errno;
    if (e0 == ECONNRESET || e0 == EPIPE) {
        int e = tsock_final_error(s, fd);
        errno = e != 0 ? e : e0;
    }
    return -1;
}

static ssize_t stream_send_done(struct tsock *s, int fd, ssize_t n, int flags)
{
    if (n >= 0)
        return n;
    int e0 = errno;
    if (e0 != EPIPE && e0 != ECONNRESET)
        return -1;
    int e = tsock_final_error(s, fd);
    if (e != 0 && e != EPIPE) {
        errno = e; /* ECONNRESET, ETIMEDOUT: no signal, as the kernel */
        return -1;
    }
    errno = EPIPE;
    if (!(flags & MSG_NOSIGNAL))
        shim_raise_sigpipe();
    return -1;
}

static ssize_t stream_fail(int rc, int flags)
{
    errno = -rc;
    if (rc == -EPIPE && !(flags & MSG_NOSIGNAL))
        shim_raise_sigpipe();
    return -1;
}

/* MSG_TRUNC on TCP discards what it would have read (AF_UNIX ignores the
 * flag; item 20). */
static ssize_t stream_discard(int fd, size_t len, int flags)
{
    char scratch[4096];
    size_t done = 0;
    while (done < len) {
        size_t chunk = len - done < sizeof(scratch) ? len - done : sizeof(scratch);
        ssize_t n =
            REAL(recv)(fd, scratch, chunk, (flags & ~MSG_TRUNC) | (done ? MSG_DONTWAIT : 0));
        if (n <= 0) {
            if (done > 0)
                break;
            return n;
        }
        done += (size_t)n;
        if ((size_t)n < chunk)
            break;
    }
    return (ssize_t)done;
}

/* Flags the bridge may see on a stream receive. */
static int stream_recv_flags(int flags, int *err)
{
    if (flags & MSG_OOB) {
        *err = EINVAL; /* no urgent data is ever pending (item 19) */
        return -1;
    }
    if (flags & MSG_ERRQUEUE) {
        *err = EAGAIN;
        return -1;
    }
    return flags & (MSG_PEEK | MSG_WAITALL | MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
}

/* ---- Datagram sockets ---- */

static void dgram_store_source(struct tsock *s, const struct dgram_hdr *h, struct msghdr *m)
{
    if (m->msg_name == NULL || m->msg_namelen == 0) {
        m->msg_namelen = 0;
        return;
    }
    socklen_t len = m->msg_namelen;
    sa_store(s->domain, h->addr, h->port, m->msg_name, &len);
    m->msg_namelen = len;
}

static ssize_t dgram_recvmsg(struct tsock *s, int fd, struct msghdr *m, int flags)
{
    if (flags & MSG_ERRQUEUE) {
        errno = EAGAIN;
        return -1;
    }
    if (flags & MSG_OOB) {
        errno = EOPNOTSUPP;
        return -1;
    }
    if (m->msg_iovlen > IOV_MAX_SHIM - 1) {
        errno = EMSGSIZE;
        return -1;
    }
    struct dgram_hdr h;
    struct iovec iov[m->msg_iovlen + 1];
    iov[0].iov_base = &h;
    iov[0].iov_len = HDR;
    for (size_t i = 0; i < m->msg_iovlen; i++)
        iov[i + 1] = m->msg_iov[i];
    struct msghdr mm = {.msg_iov = iov,
                        .msg_iovlen = m->msg_iovlen + 1,
                        .msg_control = m->msg_control,
                        .msg_controllen = m->msg_controllen};
    int f = flags & (MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC | MSG_WAITALL);
    ssize_t n = REAL(recvmsg)(fd, &mm, f);
    if (n < 0)
        return -1;
    m->msg_controllen = mm.msg_controllen;
    m->msg_flags = mm.msg_flags;
    if ((size_t)n < HDR) {
        /* Not one of the stack's datagrams (an empty read after
         * shutdown(SHUT_RD), or garbage): no payload. */
        m->msg_namelen = 0;
        return 0;
    }
    if (h.flags & DGRAM_F_ERROR) {
        /* An ICMP error about an earlier send (item 5): reported once. */
        if (flags & MSG_PEEK)
            REAL(recv)(fd, &h, HDR, MSG_DONTWAIT);
        errno = h.error > 0 ? h.error : ECONNREFUSED;
        return -1;
    }
    dgram_store_source(s, &h, m);
    return n - (ssize_t)HDR;
}

static ssize_t dgram_sendmsg(struct tsock *s, int fd, const struct msghdr *m, int flags)
{
    if (s->shut_wr) {
        errno = EPIPE;
        if (!(flags & MSG_NOSIGNAL))
            shim_raise_sigpipe();
        return -1;
    }
    if (flags & (MSG_OOB | MSG_MORE)) {
        errno = EOPNOTSUPP; /* corking is not emulated: refuse, never ignore */
        return -1;
    }
    if (m->msg_iovlen > IOV_MAX_SHIM - 1) {
        errno = EMSGSIZE;
        return -1;
    }
    size_t total = 0;
    for (size_t i = 0; i < m->msg_iovlen; i++)
        total += m->msg_iov[i].iov_len;
    if (total > UDP_MAX_PAYLOAD) {
        errno = EMSGSIZE;
        return -1;
    }
    struct dgram_hdr h = {.cookie = s->cookie};
    if (m->msg_name != NULL && m->msg_namelen > 0) {
        struct sa_parsed p;
        int rc = sa_parse(s, m->msg_name, m->msg_namelen, false, &p);
        if (rc < 0) {
            errno = -rc;
            return -1;
        }
        if (p.unspec) {
            if (!s->udp_connected) {
                errno = EDESTADDRREQ;
                return -1;
            }
        } else if (p.kind == AK_V6) {
            errno = ENETUNREACH;
            return -1;
        } else if (p.kind == AK_LOOPBACK && !s->contacted && sys_getpid() == shim_pid) {
            /* Loopback is the kernel's (item 13): dig asking 127.0.0.53. */
            rc = tsock_swap_to_kernel(fd, s);
            if (rc < 0) {
                errno = -rc;
                return -1;
            }
            return REAL(sendmsg)(fd, m, flags);
        } else {
            h.addr = p.addr;
            h.port = p.port;
        }
    } else if (!s->udp_connected) {
        errno = EDESTADDRREQ;
        return -1;
    }
    if (!s->contacted || !s->bound) {
        if (sys_getpid() != shim_pid) {
            errno = ENETDOWN;
            return -1;
        }
        int rc = tsock_udp_autobind(s, fd);
        if (rc < 0) {
            errno = -rc;
            return -1;
        }
    }
    struct iovec iov[m->msg_iovlen + 1];
    iov[0].iov_base = &h;
    iov[0].iov_len = HDR;
    for (size_t i = 0; i < m->msg_iovlen; i++)
        iov[i + 1] = m->msg_iov[i];
    struct msghdr mm = {.msg_iov = iov, .msg_iovlen = m->msg_iovlen + 1};
    ssize_t n = REAL(sendmsg)(fd, &mm, (flags & MSG_DONTWAIT) | MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EPIPE && !(flags & MSG_NOSIGNAL))
            shim_raise_sigpipe();
        return -1;
    }
    return n >= (ssize_t)HDR ? n - (ssize_t)HDR : 0;
}

/* ---- Entry points ---- */

static ssize_t read_impl(int fd, void *buf, size_t len)
{
    struct tsock *s = data_sock(fd);
    if (s == NULL)
        return REAL(read) ? REAL(read)(fd, buf, len)
                          : raw_ret(RAW(SYS_read, fd, buf, len, 0, 0, 0));
    if (s->type == SOCK_DGRAM) {
        struct iovec iov = {.iov_base = buf, .iov_len = len};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        ssize_t n = dgram_recvmsg(s, fd, &m, 0);
        if (n < 0 && errno == ENOTSOCK) {
            fdt_clear(fd); /* stale: the number is a file now */
            return REAL(read)(fd, buf, len);
        }
        return n;
    }
    int rc = stream_check(s, fd, false);
    if (rc == 1)
        return REAL(read)(fd, buf, len);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    return stream_recv_done(s, fd, REAL(read)(fd, buf, len), len);
}

static ssize_t readv_impl(int fd, const struct iovec *iov, int cnt)
{
    struct tsock *s = data_sock(fd);
    if (s == NULL)
        return REAL(readv) ? REAL(readv)(fd, iov, cnt)
                           : raw_ret(RAW(SYS_readv, fd, iov, cnt, 0, 0, 0));
    if (cnt < 0) {
        errno = EINVAL;
        return -1;
    }
    if (s->type == SOCK_DGRAM) {
        struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
        return dgram_recvmsg(s, fd, &m, 0);
    }
    int rc = stream_check(s, fd, false);
    if (rc == 1)
        return REAL(readv)(fd, iov, cnt);
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    size_t want = 0;
    for (int i = 0; i < cnt; i++)
        want += iov[i].iov_len;
    return stream_recv_done(s, fd, REAL(readv)(fd, iov, cnt), want);
}

static ssize_t recvfrom_impl(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
                             socklen_t *alen)
{
    struct tsock *s = data_sock(fd);
    if (s == NULL)
        return REAL(recvfrom) ? REAL(recvfrom)(fd, buf, len, flags, sa, alen)
                              : raw_ret(RAW(SYS_recvfrom, fd, buf, len, flags, sa, alen));
    if (s->type == SOCK_DGRAM) {
        struct iovec iov = {.iov_base = buf, .iov_len = len};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        if (sa != NULL && alen != NULL) {
            m.msg_name = sa;
            m.msg_namelen = *alen;
        }
        ssize_t n = dgram_recvmsg(s, fd, &m, flags);
        if (n >= 0 && sa != NULL && alen != NULL)
            *alen = m.msg_namelen;
        return n;
    }
    int rc = stream_check(s, fd, false);
    if (rc == 1)
        return REAL(recvfrom)(fd, buf, len, flags, sa, alen);
    int err = 0;
    int f = stream_recv_flags(flags, &err);
    if (rc == 0 && f < 0)
        rc = -err;
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    /* TCP fills no source address (AF_UNIX would give its own). */
    if (sa != NULL && alen != NULL)
        *alen = 0;
    ssize_t n = (f & MSG_TRUNC) ? stream_discard(fd, len, f) : REAL(recv)(fd, buf, len, f);
    return stream_recv_done(s, fd, n, len);
}

static ssize_t recvmsg_impl(int fd, struct msghdr *m, int flags)
{
    struct tsock *s = data_sock(fd);
    if (s == NULL)
        return REAL(recvmsg) ? REAL(recvmsg)(fd, m, flags)
                             : raw_ret(RAW(SYS_recvmsg, fd, m, flags, 0, 0, 0));
    if (s->type == SOCK_DGRAM)
        return dgram_recvmsg(s, fd, m, flags);
    int rc = stream_check(s, fd, false);
    if (rc == 1)
        return REAL(recvmsg)(fd, m, flags);
    int err = 0;
    int f = stream_recv_flags(flags, &err);
    if (rc == 0 && f < 0)
        rc = -err;
    if (rc < 0) {
        errno = -rc;
        return -1;
    }
    struct msghdr mm = *m;
    mm.msg_name = NULL;
    mm.msg_namelen = 0;
    size_t want = 0;
    for (size_t i = 0; i < m->msg_iovlen; i++)
        want += m->msg_iov[i].iov_len;
    ssize_t n;
    if (f & MSG_TRUNC) {
        n = stream_discard(fd, want, f);
        mm.msg_controllen = 0;
        mm.msg_flags = 0;
    } else {
        n = REAL(recvmsg)(fd, &mm, f);
    }
    if (n >= 0) {
        m->msg_namelen = 0;
        m->msg_controllen = mm.msg_controllen;
        m->msg_flags = mm.msg_flags;
    }
    return stream_recv_done(s, fd, n, want);
}

/* Control messages a stream send may carry: none that AF_UNIX would act
 * on (SCM_RIGHTS would hand fds to the stack). */
static bool stream_control_ok(const struct msghdr *m)
{
    if (m->msg_control == NULL || m->msg_controllen == 0)
        return true;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR((struct msghdr *)m); cm != NULL;
         cm = CMSG_NXTHDR((struct msghdr *)m, cm))
        if (cm->cmsg_level == SOL_SOCKET &&
            (cm->cmsg_type == SCM_RIGHTS || cm->cmsg_type == SCM_CREDENTIALS))
            return false;
    return true;
}

static int stream_send_flags(int flags)
{
    /* MSG_OOB is sent inline (no urgent data yet; item 19). */
    return (flags & (MSG_DONTWAIT | MSG_MORE)) | MSG_NOSIGNAL;
}

static ssize_t write_impl(int fd, const void *buf, size_t len)
{
    struct tsock *s = data_sock(fd);
    if (s == NULL)
        return REAL(write) ? REAL(write)(fd, buf, len)
                           : raw_ret(RAW(SYS_write, fd, buf, len, 0, 0, 0));
    if (s->type == SOCK_DGRAM) {
        struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
        return dgram_sendmsg(s, fd, &m, 0);
    }
    int rc = stream_check(s, fd, true);
    if (rc == 1)
        return REAL(write)(fd, buf, len);
    if (rc < 0)
        return stream_fail(rc, 0);
    return stream_send_done(s, fd, REAL(send)(fd, buf, len, MSG_NOSIGNAL), 0);
}

static ssize_t writev_impl(int fd, const struct iovec *iov, int cnt)
{
    struct tsock *s = data_sock(fd);
    if (s == NULL)
        return REAL(writev) ? REAL(writev)(fd, iov, cnt)
                            : raw_ret(RAW(SYS_writev, fd, iov, cnt, 0, 0, 0));
    if (cnt < 0) {
        errno = EINVAL;
        return -1;
    }
    struct msghdr m = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)cnt};
    if (s->type == SOCK_DGRAM)
        return dgram_sendmsg(s, fd, &m, 0);
    int rc = stream_check(s, fd, true);
    if (rc == 1)
        return REAL(writev)(fd, iov, cnt);
    if (rc < 0)
        return stream_fail(rc, 0);
    return stream_send_done(s, fd, REAL(sendmsg)(fd, &m, MSG_NOSIGNAL), 0);
}

static ssize_t sendto_impl(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *sa, socklen_t alen)
{
    struct tsock *s = data_sock(fd);
    if (s == NULL)
        return REAL(sendto) ? REAL(sendto)(fd, buf, len, flags, sa, alen)
                            : raw_ret(RAW(SYS_sendto, fd, buf, len, flags, sa, alen));
    if (s->type == SOCK_DGRAM) {
        struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
        struct msghdr m = {.msg_name = (void *)sa,
                           .msg_namelen = sa != NULL ? alen : 0,
                           .msg_iov = &iov,
                           .msg_iovlen = 1};
        return dgram_sendmsg(s, fd, &m, flags);
    }
    int rc = stream_check(s, fd, true);
    if (rc == 1)
        return REAL(sendto)(fd, buf, len, flags, sa, alen);
    if (rc < 0)
        return stream_fail(rc, flags);
    /* A connected TCP socket ignores the address (item 6). */
    return stream_send_done(s, fd, REAL(send)(fd, buf, len, stream_send_flags(flags)), flags);
}

static ssize_t sendmsg_impl(int fd, const struct msghdr *m, int flags)
{
    struct tsock *s = data_sock(fd);
    if (s == NULL)
        return REAL(sendmsg) ? REAL(sendmsg)(fd, m, flags)
                             : raw_ret(RAW(SYS_sendmsg, fd, m, flags, 0, 0, 0));
    if (s->type == SOCK_DGRAM)
        return dgram_sendmsg(s, fd, m, flags);
    int rc = stream_check(s, fd, true);
    if (rc == 1)
        return REAL(sendmsg)(fd, m, flags);
    if (rc == 0 && !stream_control_ok(m))
        rc = -EINVAL;
    if (rc < 0)
        return stream_fail(rc, flags);
    struct msghdr mm = {.msg_iov = m->msg_iov, .msg_iovlen = m->msg_iovlen};
    return stream_send_done(s, fd, REAL(sendmsg)(fd, &mm, stream_send_flags(flags)), flags);
}

static int recvmmsg_impl(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *to)
{
    struct tsock *s = data_sock(fd);
    if (s == NULL)
        return REAL(recvmmsg) ? REAL(recvmmsg)(fd, v, n, flags, to)
                              : (int)raw_ret(RAW(SYS_recvmmsg, fd, v, n, flags, to, 0));
    if (n > IOV_MAX_SHIM)
        n = IOV_MAX_SHIM;
    struct timespec end = {0};
    if (to != NULL) {
        clock_gettime(CLOCK_MONOTONIC, &end);
        end.tv_sec += to->tv_sec;
        end.tv_nsec += to->tv_nsec;
        if (end.tv_nsec >= 1000000000L) {
            end.tv_sec++;
            end.tv_nsec -= 1000000000L;
        }
    }
    unsigned got = 0;
    while (got < n) {
        int f = flags & ~MSG_WAITFORONE;
        if (got > 0 && (flags & MSG_WAITFORONE))
            f |= MSG_DONTWAIT;
        ssize_t r = recvmsg_impl(fd, &v[got].msg_hdr, f);
        if (r < 0) {
            if (got > 0)
                break; /* the error waits for the next call, as the kernel's */
            return -1;
        }
        v[got].msg_len = (unsigned)r;
        got++;
        if (to != NULL) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
                break;
        }
    }
    return (int)got;
}

static int sendmmsg_impl(int fd, struct mmsghdr *v, unsigned n, int flags)
{
    struct tsock *s = data_sock(fd);
    if (s == NULL)
        return REAL(sendmmsg) ? REAL(sendmmsg)(fd, v, n, flags)
                              : (int)raw_ret(RAW(SYS_sendmmsg, fd, v, n, flags, 0, 0));
    if (n > IOV_MAX_SHIM)
        n = IOV_MAX_SHIM;
    unsigned sent = 0;
    while (sent < n) {
        ssize_t r = sendmsg_impl(fd, &v[sent].msg_hdr, flags);
        if (r < 0) {
            if (sent > 0)
                break;
            return -1;
        }
        v[sent].msg_len = (unsigned)r;
        sent++;
    }
    return (int)sent;
}

static ssize_t sendfile_impl(int out, int in, off_t *off, size_t count)
{
    struct tsock *s = data_sock(out);
    if (s == NULL)
        return REAL(sendfile) ? REAL(sendfile)(out, in, off, count)
                              : raw_ret(RAW(SYS_sendfile, out, in, off, count, 0, 0));
    if (s->type == SOCK_DGRAM) {
        /* Bare datagrams are payload for a connected socket (item 5). */
        if (!s->udp_connected) {
            errno = EDESTADDRREQ;
            return -1;
        }
        return REAL(sendfile)(out, in, off, count);
    }
    int rc = stream_check(s, out, true);
    if (rc == 1)
        return REAL(sendfile)(out, in, off, count);
    if (rc < 0)
        return stream_fail(rc, 0);
    /* splice raises SIGPIPE natively on EPIPE, as kernel TCP does. */
    return stream_send_done(s, out, REAL(sendfile)(out, in, off, count), MSG_NOSIGNAL);
}

/* ---- Exported names ---- */

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
    return read_impl(fd, buf, len);
}

SHIM_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
    if (len > buflen)
        __chk_fail();
    return read_impl(fd, buf, len);
}

SHIM_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
    return readv_impl(fd, iov, cnt);
}

SHIM_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    return recvfrom_impl(fd, buf, len, flags, NULL, NULL);
}

SHIM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t len, size_t buflen, int flags)
{
    if (len > buflen)
        __chk_fail();
    return recvfrom_impl(fd, buf, len, flags, NULL, NULL);
}

SHIM_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *sa,
                             socklen_t *alen)
{
    return recvfrom_impl(fd, buf, len, flags, sa, alen);
}

SHIM_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t len, size_t buflen, int flags,
                                   struct sockaddr *sa, socklen_t *alen)
{
    if (len > buflen)
        __chk_fail();
    return recvfrom_impl(fd, buf, len, flags, sa, alen);
}

SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
    return recvmsg_impl(fd, m, flags);
}

SHIM_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *to)
{
    return recvmmsg_impl(fd, v, n, flags, to);
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
    return write_impl(fd, buf, len);
}

SHIM_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
    return writev_impl(fd, iov, cnt);
}

SHIM_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
    return sendto_impl(fd, buf, len, flags, NULL, 0);
}

SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
                           const struct sockaddr *sa, socklen_t alen)
{
    return sendto_impl(fd, buf, len, flags, sa, alen);
}

SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    return sendmsg_impl(fd, m, flags);
}

SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
    return sendmmsg_impl(fd, v, n, flags);
}

SHIM_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
    return sendfile_impl(out, in, off, count);
}

SHIM_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
    return sendfile_impl(out, in, off, count);
}

/* ---- syscall(): the socket numbers go where the named calls go ---- */

int shim_socket(int, int, int);
int shim_bind(int, const struct sockaddr *, socklen_t);
int shim_listen(int, int);
int shim_accept(int, struct sockaddr *, socklen_t *);
int shim_accept4(int, struct sockaddr *, socklen_t *, int);
int shim_connect(int, const struct sockaddr *, socklen_t);
int shim_getsockname(int, struct sockaddr *, socklen_t *);
int shim_getpeername(int, struct sockaddr *, socklen_t *);
int shim_shutdown(int, int);
int shim_getsockopt(int, int, int, void *, socklen_t *);
int shim_setsockopt(int, int, int, const void *, socklen_t);
int shim_dup(int);
int shim_dup2(int, int);
int shim_dup3(int, int, int);
int shim_close_range(unsigned, unsigned, int);
int shim_epoll_ctl(int, int, int, struct epoll_event *);
int shim_ioctl(int, unsigned long, ...);
int shim_fcntl(int, int, ...);

SHIM_EXPORT long syscall(long n, ...)
{
    va_list ap;
    va_start(ap, n);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    if (shim_bypass())
        return raw_ret(shim_raw6(n, a, b, c, d, e, f));
    switch (n) {
    case SYS_read: return read_impl((int)a, (void *)b, (size_t)c);
    case SYS_write: return write_impl((int)a, (const void *)b, (size_t)c);
    case SYS_readv: return readv_impl((int)a, (const struct iovec *)b, (int)c);
    case SYS_writev: return writev_impl((int)a, (const struct iovec *)b, (int)c);
    case SYS_recvfrom:
        return recvfrom_impl((int)a, (void *)b, (size_t)c, (int)d, (struct sockaddr *)e,
                             (socklen_t *)f);
    case SYS_sendto:
        return sendto_impl((int)a, (const void *)b, (size_t)c, (int)d, (const struct sockaddr *)e,
                           (socklen_t)f);
    case SYS_recvmsg: return recvmsg_impl((int)a, (struct msghdr *)b, (int)c);
    case SYS_sendmsg: return sendmsg_impl((int)a, (const struct msghdr *)b, (int)c);
    case SYS_recvmmsg:
        return recvmmsg_impl((int)a, (struct mmsghdr *)b, (unsigned)c, (int)d,
                             (struct timespec *)e);
    case SYS_sendmmsg: return sendmmsg_impl((int)a, (struct mmsghdr *)b, (unsigned)c, (int)d);
    case SYS_sendfile: return sendfile_impl((int)a, (int)b, (off_t *)c, (size_t)d);
    case SYS_close: return shim_close_impl((int)a);
    case SYS_socket: return shim_socket((int)a, (int)b, (int)c);
    case SYS_bind: return shim_bind((int)a, (const struct sockaddr *)b, (socklen_t)c);
    case SYS_listen: return shim_listen((int)a, (int)b);
    case SYS_accept: return shim_accept((int)a, (struct sockaddr *)b, (socklen_t *)c);
    case SYS_accept4: return shim_accept4((int)a, (struct sockaddr *)b, (socklen_t *)c, (int)d);
    case SYS_connect: return shim_connect((int)a, (const struct sockaddr *)b, (socklen_t)c);
    case SYS_getsockname: return shim_getsockname((int)a, (struct sockaddr *)b, (socklen_t *)c);
    case SYS_getpeername: return shim_getpeername((int)a, (struct sockaddr *)b, (socklen_t *)c);
    case SYS_shutdown: return shim_shutdown((int)a, (int)b);
    case SYS_getsockopt: return shim_getsockopt((int)a, (int)b, (int)c, (void *)d, (socklen_t *)e);
    case SYS_setsockopt:
        return shim_setsockopt((int)a, (int)b, (int)c, (const void *)d, (socklen_t)e);
    case SYS_dup: return shim_dup((int)a);
#ifdef SYS_dup2
    case SYS_dup2: return shim_dup2((int)a, (int)b);
#endif
    case SYS_dup3: return shim_dup3((int)a, (int)b, (int)c);
    case SYS_close_range: return shim_close_range((unsigned)a, (unsigned)b, (int)c);
    case SYS_epoll_ctl: return shim_epoll_ctl((int)a, (int)b, (int)c, (struct epoll_event *)d);
    case SYS_ioctl: return shim_ioctl((int)a, (unsigned long)b, (void *)c);
    case SYS_fcntl: return shim_fcntl((int)a, (int)b, (void *)c);
    default: return raw_ret(shim_raw6(n, a, b, c, d, e, f));
    }
}
