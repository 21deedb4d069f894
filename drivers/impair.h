/* Seeded link faults for tests: loss, duplication, reordering, delay,
 * jitter and corruption, applied to frames in both directions of a netif.
 * The grammar is TOYSOCK_IMPAIR's: "loss=2,dup=1,reorder=5,delay=5,
 * jitter=1,corrupt=0.1,seed=7" (percentages; milliseconds for delay and
 * jitter). Delayed frames wait in a bounded queue on the stack's timers. */
#ifndef TOYSOCK_IMPAIR_H
#define TOYSOCK_IMPAIR_H

#include <stddef.h>
#include <stdint.h>

struct stack;
struct netif;
struct impair;

enum impair_dir { IMPAIR_TX, IMPAIR_RX };

/* Parses spec; NULL with a reason in err when it is malformed. */
struct impair *impair_create(struct stack *stack, struct netif *netif, const char *spec,
                             char *err, size_t errlen);
/* Passes a frame through the faults. Frames that survive reach the driver
 * (IMPAIR_TX, netif_driver_send) or the protocols (IMPAIR_RX,
 * netif_deliver), now or after their delay. */
void impair_frame(struct impair *imp, enum impair_dir dir, const uint8_t *frame, size_t len);
void impair_destroy(struct impair *imp);

#endif
