/* Sockets bridged to programs. Every socket a program holds is one end of
 * an AF_UNIX socketpair (the bridge); the stack holds the other end and
 * moves bytes between it and the protocol: for a TCP connection the bridge
 * is a byte stream, for a listener a SOCK_SEQPACKET pair that carries each
 * accepted connection's bridge as SCM_RIGHTS. Kernel semantics (blocking,
 * poll, epoll, dup, fork, shutdown) then come from the kernel itself.
 *
 * Requests name a socket by passing the program's end of its bridge (the
 * stack matches the inode): possession is the authority. */
#ifndef TOYSOCK_SOCK_H
#define TOYSOCK_SOCK_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
struct stack;
struct ctl_msg;

/* Cookie with which a deferred reply finds its client and request again. */
typedef void (*sock_reply_fn)(struct stack *stack, uint64_t cookie, const struct ctl_msg *reply);

int sock_table_create(struct loop *loop, sock_reply_fn reply);
void sock_table_destroy(struct stack *stack);
/* Handles a CTL_OP_SOCK_* request with the fds that came with it (the
 * function takes ownership of them). Returns 1 when the reply was
 * written into *reply, 0 when it will come later through the reply
 * callback with this cookie. */
int sock_request(struct stack *stack, struct ctl_msg *msg, int *fds, unsigned nfds,
                 uint64_t cookie, struct ctl_msg *reply);
/* Pumps the sockets TCP and UDP marked during this turn and evicts old
 * zombies (run before sleeping). True when there was work. */
bool sock_reap(struct stack *stack);
/* True while a bridged connection still has data to move (received bytes
 * a full bridge has not taken, or a send queue not yet acknowledged). */
bool sock_busy(struct stack *stack);
/* Sockets known, zombies included (for tests and stats). */
unsigned sock_count(const struct stack *stack);
/* Sockets whose bridge is still open. */
unsigned sock_live_count(const struct stack *stack);

#endif
