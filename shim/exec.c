/* exec and spawn (item 14): launchers scrub the environment (env -i, sudo,
 * Python subprocess(env=...), nginx keeping only TZ), and the child would
 * then run silently on the kernel. The configuration is snapshotted in the
 * constructor (a program may clear environ before its first socket call),
 * and every exec/spawn entry point puts LD_PRELOAD and the TOYSOCK_*
 * variables back when they are missing. These run in vfork children
 * (Python's subprocess): the new environment is built on the stack, with
 * no allocation and no shared state written. */
#include <dlfcn.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

extern char **environ;

#define SNAP_VARS 64
#define SNAP_BYTES 16384

static char snap_buf[SNAP_BYTES];
static char *snap_vars[SNAP_VARS]; /* "TOYSOCK_X=value" */
static unsigned snap_count;
static char *snap_preload;      /* the LD_PRELOAD value we were started with, or NULL */
static char lib_path[PATH_MAX]; /* this library, as loaded */

static char *snap_store(const char *s)
{
    static size_t used;
    size_t n = strlen(s) + 1;
    if (used + n > sizeof(snap_buf))
        return NULL;
    char *p = snap_buf + used;
    memcpy(p, s, n);
    used += n;
    return p;
}

void shim_env_snapshot(void)
{
    Dl_info info;
    if (dladdr((void *)shim_env_snapshot, &info) != 0 && info.dli_fname != NULL) {
        char *real = realpath(info.dli_fname, NULL);
        strncpy(lib_path, real != NULL ? real : info.dli_fname, sizeof(lib_path) - 1);
        free(real);
    }
    const char *pre = getenv("LD_PRELOAD");
    /* A sanitizer build (DESIGN §7) also needs its runtime's options in
     * the child (leak detection off for uninstrumented programs). */
    bool sanitizer = pre != NULL && strstr(pre, "libasan.so") != NULL;
    for (char **e = environ; e != NULL && *e != NULL; e++) {
        bool keep = strncmp(*e, "TOYSOCK_", 8) == 0 ||
                    (sanitizer && (strncmp(*e, "ASAN_OPTIONS=", 13) == 0 ||
                                   strncmp(*e, "UBSAN_OPTIONS=", 14) == 0 ||
                                   strncmp(*e, "LSAN_OPTIONS=", 13) == 0));
        if (keep && snap_count < SNAP_VARS) {
            char *p = snap_store(*e);
            if (p != NULL)
                snap_vars[snap_count++] = p;
        } else if (strncmp(*e, "LD_PRELOAD=", 11) == 0) {
            snap_preload = snap_store(*e + 11);
        }
    }
}

static bool names_us(const char *preload)
{
    if (preload == NULL)
        return false;
    if (lib_path[0] != '\0' && strstr(preload, lib_path) != NULL)
        return true;
    return strstr(preload, "libtoysock") != NULL;
}

static size_t count_env(char *const envp[])
{
    size_t n = 0;
    while (envp != NULL && envp[n] != NULL)
        n++;
    return n;
}

static const char *env_find(char *const envp[], const char *name, size_t len)
{
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++)
        if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
            return envp[i] + len + 1;
    return NULL;
}

/* dst = a b c, when it fits (no stdio: this may run in a vfork child). */
static bool cat3(char *dst, size_t cap, const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    if (la + lb + lc + 1 > cap)
        return false;
    memcpy(dst, a, la);
    memcpy(dst + la, b, lb);
    memcpy(dst + la + lb, c, lc + 1);
    return true;
}

/* Room a fixed environment needs beside the caller's. */
#define EXTRA_SLOTS (SNAP_VARS + 2)

/* Fills out (count_env(envp) + EXTRA_SLOTS entries) with envp plus what
 * is missing; preload_buf receives a rewritten LD_PRELOAD when needed. */
static char *const *env_fix(char *const envp[], char **out, char *preload_buf, size_t preload_cap)
{
    if (shim_internal || !atomic_load(&shim_ready))
        return envp;
    size_t n = 0;
    bool preload_done = false;
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        char *e = envp[i];
        if (strncmp(e, "LD_PRELOAD=", 11) == 0) {
            preload_done = true;
            if (!names_us(e + 11) && lib_path[0] != '\0') {
                /* Keep theirs first (a sanitizer runtime must stay first). */
                if (cat3(preload_buf, preload_cap, e, e[11] ? ":" : "", lib_path))
                    e = preload_buf;
            }
        }
        out[n++] = e;
    }
    if (!preload_done && (snap_preload != NULL || lib_path[0] != '\0')) {
        const char *value = names_us(snap_preload) ? snap_preload : lib_path;
        if (cat3(preload_buf, preload_cap, "LD_PRELOAD=", value, ""))
            out[n++] = preload_buf;
    }
    for (unsigned i = 0; i < snap_count; i++) {
        const char *eq = strchr(snap_vars[i], '=');
        if (eq != NULL && env_find(envp, snap_vars[i], (size_t)(eq - snap_vars[i])) == NULL)
            out[n++] = snap_vars[i];
    }
    out[n] = NULL;
    return out;
}

#define FIX_ENV(envp, fixed)                                                                       \
    char *fixed##_slots[count_env(envp) + EXTRA_SLOTS + 1];                                        \
    char fixed##_preload[PATH_MAX + 4096];                                                         \
    char *const *fixed = env_fix(envp, fixed##_slots, fixed##_preload, sizeof(fixed##_preload))

static int execve_impl(const char *path, char *const argv[], char *const envp[])
{
    FIX_ENV(envp, env);
    if (REAL(execve) != NULL)
        return REAL(execve)(path, argv, env);
    return (int)raw_ret(RAW(SYS_execve, path, argv, env, 0, 0, 0));
}

static int execvpe_impl(const char *file, char *const argv[], char *const envp[])
{
    FIX_ENV(envp, env);
    if (REAL(execvpe) == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return REAL(execvpe)(file, argv, env);
}

SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    return execve_impl(path, argv, envp);
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
    return execve_impl(path, argv, environ);
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    return execvpe_impl(file, argv, envp);
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
    return execvpe_impl(file, argv, environ);
}

SHIM_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    FIX_ENV(envp, env);
    if (REAL(fexecve) == NULL) {
        errno = ENOSYS;
        return -1;
    }
    return REAL(fexecve)(fd, argv, env);
}

SHIM_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
                         int flags)
{
    FIX_ENV(envp, env);
    if (REAL(execveat) != NULL)
        return REAL(execveat)(dirfd, path, argv, env, flags);
    return (int)raw_ret(RAW(SYS_execveat, dirfd, path, argv, env, flags, 0));
}

/* execl and friends: the arguments into an array on the stack. */
#define ARGS_MAX 65536
#define COLLECT_ARGS(first, ap, argv, argc)                                                        \
    size_t argc = 1;                                                                               \
    {                                                                                              \
        va_list count_;                                                                            \
        va_copy(count_, ap);                                                                       \
        while (va_arg(count_, char *) != NULL && argc < ARGS_MAX)                                  \
            argc++;                                                                                \
        va_end(count_);                                                                            \
    }                                                                                              \
    char *argv[argc + 1];                                                                          \
    argv[0] = (char *)(first);                                                                     \
    for (size_t i_ = 1; i_ < argc; i_++)                                                           \
        argv[i_] = va_arg(ap, char *);                                                             \
    argv[argc] = NULL

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, argc);
    va_end(ap);
    return execve_impl(path, argv, environ);
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, argc);
    va_end(ap);
    return execvpe_impl(file, argv, environ);
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    COLLECT_ARGS(arg, ap, argv, argc);
    (void)va_arg(ap, char *); /* the terminating NULL */
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve_impl(path, argv, envp);
}

SHIM_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                            const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    FIX_ENV(envp, env);
    if (REAL(posix_spawn) == NULL)
        return ENOSYS;
    return REAL(posix_spawn)(pid, path, fa, attr, argv, env);
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                             const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    FIX_ENV(envp, env);
    if (REAL(posix_spawnp) == NULL)
        return ENOSYS;
    return REAL(posix_spawnp)(pid, file, fa, attr, argv, env);
}
