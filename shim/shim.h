/* What the preload library's modules share: raw syscalls, the real libc
 * functions behind the interposed names, the process identity checks and
 * logging. Nothing here is exported; interposed functions are marked
 * SHIM_EXPORT where they are defined.
 *
 * Rules every module follows (SHIM-PITFALLS.md item 16):
 * - the shim's own calls never go through its exported names: they use
 *   REAL(name) (resolved by dlsym(RTLD_NEXT) in the early constructor) or
 *   the raw sys_* helpers below;
 * - read/write/close/syscall paths take no lock and never allocate;
 * - errno is preserved around internal calls on success paths. */
#ifndef TOYSOCK_SHIM_H
#define TOYSOCK_SHIM_H

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define SHIM_EXPORT __attribute__((visibility("default")))

/* Hidden aliases of exported entry points: how the shim calls its own
 * interposed functions without going through the dynamic linker (item
 * 16). copy() takes over the target's nothrow/leaf attributes. */
#if defined(__has_attribute)
#if __has_attribute(copy)
#define SHIM_COPY(x) __attribute__((copy(x)))
#endif
#endif
#ifndef SHIM_COPY
#define SHIM_COPY(x)
#endif
#define SHIM_ALIAS(name)                                                                           \
    extern __typeof__(name) shim_##name SHIM_COPY(name)                                            \
        __attribute__((alias(#name), visibility("hidden")))

/* ---- Raw system calls: usable before the constructor, in vfork
 * children and from signal handlers. They return -errno. ---- */
static inline long shim_raw6(long n, long a, long b, long c, long d, long e, long f)
{
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
#else
#error "toysock's shim needs raw syscalls for this architecture (x86_64, aarch64)"
#endif
}

#define RAW(n, a, b, c, d, e, f)                                                                   \
    shim_raw6((long)(n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

/* libc convention: -1 and errno. */
static inline long raw_ret(long r)
{
    if (r < 0 && r > -4096) {
        errno = (int)-r;
        return -1;
    }
    return r;
}

static inline int sys_close(int fd)
{
    return (int)RAW(SYS_close, fd, 0, 0, 0, 0, 0);
}
static inline int sys_fstat(int fd, struct stat *st)
{
    return (int)RAW(SYS_fstat, fd, st, 0, 0, 0, 0);
}
static inline long sys_fcntl(int fd, int cmd, long arg)
{
    return RAW(SYS_fcntl, fd, cmd, arg, 0, 0, 0);
}
static inline int sys_dup3(int old, int new_fd, int flags)
{
    return (int)RAW(SYS_dup3, old, new_fd, flags, 0, 0, 0);
}
static inline long raw_dup2(int fd, int fd2)
{
#ifdef SYS_dup2
    return RAW(SYS_dup2, fd, fd2, 0, 0, 0, 0);
#else
    if (fd == fd2)
        return RAW(SYS_fcntl, fd, 1 /* F_GETFD */, 0, 0, 0, 0) < 0 ? -EBADF : fd;
    return RAW(SYS_dup3, fd, fd2, 0, 0, 0, 0);
#endif
}
static inline int sys_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
    return (int)RAW(SYS_getsockopt, fd, level, name, val, len, 0);
}
static inline int sys_setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
    return (int)RAW(SYS_setsockopt, fd, level, name, val, len, 0);
}
static inline long sys_ioctl(int fd, unsigned long req, void *arg)
{
    return RAW(SYS_ioctl, fd, req, arg, 0, 0, 0);
}
static inline pid_t sys_getpid(void)
{
    return (pid_t)RAW(SYS_getpid, 0, 0, 0, 0, 0, 0);
}
static inline pid_t sys_gettid(void)
{
    return (pid_t)RAW(SYS_gettid, 0, 0, 0, 0, 0, 0);
}
static inline long sys_sendmsg(int fd, const struct msghdr *m, int flags)
{
    return RAW(SYS_sendmsg, fd, m, flags, 0, 0, 0);
}
static inline long sys_write(int fd, const void *buf, size_t n)
{
    return RAW(SYS_write, fd, buf, n, 0, 0, 0);
}
static inline int sys_socketpair(int domain, int type, int proto, int sv[2])
{
    return (int)RAW(SYS_socketpair, domain, type, proto, sv, 0, 0);
}

/* ---- The real functions (interpose.c) ---- */
struct mmsghdr;
struct shim_real {
    int (*socket)(int, int, int);
    int (*bind)(int, const struct sockaddr *, socklen_t);
    int (*listen)(int, int);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*getsockname)(int, struct sockaddr *, socklen_t *);
    int (*getpeername)(int, struct sockaddr *, socklen_t *);
    int (*shutdown)(int, int);
    int (*getsockopt)(int, int, int, void *, socklen_t *);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
    int (*close)(int);
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    int (*recvmmsg)(int, struct mmsghdr *, unsigned, int, struct timespec *);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*sendmmsg)(int, struct mmsghdr *, unsigned, int);
    ssize_t (*sendfile)(int, int, off_t *, size_t);
    int (*ioctl)(int, unsigned long, ...);
    int (*fcntl)(int, int, ...);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*close_range)(unsigned, unsigned, int);
    int (*epoll_ctl)(int, int, int, struct epoll_event *);
    long (*syscall)(long, ...);
    int (*execve)(const char *, char *const[], char *const[]);
    int (*execvpe)(const char *, char *const[], char *const[]);
    int (*fexecve)(int, char *const[], char *const[]);
    int (*execveat)(int, const char *, char *const[], char *const[], int);
    int (*posix_spawn)(pid_t *, const char *, const void *, const void *, char *const[],
                       char *const[]);
    int (*posix_spawnp)(pid_t *, const char *, const void *, const void *, char *const[],
                        char *const[]);
};
extern struct shim_real shim_real;
#define REAL(name) (shim_real.name)

/* True once the constructor resolved the real functions. Before that
 * every interposed call goes to the kernel by raw syscall. */
extern atomic_bool shim_ready;
/* The pid the shim's state belongs to: a vfork or clone child (getpid()
 * differs) must not touch it (item 9). */
extern pid_t shim_pid;
/* Set on threads where every interposed call must go to libc untouched:
 * the stack's own threads and the caller while it starts the stack (the
 * stack and libpcap open kernel sockets of their own). */
extern _Thread_local int shim_internal;

static inline bool shim_bypass(void)
{
    return !atomic_load_explicit(&shim_ready, memory_order_acquire) || shim_internal;
}
/* For control-path calls: also bypass in a vfork/clone child. */
static inline bool shim_bypass_ctl(void)
{
    return shim_bypass() || sys_getpid() != shim_pid;
}

/* ---- Logging (log.c). Lines go to fd 2 only if it was a terminal or a
 * regular file at start, else to TOYSOCK_LOG_FILE, else nowhere
 * (DESIGN §3, item 17). ---- */
enum { SHIM_LOG_ERROR, SHIM_LOG_WARN, SHIM_LOG_INFO, SHIM_LOG_DEBUG };
void shim_log_init(void);
void shim_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Logs msg unless the previous call logged the same text. */
void shim_log_once(int level, const char *msg);
/* The fd the shim logs to (hidden from the program), or -1. */
extern int shim_log_fd;
/* "" when fd 2 may carry logs, else the file for the stack's log. */
const char *shim_log_path_for_stack(void);

/* ---- Hidden fds (item 10): the stack's own and the shim's. ---- */
bool shim_fd_hidden(int fd);
/* Moves fd to >= 1024 with close-on-exec and records it as hidden. */
int shim_fd_hide(int fd);
/* Forgets and closes a hidden fd. */
void shim_fd_unhide_close(int fd);

/* ---- Interposed names the modules call on each other ---- */
int shim_close_impl(int fd);
/* fcntl(F_DUPFD*) made newfd a copy of fd: share the table entry. */
int shim_fcntl_dup_note(int fd, int newfd);
/* epoll fds that hold registrations of toysock sockets (epoll.c). */
bool shim_epfd_marked(int fd);
void shim_epfd_unmark(int fd);

/* ---- Exec (exec.c) ---- */
void shim_env_snapshot(void);

/* ---- Fork (fork.c) ---- */
void shim_fork_init(void);

/* errno kept across internal calls on success paths. */
#define SHIM_SAVE_ERRNO int saved_errno_ = errno
#define SHIM_RESTORE_ERRNO (errno = saved_errno_)

#endif
