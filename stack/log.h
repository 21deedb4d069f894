/* Logging: time, level, function and file:line, to the stack's log fd.
 * Malformed input is never logged above debug, so a hostile peer cannot
 * flood the log. */
#ifndef TOYSOCK_LOG_H
#define TOYSOCK_LOG_H

#include "toysock/toysock.h"

struct stack;

void stack_log(const struct stack *stack, enum toysock_log_level level, const char *func,
               const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#define LOG_AT(stack, level, ...)                                                    \
    do {                                                                             \
        if ((int)(level) <= (int)(stack)->log_level)                                 \
            stack_log((stack), (level), __func__, __FILE__, __LINE__, __VA_ARGS__);  \
    } while (0)
#define LOG_ERROR(stack, ...) LOG_AT(stack, TOYSOCK_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(stack, ...) LOG_AT(stack, TOYSOCK_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(stack, ...) LOG_AT(stack, TOYSOCK_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(stack, ...) LOG_AT(stack, TOYSOCK_LOG_DEBUG, __VA_ARGS__)
#define LOG_TRACE(stack, ...) LOG_AT(stack, TOYSOCK_LOG_TRACE, __VA_ARGS__)

#endif
