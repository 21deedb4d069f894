/* An intrusive binary min-heap of timers, ordered by deadline. */
#include <errno.h>
#include <stdlib.h>

#include "stack.h"
#include "timer.h"

void timer_init(struct timer *timer, timer_fn fn)
{
    timer->deadline_us = TIME_NEVER;
    timer->heap_index = SIZE_MAX;
    timer->fn = fn;
}

bool timer_armed(const struct timer *timer)
{
    return timer->heap_index != SIZE_MAX;
}

static void heap_set(struct timer_heap *heap, size_t i, struct timer *timer)
{
    heap->items[i] = timer;
    timer->heap_index = i;
}

static void sift_up(struct timer_heap *heap, size_t i)
{
    struct timer *timer = heap->items[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap->items[parent]->deadline_us <= timer->deadline_us)
            break;
        heap_set(heap, i, heap->items[parent]);
        i = parent;
    }
    heap_set(heap, i, timer);
}

static void sift_down(struct timer_heap *heap, size_t i)
{
    struct timer *timer = heap->items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= heap->count)
            break;
        if (child + 1 < heap->count &&
            heap->items[child + 1]->deadline_us < heap->items[child]->deadline_us)
            child++;
        if (timer->deadline_us <= heap->items[child]->deadline_us)
            break;
        heap_set(heap, i, heap->items[child]);
        i = child;
    }
    heap_set(heap, i, timer);
}

static void heap_remove(struct timer_heap *heap, struct timer *timer)
{
    size_t i = timer->heap_index;
    struct timer *last = heap->items[--heap->count];
    timer->heap_index = SIZE_MAX;
    if (last == timer)
        return;
    heap_set(heap, i, last);
    sift_up(heap, i);
    sift_down(heap, last->heap_index);
}

int timer_arm(struct stack *stack, struct timer *timer, uint64_t deadline_us)
{
    struct timer_heap *heap = &stack->timers;
    if (timer_armed(timer)) {
        timer->deadline_us = deadline_us;
        sift_up(heap, timer->heap_index);
        sift_down(heap, timer->heap_index);
        return 0;
    }
    if (heap->count == heap->cap) {
        size_t cap = heap->cap ? heap->cap * 2 : 64;
        struct timer **items = realloc(heap->items, cap * sizeof(*items));
        if (items == NULL)
            return -ENOMEM;
        heap->items = items;
        heap->cap = cap;
    }
    timer->deadline_us = deadline_us;
    heap->items[heap->count] = timer;
    timer->heap_index = heap->count++;
    sift_up(heap, timer->heap_index);
    return 0;
}

void timer_cancel(struct stack *stack, struct timer *timer)
{
    if (timer_armed(timer))
        heap_remove(&stack->timers, timer);
}

void timer_run_expired(struct stack *stack, uint64_t now_us)
{
    struct timer_heap *heap = &stack->timers;
    while (heap->count > 0 && heap->items[0]->deadline_us <= now_us) {
        struct timer *timer = heap->items[0];
        heap_remove(heap, timer);
        timer->fn(stack, timer);
    }
}

uint64_t timer_next_deadline(const struct timer_heap *heap)
{
    return heap->count > 0 ? heap->items[0]->deadline_us : TIME_NEVER;
}

void timer_heap_free(struct timer_heap *heap)
{
    free(heap->items);
    heap->items = NULL;
    heap->count = heap->cap = 0;
}
