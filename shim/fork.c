/* Process lifetime: fork and exit.
 *
 * fork: sockets are real fds, so they keep working in parent and child.
 * The child must not share the parent's control channels (replies would
 * be stolen, item 8) nor keep copies of the stack's fds (a stack end held
 * by a child hides the program's close from the stack; the TAP would stay
 * attached; item 10): the atfork child handler closes them all
 * (fdreg_close_all), forgets the channels, and the child joins the
 * parent's stack over the control socket on its next need. vfork and
 * clone children run no atfork handler; they are told apart by pid and
 * touch nothing (item 9).
 *
 * exit: the stack is a thread of this process and dies with it; the exit
 * handler stops it properly, which lingers (bounded) while data is still
 * on its way out (DESIGN §3). */
#include <pthread.h>

#include "channel.h"
#include "fdreg.h"
#include "fdtable.h"
#include "shim.h"

void shim_fork_prepare_channel(void);
void shim_fork_parent_channel(void);

static void fork_prepare(void)
{
    shim_fork_prepare_channel();
}

static void fork_parent(void)
{
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
    s->token = -1;
}

static void fork_child(void)
{
    shim_pid = sys_getpid();
    fdreg_close_all();
    fdt_for_each(child_forget_stack_fds, NULL);
    shim_channel_after_fork();
}

void shim_fork_init(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
}

/* ---- exit ---- */

/* Open connections at exit: the kernel would close them, sending what is
 * queued and then FIN. Shutting each bridge down for writing gets the
 * same from the stack while this process is still there to run it. */
static void shut_open(int fd, struct tsock *s, void *arg)
{
    (void)arg;
    if (s->type == SOCK_STREAM && atomic_load(&s->state) == TS_CONNECTED && !s->shut_wr)
        RAW(SYS_shutdown, fd, SHUT_WR, 0, 0, 0, 0);
}

/* The stack is a thread of this process: stopping it through
 * toysock_close() lets it deliver what is still queued first (bounded;
 * DESIGN §3 "exit lingers"). A joiner has nothing to do: the stack lives
 * on in its owner. */
__attribute__((destructor)) static void exit_linger(void)
{
    if (shim_internal || !atomic_load(&shim_ready) || sys_getpid() != shim_pid ||
        !shim_stack_owner())
        return;
    fdt_for_each(shut_open, NULL);
    shim_stack_shutdown();
}
