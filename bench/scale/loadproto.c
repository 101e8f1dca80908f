/*
 * The native load client's sessions: non-blocking sockets on one edge-triggered epoll set and a
 * state machine per session, byte for byte what bench/scale/session.ts sends and expects.
 * PSRT: control socket (greeting, anonymous login, token), data socket (greeting, token and
 * timeout byte 2 K), then SUBSCRIBE `scale/s/<i>` on the control socket. MQTT 3.1.1: CONNECT
 * (clean session, keepalive K), SUBSCRIBE QoS 0.
 */
#define _GNU_SOURCE
#include "loadclient.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static const uint8_t CTRL_GREETING[3] = {0xee, 0xaa, 0x00};
static const uint8_t DATA_GREETING[3] = {0xee, 0xab, 0x00};
static const uint8_t LOGIN_ANON[5] = {0x01, 0x00, 0x00, 0x00, 0x00};
static const uint8_t NOP[1] = {0x00};
static const uint8_t PINGREQ[2] = {0xc0, 0x00};
/* Set when a step meets bytes it cannot accept; the session fails with this text. */
static const char *step_error;

const char *errno_name(int e) {
  switch (e) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EADDRINUSE: return "EADDRINUSE";
    case EMFILE: return "EMFILE";
    case ENFILE: return "ENFILE";
    case ENOBUFS: return "ENOBUFS";
    case EAGAIN: return "EAGAIN (short write)";
    default: return "other errno";
  }
}

/* Writes all of `n` bytes at once (the socket buffers are empty at these sizes) or fails. */
static int put(int i, int which, const void *b, size_t n) {
  ssize_t w = write(sessions[i].fd[which], b, n);
  if (w == (ssize_t)n) return 0;
  sess_fail(i, w < 0 ? errno_name(errno) : "short write");
  return -1;
}

static void put_u32le(uint8_t *p, uint32_t v) {
  p[0] = v & 0xff; p[1] = (v >> 8) & 0xff; p[2] = (v >> 16) & 0xff; p[3] = v >> 24;
}

static size_t topic(int i, char *out, size_t cap) {
  return (size_t)snprintf(out, cap, "scale/s/%d", cfg.first + i);
}

static int psrt_subscribe(int i) {
  uint8_t b[64];
  size_t t = topic(i, (char *)b + 5, sizeof b - 5);
  b[0] = 0x02;
  put_u32le(b + 1, (uint32_t)t);
  return put(i, CTRL, b, 5 + t);
}

/* MQTT remaining length + body after the first byte; returns the packet length. */
static size_t mqtt_packet(uint8_t *out, uint8_t first, const uint8_t *body, size_t n) {
  size_t k = 0, len = n;
  out[k++] = first;
  do {
    uint8_t d = len % 128;
    len /= 128;
    out[k++] = d | (len > 0 ? 0x80 : 0);
  } while (len > 0);
  memcpy(out + k, body, n);
  return k + n;
}

static int mqtt_connect(int i) {
  uint8_t body[128], pkt[136];
  const uint8_t head[10] = {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, (uint8_t)(cfg.keepalive_s >> 8), (uint8_t)cfg.keepalive_s};
  memcpy(body, head, 10);
  int id = snprintf((char *)body + 12, sizeof body - 12, "%s-%d", cfg.prefix, cfg.first + i);
  body[10] = (uint8_t)(id >> 8);
  body[11] = (uint8_t)id;
  return put(i, CTRL, pkt, mqtt_packet(pkt, 0x10, body, 12 + (size_t)id));
}

static int mqtt_subscribe(int i) {
  uint8_t body[80], pkt[88];
  size_t t = topic(i, (char *)body + 4, 64);
  body[0] = 0x00; body[1] = 0x01; body[2] = (uint8_t)(t >> 8); body[3] = (uint8_t)t;
  body[4 + t] = 0x00;
  return put(i, CTRL, pkt, mqtt_packet(pkt, 0x82, body, 5 + t));
}

int open_socket(int ep, int i, int which) {
  sess_t *s = &sessions[i];
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    sess_fail(i, errno_name(errno));
    return -1;
  }
  s->fd[which] = fd;
  s->connected[which] = 0;
  s->len[which] = 0;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* The port is chosen at connect() for the full 4-tuple: no search of the port space at bind. */
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  struct sockaddr_in local = {.sin_family = AF_INET, .sin_addr.s_addr = cfg.addrs[(cfg.first + i) % cfg.naddrs]};
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg.port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                           .data.u64 = ((uint64_t)s->gen << 32) | ((uint64_t)i << 1) | (uint64_t)which};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0 ||
      (connect(fd, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS) ||
      epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    sess_fail(i, errno_name(errno));
    return -1;
  }
  return 0;
}

/* PSRT data frames after the handshake: `00` ping, or `01 prio LEN(u32 LE) topic 00 message`. */
static size_t data_frame(int i, const uint8_t *b, size_t n) {
  if (b[0] == 0x00) return 1;
  if (n < 6) return 0;
  uint32_t len = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 | (uint32_t)b[5] << 24;
  if (n < 6 + (size_t)len) return 0;
  const uint8_t *zero = memchr(b + 6, 0, len);
  const uint8_t *p = zero == NULL ? b + 6 : zero + 1;
  sess_delivered(i, p, (size_t)(b + 6 + len - p));
  return 6 + (size_t)len;
}

/* Consumes bytes of socket `which` in the current phase: bytes used, 0 = need more. */
static size_t psrt_step(int ep, int i, int which, const uint8_t *b, size_t n) {
  sess_t *s = &sessions[i];
  if (which == DATA) {
    if (s->phase == PH_DGREET) {
      if (n < 4) return 0;
      if (b[0] != 0xee || b[1] != 0xab) { step_error = "bad data greeting reply"; return 0; }
      uint8_t auth[33];
      memcpy(auth, s->token, 32);
      int t = 2 * cfg.keepalive_s;
      auth[32] = (uint8_t)(t < 1 ? 1 : t > 255 ? 255 : t);
      s->phase = PH_DACCEPT;
      return put(i, DATA, auth, 33) == 0 ? 4 : n;
    }
    if (s->phase == PH_DACCEPT) {
      if (b[0] != 0x01) { step_error = "data socket refused"; return 0; }
      s->phase = PH_SUB;
      return psrt_subscribe(i) == 0 ? 1 : n;
    }
    return data_frame(i, b, n);
  }
  if (s->phase == PH_GREET) {
    if (n < 4) return 0;
    if (b[0] != 0xee || b[1] != 0xaa) { step_error = "bad control greeting reply"; return 0; }
    s->phase = PH_TOKEN;
    return put(i, CTRL, LOGIN_ANON, 5) == 0 ? 4 : n;
  }
  if (s->phase == PH_TOKEN) {
    if (n < 32) return 0;
    memcpy(s->token, b, 32);
    s->phase = PH_DGREET;
    return open_socket(ep, i, DATA) == 0 ? 32 : n;
  }
  if (s->phase == PH_SUB) {
    if (b[0] != 0x01) { step_error = "subscribe refused"; return 0; }
    s->phase = PH_UP;
    sess_up(i);
    return 1;
  }
  return n; /* NOP replies */
}

static size_t mqtt_step(int i, const uint8_t *b, size_t n) {
  size_t len = 0, mult = 1, k = 1;
  for (;; k++) {
    if (k >= n) return 0;
    if (k == 5) { step_error = "malformed MQTT remaining length"; return 0; }
    len += (b[k] & 0x7f) * mult;
    mult *= 128;
    if ((b[k] & 0x80) == 0) break;
  }
  size_t at = k + 1, end = at + len;
  if (end > n) return 0;
  int kind = b[0] >> 4;
  sess_t *s = &sessions[i];
  if (s->phase == PH_CONNACK) {
    if (kind != 2 || len < 2 || b[at + 1] != 0) { step_error = "CONNACK refused"; return 0; }
    s->phase = PH_SUBACK;
    return mqtt_subscribe(i) == 0 ? end : n;
  }
  if (s->phase == PH_SUBACK) {
    if (kind != 9 || len < 3 || b[at + 2] != 0) { step_error = "SUBACK refused"; return 0; }
    s->phase = PH_UP;
    sess_up(i);
  } else if (kind == 3 && len >= 2) {
    size_t tl = (size_t)b[at] << 8 | b[at + 1];
    size_t p = at + 2 + tl + (((b[0] >> 1) & 3) > 0 ? 2 : 0);
    if (p <= end) sess_delivered(i, b + p, end - p);
  }
  return end;
}

/* Runs the steps over `b`; returns bytes left unconsumed, or -1 when the session failed. */
static long consume(int ep, int i, int which, const uint8_t *b, size_t n, uint32_t gen) {
  while (n > 0) {
    step_error = NULL;
    size_t used = cfg.proto == PROTO_MQTT ? mqtt_step(i, b, n) : psrt_step(ep, i, which, b, n);
    if (sessions[i].gen != gen || sessions[i].ended) return -1;
    if (step_error != NULL) {
      sess_fail(i, step_error);
      return -1;
    }
    if (used == 0) break;
    b += used;
    n -= used;
  }
  return (long)n;
}

/* Keeps `n` unconsumed bytes for the next read. */
static void keep(sess_t *s, int which, const uint8_t *b, size_t n) {
  if (n > s->cap[which]) {
    size_t cap = n < 256 ? 256 : n * 2;
    uint8_t *nb = malloc(cap);
    if (nb == NULL) abort();
    free(s->buf[which]);
    s->buf[which] = nb;
    s->cap[which] = (uint32_t)cap;
  }
  memmove(s->buf[which], b, n);
  s->len[which] = (uint32_t)n;
}

/* Edge-triggered: reads until a short read (the receive queue was empty), EOF or an error. */
static void read_all(int ep, int i, int which) {
  static uint8_t in[65536];
  sess_t *s = &sessions[i];
  uint32_t gen = s->gen;
  for (;;) {
    size_t have = s->len[which];
    uint8_t *dst = in;
    size_t room = sizeof in;
    if (have > 0) { /* append to what an earlier read left */
      if (s->cap[which] - have < 4096) {
        uint8_t *nb = realloc(s->buf[which], (size_t)s->cap[which] * 2 + 4096);
        if (nb == NULL) abort();
        s->buf[which] = nb;
        s->cap[which] = s->cap[which] * 2 + 4096;
      }
      dst = s->buf[which] + have;
      room = s->cap[which] - have;
    }
    ssize_t r = read(s->fd[which], dst, room);
    if (r == 0) { sess_fail(i, "closed by server"); return; }
    if (r < 0) {
      if (errno != EAGAIN) sess_fail(i, errno_name(errno));
      return;
    }
    const uint8_t *b = have > 0 ? s->buf[which] : in;
    size_t n = have + (size_t)r;
    s->len[which] = 0;
    long left = consume(ep, i, which, b, n, gen);
    if (left < 0) return;
    if (left > 0) keep(s, which, b + (n - (size_t)left), (size_t)left);
    if ((size_t)r < room) return;
  }
}

void on_event(int ep, int i, int which, uint32_t events) {
  sess_t *s = &sessions[i];
  if (events & EPOLLERR) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(s->fd[which], SOL_SOCKET, SO_ERROR, &err, &l);
    sess_fail(i, err != 0 ? errno_name(err) : "socket error");
    return;
  }
  if (!s->connected[which] && (events & EPOLLOUT)) {
    s->connected[which] = 1;
    int rc = cfg.proto == PROTO_MQTT ? mqtt_connect(i) : put(i, which, which == CTRL ? CTRL_GREETING : DATA_GREETING, 3);
    if (rc != 0) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) read_all(ep, i, which);
}

void send_keepalive(int i) {
  if (cfg.proto == PROTO_MQTT) put(i, CTRL, PINGREQ, 2);
  else put(i, CTRL, NOP, 1);
}
