/* Unit tests for the timer heap: timers fire in deadline order and only
 * when due, re-arming moves a timer either way, cancel removes it from any
 * place in the heap, callbacks may arm and cancel timers, and a large
 * random workload matches a reference model with the heap invariant
 * checked throughout. The heap lives in a bare struct stack, so nothing
 * else the stack arms can interfere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stack.h"
#include "timer.h"

/* A timer with what the tests need to know about it. */
struct ttimer {
    struct timer timer; /* first: the callback casts back */
    unsigned id;
    unsigned fired;
    uint64_t fired_at; /* the deadline it had when it fired */
};

/* What the callbacks record, in firing order. */
static unsigned order[200000];
static unsigned order_len;
static uint64_t last_deadline;

static void record(struct stack *stack, struct timer *timer)
{
    (void)stack;
    struct ttimer *t = (struct ttimer *)timer;
    t->fired++;
    t->fired_at = timer->deadline_us;
    /* Never fired before its deadline, never out of deadline order. */
    assert_true(timer->deadline_us <= stack->now_us);
    assert_true(timer->deadline_us >= last_deadline);
    last_deadline = timer->deadline_us;
    assert_false(timer_armed(timer));
    if (order_len < sizeof(order) / sizeof(order[0]))
        order[order_len++] = t->id;
}

static struct stack *bare_stack(void)
{
    struct stack *stack = calloc(1, sizeof(*stack));
    assert_non_null(stack);
    order_len = 0;
    last_deadline = 0;
    return stack;
}

static void bare_free(struct stack *stack)
{
    timer_heap_free(&stack->timers);
    free(stack);
}

/* Runs what is due at now, as stack_run would. */
static void run_at(struct stack *stack, uint64_t now)
{
    stack->now_us = now;
    timer_run_expired(stack, now);
}

static void check_heap(const struct timer_heap *heap)
{
    for (size_t i = 0; i < heap->count; i++) {
        assert_int_equal(heap->items[i]->heap_index, i);
        if (i > 0)
            assert_true(heap->items[(i - 1) / 2]->deadline_us <= heap->items[i]->deadline_us);
    }
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *s = x;
    return x;
}

static void test_empty(void **state)
{
    (void)state;
    struct stack *stack = bare_stack();
    assert_int_equal(timer_next_deadline(&stack->timers), TIME_NEVER);
    run_at(stack, 1000);
    struct ttimer t = {.id = 1};
    timer_init(&t.timer, record);
    assert_false(timer_armed(&t.timer));
    timer_cancel(stack, &t.timer); /* cancelling an idle timer is harmless */
    assert_false(timer_armed(&t.timer));
    assert_int_equal(stack->timers.count, 0);
    bare_free(stack);
}

static void test_heap_order(void **state)
{
    (void)state;
    struct stack *stack = bare_stack();
    enum { N = 2000 };
    static struct ttimer t[N];
    uint64_t seed = 0x1234567u;
    for (unsigned i = 0; i < N; i++) {
        t[i] = (struct ttimer){.id = i};
        timer_init(&t[i].timer, record);
        /* Deadlines from a small range, so many are equal. */
        uint64_t deadline = 1000 + xorshift(&seed) % 5000;
        assert_int_equal(timer_arm(stack, &t[i].timer, deadline), 0);
        assert_true(timer_armed(&t[i].timer));
    }
    check_heap(&stack->timers);
    assert_int_equal(stack->timers.count, N);

    /* Nothing is due before the earliest deadline. */
    uint64_t first = timer_next_deadline(&stack->timers);
    run_at(stack, first - 1);
    assert_int_equal(order_len, 0);

    /* Advance in uneven steps; each step fires exactly the due timers. */
    uint64_t now = first - 1;
    while (stack->timers.count > 0) {
        now += 1 + xorshift(&seed) % 97;
        run_at(stack, now);
        check_heap(&stack->timers);
        for (unsigned i = 0; i < N; i++)
            if (t[i].timer.deadline_us <= now)
                assert_int_equal(t[i].fired, 1);
            else
                assert_int_equal(t[i].fired, 0);
        if (stack->timers.count > 0)
            assert_true(timer_next_deadline(&stack->timers) > now);
    }
    assert_int_equal(order_len, N);
    for (unsigned i = 1; i < N; i++)
        assert_true(t[order[i - 1]].fired_at <= t[order[i]].fired_at);
    assert_int_equal(timer_next_deadline(&stack->timers), TIME_NEVER);
    bare_free(stack);
}

static void test_rearm(void **state)
{
    (void)state;
    struct stack *stack = bare_stack();
    struct ttimer a = {.id = 0}, b = {.id = 1}, c = {.id = 2};
    timer_init(&a.timer, record);
    timer_init(&b.timer, record);
    timer_init(&c.timer, record);
    timer_arm(stack, &a.timer, 100);
    timer_arm(stack, &b.timer, 200);
    timer_arm(stack, &c.timer, 300);
    assert_int_equal(timer_next_deadline(&stack->timers), 100);

    /* Later: the root moves down. */
    timer_arm(stack, &a.timer, 400);
    check_heap(&stack->timers);
    assert_int_equal(stack->timers.count, 3);
    assert_int_equal(timer_next_deadline(&stack->timers), 200);
    run_at(stack, 250);
    assert_int_equal(a.fired, 0);
    assert_int_equal(b.fired, 1);
    assert_int_equal(c.fired, 0);

    /* Earlier: a leaf moves to the root. */
    timer_arm(stack, &a.timer, 260);
    check_heap(&stack->timers);
    assert_int_equal(timer_next_deadline(&stack->timers), 260);
    run_at(stack, 260);
    assert_int_equal(a.fired, 1);
    assert_int_equal(c.fired, 0);

    /* Re-arming to the same deadline changes nothing; a fired timer can be
     * armed again, and a deadline already past fires on the next run. */
    timer_arm(stack, &c.timer, 300);
    assert_int_equal(stack->timers.count, 1);
    timer_arm(stack, &b.timer, 10);
    assert_int_equal(timer_next_deadline(&stack->timers), 10);
    last_deadline = 0;
    run_at(stack, 270);
    assert_int_equal(b.fired, 2);
    assert_int_equal(c.fired, 0);
    run_at(stack, 300);
    assert_int_equal(c.fired, 1);
    assert_int_equal(stack->timers.count, 0);
    bare_free(stack);
}

static void test_cancel(void **state)
{
    (void)state;
    struct stack *stack = bare_stack();
    enum { N = 64 };
    struct ttimer t[N];
    for (unsigned i = 0; i < N; i++) {
        t[i] = (struct ttimer){.id = i};
        timer_init(&t[i].timer, record);
        timer_arm(stack, &t[i].timer, 1000 + (uint64_t)((i * 37) % N) * 10);
    }
    /* The root, the last slot, and one in the middle. */
    struct timer *root = stack->timers.items[0];
    struct timer *last = stack->timers.items[stack->timers.count - 1];
    struct timer *mid = stack->timers.items[stack->timers.count / 2];
    timer_cancel(stack, root);
    check_heap(&stack->timers);
    timer_cancel(stack, last);
    check_heap(&stack->timers);
    timer_cancel(stack, mid);
    check_heap(&stack->timers);
    timer_cancel(stack, mid); /* twice is harmless */
    assert_int_equal(stack->timers.count, N - 3);
    assert_false(timer_armed(root));
    assert_false(timer_armed(last));
    assert_false(timer_armed(mid));
    /* Cancel every other remaining one. */
    for (unsigned i = 0; i < N; i += 2)
        timer_cancel(stack, &t[i].timer);
    check_heap(&stack->timers);
    run_at(stack, UINT64_MAX - 1);
    for (unsigned i = 0; i < N; i++) {
        struct timer *tm = &t[i].timer;
        bool cancelled = i % 2 == 0 || tm == root || tm == last || tm == mid;
        assert_int_equal(t[i].fired, cancelled ? 0 : 1);
    }
    assert_int_equal(stack->timers.count, 0);
    bare_free(stack);
}

/* Callbacks that work on the heap while it runs. */
static struct ttimer *victim;
static struct ttimer *spawn;
static unsigned periodic_left;

static void cancel_other(struct stack *stack, struct timer *timer)
{
    record(stack, timer);
    timer_cancel(stack, &victim->timer);
    /* Due now: runs in this same pass. */
    timer_arm(stack, &spawn->timer, stack->now_us);
}

static void periodic(struct stack *stack, struct timer *timer)
{
    struct ttimer *t = (struct ttimer *)timer;
    t->fired++;
    if (--periodic_left > 0)
        timer_arm(stack, timer, stack->now_us + 100);
}

static void test_callbacks_change_heap(void **state)
{
    (void)state;
    struct stack *stack = bare_stack();
    struct ttimer canceller = {.id = 0}, v = {.id = 1}, s = {.id = 2}, p = {.id = 3};
    timer_init(&canceller.timer, cancel_other);
    timer_init(&v.timer, record);
    timer_init(&s.timer, record);
    timer_init(&p.timer, periodic);
    victim = &v;
    spawn = &s;
    timer_arm(stack, &canceller.timer, 100);
    timer_arm(stack, &v.timer, 100); /* due in the same pass, cancelled first */
    periodic_left = 5;
    timer_arm(stack, &p.timer, 50);
    run_at(stack, 100);
    assert_int_equal(canceller.fired, 1);
    assert_int_equal(v.fired, 0);
    assert_int_equal(s.fired, 1);
    assert_int_equal(p.fired, 1);
    /* The periodic timer fires once per run, at most once per 100 µs. */
    for (uint64_t now = 150; now <= 1000; now += 50)
        run_at(stack, now);
    assert_int_equal(p.fired, 5);
    assert_false(timer_armed(&p.timer));
    assert_int_equal(stack->timers.count, 0);
    bare_free(stack);
}

/* Many timers against a model: random arm, re-arm, cancel and runs. */
static void test_many_timers(void **state)
{
    (void)state;
    struct stack *stack = bare_stack();
    enum { N = 5000, OPS = 100000 };
    struct ttimer *t = calloc(N, sizeof(*t));
    uint64_t *model = calloc(N, sizeof(*model)); /* deadline, TIME_NEVER: idle */
    unsigned *fired = calloc(N, sizeof(*fired));
    assert_non_null(t);
    assert_non_null(model);
    assert_non_null(fired);
    for (unsigned i = 0; i < N; i++) {
        t[i].id = i;
        timer_init(&t[i].timer, record);
        model[i] = TIME_NEVER;
    }
    uint64_t seed = 42, now = 0;
    for (unsigned op = 0; op < OPS; op++) {
        unsigned i = (unsigned)(xorshift(&seed) % N);
        unsigned what = (unsigned)(xorshift(&seed) % 100);
        if (what < 60) {
            uint64_t deadline = now + 1 + xorshift(&seed) % 100000;
            assert_int_equal(timer_arm(stack, &t[i].timer, deadline), 0);
            model[i] = deadline;
        } else if (what < 90) {
            timer_cancel(stack, &t[i].timer);
            model[i] = TIME_NEVER;
        } else {
            now += xorshift(&seed) % 20000;
            last_deadline = 0;
            run_at(stack, now);
            for (unsigned k = 0; k < N; k++) {
                if (model[k] != TIME_NEVER && model[k] <= now) {
                    fired[k]++;
                    model[k] = TIME_NEVER;
                }
            }
        }
        if (op % 5000 == 0)
            check_heap(&stack->timers);
    }
    check_heap(&stack->timers);
    size_t armed = 0;
    uint64_t min = TIME_NEVER;
    for (unsigned k = 0; k < N; k++) {
        assert_int_equal(t[k].fired, fired[k]);
        assert_int_equal(timer_armed(&t[k].timer), model[k] != TIME_NEVER);
        if (model[k] != TIME_NEVER) {
            armed++;
            assert_int_equal(t[k].timer.deadline_us, model[k]);
            if (model[k] < min)
                min = model[k];
        }
    }
    assert_int_equal(stack->timers.count, armed);
    assert_int_equal(timer_next_deadline(&stack->timers), min);
    last_deadline = 0;
    run_at(stack, TIME_NEVER - 1);
    assert_int_equal(stack->timers.count, 0);
    free(t);
    free(model);
    free(fired);
    bare_free(stack);
}

/* The heap in a real stack: stack_run reports the next deadline. */
static void test_stack_run_deadline(void **state)
{
    (void)state;
    struct stack *stack = stack_create(NULL, 5);
    assert_non_null(stack);
    stack->log_fd = -1;
    uint64_t base = stack_run(stack, 10);
    struct ttimer t = {.id = 0};
    timer_init(&t.timer, record);
    order_len = 0;
    last_deadline = 0;
    timer_arm(stack, &t.timer, 5000);
    uint64_t next = stack_run(stack, 20);
    assert_int_equal(next, base < 5000 ? base : 5000);
    stack_run(stack, 5000);
    assert_int_equal(t.fired, 1);
    assert_false(timer_armed(&t.timer));
    stack_destroy(stack);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_heap_order),
        cmocka_unit_test(test_rearm),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_callbacks_change_heap),
        cmocka_unit_test(test_many_timers),
        cmocka_unit_test(test_stack_run_deadline),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
