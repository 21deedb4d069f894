/* echo_server: a TCP echo server on the native API, one thread per
 * connection. Configured by TOYSOCK_* variables.
 *
 *   echo_server PORT [MAX_CONNECTIONS]
 *
 * Serves MAX_CONNECTIONS connections (default: forever), then exits. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "toysock/toysock.h"

struct conn {
    struct toysock *ts;
    int fd;
};

static void *serve(void *arg)
{
    struct conn *c = arg;
    char buf[16384];
    for (;;) {
        ssize_t n = toysock_tcp_recv(c->ts, c->fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = toysock_tcp_send(c->ts, c->fd, buf + off, (size_t)(n - off));
            if (w < 0)
                goto done;
            off += w;
        }
    }
done:
    close(c->fd);
    free(c);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: echo_server PORT [MAX_CONNECTIONS]\n");
        return 2;
    }
    long port = strtol(argv[1], NULL, 10);
    long max = argc == 3 ? strtol(argv[2], NULL, 10) : -1;
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "echo_server: bad port '%s'\n", argv[1]);
        return 2;
    }
    struct toysock_config cfg;
    char err[512];
    if (toysock_config_from_env(&cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "echo_server: %s\n", err);
        return 2;
    }
    struct toysock *ts;
    if (toysock_open(&cfg, &ts, err, sizeof(err)) < 0) {
        fprintf(stderr, "echo_server: %s\n", err);
        return 1;
    }
    int lfd = toysock_tcp_listen(ts, 0, (uint16_t)port, 64);
    if (lfd < 0) {
        fprintf(stderr, "echo_server: listen: %s\n", strerror(-lfd));
        toysock_close(ts);
        return 1;
    }
    fprintf(stderr, "echo_server: listening on port %ld\n", port);
    pthread_t threads[1024];
    long served = 0;
    while (max < 0 || served < max) {
        int fd = toysock_tcp_accept(ts, lfd, NULL, NULL);
        if (fd < 0) {
            fprintf(stderr, "echo_server: accept: %s\n", strerror(-fd));
            break;
        }
        struct conn *c = malloc(sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        *c = (struct conn){.ts = ts, .fd = fd};
        pthread_t t;
        if (pthread_create(&t, NULL, serve, c) != 0) {
            close(fd);
            free(c);
            continue;
        }
        if (max > 0 && served < 1024)
            threads[served] = t;
        else
            pthread_detach(t);
        served++;
    }
    for (long i = 0; max > 0 && i < served && i < 1024; i++)
        pthread_join(threads[i], NULL);
    close(lfd);
    toysock_close(ts);
    return 0;
}
