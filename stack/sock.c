/* Sockets bridged to programs: placeholder until TCP's connection API
 * exists (the real module is being integrated). */
#include <errno.h>
#include <unistd.h>

#include "ctl_proto.h"
#include "sock.h"
#include "stack.h"

int sock_table_create(struct loop *loop, sock_reply_fn reply)
{
    (void)loop;
    (void)reply;
    return 0;
}

void sock_table_destroy(struct stack *stack)
{
    (void)stack;
}

int sock_request(struct stack *stack, struct ctl_msg *msg, int *fds, unsigned nfds,
                 uint64_t cookie, struct ctl_msg *reply)
{
    (void)stack;
    (void)msg;
    (void)cookie;
    for (unsigned i = 0; i < nfds; i++)
        close(fds[i]);
    reply->result = -EOPNOTSUPP;
    return 1;
}

void sock_reap(struct stack *stack)
{
    (void)stack;
}

unsigned sock_count(const struct stack *stack)
{
    (void)stack;
    return 0;
}
