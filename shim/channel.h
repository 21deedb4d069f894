/* The shim's side of the control channel: the configuration snapshot, the
 * lazy stack start (or join), and one request/one reply over the calling
 * thread's own channel. */
#ifndef TOYSOCK_SHIM_CHANNEL_H
#define TOYSOCK_SHIM_CHANNEL_H

#include <stdbool.h>

#include "ctl_proto.h"
#include "toysock/toysock.h"

/* Starts (or joins) the stack on first need. 0, or -ENETDOWN after one
 * log line naming the variable or the reason (DESIGN §4). */
int shim_stack_ensure(void);
/* True when a stack is up or joined in this process (no start). */
bool shim_stack_running(void);
/* True when this process runs the stack thread (not a joiner). */
bool shim_stack_owner(void);

/* Sends msg with nfds fds (which stay the caller's) and waits for the
 * reply, which overwrites msg. timeout_ms < 0 waits without limit; when
 * the time runs out the request is abandoned (its late reply is skipped
 * by id) and -EINPROGRESS is returned. The wait is one blocking syscall:
 * a signal gives -EINTR (item 7). Transport failures give -ENETDOWN.
 * Otherwise returns the reply's result. */
int shim_call(struct ctl_msg *msg, const int *fds, unsigned nfds, int timeout_ms);

/* The configuration read in the constructor (item 14), NULL if invalid. */
const struct toysock_config *shim_config(void);
/* TOYSOCK_LOOPBACK=stack. */
bool shim_loopback_stack(void);

/* At exit, in the owner: stops the stack, which first delivers what is
 * still queued (bounded); later calls fail with ENETDOWN. */
void shim_stack_shutdown(void);
void shim_stack_handover(void);
void shim_stack_exit(void);

/* In a forked child: forget the parent's channels and stack. */
void shim_channel_after_fork(void);

#endif
