/* Counter names and values, from the one X-macro list. */
#include <stddef.h>

#include "stats.h"

static const char *const stat_names[] = {
#define STAT_NAME(name) #name,
    STACK_STATS(STAT_NAME)
#undef STAT_NAME
};

unsigned stack_stats_count(void)
{
    return sizeof(stat_names) / sizeof(stat_names[0]);
}

const char *stack_stats_name(unsigned index)
{
    return index < stack_stats_count() ? stat_names[index] : NULL;
}

uint64_t stack_stats_value(const struct stack_stats *stats, unsigned index)
{
    /* The struct is the same list of uint64_t fields, in order. */
    const uint64_t *values = (const uint64_t *)(const void *)stats;
    return index < stack_stats_count() ? values[index] : 0;
}
