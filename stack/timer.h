/* Timers on the stack's clock: an intrusive min-heap. A module embeds a
 * struct timer in its own state and arms it with a deadline; the stack runs
 * expired timers once per loop turn and reports the next deadline, so the
 * same code runs on the real clock and on the simulator's virtual one. */
#ifndef TOYSOCK_TIMER_H
#define TOYSOCK_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TIME_NEVER UINT64_MAX

struct stack;
struct timer;
typedef void (*timer_fn)(struct stack *stack, struct timer *timer);

struct timer {
    uint64_t deadline_us;
    size_t heap_index; /* SIZE_MAX when not armed */
    timer_fn fn;
};

struct timer_heap {
    struct timer **items;
    size_t count;
    size_t cap;
};

void timer_init(struct timer *timer, timer_fn fn);
/* Arms (or re-arms) timer to fire at deadline_us. Returns -ENOMEM when the
 * heap cannot grow, and the timer stays as it was. */
int timer_arm(struct stack *stack, struct timer *timer, uint64_t deadline_us);
void timer_cancel(struct stack *stack, struct timer *timer);
bool timer_armed(const struct timer *timer);
/* Runs every timer whose deadline is at or before now. */
void timer_run_expired(struct stack *stack, uint64_t now_us);
uint64_t timer_next_deadline(const struct timer_heap *heap);
void timer_heap_free(struct timer_heap *heap);

#endif
