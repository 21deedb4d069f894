/* What the native API's modules share: one request, one reply over the
 * calling thread's control channel, with fds passed beside the request. */
#ifndef TOYSOCK_API_H
#define TOYSOCK_API_H

#include <stdbool.h>

#include "toysock/toysock.h"

struct ctl_msg;

/* Sends msg (and nfds fds, which stay the caller's) and waits for the
 * reply, which overwrites msg. Returns the reply's result. */
int api_call(struct toysock *ts, struct ctl_msg *msg, const int *fds, unsigned nfds);

/* Moves a stack that runs as a thread here into a continuation process
 * (DESIGN §3 Lifetime), which serves until no client and no connection is
 * left. Afterwards ts is a client of it like any joiner. 0 when done or
 * when ts was a joiner already; -errno when the fork failed (the stack
 * keeps running here). For fork() (a second process comes to depend on
 * the stack) and for exit with work left. */
int api_handover(struct toysock *ts);
/* True when ts runs the stack in this process. */
bool api_owns_stack(const struct toysock *ts);
/* In a forked child: forgets the calling thread's channels (their fds are
 * already closed by fdreg_close_all), without closing anything. */
void api_forget_channels(void);
/* True in the thread forking a continuation: atfork handlers must do
 * nothing there. */
bool api_in_handover(void);
/* At exit: true when the stack in this process must live on in a
 * continuation (sockets still open, connections unfinished, or other
 * processes using it), false when it can simply stop. */
bool api_needed_after_exit(struct toysock *ts);

#endif
