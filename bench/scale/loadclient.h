/*
 * The scale benchmark's native load client (bench/scale/loadclient.c, loadproto.c): the same
 * sessions as the Node client (bench/scale/client.ts, session.ts) on one epoll loop, so that the
 * client's own CPU per session stays far below the server's. Compiled at bench time with
 * `cc -O2` (bench/scale/native.ts); without a compiler the bench uses the Node client.
 */
#ifndef LOADCLIENT_H
#define LOADCLIENT_H

#include <stddef.h>
#include <stdint.h>

enum { PROTO_PSRT = 0, PROTO_MQTT = 1 };
enum { CTRL = 0, DATA = 1 };

/* Session phases (PSRT: control, then data socket; MQTT: one connection). */
enum {
  PH_IDLE,       /* not connecting (queued or waiting for a retry) */
  PH_GREET,      /* PSRT control: greeting sent, 4-byte reply expected */
  PH_TOKEN,      /* login sent, 32-byte token expected */
  PH_DGREET,     /* data socket: greeting sent, 4-byte reply expected */
  PH_DACCEPT,    /* token + timeout sent, 1-byte verdict expected */
  PH_SUB,        /* SUBSCRIBE sent, 1-byte reply expected */
  PH_CONNACK,    /* MQTT: CONNECT sent */
  PH_SUBACK,     /* MQTT: SUBSCRIBE sent */
  PH_UP          /* established and subscribed */
};

typedef struct {
  int fd[2];           /* control (or MQTT) socket, data socket; -1 when closed */
  uint32_t gen;        /* attempt number: events of an earlier attempt's sockets are ignored */
  uint8_t phase;
  uint8_t ended;       /* the current attempt has failed (sockets closed) */
  uint8_t connected[2];
  uint8_t token[32];
  uint8_t *buf[2];     /* bytes a step could not consume yet */
  uint32_t len[2], cap[2];
  int32_t verify;      /* delivery-check messages since the last reset */
  int32_t wnext, wprev, slot; /* keepalive wheel links (-1: not in the wheel) */
  double deadline_ms;  /* handshake deadline */
  double due_ms;       /* retry / reconnect time while delayed */
} sess_t;

typedef struct {
  int proto, port, first, count, window, keepalive_s, jitter_ms;
  char prefix[64];
  int naddrs;
  uint32_t addrs[16];  /* source addresses, network order */
} config_t;

extern config_t cfg;
extern sess_t *sessions;

double mono_ms(void);
/* Records a failure of session `i` (closes its sockets; the pool retries or reconnects). */
void sess_fail(int i, const char *why);
/* The pool hears that session `i` is established and subscribed. */
void sess_up(int i);
/* A delivered payload (after the topic): delivery check or latency probe. */
void sess_delivered(int i, const uint8_t *p, size_t n);

/* loadproto.c */
const char *errno_name(int e);
/* Opens socket `which` of session `i` (non-blocking connect); 0 or -1 after sess_fail. */
int open_socket(int ep, int i, int which);
/* Handles an epoll event of socket `which` of session `i`. */
void on_event(int ep, int i, int which, uint32_t events);
/* Sends the keepalive (PSRT NOP, MQTT PINGREQ) of an established session. */
void send_keepalive(int i);

#endif
