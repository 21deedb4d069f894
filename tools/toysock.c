/* The toysock command.
 *
 *   toysock [OPTIONS] -- PROGRAM [ARGS...]   run PROGRAM over the stack: sets
 *       LD_PRELOAD to libtoysock.so (found next to this binary, else in
 *       ../lib/toysock/ or ../lib/) and the TOYSOCK_* variables, and execs it;
 *       warns first when LD_PRELOAD cannot reach PROGRAM (static, Go, setuid
 *       or file-capability binaries; DESIGN §3 and §7).
 *   toysock [OPTIONS] daemon   keeps a stack up on the configured link until
 *       SIGINT/SIGTERM and prints its counters on exit. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "toysock/toysock.h"
#include "wire/wire.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: toysock [OPTIONS] -- PROGRAM [ARGS...]\n"
            "       toysock [OPTIONS] daemon\n"
            "\n"
            "  -- PROGRAM  run PROGRAM with its sockets on the toysock stack (LD_PRELOAD of\n"
            "              libtoysock.so); the stack starts inside the program on its first\n"
            "              bind, connect, listen or send, or joins the stack that already\n"
            "              serves the link. Loopback (127/8, ::1) stays with the kernel\n"
            "              unless --loopback stack.\n"
            "  daemon      bring a stack up on the configured link and keep it up\n"
            "              (answering ARP and ping) until SIGINT or SIGTERM;\n"
            "              print its counters on exit\n"
            "\n"
            "options (each sets the environment variable in brackets):\n"
            "  --driver tap|pcap       [TOYSOCK_DRIVER]\n"
            "  --iface NAME            [TOYSOCK_IFACE]\n"
            "  --addr A.B.C.D/P        [TOYSOCK_ADDR]\n"
            "  --gateway A.B.C.D       [TOYSOCK_GATEWAY]\n"
            "  --mac XX:..:XX          [TOYSOCK_MAC]\n"
            "  --mtu N                 [TOYSOCK_MTU]\n"
            "  --log LEVEL             [TOYSOCK_LOG]\n"
            "  --log-file FILE         [TOYSOCK_LOG_FILE] where logs go when stderr is not a\n"
            "                          terminal or a regular file\n"
            "  --pcap FILE             [TOYSOCK_PCAP]\n"
            "  --impair SPEC           [TOYSOCK_IMPAIR]\n"
            "  --loopback kernel|stack [TOYSOCK_LOOPBACK]\n"
            "  -h, --help              this text\n"
            "\n"
            "Programs that LD_PRELOAD cannot reach use the kernel's network stack: statically\n"
            "linked and Go programs, setuid/setgid and file-capability programs. toysock warns\n"
            "before running one; programs they start are not checked.\n");
}

/* Options are the environment variables by another name. */
static int apply_options(int argc, char **argv)
{
    static const struct option options[] = {{"driver", required_argument, NULL, 'd'},
                                            {"iface", required_argument, NULL, 'i'},
                                            {"addr", required_argument, NULL, 'a'},
                                            {"gateway", required_argument, NULL, 'g'},
                                            {"mac", required_argument, NULL, 'm'},
                                            {"mtu", required_argument, NULL, 'M'},
                                            {"log", required_argument, NULL, 'l'},
                                            {"log-file", required_argument, NULL, 'L'},
                                            {"pcap", required_argument, NULL, 'p'},
                                            {"impair", required_argument, NULL, 'I'},
                                            {"loopback", required_argument, NULL, 'B'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "+h", options, NULL)) != -1) {
        const char *var = NULL;
        switch (c) {
        case 'd': var = "TOYSOCK_DRIVER"; break;
        case 'i': var = "TOYSOCK_IFACE"; break;
        case 'a': var = "TOYSOCK_ADDR"; break;
        case 'g': var = "TOYSOCK_GATEWAY"; break;
        case 'm': var = "TOYSOCK_MAC"; break;
        case 'M': var = "TOYSOCK_MTU"; break;
        case 'l': var = "TOYSOCK_LOG"; break;
        case 'L': var = "TOYSOCK_LOG_FILE"; break;
        case 'p': var = "TOYSOCK_PCAP"; break;
        case 'I': var = "TOYSOCK_IMPAIR"; break;
        case 'B': var = "TOYSOCK_LOOPBACK"; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
        setenv(var, optarg, 1);
    }
    return optind;
}

static int run_daemon(void)
{
    struct toysock_config cfg;
    char err[512];
    if (toysock_config_from_env(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "toysock: %s\n", err);
        return 2;
    }
    /* Signals are taken synchronously by sigwait; the stack thread inherits
     * the mask and never sees them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    struct toysock *ts;
    if (toysock_open(&cfg, &ts, err, sizeof(err)) < 0) {
        fprintf(stderr, "toysock: %s\n", err);
        return 1;
    }
    char addr[16], mac[18];
    ipv4_fmt(cfg.addr, addr, sizeof(addr));
    ether_fmt(cfg.mac, mac, sizeof(mac));
    fprintf(stderr, "toysock: up on %s (%s driver) as %s/%u, mac %s, mtu %u\n", cfg.iface,
            cfg.driver, addr, cfg.prefix_len, mac, cfg.mtu);
    fflush(stderr);

    int sig;
    sigwait(&stop, &sig);

    struct toysock_stat stats[256];
    int n = toysock_stats(ts, stats, 256);
    toysock_close(ts);
    fprintf(stderr, "toysock: stopped by %s\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    fprintf(stderr, "toysock: counters\n");
    for (int i = 0; i < n && i < 256; i++)
        if (stats[i].value != 0)
            fprintf(stderr, "  %s %llu\n", stats[i].name, (unsigned long long)stats[i].value);
    return n < 0 ? 1 : 0;
}

/* ---- Running a program ---- */

/* libtoysock.so next to this binary, else in ../lib/toysock/ or ../lib/. */
static bool find_library(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    static const char *const candidates[] = {"libtoysock.so", "../lib/toysock/libtoysock.so",
                                             "../lib/libtoysock.so"};
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", self, candidates[i]) >= sizeof(path))
            continue;
        char *real = realpath(path, NULL);
        if (real == NULL)
            continue;
        bool ok = access(real, R_OK) == 0 && strlen(real) < cap;
        if (ok)
            strcpy(out, real);
        free(real);
        if (ok)
            return true;
    }
    return false;
}

/* PROGRAM as execvp would find it. */
static bool find_program(const char *name, char *out, size_t cap)
{
    if (strchr(name, '/') != NULL) {
        if (strlen(name) >= cap)
            return false;
        strcpy(out, name);
        return access(out, F_OK) == 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        const char *end = strchr(path, ':');
        size_t len = end != NULL ? (size_t)(end - path) : strlen(path);
        if ((size_t)snprintf(out, cap, "%.*s/%s", (int)(len ? len : 1), len ? path : ".", name) <
                cap &&
            access(out, X_OK) == 0) {
            struct stat st;
            if (stat(out, &st) == 0 && S_ISREG(st.st_mode))
                return true;
        }
        if (end == NULL)
            break;
        path = end + 1;
    }
    return false;
}

struct elf_facts {
    bool is_elf;
    bool has_interp;
    bool go;
};

static bool read_at(int fd, off_t off, void *buf, size_t len)
{
    return pread(fd, buf, len, off) == (ssize_t)len;
}

/* Looks for PT_INTERP (a static binary has none) and Go's build-id note
 * section (Go binaries make their own syscalls, even dynamic ones). */
static struct elf_facts elf_inspect(const char *path)
{
    struct elf_facts f = {false, false, false};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return f;
    unsigned char ident[EI_NIDENT];
    if (!read_at(fd, 0, ident, sizeof(ident)) || memcmp(ident, ELFMAG, SELFMAG) != 0) {
        close(fd);
        return f;
    }
    f.is_elf = true;
    uint64_t phoff, shoff;
    unsigned phnum, phentsize, shnum, shentsize, shstrndx;
    bool is64 = ident[EI_CLASS] == ELFCLASS64;
    if (is64) {
        Elf64_Ehdr eh;
        if (!read_at(fd, 0, &eh, sizeof(eh)))
            goto out;
        phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
        shoff = eh.e_shoff, shnum = eh.e_shnum, shentsize = eh.e_shentsize;
        shstrndx = eh.e_shstrndx;
    } else {
        Elf32_Ehdr eh;
        if (!read_at(fd, 0, &eh, sizeof(eh)))
            goto out;
        phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
        shoff = eh.e_shoff, shnum = eh.e_shnum, shentsize = eh.e_shentsize;
        shstrndx = eh.e_shstrndx;
    }
    for (unsigned i = 0; i < phnum && i < 256; i++) {
        uint32_t type;
        if (!read_at(fd, (off_t)(phoff + (uint64_t)i * phentsize), &type, sizeof(type)))
            break;
        if (type == PT_INTERP)
            f.has_interp = true;
    }
    if (shnum == 0 || shstrndx >= shnum || shnum > 4096)
        goto out;
    uint64_t stroff = 0, strsize = 0;
    if (is64) {
        Elf64_Shdr sh;
        if (!read_at(fd, (off_t)(shoff + (uint64_t)shstrndx * shentsize), &sh, sizeof(sh)))
            goto out;
        stroff = sh.sh_offset, strsize = sh.sh_size;
    } else {
        Elf32_Shdr sh;
        if (!read_at(fd, (off_t)(shoff + (uint64_t)shstrndx * shentsize), &sh, sizeof(sh)))
            goto out;
        stroff = sh.sh_offset, strsize = sh.sh_size;
    }
    if (strsize == 0 || strsize > (1u << 20))
        goto out;
    char *names = malloc(strsize + 1);
    if (names == NULL || !read_at(fd, (off_t)stroff, names, strsize)) {
        free(names);
        goto out;
    }
    names[strsize] = '\0';
    for (unsigned i = 0; i < shnum; i++) {
        uint32_t name;
        if (!read_at(fd, (off_t)(shoff + (uint64_t)i * shentsize), &name, sizeof(name)))
            break;
        if (name < strsize && (strcmp(names + name, ".note.go.buildid") == 0 ||
                               strcmp(names + name, ".go.buildinfo") == 0))
            f.go = true;
    }
    free(names);
out:
    close(fd);
    return f;
}

/* The interpreter of a #! script, which is what LD_PRELOAD must reach. */
static bool script_interpreter(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return false;
    char line[PATH_MAX + 8];
    bool ok = fgets(line, sizeof(line), f) != NULL && line[0] == '#' && line[1] == '!';
    fclose(f);
    if (!ok)
        return false;
    char *p = line + 2;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strcspn(p, " \t\r\n");
    if (n == 0 || n >= cap)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    /* "#!/usr/bin/env python3": the program env runs. */
    if (strcmp(out, "/usr/bin/env") == 0 || strcmp(out, "/bin/env") == 0) {
        p += n;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t m = strcspn(p, " \t\r\n");
        if (m > 0 && m < cap && p[0] != '-') {
            char name[PATH_MAX];
            memcpy(name, p, m);
            name[m] = '\0';
            return find_program(name, out, cap);
        }
    }
    return true;
}

/* DESIGN §7: say so before running a program LD_PRELOAD cannot reach. */
static void warn_unreachable(const char *program)
{
    char path[PATH_MAX];
    if (!find_program(program, path, sizeof(path)))
        return; /* execvp will say what is wrong */
    char interp[PATH_MAX];
    const char *check = path;
    if (script_interpreter(path, interp, sizeof(interp)))
        check = interp;
    const char *why[4];
    int n = 0;
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
        why[n++] = (st.st_mode & S_ISUID) ? "is setuid" : "is setgid";
    if (getxattr(path, "security.capability", NULL, 0) > 0)
        why[n++] = "has file capabilities (security.capability)";
    struct elf_facts f = elf_inspect(check);
    if (f.is_elf && f.go)
        why[n++] = "is a Go program (it makes its own system calls)";
    else if (f.is_elf && !f.has_interp)
        why[n++] = "is statically linked";
    for (int i = 0; i < n; i++)
        fprintf(stderr,
                "toysock: warning: %s %s: LD_PRELOAD cannot reach it, so it will use the "
                "kernel's network stack, not toysock\n",
                check, why[i]);
}

/* A sanitizer build of toysock (cmake -DTOYSOCK_SANITIZE=ON) makes an
 * ASan-instrumented libtoysock.so, which only loads when the ASan runtime
 * comes first in the program's library list: preload it ahead of us, and
 * turn leak detection off (the host program is not instrumented; its
 * leaks are not ours). This command is built the same way, so the
 * runtime it was loaded with is the one to use. */
static int find_asan(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    char *out = data;
    if (info->dlpi_name != NULL && strstr(info->dlpi_name, "/libasan.so") != NULL &&
        strlen(info->dlpi_name) < PATH_MAX) {
        strcpy(out, info->dlpi_name);
        return 1;
    }
    return 0;
}

static void preload_sanitizer_runtime(void)
{
    char asan[PATH_MAX] = "";
    dl_iterate_phdr(find_asan, asan);
    if (asan[0] == '\0')
        return;
    const char *pre = getenv("LD_PRELOAD");
    if (pre == NULL || strstr(pre, "libasan.so") == NULL) {
        size_t len = strlen(asan) + (pre ? strlen(pre) : 0) + 2;
        char *both = malloc(len);
        if (both == NULL)
            return;
        snprintf(both, len, "%s%s%s", asan, pre && pre[0] ? ":" : "", pre ? pre : "");
        setenv("LD_PRELOAD", both, 1);
        free(both);
    }
    const char *opts = getenv("ASAN_OPTIONS");
    size_t len = (opts ? strlen(opts) : 0) + 32;
    char *o = malloc(len);
    if (o == NULL)
        return;
    snprintf(o, len, "%s%sdetect_leaks=0", opts ? opts : "", opts && opts[0] ? ":" : "");
    setenv("ASAN_OPTIONS", o, 1);
    free(o);
}

static int run_program(char **argv)
{
    char lib[PATH_MAX];
    if (!find_library(lib, sizeof(lib))) {
        fprintf(stderr,
                "toysock: cannot find libtoysock.so next to this command or in ../lib/toysock/ "
                "or ../lib/ (build it, or install with cmake --install)\n");
        return 127;
    }
    /* A preload that is already there (a sanitizer runtime) stays first. */
    const char *old = getenv("LD_PRELOAD");
    if (old != NULL && old[0] != '\0' && strstr(old, lib) == NULL) {
        size_t len = strlen(old) + strlen(lib) + 2;
        char *both = malloc(len);
        if (both == NULL)
            return 127;
        snprintf(both, len, "%s:%s", old, lib);
        setenv("LD_PRELOAD", both, 1);
        free(both);
    } else if (old == NULL || old[0] == '\0') {
        setenv("LD_PRELOAD", lib, 1);
    }
    preload_sanitizer_runtime();
    warn_unreachable(argv[0]);
    execvp(argv[0], argv);
    int e = errno;
    fprintf(stderr, "toysock: cannot run %s: %s\n", argv[0], strerror(e));
    return e == ENOENT ? 127 : 126;
}

int main(int argc, char **argv)
{
    int first = apply_options(argc, argv);
    bool after_dashes = first > 1 && strcmp(argv[first - 1], "--") == 0;
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    if (after_dashes)
        return run_program(argv + first);
    if (strcmp(argv[first], "daemon") == 0)
        return run_daemon();
    fprintf(stderr, "toysock: unknown command '%s' (to run a program: toysock -- %s ...)\n",
            argv[first], argv[first]);
    usage(stderr);
    return 2;
}
