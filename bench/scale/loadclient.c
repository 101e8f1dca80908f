/*
 * The native load client's process: the pool of sessions (at most `window` handshakes in
 * flight, keepalives spread over the interval by a timer wheel, reconnects after a random
 * jitter, retries after failed attempts) and the orchestrator's commands, as in
 * bench/scale/client.ts. Commands arrive as lines on stdin; replies go out as JSON lines on
 * fd 3 (the same messages as the Node client's IPC channel):
 *   start psrt|mqtt PORT FIRST COUNT WINDOW KEEPALIVE_S JITTER_MS PREFIX ADDR,ADDR,...
 *   drop | reset-counts | status | latency | exit
 */
#define _GNU_SOURCE
#include "loadclient.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TICK_MS 100.0
#define RETRY_MS 200.0
#define HANDSHAKE_MS 30000.0
#define MAX_SAMPLES 100000
#define MAX_REASONS 32
#define OUT_FD 3
#define STDIN_TAG UINT64_MAX

config_t cfg;
sess_t *sessions;
static int ep = -1, started, closing;
static int *queue, qhead, qlen;     /* FIFO of sessions waiting for a window slot */
static int *delayed, ndelayed;      /* sessions waiting for their due_ms */
static int *wheel, nslots, tick;    /* slot heads of the keepalive wheel */
static int in_flight, up_count;
static long drops, failures, other;
static struct { const char *why; long n; } reasons[MAX_REASONS];
static int nreasons;
static double *lat;
static int nlat;
static uint64_t rng = 88172645463325252ull;

double mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static double rnd(void) { /* xorshift64: [0, 1) */
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0;
}

static void out(const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(OUT_FD, s, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) exit(0); /* the orchestrator is gone */
    s += w;
    n -= (size_t)w;
  }
}

static void count_reason(const char *why) {
  for (int k = 0; k < nreasons; k++)
    if (strcmp(reasons[k].why, why) == 0) { reasons[k].n++; return; }
  if (nreasons < MAX_REASONS) reasons[nreasons++] = (typeof(reasons[0])){why, 1};
}

static void wheel_add(int i) {
  sess_t *s = &sessions[i];
  int slot = (int)(rnd() * nslots); /* a random slot staggers the keepalives */
  s->slot = slot;
  s->wprev = -1;
  s->wnext = wheel[slot];
  if (wheel[slot] >= 0) sessions[wheel[slot]].wprev = i;
  wheel[slot] = i;
}

static void wheel_remove(int i) {
  sess_t *s = &sessions[i];
  if (s->slot < 0) return;
  if (s->wprev >= 0) sessions[s->wprev].wnext = s->wnext;
  else wheel[s->slot] = s->wnext;
  if (s->wnext >= 0) sessions[s->wnext].wprev = s->wprev;
  s->slot = -1;
}

static void delay(int i, double ms) {
  sessions[i].due_ms = mono_ms() + ms;
  delayed[ndelayed++] = i;
}

static void start_session(int i) {
  sess_t *s = &sessions[i];
  s->gen++;
  s->ended = 0;
  s->phase = cfg.proto == PROTO_MQTT ? PH_CONNACK : PH_GREET;
  s->deadline_ms = mono_ms() + HANDSHAKE_MS;
  in_flight++;
  open_socket(ep, i, CTRL);
}

static void pump(void) {
  while (in_flight < cfg.window && qlen > 0) {
    int i = queue[qhead];
    qhead = (qhead + 1) % cfg.count;
    qlen--;
    start_session(i);
  }
}

static void enqueue(int i) {
  queue[(qhead + qlen) % cfg.count] = i;
  qlen++;
}

void sess_up(int i) {
  in_flight--;
  up_count++;
  wheel_add(i);
  if (up_count == cfg.count) {
    char b[64];
    out(b, (size_t)snprintf(b, sizeof b, "{\"type\":\"all-up\",\"atMs\":%.3f}\n", mono_ms()));
  }
}

void sess_fail(int i, const char *why) {
  sess_t *s = &sessions[i];
  if (s->ended) return;
  s->ended = 1;
  for (int k = 0; k < 2; k++) {
    /* At exit, a reset instead of a FIN: no TIME_WAIT sockets for the next run to wait out. */
    static const struct linger reset = {1, 0};
    if (s->fd[k] >= 0 && closing) setsockopt(s->fd[k], SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    if (s->fd[k] >= 0) close(s->fd[k]);
    s->fd[k] = -1;
    s->len[k] = 0;
  }
  int was_up = s->phase == PH_UP;
  s->phase = PH_IDLE;
  if (closing) return;
  count_reason(why);
  if (was_up) {
    up_count--;
    drops++;
    wheel_remove(i);
    delay(i, rnd() * cfg.jitter_ms); /* reconnect at once, with a small jitter */
    return;
  }
  in_flight--;
  failures++;
  delay(i, RETRY_MS * (0.5 + rnd()));
}

void sess_delivered(int i, const uint8_t *p, size_t n) {
  if (n > 0 && p[0] == 'V') { sessions[i].verify++; return; }
  if (n < 9 || p[0] != 'L') { other++; return; }
  uint64_t sent_ns = 0;
  for (int k = 8; k >= 1; k--) sent_ns = sent_ns << 8 | p[k];
  if (nlat < MAX_SAMPLES) lat[nlat++] = (mono_ms() - (double)sent_ns / 1e6) * 1000.0;
}

static void status(void) {
  long got0 = 0, got1 = 0, more = 0;
  for (int i = 0; i < cfg.count; i++) {
    if (sessions[i].verify == 0) got0++;
    else if (sessions[i].verify == 1) got1++;
    else more++;
  }
  char b[4096];
  int k = snprintf(b, sizeof b, "{\"type\":\"status\",\"up\":%d,\"drops\":%ld,\"failures\":%ld,\"got0\":%ld,\"got1\":%ld,\"gotMore\":%ld,\"other\":%ld,\"errors\":{",
                   up_count, drops, failures, got0, got1, more, other);
  for (int r = 0; r < nreasons && k < (int)sizeof b - 100; r++)
    k += snprintf(b + k, sizeof b - (size_t)k, "%s\"%s\":%ld", r > 0 ? "," : "", reasons[r].why, reasons[r].n);
  k += snprintf(b + k, sizeof b - (size_t)k, "}}\n");
  out(b, (size_t)k);
}

static void latency(void) {
  size_t cap = 64 + (size_t)nlat * 24, k = 0;
  char *b = malloc(cap);
  if (b == NULL) abort();
  k += (size_t)snprintf(b, cap, "{\"type\":\"latency\",\"us\":[");
  for (int j = 0; j < nlat; j++) k += (size_t)snprintf(b + k, cap - k, "%s%.1f", j > 0 ? "," : "", lat[j]);
  k += (size_t)snprintf(b + k, cap - k, "]}\n");
  out(b, k);
  free(b);
}

static int parse_start(char *line) {
  char proto[8], addrs[512];
  if (sscanf(line, "start %7s %d %d %d %d %d %d %63s %511s", proto, &cfg.port, &cfg.first, &cfg.count,
             &cfg.window, &cfg.keepalive_s, &cfg.jitter_ms, cfg.prefix, addrs) != 9 || cfg.count <= 0)
    return -1;
  cfg.proto = strcmp(proto, "mqtt") == 0 ? PROTO_MQTT : PROTO_PSRT;
  for (char *a = strtok(addrs, ","); a != NULL && cfg.naddrs < 16; a = strtok(NULL, ","))
    if (inet_pton(AF_INET, a, &cfg.addrs[cfg.naddrs]) == 1) cfg.naddrs++;
  if (cfg.naddrs == 0) cfg.addrs[cfg.naddrs++] = htonl(0x7f000001);
  return 0;
}

static void start(void) {
  sessions = calloc((size_t)cfg.count, sizeof *sessions);
  queue = malloc(sizeof(int) * (size_t)cfg.count);
  delayed = malloc(sizeof(int) * (size_t)cfg.count);
  nslots = (int)(cfg.keepalive_s * 1000 / TICK_MS + 0.5);
  if (nslots < 1) nslots = 1;
  wheel = malloc(sizeof(int) * (size_t)nslots);
  lat = malloc(sizeof(double) * MAX_SAMPLES);
  if (!sessions || !queue || !delayed || !wheel || !lat) abort();
  for (int s = 0; s < nslots; s++) wheel[s] = -1;
  for (int i = 0; i < cfg.count; i++) {
    sessions[i].fd[0] = sessions[i].fd[1] = -1;
    sessions[i].slot = -1;
    sessions[i].ended = 1;
    enqueue(i);
  }
  started = 1;
  pump();
}

static void command(char *line) {
  if (strncmp(line, "start ", 6) == 0 && !started) {
    if (parse_start(line) == 0) start();
    else fprintf(stderr, "loadclient: bad start line: %s\n", line);
  } else if (strcmp(line, "drop") == 0) {
    for (int i = 0; i < cfg.count && started; i++)
      if (sessions[i].phase == PH_UP) sess_fail(i, "dropped by client");
  } else if (strcmp(line, "reset-counts") == 0) {
    for (int i = 0; i < cfg.count && started; i++) sessions[i].verify = 0;
    nlat = 0;
  } else if (strcmp(line, "status") == 0) {
    status();
  } else if (strcmp(line, "latency") == 0) {
    latency();
  } else if (strcmp(line, "exit") == 0) {
    closing = 1;
    for (int i = 0; i < cfg.count && started; i++) sess_fail(i, "exit");
    exit(0);
  }
}

static void read_commands(void) {
  static char buf[8192];
  static size_t have;
  ssize_t r = read(0, buf + have, sizeof buf - 1 - have);
  if (r <= 0) {
    if (r < 0 && errno == EAGAIN) return;
    exit(0); /* stdin closed: the orchestrator is gone; do not linger with open sockets */
  }
  have += (size_t)r;
  char *nl;
  while ((nl = memchr(buf, '\n', have)) != NULL) {
    *nl = '\0';
    command(buf);
    size_t used = (size_t)(nl - buf) + 1;
    memmove(buf, nl + 1, have - used);
    have -= used;
  }
  if (have == sizeof buf - 1) have = 0; /* no line is that long: drop it */
}

/* Timers: the keepalive slot(s) due, handshake deadlines, delayed sessions back into the queue. */
static void timers(double now, double *next_tick) {
  for (int guard = 0; now >= *next_tick && guard < nslots; guard++) {
    *next_tick += TICK_MS;
    for (int i = wheel[tick++ % nslots]; i >= 0; i = sessions[i].wnext) send_keepalive(i);
    if (in_flight > 0)
      for (int i = 0; i < cfg.count; i++)
        if (!sessions[i].ended && sessions[i].phase != PH_UP && now > sessions[i].deadline_ms) sess_fail(i, "handshake timeout");
  }
  if (now >= *next_tick) *next_tick = now + TICK_MS;
  for (int k = 0; k < ndelayed;) {
    int i = delayed[k];
    if (sessions[i].due_ms <= now) {
      delayed[k] = delayed[--ndelayed];
      enqueue(i);
    } else {
      k++;
    }
  }
}

int main(void) {
  rng ^= (uint64_t)getpid() * 0x9e3779b97f4a7c15ull;
  int fl = fcntl(OUT_FD, F_GETFL);
  if (fl < 0) return 2;
  fcntl(OUT_FD, F_SETFL, fl & ~O_NONBLOCK);
  fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
  ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event in = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in) < 0) return 2;
  out("{\"type\":\"ready\"}\n", 17);
  static struct epoll_event evs[512];
  double next_tick = mono_ms() + TICK_MS;
  for (;;) {
    double now = mono_ms();
    double wait = next_tick - now;
    if (ndelayed > 0 && wait > 5) wait = 5; /* retries and jittered reconnects: 5 ms resolution */
    int n = epoll_wait(ep, evs, 512, wait < 0 ? 0 : (int)wait + 1);
    for (int k = 0; k < n; k++) {
      uint64_t d = evs[k].data.u64;
      if (d == STDIN_TAG) { read_commands(); continue; }
      int i = (int)((d & 0xffffffffu) >> 1), which = (int)(d & 1);
      if (i >= cfg.count || sessions[i].gen != (uint32_t)(d >> 32) || sessions[i].ended) continue;
      on_event(ep, i, which, evs[k].events);
    }
    if (started) {
      timers(mono_ms(), &next_tick);
      pump();
    }
  }
}
