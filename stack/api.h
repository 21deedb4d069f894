/* What the native API's modules share: one request, one reply over the
 * calling thread's control channel, with fds passed beside the request. */
#ifndef TOYSOCK_API_H
#define TOYSOCK_API_H

#include "toysock/toysock.h"

struct ctl_msg;

/* Sends msg (and nfds fds, which stay the caller's) and waits for the
 * reply, which overwrites msg. Returns the reply's result. */
int api_call(struct toysock *ts, struct ctl_msg *msg, const int *fds, unsigned nfds);

#endif
