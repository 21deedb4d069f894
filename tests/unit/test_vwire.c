/* Unit tests for the virtual wire: frames cross both ways byte for byte and
 * in order, each end's queue holds 4096 frames and then refuses, the stack
 * counts the refusal, and either end may be destroyed first. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "driver.h"
#include "netif.h"
#include "stack.h"

/* vwire.c's bound on one end's queue. */
#define QUEUE_FRAMES 4096

struct pair {
    struct stack *a, *b;
    struct netif *na, *nb;
};

static int pair_setup(void **state)
{
    static struct pair p;
    memset(&p, 0, sizeof(p));
    p.a = stack_create(NULL, 11);
    p.b = stack_create(NULL, 12);
    if (p.a == NULL || p.b == NULL)
        return -1;
    p.a->log_fd = -1;
    p.b->log_fd = -1;
    if (vwire_open_pair(p.a, p.b, &p.na, &p.nb) < 0)
        return -1;
    *state = &p;
    return 0;
}

static int pair_teardown(void **state)
{
    struct pair *p = *state;
    stack_destroy(p->a);
    stack_destroy(p->b);
    return 0;
}

static void make_frame(uint8_t *f, size_t len, uint32_t id)
{
    for (size_t i = 0; i < len; i++)
        f[i] = (uint8_t)(i + id * 13);
    if (len >= 4)
        memcpy(f, &id, 4);
}

static void test_pair_shape(void **state)
{
    struct pair *p = *state;
    static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x01};
    static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0x02};
    assert_memory_equal(p->na->mac, mac_a, 6);
    assert_memory_equal(p->nb->mac, mac_b, 6);
    assert_int_equal(p->na->kind, NETIF_ETHERNET);
    assert_int_equal(p->nb->kind, NETIF_ETHERNET);
    assert_int_equal(p->na->fd, -1);
    assert_int_equal(p->nb->fd, -1);
    assert_int_equal(p->na->mtu, 1500);
    assert_ptr_equal(p->na->stack, p->a);
    assert_ptr_equal(p->nb->stack, p->b);
    uint8_t buf[64];
    assert_int_equal(p->na->ops->recv(p->na, buf, sizeof(buf)), 0);
    assert_int_equal(p->nb->ops->recv(p->nb, buf, sizeof(buf)), 0);
}

static void test_frames_cross_both_ways(void **state)
{
    struct pair *p = *state;
    uint8_t f[1514], got[STACK_RX_BUF];
    for (uint32_t i = 0; i < 10; i++) {
        make_frame(f, 60 + i * 100, i);
        assert_int_equal(p->na->ops->send(p->na, f, 60 + i * 100), 0);
        make_frame(f, 64 + i, 1000 + i);
        assert_int_equal(p->nb->ops->send(p->nb, f, 64 + i), 0);
    }
    for (uint32_t i = 0; i < 10; i++) {
        make_frame(f, 60 + i * 100, i);
        assert_int_equal(p->nb->ops->recv(p->nb, got, sizeof(got)), 60 + i * 100);
        assert_memory_equal(got, f, 60 + i * 100);
        make_frame(f, 64 + i, 1000 + i);
        assert_int_equal(p->na->ops->recv(p->na, got, sizeof(got)), 64 + i);
        assert_memory_equal(got, f, 64 + i);
    }
    assert_int_equal(p->na->ops->recv(p->na, got, sizeof(got)), 0);
    assert_int_equal(p->nb->ops->recv(p->nb, got, sizeof(got)), 0);
}

/* Through the stack: netif_driver_send counts on the sender, stack_run
 * reads on the receiver. */
static void test_through_the_stacks(void **state)
{
    struct pair *p = *state;
    uint64_t tx0 = p->a->stats.link_tx_frames, rx0 = p->b->stats.link_rx_frames;
    uint8_t f[60];
    make_frame(f, sizeof(f), 7);
    netif_driver_send(p->na, f, sizeof(f));
    assert_int_equal(p->a->stats.link_tx_frames, tx0 + 1);
    stack_run(p->b, 1000);
    assert_int_equal(p->b->stats.link_rx_frames, rx0 + 1);
    uint8_t got[64];
    assert_int_equal(p->nb->ops->recv(p->nb, got, sizeof(got)), 0);
}

static void test_queue_bound(void **state)
{
    struct pair *p = *state;
    uint8_t f[60], got[STACK_RX_BUF];
    for (uint32_t i = 0; i < QUEUE_FRAMES; i++) {
        make_frame(f, sizeof(f), i);
        assert_int_equal(p->na->ops->send(p->na, f, sizeof(f)), 0);
    }
    make_frame(f, sizeof(f), 99999);
    assert_int_equal(p->na->ops->send(p->na, f, sizeof(f)), -EAGAIN);
    uint64_t err0 = p->a->stats.link_tx_errors;
    netif_driver_send(p->na, f, sizeof(f));
    assert_int_equal(p->a->stats.link_tx_errors, err0 + 1);
    /* The other direction is not affected. */
    assert_int_equal(p->nb->ops->send(p->nb, f, sizeof(f)), 0);
    assert_int_equal(p->na->ops->recv(p->na, got, sizeof(got)), sizeof(f));

    for (uint32_t i = 0; i < QUEUE_FRAMES; i++) {
        make_frame(f, sizeof(f), i);
        assert_int_equal(p->nb->ops->recv(p->nb, got, sizeof(got)), sizeof(f));
        assert_memory_equal(got, f, sizeof(f));
    }
    assert_int_equal(p->nb->ops->recv(p->nb, got, sizeof(got)), 0);
    assert_int_equal(p->na->ops->send(p->na, f, sizeof(f)), 0);
    assert_int_equal(p->nb->ops->recv(p->nb, got, sizeof(got)), sizeof(f));
}

static void test_frame_sizes(void **state)
{
    struct pair *p = *state;
    static uint8_t big[STACK_RX_BUF + 1];
    static uint8_t got[STACK_RX_BUF];
    assert_int_equal(p->na->ops->send(p->na, big, sizeof(big)), -EMSGSIZE);
    make_frame(big, STACK_RX_BUF, 3);
    assert_int_equal(p->na->ops->send(p->na, big, STACK_RX_BUF), 0);
    /* A receiver with too little room loses that frame, not the next. */
    assert_int_equal(p->nb->ops->recv(p->nb, got, 100), -EMSGSIZE);
    assert_int_equal(p->na->ops->send(p->na, big, 0), -EINVAL);
    assert_int_equal(p->na->ops->send(p->na, big, STACK_RX_BUF), 0);
    assert_int_equal(p->nb->ops->recv(p->nb, got, sizeof(got)), STACK_RX_BUF);
    assert_memory_equal(got, big, STACK_RX_BUF);
}

/* Destroying one end (with frames queued both ways) leaves the other
 * usable: its sends fail, nothing dangles. */
static void destroy_one_first(bool a_first)
{
    struct stack *a = stack_create(NULL, 1), *b = stack_create(NULL, 2);
    assert_non_null(a);
    assert_non_null(b);
    a->log_fd = b->log_fd = -1;
    struct netif *na, *nb;
    assert_int_equal(vwire_open_pair(a, b, &na, &nb), 0);
    uint8_t f[100] = {1, 2, 3};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(na->ops->send(na, f, sizeof(f)), 0);
        assert_int_equal(nb->ops->send(nb, f, sizeof(f)), 0);
    }
    struct stack *first = a_first ? a : b, *second = a_first ? b : a;
    struct netif *survivor = a_first ? nb : na;
    stack_destroy(first);
    assert_int_equal(survivor->ops->send(survivor, f, sizeof(f)), -ENOTCONN);
    uint8_t got[200];
    /* Frames already received stay readable. */
    assert_int_equal(survivor->ops->recv(survivor, got, sizeof(got)), sizeof(f));
    stack_run(second, 5);
    stack_destroy(second);
}

static void test_destroy_a_first(void **state)
{
    destroy_one_first(true);
}

static void test_destroy_b_first(void **state)
{
    destroy_one_first(false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pair_shape, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_frames_cross_both_ways, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_through_the_stacks, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound, pair_setup, pair_teardown),
        cmocka_unit_test_setup_teardown(test_frame_sizes, pair_setup, pair_teardown),
        cmocka_unit_test(test_destroy_a_first),
        cmocka_unit_test(test_destroy_b_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
