/*
 * The native client of the TLS handshake benchmark (bench/tls-handshakes.ts): the same job as
 * bench/load/tls-client.ts, in C with OpenSSL and one epoll loop. It needs about half the
 * server's CPU per full handshake (more per resumed one: OpenSSL's client side of a handshake
 * is not cheap either), so the server, not the client, sets the rate of full handshakes.
 * Compiled at bench time (cc -O2 ... -lssl -lcrypto); without a compiler or OpenSSL's headers
 * the Node client is used.
 *
 *   tlsclient PORT psrt|mqtt full|resumed CONCURRENCY MAX_HANDSHAKES MAX_MS TLS12(0|1)
 *
 * Keeps CONCURRENCY connections in flight, each: TCP connect (TCP_NODELAY), (PSRT) the 3-byte
 * STARTTLS greeting, the TLS handshake (X25519), the first reply inside TLS (PSRT EE AA 01 00,
 * MQTT CONNACK after a CONNECT), reading whatever records have already arrived (TLS 1.3
 * tickets), close without close_notify (as the Node client's destroy()). In `resumed` mode
 * every connection presents the session (ticket) a first connection received.
 * Lines on stdin: `mark` (reply with the counters so far), `stop` (exit with a last reply).
 * Replies are JSON lines on stdout: {"ready":true} once, then
 * {"done":N,"reused":N,"errors":N,"firstError":…}.
 * Bounded: exits after MAX_HANDSHAKES or MAX_MS, or when stdin closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#define CONN_TIMEOUT_MS 10000.0
#define STDIN_TAG UINT64_MAX

enum state { IDLE, CONNECTING, HANDSHAKE, REPLY };

typedef struct {
  int fd;
  enum state st;
  SSL *ssl;
  unsigned gen;       /* tags epoll events, so that events of a closed fd are ignored */
  unsigned char got[8];
  int ngot;
  double started;
} conn_t;

static const unsigned char PSRT_GREETING[] = {0xee, 0xaa, 0x01};
static const unsigned char PSRT_REPLY[] = {0xee, 0xaa, 0x01, 0x00};
/* MQTT 3.1.1 CONNECT: clean session, keep-alive 60 s, empty client id. */
static const unsigned char MQTT_CONNECT[] = {0x10, 12, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 0};
static const unsigned char MQTT_CONNACK[] = {0x20, 2, 0, 0};

static int ep, port, mqtt, resumed, concurrency, running = 1;
static long max_handshakes, done, reused, errors;
static double max_ms, t0;
static char first_error[200];
static SSL_CTX *ctx;
static SSL_SESSION *ticket;  /* resumed mode: the session every connection presents */
static unsigned char *ticket_der; /* ... serialised: OpenSSL marks a TLS 1.3 session object used */
static int ticket_len;
static conn_t *conns;

static double mono_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void report(void) {
  char esc[220];
  size_t k = 0;
  for (const char *p = first_error; *p != '\0' && k < sizeof esc - 2; p++)
    if (*p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) esc[k++] = *p;
  esc[k] = '\0';
  if (first_error[0] == '\0') printf("{\"done\":%ld,\"reused\":%ld,\"errors\":%ld,\"firstError\":null}\n", done, reused, errors);
  else printf("{\"done\":%ld,\"reused\":%ld,\"errors\":%ld,\"firstError\":\"%s\"}\n", done, reused, errors, esc);
  fflush(stdout);
}

static void fail(conn_t *c, const char *why) {
  errors++;
  if (first_error[0] == '\0') {
    unsigned long e = ERR_peek_error();
    if (e != 0) snprintf(first_error, sizeof first_error, "%s: %s", why, ERR_reason_error_string(e));
    else snprintf(first_error, sizeof first_error, "%s", why);
  }
  ERR_clear_error();
  (void)c;
}

static void finish(conn_t *c) {
  if (c->ssl != NULL) SSL_free(c->ssl);
  if (c->fd >= 0) close(c->fd); /* also removes it from the epoll set */
  c->ssl = NULL;
  c->fd = -1;
  c->st = IDLE;
  c->gen++;
}

static void watch(conn_t *c, int op, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.u64 = ((uint64_t)c->gen << 32) | (uint64_t)(c - conns)};
  if (epoll_ctl(ep, op, c->fd, &ev) != 0) perror("epoll_ctl");
}

static int start(conn_t *c) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  if (c->fd < 0) { fail(c, strerror(errno)); return -1; }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  c->started = mono_ms();
  c->ngot = 0;
  if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
    fail(c, strerror(errno));
    finish(c);
    return -1;
  }
  c->st = CONNECTING;
  watch(c, EPOLL_CTL_ADD, EPOLLOUT);
  return 0;
}

/*
 * Done: counts the handshake and closes. Whatever TLS records have already arrived (Node sends
 * its TLS 1.3 tickets after the PSRT reply) are read first, as a client that keeps its
 * connection would, so that the close is a FIN and not a reset for unread data.
 */
static void complete(conn_t *c) {
  done++;
  if (SSL_session_reused(c->ssl)) reused++;
  unsigned char scratch[256];
  while (SSL_read(c->ssl, scratch, sizeof scratch) > 0) {}
  ERR_clear_error();
  finish(c);
}

/* Resumed mode: keeps the first session OpenSSL offers for resumption (TLS 1.3: a ticket). */
static int keep_session(SSL *ssl, SSL_SESSION *s) {
  (void)ssl;
  if (ticket != NULL || !SSL_SESSION_is_resumable(s)) return 0;
  ticket = s;
  ticket_len = i2d_SSL_SESSION(s, &ticket_der);
  return 1; /* we hold the reference */
}

/* Runs the handshake or the reply read as far as it goes; re-arms epoll for what SSL waits on. */
static void step(conn_t *c) {
  for (;;) {
    int r;
    if (c->st == HANDSHAKE) {
      r = SSL_do_handshake(c->ssl);
      if (r == 1) {
        if (mqtt && SSL_write(c->ssl, MQTT_CONNECT, sizeof MQTT_CONNECT) <= 0) { fail(c, "write CONNECT"); finish(c); return; }
        c->st = REPLY;
        continue;
      }
    } else if (c->ngot == 4) {
      /* The first connection of resumed mode reads on for the ticket (after the handshake). */
      unsigned char scratch[64];
      r = SSL_read(c->ssl, scratch, sizeof scratch);
      if (r > 0) continue;
    } else {
      const unsigned char *want = mqtt ? MQTT_CONNACK : PSRT_REPLY;
      r = SSL_read(c->ssl, c->got + c->ngot, (int)(4 - c->ngot));
      if (r > 0) {
        c->ngot += r;
        if (c->ngot < 4) continue;
        if (memcmp(c->got, want, 4) != 0) { fail(c, "bad reply"); finish(c); return; }
        if (resumed && ticket == NULL) continue;
        complete(c);
        return;
      }
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_READ && c->ngot == 4 && ticket != NULL) { complete(c); return; }
    if (e == SSL_ERROR_WANT_READ) { watch(c, EPOLL_CTL_MOD, EPOLLIN); return; }
    if (e == SSL_ERROR_WANT_WRITE) { watch(c, EPOLL_CTL_MOD, EPOLLOUT); return; }
    fail(c, e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ? "closed before the reply" : "TLS error");
    finish(c);
    return;
  }
}

static void connected(conn_t *c) {
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) { fail(c, strerror(err)); finish(c); return; }
  if (!mqtt && write(c->fd, PSRT_GREETING, sizeof PSRT_GREETING) != (ssize_t)sizeof PSRT_GREETING) {
    fail(c, "greeting");
    finish(c);
    return;
  }
  c->ssl = SSL_new(ctx);
  if (c->ssl == NULL) { fail(c, "SSL_new"); finish(c); return; }
  SSL_set_fd(c->ssl, c->fd);
  SSL_set_connect_state(c->ssl);
  if (ticket_len > 0) { /* a fresh copy each time, as a client that stored its session would */
    const unsigned char *p = ticket_der;
    SSL_SESSION *copy = d2i_SSL_SESSION(NULL, &p, ticket_len);
    if (copy != NULL) {
      SSL_set_session(c->ssl, copy);
      SSL_SESSION_free(copy);
    }
  }
  c->st = HANDSHAKE;
  step(c);
}

static void command(void) {
  char buf[256];
  ssize_t n = read(0, buf, sizeof buf - 1);
  if (n <= 0) { running = 0; return; }
  buf[n] = '\0';
  if (strstr(buf, "stop") != NULL) running = 0; /* main() reports once the loop has ended */
  else report();
}

/*
 * One turn: handles the events of up to 100 ms, fails connections of the first `slots` that
 * took too long, and starts a new connection in every idle one of them.
 */
static void turn(int slots) {
  struct epoll_event evs[256];
  int n = epoll_wait(ep, evs, 256, 100);
  for (int i = 0; i < n; i++) {
    if (evs[i].data.u64 == STDIN_TAG) { command(); continue; }
    conn_t *c = &conns[evs[i].data.u64 & 0xffffffffu];
    if ((unsigned)(evs[i].data.u64 >> 32) != c->gen || c->st == IDLE) continue;
    if (c->st == CONNECTING) connected(c);
    else step(c);
  }
  double now = mono_ms();
  for (int i = 0; i < slots; i++) {
    conn_t *c = &conns[i];
    if (c->st != IDLE && now - c->started > CONN_TIMEOUT_MS) { fail(c, "no reply in 10 s"); finish(c); }
    if (c->st == IDLE && running && done + errors < max_handshakes) start(c);
  }
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: tlsclient PORT psrt|mqtt full|resumed CONCURRENCY MAX_HANDSHAKES MAX_MS TLS12\n");
    return 2;
  }
  port = atoi(argv[1]);
  mqtt = strcmp(argv[2], "mqtt") == 0;
  resumed = strcmp(argv[3], "resumed") == 0;
  concurrency = atoi(argv[4]);
  max_handshakes = atol(argv[5]);
  max_ms = atof(argv[6]);
  if (concurrency < 1 || concurrency > 4096) { fprintf(stderr, "concurrency 1-4096\n"); return 2; }
  ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  SSL_CTX_set_max_proto_version(ctx, atoi(argv[7]) == 1 ? TLS1_2_VERSION : TLS1_3_VERSION);
  /* The same key exchange for every server, whatever the OpenSSL versions' defaults. */
  if (SSL_CTX_set1_groups_list(ctx, "X25519") != 1) { fprintf(stderr, "X25519 not available\n"); return 2; }
  signal(SIGPIPE, SIG_IGN);
  /* Full mode never presents a session (the client cache is off by default); the server still
   * issues its tickets, as it would to any client. */
  if (resumed) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, keep_session);
  }
  conns = calloc((size_t)concurrency, sizeof *conns);
  for (int i = 0; i < concurrency; i++) conns[i].fd = -1;
  ep = epoll_create1(0);
  struct epoll_event in = {.events = EPOLLIN, .data.u64 = STDIN_TAG};
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  t0 = mono_ms();
  if (resumed) { /* one connection first, until it holds a ticket */
    while (ticket == NULL && running && errors < 10 && mono_ms() - t0 < CONN_TIMEOUT_MS) turn(1);
    if (ticket == NULL) { fprintf(stderr, "no session ticket: %s\n", first_error); return 1; }
    done = reused = errors = 0;
    first_error[0] = '\0';
  }
  printf("{\"ready\":true}\n");
  fflush(stdout);
  while (running && mono_ms() - t0 <= max_ms && done + errors < max_handshakes) turn(concurrency);
  report();
  return 0;
}
