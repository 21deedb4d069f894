/* Socket options answered by the stack: an allowlist of (level, name)
 * pairs with the errno kernel TCP gives for anything else. */
#ifndef TOYSOCK_SOCK_OPT_H
#define TOYSOCK_SOCK_OPT_H

struct tcp_pcb;
struct ctl_msg;

/* Applies (CTL_OP_SOCK_SETOPT) or reads (CTL_OP_SOCK_GETOPT) the option in
 * msg->u.opt on pcb; a read fills reply->u.opt. 0 or -errno. */
int sock_option(struct tcp_pcb *pcb, const struct ctl_msg *msg, struct ctl_msg *reply);

/* An option of a connection that is over, answered from its options and
 * TCP_INFO as they were when it ended; setting one is accepted and does
 * nothing, as on a closed kernel socket. */
struct toysock_tcp_info;
struct tcp_options;
int sock_option_closed(const struct tcp_options *opts, const struct toysock_tcp_info *last,
                       const struct ctl_msg *msg, struct ctl_msg *reply);

#endif
