/* The stack's side of the control channel: the listener, the clients,
 * and the dispatch of requests to the protocols. */
#ifndef TOYSOCK_CTL_H
#define TOYSOCK_CTL_H

#include <stddef.h>

struct stack;

struct loop;

/* Binds the control listener for iface (before the link is attached: the
 * name is the lock). -EADDRINUSE when a stack already serves the link. */
int ctl_listen(const char *iface, int *out_fd);
/* Starts serving the bound listener fd on the loop; takes ownership. */
int ctl_start(struct loop *loop, int listen_fd);
void ctl_stop(struct loop *loop);
/* Client channels connected now. */
unsigned ctl_client_count(const struct stack *stack);

#endif
