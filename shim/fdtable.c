/* The per-fd socket cache (item 9). fds map to shared struct tsock objects
 * through a two-level array of atomics: readers (read/write/close paths)
 * only load pointers, writers exchange them. Objects come from mmap'd
 * slabs and go back to a free list: allocation takes a mutex (control
 * path), freeing is a lock-free push (close path, item 16). */
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "fdreg.h"
#include "fdtable.h"
#include "shim.h"

#define CHUNK_BITS 10
#define CHUNK_SLOTS (1u << CHUNK_BITS)
#define FDT_MAX (1u << 20)
#define NCHUNKS (FDT_MAX / CHUNK_SLOTS)
#define SLAB_OBJECTS 64

typedef _Atomic(struct tsock *) slot_t;

static _Atomic(slot_t *) chunks[NCHUNKS];
static _Atomic(struct tsock *) free_list;
static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;

static void *map_zeroed(size_t len)
{
    long p = RAW(SYS_mmap, NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p < 0 && p > -4096)
        return NULL;
    return (void *)p;
}

struct tsock *tsock_new(void)
{
    pthread_mutex_lock(&alloc_lock);
    struct tsock *s = atomic_load(&free_list);
    /* Only this (locked) path pops, so the head cannot be popped and
     * pushed back between the load and the exchange (no ABA). */
    while (s != NULL && !atomic_compare_exchange_weak(&free_list, &s, s->next_free))
        ;
    if (s == NULL) {
        struct tsock *slab = map_zeroed(sizeof(struct tsock) * SLAB_OBJECTS);
        if (slab == NULL) {
            pthread_mutex_unlock(&alloc_lock);
            return NULL;
        }
        for (unsigned i = 1; i < SLAB_OBJECTS; i++) {
            struct tsock *o = &slab[i];
            struct tsock *head = atomic_load(&free_list);
            do
                o->next_free = head;
            while (!atomic_compare_exchange_weak(&free_list, &head, o));
        }
        s = &slab[0];
    }
    pthread_mutex_unlock(&alloc_lock);
    memset(s, 0, sizeof(*s));
    atomic_init(&s->refs, 1);
    atomic_flag_clear(&s->lock);
    s->stack_end = -1;
    return s;
}

void tsock_ref(struct tsock *s)
{
    atomic_fetch_add(&s->refs, 1);
}

void tsock_unref(struct tsock *s)
{
    if (atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    if (s->stack_end >= 0)
        shim_fd_unhide_close(s->stack_end);
    s->stack_end = -1;
    struct tsock *head = atomic_load(&free_list);
    do
        s->next_free = head;
    while (!atomic_compare_exchange_weak(&free_list, &head, s));
}

static slot_t *chunk_for(int fd, bool create)
{
    if (fd < 0 || (unsigned)fd >= FDT_MAX)
        return NULL;
    unsigned c = (unsigned)fd >> CHUNK_BITS;
    slot_t *chunk = atomic_load_explicit(&chunks[c], memory_order_acquire);
    if (chunk != NULL || !create)
        return chunk;
    slot_t *fresh = map_zeroed(sizeof(slot_t) * CHUNK_SLOTS);
    if (fresh == NULL)
        return NULL;
    slot_t *expected = NULL;
    if (!atomic_compare_exchange_strong(&chunks[c], &expected, fresh)) {
        RAW(SYS_munmap, fresh, sizeof(slot_t) * CHUNK_SLOTS, 0, 0, 0, 0);
        return expected;
    }
    return fresh;
}

struct tsock *fdt_get(int fd)
{
    slot_t *chunk = chunk_for(fd, false);
    if (chunk == NULL)
        return NULL;
    return atomic_load_explicit(&chunk[(unsigned)fd & (CHUNK_SLOTS - 1)], memory_order_acquire);
}

bool fd_identity(int fd, dev_t *dev, ino_t *ino)
{
    struct stat st;
    if (sys_fstat(fd, &st) < 0)
        return false;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return true;
}

struct tsock *fdt_lookup(int fd)
{
    struct tsock *s = fdt_get(fd);
    if (s == NULL)
        return NULL;
    dev_t dev;
    ino_t ino;
    if (!fd_identity(fd, &dev, &ino) || dev != s->dev || ino != s->ino) {
        /* Closed or replaced behind our back (a raw close, an fd received
         * over SCM_RIGHTS onto a reused number): not our socket any more. */
        fdt_clear(fd);
        return NULL;
    }
    return s;
}

int fdt_set(int fd, struct tsock *s)
{
    slot_t *chunk = chunk_for(fd, true);
    if (chunk == NULL)
        return -ENOMEM;
    tsock_ref(s);
    struct tsock *old = atomic_exchange(&chunk[(unsigned)fd & (CHUNK_SLOTS - 1)], s);
    if (old != NULL)
        tsock_unref(old);
    return 0;
}

void fdt_clear(int fd)
{
    slot_t *chunk = chunk_for(fd, false);
    if (chunk == NULL)
        return;
    struct tsock *old = atomic_exchange(&chunk[(unsigned)fd & (CHUNK_SLOTS - 1)], NULL);
    if (old != NULL)
        tsock_unref(old);
}

void fdt_clear_range(unsigned first, unsigned last)
{
    if (last >= FDT_MAX)
        last = FDT_MAX - 1;
    for (unsigned fd = first; fd <= last;) {
        slot_t *chunk = atomic_load_explicit(&chunks[fd >> CHUNK_BITS], memory_order_acquire);
        if (chunk == NULL) {
            fd = (fd | (CHUNK_SLOTS - 1)) + 1;
            continue;
        }
        struct tsock *old = atomic_exchange(&chunk[fd & (CHUNK_SLOTS - 1)], NULL);
        if (old != NULL)
            tsock_unref(old);
        fd++;
    }
}

void fdt_for_each(void (*fn)(int fd, struct tsock *s, void *arg), void *arg)
{
    for (unsigned c = 0; c < NCHUNKS; c++) {
        slot_t *chunk = atomic_load_explicit(&chunks[c], memory_order_acquire);
        if (chunk == NULL)
            continue;
        for (unsigned i = 0; i < CHUNK_SLOTS; i++) {
            struct tsock *s = atomic_load(&chunk[i]);
            if (s != NULL)
                fn((int)(c * CHUNK_SLOTS + i), s, arg);
        }
    }
}

void tsock_lock(struct tsock *s)
{
    while (atomic_flag_test_and_set_explicit(&s->lock, memory_order_acquire))
        ;
}

void tsock_unlock(struct tsock *s)
{
    atomic_flag_clear_explicit(&s->lock, memory_order_release);
}

const struct ts_opt *tsock_opt_find(struct tsock *s, int level, int name)
{
    for (unsigned i = 0; i < s->nopts; i++)
        if (s->opts[i].level == level && s->opts[i].name == name)
            return &s->opts[i];
    return NULL;
}

bool tsock_opt_record(struct tsock *s, int level, int name, const void *val, unsigned len)
{
    if (len > TS_OPT_VAL_MAX)
        len = TS_OPT_VAL_MAX;
    tsock_lock(s);
    struct ts_opt *o = (struct ts_opt *)tsock_opt_find(s, level, name);
    if (o == NULL && s->nopts < TS_MAX_OPTS)
        o = &s->opts[s->nopts++];
    if (o != NULL) {
        o->level = level;
        o->name = name;
        o->len = len;
        memcpy(o->val, val, len);
    }
    tsock_unlock(s);
    return o != NULL;
}

void tsock_ep_record(struct tsock *s, int epfd, int op, int fd, const struct epoll_event *ev)
{
    tsock_lock(s);
    unsigned i;
    for (i = 0; i < s->nep; i++)
        if (s->ep[i].epfd == epfd && s->ep[i].fd == fd)
            break;
    if (op == EPOLL_CTL_DEL) {
        if (i < s->nep)
            s->ep[i] = s->ep[--s->nep];
    } else if (ev != NULL) {
        if (i == s->nep && s->nep < TS_MAX_EPOLL)
            s->nep++;
        if (i < s->nep) {
            s->ep[i].epfd = epfd;
            s->ep[i].fd = fd;
            s->ep[i].ev = *ev;
        }
    }
    tsock_unlock(s);
}

static void forget_epfd(int fd, struct tsock *s, void *arg)
{
    (void)fd;
    int epfd = *(int *)arg;
    tsock_lock(s);
    for (unsigned i = 0; i < s->nep;)
        if (s->ep[i].epfd == epfd)
            s->ep[i] = s->ep[--s->nep];
        else
            i++;
    tsock_unlock(s);
}

void tsock_ep_forget_epfd(int epfd)
{
    fdt_for_each(forget_epfd, &epfd);
}

bool shim_fd_hidden(int fd)
{
    return fd >= 0 && (fdreg_is_stack(fd) || fd == shim_log_fd);
}

int shim_fd_hide(int fd)
{
    if (fd < 0)
        return fd;
    /* The stack's own rule (raises a soft RLIMIT_NOFILE below 1024 when
     * the hard limit allows; keeps the number, still hidden, otherwise). */
    int errno_saved = errno;
    /* A client fd: it stays when the stack moves to a continuation
     * process (the channels then talk to it there). */
    int high = fdreg_take_client(fd);
    errno = errno_saved;
    return high;
}

void shim_fd_unhide_close(int fd)
{
    if (fd < 0)
        return;
    fdreg_forget(fd);
    sys_close(fd);
}
