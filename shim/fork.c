/* Process lifetime: fork and exit.
 *
 * fork: sockets are real fds, so they keep working in parent and child.
 * A second process is about to depend on the stack, so a stack running as
 * a thread here first moves to a continuation process (DESIGN §3
 * Lifetime; loop_handover): parent and child are then both its clients,
 * and either may exit first (a daemonizing server's parent does). The
 * child must not share the parent's control channels (replies would be
 * stolen, item 8) nor keep copies of the stack's fds (item 10): the atfork
 * child handler closes them all (fdreg_close_all), forgets the channels,
 * and the child joins over the control socket on its next need. The forks
 * that make the continuation run these handlers too, in the stack thread:
 * api_in_handover() makes them do nothing there. vfork and clone children
 * run no atfork handler; they are told apart by pid and touch nothing
 * (item 9).
 *
 * exit: a stack still needed (open sockets, unfinished connections, other
 * processes) moves to a continuation process, which delivers what is
 * queued and closes each connection once the kernel has closed the
 * program's end; an idle stack just stops. */
#include <pthread.h>

#include "api.h"
#include "channel.h"
#include "fdreg.h"
#include "fdtable.h"
#include "shim.h"

void shim_fork_prepare_channel(void);
void shim_fork_parent_channel(void);

static void fork_prepare(void)
{
    if (api_in_handover())
        return;
    shim_stack_handover();
    shim_fork_prepare_channel();
}

static void fork_parent(void)
{
    if (api_in_handover())
        return;
    shim_fork_parent_channel();
}

static void child_forget_stack_fds(int fd, struct tsock *s, void *arg)
{
    (void)fd;
    (void)arg;
    /* Closed by fdreg_close_all(): a socket that never reached the stack
     * gets a fresh bridge on its first request in this process. */
    if (s->stack_end >= 0) {
        s->stack_end = -1;
        if (!s->contacted)
            s->fresh_needed = true;
    }
}

static void fork_child(void)
{
    if (api_in_handover())
        return;
    shim_pid = sys_getpid();
    fdreg_close_all();
    api_forget_channels();
    fdt_for_each(child_forget_stack_fds, NULL);
    shim_channel_after_fork();
}

void shim_fork_init(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- exit ---- */

__attribute__((destructor)) static void exit_stack(void)
{
    if (shim_internal || !atomic_load(&shim_ready) || sys_getpid() != shim_pid ||
        !shim_stack_owner())
        return;
    shim_stack_exit();
}
