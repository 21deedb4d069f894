/* Log lines for the stack: one write per line, so lines from several
 * threads do not interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "stack.h"

static const char *level_name(enum toysock_log_level level)
{
    static const char *names[] = {"error", "warn", "info", "debug", "trace"};
    return (unsigned)level < sizeof(names) / sizeof(names[0]) ? names[level] : "?";
}

void stack_log(const struct stack *stack, enum toysock_log_level level, const char *func,
               const char *file, int line, const char *fmt, ...)
{
    if (stack->log_fd < 0)
        return;
    char buf[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    localtime_r(&ts.tv_sec, &tm);
    const char *base = strrchr(file, '/');
    int n = snprintf(buf, sizeof(buf), "%02d:%02d:%02d.%03ld toysock %s: %s (%s:%d) ", tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, level_name(level), func,
                     base ? base + 1 : file, line);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(buf)) {
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n >= sizeof(buf) - 1)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    ssize_t rc = write(stack->log_fd, buf, (size_t)n);
    (void)rc;
}
