/* The shim's log lines. fd 2 may be the program's connection or a pipe the
 * user checksums (item 17), so it is used only if it was a terminal or a
 * regular file when the library was loaded; a private copy of it (hidden,
 * high, so a later dup2 onto 2 does not redirect us) is what we write to.
 * Otherwise lines go to TOYSOCK_LOG_FILE when it is set, else nowhere. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "fdreg.h"
#include "shim.h"

int shim_log_fd = -1;
static int log_level = SHIM_LOG_WARN;
static char stack_log_path[64];
static char last_once[512];

void shim_log_init(void)
{
    const char *lvl = getenv("TOYSOCK_LOG");
    if (lvl != NULL) {
        if (strcmp(lvl, "error") == 0)
            log_level = SHIM_LOG_ERROR;
        else if (strcmp(lvl, "info") == 0)
            log_level = SHIM_LOG_INFO;
        else if (strcmp(lvl, "debug") == 0 || strcmp(lvl, "trace") == 0)
            log_level = SHIM_LOG_DEBUG;
    }
    struct stat st;
    bool fd2_ok = false;
    if (sys_fstat(2, &st) == 0) {
        struct termios tio;
        fd2_ok = S_ISREG(st.st_mode) || (S_ISCHR(st.st_mode) && sys_ioctl(2, TCGETS, &tio) == 0);
    }
    if (fd2_ok) {
        int fd = (int)sys_fcntl(2, F_DUPFD_CLOEXEC, FDREG_BASE);
        if (fd < 0)
            fd = (int)sys_fcntl(2, F_DUPFD_CLOEXEC, 3);
        if (fd >= 0) {
            shim_log_fd = fd;
            /* The stack opens its own copy (O_APPEND) of the same file. */
            snprintf(stack_log_path, sizeof(stack_log_path), "/proc/self/fd/%d", fd);
        }
        return;
    }
    const char *file = getenv("TOYSOCK_LOG_FILE");
    if (file != NULL && file[0] != '\0') {
        int fd = (int)RAW(SYS_openat, AT_FDCWD, file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                          0644, 0, 0);
        if (fd >= 0) {
            int high = (int)sys_fcntl(fd, F_DUPFD_CLOEXEC, FDREG_BASE);
            if (high >= 0) {
                sys_close(fd);
                fd = high;
            }
            shim_log_fd = fd;
        }
        return; /* the stack opens TOYSOCK_LOG_FILE itself */
    }
    /* Nowhere to log: keep the stack quiet too (it would use fd 2). */
    snprintf(stack_log_path, sizeof(stack_log_path), "/dev/null");
}

const char *shim_log_path_for_stack(void)
{
    return stack_log_path;
}

static void emit(const char *line, size_t len)
{
    if (shim_log_fd < 0)
        return;
    sys_write(shim_log_fd, line, len);
}

void shim_log(int level, const char *fmt, ...)
{
    if (level > log_level || shim_log_fd < 0)
        return;
    SHIM_SAVE_ERRNO;
    char buf[600];
    int n = snprintf(buf, sizeof(buf), "toysock: ");
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n += m;
    if ((size_t)n > sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    /* One line, whatever the message holds. */
    for (int i = 0; i < n; i++)
        if (buf[i] == '\n')
            buf[i] = ' ';
    buf[n++] = '\n';
    emit(buf, (size_t)n);
    SHIM_RESTORE_ERRNO;
}

void shim_log_once(int level, const char *msg)
{
    if (strncmp(last_once, msg, sizeof(last_once) - 1) == 0)
        return;
    snprintf(last_once, sizeof(last_once), "%s", msg);
    shim_log(level, "%s", msg);
}
