/* The Linux baseline for the TCP rows (perf/bench_tcp.py): a client and a server on the
 * kernel's TCP, one thread each, epoll, no dependencies, run in two network namespaces joined
 * by a veth pair. What they do mirrors what tcp_bench asks of redline's engine:
 *
 *   tcp_peer server echo|discard PORT           until SIGTERM/SIGINT (or 600 s)
 *   tcp_peer client bulk HOST PORT SECONDS      one connection, writes of 128 KiB (discard server)
 *   tcp_peer client rr   HOST PORT SECONDS N    N connections, each 64 bytes there, 64 back, one
 *                                               at a time (echo server)
 *   tcp_peer client crr  HOST PORT SECONDS K    K at a time: connect, 64 bytes there, 64 back,
 *                                               close (client first, as netperf TCP_CRR)
 *
 * The client prints one line:
 *   result mode=M ops=N bytes=B seconds=S cpu_s=C
 * ops: bytes written (bulk), transactions (rr), connections completed (crr); cpu_s the client's
 * own user+system CPU time (getrusage). The server's CPU time and the softirq time spent in
 * neither process are read by the caller from /proc (the veth's receive runs in softirq). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define MAX_FD 65536

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

static void nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }
static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
         (double)ru.ru_stime.tv_usec / 1e6;
}

static char buf[1 << 18];

/* --- server --- */

static int server(int echo, int port) {
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  if (ls < 0) die("socket");
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = INADDR_ANY};
  if (bind(ls, (struct sockaddr*)&a, sizeof a) < 0) die("bind");
  if (listen(ls, 4096) < 0) die("listen");
  nonblock(ls);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  printf("listening port=%d\n", port);
  fflush(stdout);
  const double end = now_s() + 600; /* bounded even if nobody stops it */
  struct epoll_event evs[256];
  while (!stop && now_s() < end) {
    int n = epoll_wait(ep, evs, 256, 100);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (fd == ls) {
        for (;;) {
          int c = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
          if (c < 0) break;
          if (echo) nodelay(c);
          struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
        }
        continue;
      }
      for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
          /* Echo: small messages, the socket buffer always has room; a short write would end
           * the exchange (the client then stalls and the run shows it). */
          if (echo && write(fd, buf, (size_t)r) != r) break;
          if (echo) break; /* one request at a time: no second read to find EAGAIN */
          continue;
        }
        if (r == 0 || (errno != EAGAIN && errno != EINTR)) close(fd); /* closing drops it from epoll */
        break;
      }
    }
  }
  return 0;
}

/* --- client --- */

static int connect_to(const char* host, int port, int nb) {
  int fd = socket(AF_INET, SOCK_STREAM | (nb ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, host, &a.sin_addr);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) < 0 && errno != EINPROGRESS) die("connect");
  return fd;
}

static void report(const char* mode, uint64_t ops, uint64_t bytes, double seconds, double cpu) {
  printf("result mode=%s ops=%llu bytes=%llu seconds=%.4f cpu_s=%.4f\n", mode, (unsigned long long)ops,
         (unsigned long long)bytes, seconds, cpu);
}

static int bulk(const char* host, int port, double seconds) {
  int fd = connect_to(host, port, 0);
  memset(buf, 0x5a, sizeof buf);
  uint64_t bytes = 0;
  const double t0 = now_s(), c0 = cpu_s(), end = t0 + seconds;
  while (!stop) {
    ssize_t w = write(fd, buf, 128 * 1024);
    if (w < 0) die("write");
    bytes += (uint64_t)w;
    if (now_s() >= end) break;
  }
  const double t = now_s() - t0, c = cpu_s() - c0;
  close(fd);
  report("bulk", bytes, bytes, t, c);
  printf("gbit_per_s=%.3f\n", (double)bytes * 8 / t / 1e9);
  return 0;
}

static unsigned got[MAX_FD]; /* reply bytes so far, by fd */

static int rr(const char* host, int port, double seconds, int conns) {
  int ep = epoll_create1(0);
  char msg[MSG];
  memset(msg, 1, sizeof msg);
  for (int i = 0; i < conns; ++i) {
    int fd = connect_to(host, port, 0);
    nodelay(fd);
    nonblock(fd);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (write(fd, msg, MSG) != MSG) die("write");
  }
  uint64_t ops = 0;
  const double t0 = now_s(), c0 = cpu_s(), end = t0 + seconds;
  struct epoll_event evs[256];
  while (!stop && now_s() < end) {
    int n = epoll_wait(ep, evs, 256, 100);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      ssize_t r = read(fd, buf, MSG - got[fd]);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        die("rr: connection ended");
      }
      got[fd] += (unsigned)r;
      if (got[fd] < MSG) continue;
      got[fd] = 0;
      ++ops;
      if (write(fd, msg, MSG) != MSG) die("write");
    }
  }
  const double t = now_s() - t0, c = cpu_s() - c0;
  report("rr", ops, ops * 2 * MSG, t, c);
  return 0;
}

static int crr(const char* host, int port, double seconds, int parallel) {
  int ep = epoll_create1(0);
  char msg[MSG];
  memset(msg, 1, sizeof msg);
  uint64_t ops = 0, failed = 0;
  const double t0 = now_s(), c0 = cpu_s(), end = t0 + seconds;
  int open = 0;
  struct epoll_event evs[256];
  while (!stop && now_s() < end) {
    for (; open < parallel; ++open) {
      int fd = connect_to(host, port, 1);
      nodelay(fd);
      got[fd] = 0;
      struct epoll_event ev = {.events = EPOLLOUT, .data.fd = fd};
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    int n = epoll_wait(ep, evs, 256, 100);
    for (int i = 0; i < n; ++i) {
      int fd = evs[i].data.fd;
      if (evs[i].events & EPOLLOUT) { /* connected (or failed) */
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || write(fd, msg, MSG) != MSG) {
          ++failed;
          close(fd);
          --open;
          continue;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
        continue;
      }
      ssize_t r = read(fd, buf, MSG - got[fd]);
      if (r < 0 && errno == EAGAIN) continue;
      if (r > 0) got[fd] += (unsigned)r;
      if (r > 0 && got[fd] < MSG) continue;
      if (r > 0) ++ops; else ++failed;
      close(fd); /* the client closes first: TIME-WAIT is on this side */
      --open;
    }
  }
  const double t = now_s() - t0, c = cpu_s() - c0;
  report("crr", ops, ops * 2 * MSG, t, c);
  printf("failed=%llu\n", (unsigned long long)failed);
  return 0;
}

int main(int argc, char** argv) {
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 4 && strcmp(argv[1], "server") == 0) return server(strcmp(argv[2], "echo") == 0, atoi(argv[3]));
  if (argc >= 6 && strcmp(argv[1], "client") == 0) {
    const char *mode = argv[2], *host = argv[3];
    const int port = atoi(argv[4]);
    const double seconds = atof(argv[5]);
    const int n = argc > 6 ? atoi(argv[6]) : 1;
    if (n < 1 || n > 4096) return fprintf(stderr, "tcp_peer: 1..4096 connections\n"), 2;
    if (strcmp(mode, "bulk") == 0) return bulk(host, port, seconds);
    if (strcmp(mode, "rr") == 0) return rr(host, port, seconds, n);
    if (strcmp(mode, "crr") == 0) return crr(host, port, seconds, n);
  }
  fprintf(stderr,
          "usage: tcp_peer server echo|discard PORT\n"
          "       tcp_peer client bulk|rr|crr HOST PORT SECONDS [CONNECTIONS]\n");
  return 2;
}
