/* The event loop that owns a stack in its thread: epoll over the links,
 * a timerfd for the stack's next deadline, the control listener and its
 * clients, and whatever else registers a watch (socket bridges). */
#ifndef TOYSOCK_LOOP_H
#define TOYSOCK_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct stack;
struct loop;
struct loop_watch;

typedef void (*loop_watch_fn)(struct loop *loop, struct loop_watch *watch, uint32_t events);

struct loop_watch {
    int fd;
    loop_watch_fn fn;
};

/* CLOCK_MONOTONIC in microseconds. */
uint64_t clock_now_us(void);

/* A loop for stack, watching its links. -errno on failure. */
int loop_create(struct stack *stack, struct loop **out);
void loop_destroy(struct loop *loop);
struct stack *loop_stack(struct loop *loop);
int loop_watch_add(struct loop *loop, struct loop_watch *watch, uint32_t events);
int loop_watch_mod(struct loop *loop, struct loop_watch *watch, uint32_t events);
void loop_watch_del(struct loop *loop, struct loop_watch *watch);
/* Runs until loop_stop() is called from any thread. */
void loop_run(struct loop *loop);
/* Thread-safe: asks the loop to return. With a drain check set, the loop
 * first keeps running while the check says work is left, at most
 * max_drain_us (bounded linger: data written before close is delivered). */
void loop_stop(struct loop *loop);
void loop_set_drain(struct loop *loop, bool (*busy)(struct stack *stack), uint64_t max_drain_us);
/* Moves the running stack into a continuation process (DESIGN §3
 * Lifetime): at a quiescent point between turns the loop's thread forks
 * twice; the grandchild calls setsid, closes every fd that is not the
 * stack's and serves on, until idle() says nothing is left, then exits.
 * Here the loop returns and this process's copies of the stack's fds are
 * closed (client channels stay: they now talk to the continuation).
 * Called from another thread; returns 0 once the continuation runs, or
 * -errno (the stack then keeps running here). */
int loop_handover(struct loop *loop, bool (*idle)(struct stack *stack));
/* True in the thread that is forking a continuation (atfork handlers must
 * then leave everything alone). */
bool loop_in_handover(void);
/* True in the continuation process. */
bool loop_is_continuation(const struct loop *loop);

/* Registers a hook run at the end of every turn, before sleeping (where
 * deferred output is flushed); it returns true when it did work, and the
 * turn then runs the stack again (frames it queued on loopback). One hook
 * per loop. */
void loop_set_before_sleep(struct loop *loop, bool (*fn)(struct stack *stack));

#endif
