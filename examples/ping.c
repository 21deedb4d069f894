/* ping on the native API: brings a toysock stack up from the TOYSOCK_*
 * variables, sends ICMP echo requests with toysock_ping and prints what
 * came back the way ping(8) does.
 *
 *   ping [-c COUNT] [-s SIZE] [-i INTERVAL_MS] [-W TIMEOUT_MS] [-v] DEST
 *
 * Exit status: 0 when every echo was answered, 1 when some were not, 2 on
 * a usage or configuration error or when the stack cannot start. */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "toysock/toysock.h"

#define MAX_PAYLOAD 65507 /* 65535 - IPv4 header - ICMP header */
#define ICMP_HDR_LEN 8

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ping [-c COUNT] [-s SIZE] [-i INTERVAL_MS] [-W TIMEOUT_MS] [-v] DEST\n"
            "\n"
            "  -c COUNT        stop after COUNT echo requests (default: until interrupted)\n"
            "  -s SIZE         bytes of ICMP payload (default 56, at most %d)\n"
            "  -i INTERVAL_MS  milliseconds between requests (default 1000)\n"
            "  -W TIMEOUT_MS   milliseconds to wait for each reply (default 5000)\n"
            "  -v              print the stack's counters at the end\n"
            "  DEST            an IPv4 address\n"
            "\n"
            "The stack is configured from TOYSOCK_DRIVER, TOYSOCK_IFACE, TOYSOCK_ADDR,\n"
            "TOYSOCK_GATEWAY and the other TOYSOCK_* variables.\n",
            MAX_PAYLOAD);
}

/* A whole decimal number in [min, max]. */
static bool parse_num(const char *text, long min, long max, long *out)
{
    if (text[0] < '0' || text[0] > '9')
        return false;
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Sleeps until the monotonic clock reaches deadline (or a signal). */
static void sleep_until(uint64_t deadline)
{
    while (!interrupted) {
        uint64_t now = now_us();
        if (now >= deadline)
            return;
        uint64_t left = deadline - now;
        struct timespec ts = {.tv_sec = (time_t)(left / 1000000u),
                              .tv_nsec = (long)(left % 1000000u) * 1000};
        if (nanosleep(&ts, NULL) < 0 && errno != EINTR)
            return;
    }
}

/* The errno's symbolic name, for the lines scripts look for. */
static const char *errno_name(int e)
{
    switch (e) {
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EMSGSIZE: return "EMSGSIZE";
    case ENOBUFS: return "ENOBUFS";
    case EAGAIN: return "EAGAIN";
    case EINTR: return "EINTR";
    default: return "E?";
    }
}

static void print_counters(struct toysock *ts)
{
    struct toysock_stat stats[512];
    int n = toysock_stats(ts, stats, 512);
    if (n < 0) {
        fprintf(stderr, "ping: cannot read the counters: %s\n", strerror(-n));
        return;
    }
    /* The format `toysock daemon` uses, so the same tools read both. */
    printf("toysock: counters\n");
    for (int i = 0; i < n && i < 512; i++)
        if (stats[i].value != 0)
            printf("  %s %llu\n", stats[i].name, (unsigned long long)stats[i].value);
}

int main(int argc, char **argv)
{
    long count = 0, size = 56, interval_ms = 1000, timeout_ms = 5000;
    bool verbose = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:s:i:W:vh")) != -1) {
        switch (opt) {
        case 'c':
            if (!parse_num(optarg, 1, INT_MAX, &count)) {
                fprintf(stderr, "ping: -c: '%s': expected a count from 1\n", optarg);
                return 2;
            }
            break;
        case 's':
            if (!parse_num(optarg, 0, MAX_PAYLOAD, &size)) {
                fprintf(stderr, "ping: -s: '%s': expected a size from 0 to %d\n", optarg,
                        MAX_PAYLOAD);
                return 2;
            }
            break;
        case 'i':
            if (!parse_num(optarg, 0, 3600000, &interval_ms)) {
                fprintf(stderr, "ping: -i: '%s': expected milliseconds from 0 to 3600000\n",
                        optarg);
                return 2;
            }
            break;
        case 'W':
            if (!parse_num(optarg, 1, 3600000, &timeout_ms)) {
                fprintf(stderr, "ping: -W: '%s': expected milliseconds from 1 to 3600000\n",
                        optarg);
                return 2;
            }
            break;
        case 'v': verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    const char *dest_text = argv[optind];
    struct in_addr in;
    if (inet_pton(AF_INET, dest_text, &in) != 1) {
        fprintf(stderr, "ping: %s: not an IPv4 address\n", dest_text);
        return 2;
    }
    uint32_t dest = ntohl(in.s_addr);

    struct toysock_config cfg;
    char err[512];
    if (toysock_config_from_env(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "ping: %s\n", err);
        return 2;
    }
    /* SIGINT ends the run with the summary; no SA_RESTART, so a wait in
     * toysock_ping returns EINTR. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    struct toysock *ts;
    if (toysock_open(&cfg, &ts, err, sizeof(err)) < 0) {
        fprintf(stderr, "ping: %s\n", err);
        return 2;
    }
    printf("PING %s %ld(%ld) bytes of data.\n", dest_text, size, size + ICMP_HDR_LEN + 20);
    fflush(stdout);

    long sent = 0, received = 0, errors = 0;
    uint64_t rtt_min = UINT64_MAX, rtt_max = 0, rtt_sum = 0;
    uint64_t started = now_us();
    for (long seq = 1; !interrupted && (count == 0 || seq <= count); seq++) {
        uint64_t t0 = now_us();
        uint64_t rtt = 0;
        int rc = toysock_ping(ts, dest, (uint16_t)seq, (size_t)size, (int)timeout_ms, &rtt);
        if (rc == -EINTR)
            break;
        sent++;
        if (rc == 0) {
            received++;
            rtt_sum += rtt;
            if (rtt < rtt_min)
                rtt_min = rtt;
            if (rtt > rtt_max)
                rtt_max = rtt;
            printf("%ld bytes from %s: icmp_seq=%ld time=%.3f ms\n", size + ICMP_HDR_LEN,
                   dest_text, seq, (double)rtt / 1000.0);
        } else if (rc == -ETIMEDOUT) {
            printf("From %s icmp_seq=%ld timeout (no reply within %ld ms)\n", dest_text, seq,
                   timeout_ms);
        } else if (rc == -EHOSTUNREACH || rc == -ENETUNREACH) {
            errors++;
            printf("From %s icmp_seq=%ld unreachable: %s (%s)\n", dest_text, seq, strerror(-rc),
                   errno_name(-rc));
        } else {
            errors++;
            printf("From %s icmp_seq=%ld error: %s (%s)\n", dest_text, seq, strerror(-rc),
                   errno_name(-rc));
        }
        fflush(stdout);
        if (count != 0 && seq == count)
            break;
        sleep_until(t0 + (uint64_t)interval_ms * 1000u);
    }
    uint64_t elapsed_ms = (now_us() - started) / 1000u;

    printf("\n--- %s ping statistics ---\n", dest_text);
    long loss = sent > 0 ? (sent - received) * 100 / sent : 0;
    printf("%ld packets transmitted, %ld received", sent, received);
    if (errors > 0)
        printf(", +%ld errors", errors);
    printf(", %ld%% packet loss, time %llums\n", loss, (unsigned long long)elapsed_ms);
    if (received > 0)
        printf("rtt min/avg/max = %.3f/%.3f/%.3f ms\n", (double)rtt_min / 1000.0,
               (double)rtt_sum / (double)received / 1000.0, (double)rtt_max / 1000.0);
    if (verbose)
        print_counters(ts);
    fflush(stdout);
    toysock_close(ts);
    return sent > 0 && received == sent ? 0 : 1;
}
