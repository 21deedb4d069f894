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
/* Registers a hook run at the end of every turn, before sleeping (where
 * deferred output is flushed). One hook per loop. */
void loop_set_before_sleep(struct loop *loop, void (*fn)(struct stack *stack));

#endif
