/* Interposition mechanics (item 16): the real libc functions behind our
 * exported names, resolved with dlsym(RTLD_NEXT) in an early constructor
 * (before it, interposed calls go to the kernel by raw syscall), and the
 * __wrap_* entry points through which the statically linked stack reaches
 * libc: the library is linked with --wrap for every interposed name, so
 * the stack's own socket(), close(), read()... never come back into the
 * shim (a TAP ioctl socket must stay a kernel socket, and a stack fd must
 * really close). Threads the stack creates are marked internal, so what
 * libpcap does on them also passes straight through. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>

#include "shim.h"

struct shim_real shim_real;
atomic_bool shim_ready;
pid_t shim_pid;
_Thread_local int shim_internal;

void shim_channel_init(void);
void shim_config_snapshot(void);

#define RESOLVE(name) shim_real.name = (__typeof__(shim_real.name))dlsym(RTLD_NEXT, #name)

__attribute__((constructor(101))) static void shim_init(void)
{
    shim_pid = sys_getpid();
    RESOLVE(socket);
    RESOLVE(bind);
    RESOLVE(listen);
    RESOLVE(accept);
    RESOLVE(accept4);
    RESOLVE(connect);
    RESOLVE(getsockname);
    RESOLVE(getpeername);
    RESOLVE(shutdown);
    RESOLVE(getsockopt);
    RESOLVE(setsockopt);
    RESOLVE(close);
    RESOLVE(read);
    RESOLVE(write);
    RESOLVE(readv);
    RESOLVE(writev);
    RESOLVE(recv);
    RESOLVE(recvfrom);
    RESOLVE(recvmsg);
    RESOLVE(recvmmsg);
    RESOLVE(send);
    RESOLVE(sendto);
    RESOLVE(sendmsg);
    RESOLVE(sendmmsg);
    RESOLVE(sendfile);
    RESOLVE(ioctl);
    RESOLVE(fcntl);
    RESOLVE(dup);
    RESOLVE(dup2);
    RESOLVE(dup3);
    RESOLVE(close_range);
    RESOLVE(epoll_ctl);
    RESOLVE(syscall);
    RESOLVE(execve);
    RESOLVE(execvpe);
    RESOLVE(fexecve);
    RESOLVE(execveat);
    RESOLVE(posix_spawn);
    RESOLVE(posix_spawnp);
    shim_log_init();
    shim_env_snapshot();
    shim_config_snapshot();
    shim_channel_init();
    shim_fork_init();
    atomic_store_explicit(&shim_ready, true, memory_order_release);
}

/* ---- The stack's way to libc (-Wl,--wrap=NAME) ---- */

int __wrap_socket(int domain, int type, int protocol);
int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_listen(int fd, int backlog);
int __wrap_accept(int fd, struct sockaddr *sa, socklen_t *len);
int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags);
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len);
int __wrap_getsockname(int fd, struct sockaddr *sa, socklen_t *len);
int __wrap_getpeername(int fd, struct sockaddr *sa, socklen_t *len);
int __wrap_shutdown(int fd, int how);
int __wrap_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int __wrap_setsockopt(int fd, int level, int name, const void *val, socklen_t len);
int __wrap_close(int fd);
ssize_t __wrap_read(int fd, void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
ssize_t __wrap_readv(int fd, const struct iovec *iov, int n);
ssize_t __wrap_writev(int fd, const struct iovec *iov, int n);
ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags);
ssize_t __wrap_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa,
                        socklen_t *len);
ssize_t __wrap_recvmsg(int fd, struct msghdr *m, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags);
ssize_t __wrap_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                      socklen_t len);
ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags);
int __wrap_ioctl(int fd, unsigned long req, ...);
int __wrap_fcntl(int fd, int cmd, ...);
int __wrap_fcntl64(int fd, int cmd, ...);
int __wrap_dup(int fd);
int __wrap_dup2(int fd, int fd2);
int __wrap_dup3(int fd, int fd2, int flags);
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev);
long __wrap_syscall(long n, ...);
int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);
int __real_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

#define FWD(name, rawcall, ...)                                                                    \
    do {                                                                                           \
        if (shim_real.name != NULL)                                                                \
            return shim_real.name(__VA_ARGS__);                                                    \
        return raw_ret(rawcall);                                                                   \
    } while (0)

int __wrap_socket(int domain, int type, int protocol)
{
    FWD(socket, RAW(SYS_socket, domain, type, protocol, 0, 0, 0), domain, type, protocol);
}
int __wrap_bind(int fd, const struct sockaddr *sa, socklen_t len)
{
    FWD(bind, RAW(SYS_bind, fd, sa, len, 0, 0, 0), fd, sa, len);
}
int __wrap_listen(int fd, int backlog)
{
    FWD(listen, RAW(SYS_listen, fd, backlog, 0, 0, 0, 0), fd, backlog);
}
int __wrap_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    FWD(accept, RAW(SYS_accept, fd, sa, len, 0, 0, 0), fd, sa, len);
}
int __wrap_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    FWD(accept4, RAW(SYS_accept4, fd, sa, len, flags, 0, 0), fd, sa, len, flags);
}
int __wrap_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    FWD(connect, RAW(SYS_connect, fd, sa, len, 0, 0, 0), fd, sa, len);
}
int __wrap_getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
    FWD(getsockname, RAW(SYS_getsockname, fd, sa, len, 0, 0, 0), fd, sa, len);
}
int __wrap_getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
    FWD(getpeername, RAW(SYS_getpeername, fd, sa, len, 0, 0, 0), fd, sa, len);
}
int __wrap_shutdown(int fd, int how)
{
    FWD(shutdown, RAW(SYS_shutdown, fd, how, 0, 0, 0, 0), fd, how);
}
int __wrap_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    FWD(getsockopt, RAW(SYS_getsockopt, fd, level, name, val, len, 0), fd, level, name, val, len);
}
int __wrap_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    FWD(setsockopt, RAW(SYS_setsockopt, fd, level, name, val, len, 0), fd, level, name, val, len);
}
int __wrap_close(int fd)
{
    FWD(close, RAW(SYS_close, fd, 0, 0, 0, 0, 0), fd);
}
ssize_t __wrap_read(int fd, void *buf, size_t n)
{
    FWD(read, RAW(SYS_read, fd, buf, n, 0, 0, 0), fd, buf, n);
}
ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
    FWD(write, RAW(SYS_write, fd, buf, n, 0, 0, 0), fd, buf, n);
}
ssize_t __wrap_readv(int fd, const struct iovec *iov, int n)
{
    FWD(readv, RAW(SYS_readv, fd, iov, n, 0, 0, 0), fd, iov, n);
}
ssize_t __wrap_writev(int fd, const struct iovec *iov, int n)
{
    FWD(writev, RAW(SYS_writev, fd, iov, n, 0, 0, 0), fd, iov, n);
}
ssize_t __wrap_recv(int fd, void *buf, size_t n, int flags)
{
    FWD(recv, RAW(SYS_recvfrom, fd, buf, n, flags, 0, 0), fd, buf, n, flags);
}
ssize_t __wrap_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *sa, socklen_t *len)
{
    FWD(recvfrom, RAW(SYS_recvfrom, fd, buf, n, flags, sa, len), fd, buf, n, flags, sa, len);
}
ssize_t __wrap_recvmsg(int fd, struct msghdr *m, int flags)
{
    FWD(recvmsg, RAW(SYS_recvmsg, fd, m, flags, 0, 0, 0), fd, m, flags);
}
ssize_t __wrap_send(int fd, const void *buf, size_t n, int flags)
{
    FWD(send, RAW(SYS_sendto, fd, buf, n, flags, 0, 0), fd, buf, n, flags);
}
ssize_t __wrap_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa,
                      socklen_t len)
{
    FWD(sendto, RAW(SYS_sendto, fd, buf, n, flags, sa, len), fd, buf, n, flags, sa, len);
}
ssize_t __wrap_sendmsg(int fd, const struct msghdr *m, int flags)
{
    FWD(sendmsg, RAW(SYS_sendmsg, fd, m, flags, 0, 0, 0), fd, m, flags);
}
int __wrap_ioctl(int fd, unsigned long req, ...)
{
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    FWD(ioctl, RAW(SYS_ioctl, fd, req, arg, 0, 0, 0), fd, req, arg);
}
int __wrap_fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    FWD(fcntl, RAW(SYS_fcntl, fd, cmd, arg, 0, 0, 0), fd, cmd, arg);
}
int __wrap_fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    FWD(fcntl, RAW(SYS_fcntl, fd, cmd, arg, 0, 0, 0), fd, cmd, arg);
}
int __wrap_dup(int fd)
{
    FWD(dup, RAW(SYS_dup, fd, 0, 0, 0, 0, 0), fd);
}
int __wrap_dup2(int fd, int fd2)
{
    FWD(dup2, raw_dup2(fd, fd2), fd, fd2);
}
int __wrap_dup3(int fd, int fd2, int flags)
{
    FWD(dup3, RAW(SYS_dup3, fd, fd2, flags, 0, 0, 0), fd, fd2, flags);
}
int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
    FWD(epoll_ctl, RAW(SYS_epoll_ctl, epfd, op, fd, ev, 0, 0), epfd, op, fd, ev);
}
long __wrap_syscall(long n, ...)
{
    va_list ap;
    va_start(ap, n);
    long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
    long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
    va_end(ap);
    return raw_ret(shim_raw6(n, a, b, c, d, e, f));
}

struct trampoline {
    void *(*fn)(void *);
    void *arg;
};

static void *internal_thread(void *p)
{
    struct trampoline t = *(struct trampoline *)p;
    free(p);
    shim_internal = 1;
    return t.fn(t.arg);
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
    struct trampoline *tr = malloc(sizeof(*tr));
    if (tr == NULL)
        return EAGAIN;
    tr->fn = fn;
    tr->arg = arg;
    int rc = __real_pthread_create(t, attr, internal_thread, tr);
    if (rc != 0)
        free(tr);
    return rc;
}
