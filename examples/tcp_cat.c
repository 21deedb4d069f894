/* tcp_cat: netcat on the native API. Copies stdin to a TCP connection and
 * the connection to stdout, with half-close, through a toysock stack
 * configured by TOYSOCK_* variables.
 *
 *   tcp_cat connect ADDR PORT      active open
 *   tcp_cat listen PORT            passive open, one connection
 *
 * Prints the connection's TCP_INFO summary to stderr with -v. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "toysock/toysock.h"

static int copy_loop(struct toysock *ts, int conn)
{
    static char buf[65536];
    bool in_open = true, conn_open = true;
    while (conn_open) {
        struct pollfd p[2] = {{.fd = conn, .events = POLLIN},
                              {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror("poll");
            return 1;
        }
        if (p[0].revents) {
            ssize_t n = toysock_tcp_recv(ts, conn, buf, sizeof(buf));
            if (n < 0) {
                fprintf(stderr, "tcp_cat: receive: %s\n", strerror((int)-n));
                return 1;
            }
            if (n == 0)
                conn_open = false;
            for (ssize_t off = 0; off < n;) {
                ssize_t w = write(STDOUT_FILENO, buf + off, (size_t)(n - off));
                if (w < 0) {
                    perror("tcp_cat: stdout");
                    return 1;
                }
                off += w;
            }
        }
        if (in_open && p[1].revents) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
            if (n <= 0) {
                in_open = false;
                shutdown(conn, SHUT_WR);
                continue;
            }
            for (ssize_t off = 0; off < n;) {
                ssize_t w = toysock_tcp_send(ts, conn, buf + off, (size_t)(n - off));
                if (w < 0) {
                    fprintf(stderr, "tcp_cat: send: %s\n", strerror((int)-w));
                    return 1;
                }
                off += w;
            }
        }
    }
    return 0;
}

static void print_info(struct toysock *ts, int conn)
{
    struct toysock_tcp_info info;
    if (toysock_tcp_info(ts, conn, &info) < 0)
        return;
    fprintf(stderr,
            "tcp_cat: rtt %u us, rttvar %u us, rto %u us, cwnd %u, ssthresh %u, retrans %u, "
            "sent %llu, received %llu\n",
            info.rtt, info.rttvar, info.rto, info.snd_cwnd, info.snd_ssthresh,
            info.total_retrans, (unsigned long long)info.bytes_sent,
            (unsigned long long)info.bytes_received);
}

static int usage(void)
{
    fprintf(stderr, "usage: tcp_cat [-v] connect ADDR PORT | tcp_cat [-v] listen PORT\n");
    return 2;
}

int main(int argc, char **argv)
{
    bool verbose = false;
    int arg = 1;
    if (arg < argc && strcmp(argv[arg], "-v") == 0) {
        verbose = true;
        arg++;
    }
    if (arg >= argc)
        return usage();
    bool do_connect = strcmp(argv[arg], "connect") == 0;
    if (!do_connect && strcmp(argv[arg], "listen") != 0)
        return usage();
    if (argc - arg != (do_connect ? 3 : 2))
        return usage();
    uint32_t addr = 0;
    struct in_addr in;
    if (do_connect && inet_pton(AF_INET, argv[arg + 1], &in) == 1)
        addr = ntohl(in.s_addr);
    else if (do_connect) {
        fprintf(stderr, "tcp_cat: '%s' is not an IPv4 address\n", argv[arg + 1]);
        return 2;
    }
    long port = strtol(argv[argc - 1], NULL, 10);
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "tcp_cat: bad port '%s'\n", argv[argc - 1]);
        return 2;
    }

    struct toysock_config cfg;
    char err[512];
    if (toysock_config_from_env(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "tcp_cat: %s\n", err);
        return 2;
    }
    struct toysock *ts;
    if (toysock_open(&cfg, &ts, err, sizeof(err)) < 0) {
        fprintf(stderr, "tcp_cat: %s\n", err);
        return 1;
    }
    int conn;
    if (do_connect) {
        conn = toysock_tcp_connect(ts, addr, (uint16_t)port, 0);
        if (conn < 0)
            fprintf(stderr, "tcp_cat: connect: %s\n", strerror(-conn));
    } else {
        int lfd = toysock_tcp_listen(ts, 0, (uint16_t)port, 1);
        if (lfd < 0) {
            fprintf(stderr, "tcp_cat: listen: %s\n", strerror(-lfd));
            conn = lfd;
        } else {
            fprintf(stderr, "tcp_cat: listening on port %ld\n", port);
            conn = toysock_tcp_accept(ts, lfd, NULL, NULL);
            if (conn < 0)
                fprintf(stderr, "tcp_cat: accept: %s\n", strerror(-conn));
            close(lfd);
        }
    }
    int rc = 1;
    if (conn >= 0) {
        rc = copy_loop(ts, conn);
        if (verbose)
            print_info(ts, conn);
        close(conn);
    }
    toysock_close(ts);
    return rc;
}
