/* The stack's own file descriptors. Inside a program (the preload shim)
 * they share the program's fd table, so they are moved to high numbers,
 * marked close-on-exec and recorded here: the shim hides them from the
 * program's close/dup2/close_range and closes them in a forked child.
 * The record is a bitmap of atomics: safe from any thread and from an
 * atfork handler, with no lock and no allocation. */
#ifndef TOYSOCK_FDREG_H
#define TOYSOCK_FDREG_H

#include <stdbool.h>

/* fds below this are left to the program. */
#define FDREG_BASE 1024
#define FDREG_LIMIT 65536

/* Moves fd to a number >= FDREG_BASE (close-on-exec) and records it.
 * Returns the new fd (the old one is closed), or fd itself unmoved when
 * the limit forbids high numbers (it is still recorded), or -errno. */
int fdreg_take(int fd);
/* The same for a client's control channel: hidden from the program like
 * the stack's fds, but kept when the stack moves to a continuation process
 * (the channel then talks to it there). */
int fdreg_take_client(int fd);
/* Records fd without moving it (an fd a library keeps, e.g. libpcap's). */
void fdreg_note(int fd);
/* The same, as a client fd (kept across a handover). */
void fdreg_note_client(int fd);
/* Forgets fd and closes it. */
void fdreg_close(int fd);
/* Forgets fd without closing it. */
void fdreg_forget(int fd);
bool fdreg_is_stack(int fd);
/* In a forked child: closes every recorded fd (stack and client) with raw
 * syscalls. */
void fdreg_close_all(void);
/* After the stack moved to a continuation process: closes this process's
 * copies of the stack's fds, keeping the client channels. */
void fdreg_close_stack_fds(void);
/* In the continuation process: closes every fd that is not the stack's. */
void fdreg_close_all_but_stack(void);

#endif
