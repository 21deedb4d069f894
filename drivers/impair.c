/* Impairment: seeded loss, duplication, corruption, reordering, delay and
 * jitter on a netif's frames, each direction with its own bounded queue on
 * the stack's timers.
 *
 * A frame goes impair_frame() -> loss -> corruption -> duplication, then
 * each copy impair_reorder_stage() -> impair_delay_stage() -> impair_emit()
 * (netif_driver_send for TX, netif_deliver for RX). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "impair.h"
#include "netif.h"
#include "rng.h"
#include "stack.h"
#include "timer.h"

/* Probabilities are parts per million: 100% is 1000000, so a percentage
 * takes up to 4 decimals (0.0001% is 1 ppm). */
#define IMPAIR_PPM_FULL 1000000u
#define IMPAIR_PCT_DECIMALS 4
/* Milliseconds take up to 3 decimals (microseconds). */
#define IMPAIR_MS_DECIMALS 3
#define IMPAIR_MAX_DELAY_MS 60000u
/* What one direction's delay queue holds before it drops. */
#define IMPAIR_QUEUE_FRAMES 8192u
#define IMPAIR_QUEUE_BYTES (32u * 1024 * 1024)
/* How long a frame held back for reordering waits for a successor before
 * it goes on alone (then through the delay like any frame). */
#define IMPAIR_HOLD_US 1000u
/* Largest frame taken: the stack's receive buffer. */
#define IMPAIR_MAX_FRAME STACK_RX_BUF

#define IMPAIR_CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct impair_params {
    uint32_t loss_ppm;
    uint32_t dup_ppm;
    uint32_t reorder_ppm;
    uint32_t corrupt_ppm;
    uint64_t delay_us;
    uint64_t jitter_us;
    uint64_t seed;
};

/* A frame waiting in a queue: its release time and its arrival number,
 * which keeps frames with equal deadlines in arrival order. */
struct impair_entry {
    uint64_t deadline_us;
    uint64_t seq;
    size_t len;
    uint8_t data[];
};

/* One direction's state: the frame held back for reordering, and the
 * delay queue as a min-heap on (deadline, seq). */
struct impair_queue {
    struct impair *imp;
    enum impair_dir dir;
    struct impair_entry *held;
    struct timer hold_timer;
    struct impair_entry **heap;
    size_t count;
    size_t cap;
    size_t bytes;
    uint64_t next_seq;
    struct timer delay_timer;
};

struct impair {
    struct stack *stack;
    struct netif *netif;
    struct impair_params params;
    struct rng rng;
    struct impair_queue queues[2]; /* indexed by enum impair_dir */
};

/* --- parsing -------------------------------------------------------------- */

enum impair_num_err {
    IMPAIR_NUM_OK,
    IMPAIR_NUM_EMPTY,
    IMPAIR_NUM_NEGATIVE,
    IMPAIR_NUM_NOT_NUMBER,
    IMPAIR_NUM_JUNK,
    IMPAIR_NUM_PRECISION,
    IMPAIR_NUM_RANGE,
};

/* Parses a plain decimal "123" or "1.25" (no sign, no exponent, no
 * locale) as an integer scaled by 10^decimals, at most max. *junk points at
 * the first unexpected character. */
static enum impair_num_err impair_parse_fixed(const char *s, unsigned decimals, uint64_t max,
                                              uint64_t *out, const char **junk)
{
    *junk = s;
    if (*s == '\0')
        return IMPAIR_NUM_EMPTY;
    if (*s == '-')
        return IMPAIR_NUM_NEGATIVE;
    uint64_t value = 0;
    unsigned digits = 0;
    bool overflow = false;
    for (; *s >= '0' && *s <= '9'; s++, digits++) {
        unsigned d = (unsigned)(*s - '0');
        if (value > (UINT64_MAX - d) / 10)
            overflow = true;
        else
            value = value * 10 + d;
    }
    unsigned frac = 0;
    if (*s == '.') {
        s++;
        if (decimals == 0) {
            *junk = s - 1;
            return IMPAIR_NUM_PRECISION;
        }
        for (; *s >= '0' && *s <= '9'; s++, frac++) {
            if (frac >= decimals) {
                if (*s != '0') {
                    *junk = s;
                    return IMPAIR_NUM_PRECISION;
                }
                continue; /* trailing zeros beyond the precision are fine */
            }
            unsigned d = (unsigned)(*s - '0');
            if (value > (UINT64_MAX - d) / 10)
                overflow = true;
            else
                value = value * 10 + d;
        }
        digits += frac;
        if (frac == 0) {
            *junk = s - 1;
            return IMPAIR_NUM_NOT_NUMBER;
        }
    }
    if (digits == 0) {
        *junk = s;
        return IMPAIR_NUM_NOT_NUMBER;
    }
    if (*s != '\0') {
        *junk = s;
        return IMPAIR_NUM_JUNK;
    }
    for (unsigned i = frac < decimals ? frac : decimals; i < decimals; i++) {
        if (value > UINT64_MAX / 10)
            overflow = true;
        else
            value *= 10;
    }
    if (overflow || value > max)
        return IMPAIR_NUM_RANGE;
    *out = value;
    return IMPAIR_NUM_OK;
}

enum impair_key_kind { IMPAIR_PERCENT, IMPAIR_MILLIS, IMPAIR_INTEGER };

enum impair_key_id {
    IMPAIR_KEY_LOSS,
    IMPAIR_KEY_DUP,
    IMPAIR_KEY_REORDER,
    IMPAIR_KEY_CORRUPT,
    IMPAIR_KEY_DELAY,
    IMPAIR_KEY_JITTER,
    IMPAIR_KEY_SEED,
};

struct impair_key {
    const char *name;
    enum impair_key_id id;
    enum impair_key_kind kind;
};

static const struct impair_key impair_keys[] = {
    {"loss", IMPAIR_KEY_LOSS, IMPAIR_PERCENT},
    {"dup", IMPAIR_KEY_DUP, IMPAIR_PERCENT},
    {"reorder", IMPAIR_KEY_REORDER, IMPAIR_PERCENT},
    {"corrupt", IMPAIR_KEY_CORRUPT, IMPAIR_PERCENT},
    {"delay", IMPAIR_KEY_DELAY, IMPAIR_MILLIS},
    {"jitter", IMPAIR_KEY_JITTER, IMPAIR_MILLIS},
    {"seed", IMPAIR_KEY_SEED, IMPAIR_INTEGER},
};
#define IMPAIR_KEY_COUNT (sizeof(impair_keys) / sizeof(impair_keys[0]))

static void impair_store(struct impair_params *p, enum impair_key_id id, uint64_t v)
{
    switch (id) {
    case IMPAIR_KEY_LOSS:
        p->loss_ppm = (uint32_t)v;
        break;
    case IMPAIR_KEY_DUP:
        p->dup_ppm = (uint32_t)v;
        break;
    case IMPAIR_KEY_REORDER:
        p->reorder_ppm = (uint32_t)v;
        break;
    case IMPAIR_KEY_CORRUPT:
        p->corrupt_ppm = (uint32_t)v;
        break;
    case IMPAIR_KEY_DELAY:
        p->delay_us = v;
        break;
    case IMPAIR_KEY_JITTER:
        p->jitter_us = v;
        break;
    case IMPAIR_KEY_SEED:
        p->seed = v;
        break;
    }
}

/* Explains why value did not parse for key. */
static void impair_explain(const struct impair_key *key, const char *value,
                           enum impair_num_err e, const char *junk, char *err, size_t errlen)
{
    static const char *const units[] = {"a percentage from 0 to 100",
                                        "milliseconds from 0 to 60000",
                                        "a whole number"};
    const char *want = units[key->kind];
    switch (e) {
    case IMPAIR_NUM_EMPTY:
        snprintf(err, errlen, "%s= has no value; expected %s", key->name, want);
        break;
    case IMPAIR_NUM_NEGATIVE:
        snprintf(err, errlen, "%s=%s is negative; expected %s", key->name,
                 value, want);
        break;
    case IMPAIR_NUM_NOT_NUMBER:
        snprintf(err, errlen, "%s=%s is not a number; expected %s", key->name,
                 value, want);
        break;
    case IMPAIR_NUM_JUNK:
        snprintf(err, errlen, "%s=%s has junk \"%s\" after the number",
                 key->name, value, junk);
        break;
    case IMPAIR_NUM_PRECISION:
        if (key->kind == IMPAIR_INTEGER)
            snprintf(err, errlen, "%s=%s must be a whole number", key->name,
                     value);
        else
            snprintf(err, errlen, "%s=%s has more than %d decimals", key->name,
                     value,
                     key->kind == IMPAIR_PERCENT ? IMPAIR_PCT_DECIMALS : IMPAIR_MS_DECIMALS);
        break;
    default:
        snprintf(err, errlen, "%s=%s is out of range; expected %s", key->name,
                 value, want);
        break;
    }
}

/* Parses one "key=value" item into p. Returns 0 or -EINVAL with err. */
static int impair_parse_item(char *item, struct impair_params *p, unsigned *seen, char *err,
                             size_t errlen)
{
    char *eq = strchr(item, '=');
    if (eq == NULL) {
        snprintf(err, errlen, "\"%s\" has no '=' (expected key=value)", item);
        return -EINVAL;
    }
    *eq = '\0';
    const char *name = item;
    char *value = eq + 1;
    unsigned k;
    for (k = 0; k < IMPAIR_KEY_COUNT; k++)
        if (strcmp(name, impair_keys[k].name) == 0)
            break;
    if (k == IMPAIR_KEY_COUNT) {
        snprintf(err, errlen,
                 "unknown key \"%s\" (known: loss, dup, reorder, corrupt, "
                 "delay, jitter, seed)",
                 name);
        return -EINVAL;
    }
    const struct impair_key *key = &impair_keys[k];
    if (*seen & (1u << k)) {
        snprintf(err, errlen, "%s is given twice", key->name);
        return -EINVAL;
    }
    *seen |= 1u << k;
    unsigned decimals = 0;
    uint64_t max = UINT64_MAX;
    if (key->kind == IMPAIR_PERCENT) {
        decimals = IMPAIR_PCT_DECIMALS;
        max = IMPAIR_PPM_FULL;
    } else if (key->kind == IMPAIR_MILLIS) {
        decimals = IMPAIR_MS_DECIMALS;
        max = (uint64_t)IMPAIR_MAX_DELAY_MS * 1000;
        /* Milliseconds either way: "delay=5" or "delay=5ms". */
        size_t len = strlen(value);
        if (len > 2 && strcmp(value + len - 2, "ms") == 0)
            value[len - 2] = '\0';
    }
    uint64_t v = 0;
    const char *junk;
    enum impair_num_err e = impair_parse_fixed(value, decimals, max, &v, &junk);
    if (e != IMPAIR_NUM_OK) {
        impair_explain(key, value, e, junk, err, errlen);
        return -EINVAL;
    }
    impair_store(p, key->id, v);
    return 0;
}

/* Parses the whole spec. Empty items (",,", a trailing comma) are
 * ignored; an empty spec means no faults. */
static int impair_parse_spec(const char *spec, struct impair_params *p, char *err,
                             size_t errlen)
{
    memset(p, 0, sizeof(*p));
    p->seed = 1;
    if (spec == NULL)
        return 0;
    char *copy = strdup(spec);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    unsigned seen = 0;
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        rc = impair_parse_item(item, p, &seen, err, errlen);
        if (rc < 0)
            break;
    }
    free(copy);
    return rc;
}

/* --- the delay queue -------------------------------------------------------- */

static bool impair_entry_before(const struct impair_entry *a, const struct impair_entry *b)
{
    return a->deadline_us < b->deadline_us ||
           (a->deadline_us == b->deadline_us && a->seq < b->seq);
}

static void impair_heap_up(struct impair_queue *q, size_t i)
{
    struct impair_entry *e = q->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!impair_entry_before(e, q->heap[parent]))
            break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = e;
}

static void impair_heap_down(struct impair_queue *q, size_t i)
{
    struct impair_entry *e = q->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= q->count)
            break;
        if (child + 1 < q->count && impair_entry_before(q->heap[child + 1], q->heap[child]))
            child++;
        if (!impair_entry_before(q->heap[child], e))
            break;
        q->heap[i] = q->heap[child];
        i = child;
    }
    q->heap[i] = e;
}

static struct impair_entry *impair_heap_pop(struct impair_queue *q)
{
    struct impair_entry *top = q->heap[0];
    q->count--;
    q->bytes -= top->len;
    if (q->count > 0) {
        q->heap[0] = q->heap[q->count];
        impair_heap_down(q, 0);
    }
    return top;
}

/* Adds e to the heap. Returns false (e not taken) when the queue is full. */
static bool impair_heap_push(struct impair_queue *q, struct impair_entry *e)
{
    if (q->count == IMPAIR_QUEUE_FRAMES || q->bytes + e->len > IMPAIR_QUEUE_BYTES)
        return false;
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        if (cap > IMPAIR_QUEUE_FRAMES)
            cap = IMPAIR_QUEUE_FRAMES;
        struct impair_entry **heap = realloc(q->heap, cap * sizeof(*heap));
        if (heap == NULL)
            return false;
        q->heap = heap;
        q->cap = cap;
    }
    q->heap[q->count++] = e;
    q->bytes += e->len;
    impair_heap_up(q, q->count - 1);
    return true;
}

static struct impair_entry *impair_entry_new(const uint8_t *frame, size_t len)
{
    struct impair_entry *e = malloc(sizeof(*e) + len);
    if (e == NULL)
        return NULL;
    e->deadline_us = 0;
    e->seq = 0;
    e->len = len;
    if (len > 0)
        memcpy(e->data, frame, len);
    return e;
}

/* --- the stages ------------------------------------------------------------- */

static bool impair_roll(struct impair *imp, uint32_t ppm)
{
    if (ppm == 0)
        return false;
    if (ppm >= IMPAIR_PPM_FULL)
        return true;
    return rng_below(&imp->rng, IMPAIR_PPM_FULL) < ppm;
}

/* Hands a frame on: to the driver (TX) or to the protocols (RX). */
static void impair_emit(struct impair_queue *q, const uint8_t *frame, size_t len)
{
    if (q->dir == IMPAIR_TX)
        netif_driver_send(q->imp->netif, frame, len);
    else
        netif_deliver(q->imp->netif, frame, len);
}

/* The current time for a frame: the stack's clock, or a timer's deadline
 * when the timer is run ahead of the clock. */
static uint64_t impair_now(const struct impair *imp, uint64_t at_least)
{
    return imp->stack->now_us > at_least ? imp->stack->now_us : at_least;
}

static void impair_arm_delay(struct impair_queue *q)
{
    struct stack *stack = q->imp->stack;
    if (q->count == 0) {
        timer_cancel(stack, &q->delay_timer);
        return;
    }
    if (!timer_armed(&q->delay_timer) || q->delay_timer.deadline_us != q->heap[0]->deadline_us)
        (void)timer_arm(stack, &q->delay_timer, q->heap[0]->deadline_us);
}

/* Sends the frame now, or queues it until now + delay +- jitter. Takes an
 * entry (owned) or plain bytes (copied when queued). */
static void impair_delay_stage(struct impair_queue *q, struct impair_entry *owned,
                               const uint8_t *frame, size_t len, uint64_t now)
{
    struct impair *imp = q->imp;
    const struct impair_params *p = &imp->params;
    if (p->delay_us == 0 && p->jitter_us == 0) {
        if (owned != NULL) {
            impair_emit(q, owned->data, owned->len);
            free(owned);
        } else {
            impair_emit(q, frame, len);
        }
        return;
    }
    uint64_t deadline = now + p->delay_us;
    if (p->jitter_us > 0) {
        uint64_t span = 2 * p->jitter_us + 1;
        uint64_t r = rng_below(&imp->rng, span);
        if (r >= p->jitter_us)
            deadline += r - p->jitter_us;
        else
            deadline = deadline - now >= p->jitter_us - r ? deadline - (p->jitter_us - r) : now;
    }
    struct impair_entry *e = owned != NULL ? owned : impair_entry_new(frame, len);
    if (e == NULL) {
        STAT_INC(imp->stack, impair_dropped);
        return;
    }
    e->deadline_us = deadline;
    e->seq = q->next_seq++;
    if (!impair_heap_push(q, e)) {
        free(e);
        STAT_INC(imp->stack, impair_dropped);
        return;
    }
    STAT_INC(imp->stack, impair_delayed);
    impair_arm_delay(q);
}

/* Holds the frame back for reordering, or lets it pass and releases the
 * frame held before it (which so arrives one place late). */
static void impair_reorder_stage(struct impair_queue *q, const uint8_t *frame, size_t len,
                                 uint64_t now)
{
    struct impair *imp = q->imp;
    if (q->held == NULL && impair_roll(imp, imp->params.reorder_ppm)) {
        q->held = impair_entry_new(frame, len);
        if (q->held == NULL) {
            STAT_INC(imp->stack, impair_dropped);
            return;
        }
        STAT_INC(imp->stack, impair_reordered);
        (void)timer_arm(imp->stack, &q->hold_timer, now + IMPAIR_HOLD_US);
        return;
    }
    /* Take the held frame out before emitting: emitting may run protocol
     * code that sends again in this direction. */
    struct impair_entry *held = q->held;
    q->held = NULL;
    if (held != NULL)
        timer_cancel(imp->stack, &q->hold_timer);
    impair_delay_stage(q, NULL, frame, len, now);
    if (held != NULL)
        impair_delay_stage(q, held, NULL, 0, now);
}

static void impair_hold_expired(struct stack *stack, struct timer *timer)
{
    struct impair_queue *q = IMPAIR_CONTAINER(timer, struct impair_queue, hold_timer);
    struct impair_entry *held = q->held;
    q->held = NULL;
    if (held != NULL)
        impair_delay_stage(q, held, NULL, 0, impair_now(q->imp, timer->deadline_us));
}

static void impair_delay_expired(struct stack *stack, struct timer *timer)
{
    struct impair_queue *q = IMPAIR_CONTAINER(timer, struct impair_queue, delay_timer);
    uint64_t now = impair_now(q->imp, timer->deadline_us);
    /* Pop before emitting: emitting may queue more frames here. */
    while (q->count > 0 && q->heap[0]->deadline_us <= now) {
        struct impair_entry *e = impair_heap_pop(q);
        impair_emit(q, e->data, e->len);
        free(e);
    }
    impair_arm_delay(q);
}

/* --- the interface ---------------------------------------------------------- */

struct impair *impair_create(struct stack *stack, struct netif *netif, const char *spec,
                             char *err, size_t errlen)
{
    struct impair_params params;
    if (impair_parse_spec(spec, &params, err, errlen) < 0)
        return NULL;
    struct impair *imp = calloc(1, sizeof(*imp));
    if (imp == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    imp->stack = stack;
    imp->netif = netif;
    imp->params = params;
    rng_seed(&imp->rng, params.seed);
    for (int d = IMPAIR_TX; d <= IMPAIR_RX; d++) {
        struct impair_queue *q = &imp->queues[d];
        q->imp = imp;
        q->dir = (enum impair_dir)d;
        timer_init(&q->hold_timer, impair_hold_expired);
        timer_init(&q->delay_timer, impair_delay_expired);
    }
    return imp;
}

void impair_frame(struct impair *imp, enum impair_dir dir, const uint8_t *frame, size_t len)
{
    struct stack *stack = imp->stack;
    struct impair_queue *q = &imp->queues[dir == IMPAIR_RX ? IMPAIR_RX : IMPAIR_TX];
    const struct impair_params *p = &imp->params;
    if (len > IMPAIR_MAX_FRAME) {
        STAT_INC(stack, impair_dropped);
        return;
    }
    if (impair_roll(imp, p->loss_ppm)) {
        STAT_INC(stack, impair_dropped);
        return;
    }
    uint8_t *corrupted = NULL;
    if (len > 0 && impair_roll(imp, p->corrupt_ppm)) {
        corrupted = malloc(len);
        if (corrupted != NULL) {
            memcpy(corrupted, frame, len);
            uint64_t bit = rng_below(&imp->rng, (uint64_t)len * 8);
            corrupted[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            frame = corrupted;
            STAT_INC(stack, impair_corrupted);
        }
    }
    bool dup = impair_roll(imp, p->dup_ppm);
    uint64_t now = stack->now_us;
    impair_reorder_stage(q, frame, len, now);
    if (dup) {
        STAT_INC(stack, impair_duplicated);
        impair_reorder_stage(q, frame, len, now);
    }
    free(corrupted);
}

void impair_destroy(struct impair *imp)
{
    if (imp == NULL)
        return;
    for (int d = IMPAIR_TX; d <= IMPAIR_RX; d++) {
        struct impair_queue *q = &imp->queues[d];
        timer_cancel(imp->stack, &q->hold_timer);
        timer_cancel(imp->stack, &q->delay_timer);
        free(q->held);
        while (q->count > 0)
            free(impair_heap_pop(q));
        free(q->heap);
    }
    free(imp);
}
