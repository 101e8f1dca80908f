/**
 * UDP listeners (SERVER.md §4.3, PROTOCOL.md §8): one datagram socket per `proto.bind_udp`
 * entry, all feeding one UdpHandler; each socket answers from itself, to the datagram's source.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { RESPONSE_ERR, RESPONSE_ERR_ACCESS, RESPONSE_OK } from '../protocol/constants.js';
import { encodeUdpAck } from '../protocol/udp.js';
import { formatAddress } from './context.js';
import {
  DEFAULT_UDP_LIMITS,
  UdpHandler,
  type UdpContext,
  type UdpCountersView,
  type UdpLimits,
  type UdpSender,
} from './udp-handler.js';

export interface UdpBindTarget {
  /** As written in the config (log lines). */
  readonly address: string;
  /** Without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
}

export interface BoundUdp {
  readonly target: UdpBindTarget;
  /** Actual `ip:port` (the real port when 0 was asked). */
  readonly address: string;
  readonly port: number;
}

/**
 * Kernel receive buffer asked for: bursts of datagrams wait there while the event loop is busy.
 * Linux caps it at net.core.rmem_max (often 208 KiB) without an error, which is fine.
 */
const RECV_BUFFER_BYTES = 4 << 20;
const LOG_FLUSH_MS = 1000;

/** Preallocated: an ack is one of three fixed 5-byte datagrams (§8.4). */
const ACKS = new Map<number, Buffer>(
  [RESPONSE_OK, RESPONSE_ERR_ACCESS, RESPONSE_ERR].map((code) => [code, encodeUdpAck(code)]),
);

export class UdpServer {
  private readonly handler: UdpHandler;
  private readonly sockets: Socket[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly ctx: UdpContext,
    limits: UdpLimits = DEFAULT_UDP_LIMITS,
  ) {
    this.handler = new UdpHandler(ctx, limits);
  }

  /** Live, read-only outcome counters (for stats). */
  get counters(): UdpCountersView {
    return this.handler.counters;
  }

  /** Binds every target in order; throws on the first failure (start-up is then fatal). */
  async bind(targets: readonly UdpBindTarget[]): Promise<BoundUdp[]> {
    const bound: BoundUdp[] = [];
    for (const target of targets) bound.push(await this.bindOne(target));
    if (this.sockets.length > 0 && this.flushTimer === null) {
      this.flushTimer = setInterval(() => {
        this.handler.flushLog();
      }, LOG_FLUSH_MS);
      this.flushTimer.unref();
    }
    return bound;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.flushTimer !== null) clearInterval(this.flushTimer);
    this.flushTimer = null;
    this.handler.clear();
    this.handler.flushLog();
    const sockets = this.sockets.splice(0);
    await Promise.all(sockets.map((s) => closeSocket(s)));
  }

  private async bindOne(target: UdpBindTarget): Promise<BoundUdp> {
    this.ctx.log.info(`binding UDP socket to: ${target.address}`);
    const socket = createSocket({ type: isIPv6(target.host) ? 'udp6' : 'udp4' });
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      this.handler.handle(msg, this.sender(socket, rinfo));
    });
    await listen(socket, target);
    socket.on('error', (e: Error) => {
      // Errors after bind are per-socket and transient (e.g. ICMP unreachable on Linux).
      this.ctx.log.error(`udp socket ${target.address} error: ${e.message}`);
    });
    try {
      socket.setRecvBufferSize(RECV_BUFFER_BYTES);
    } catch {
      /* not allowed to grow it: the system default still works */
    }
    this.sockets.push(socket);
    const info = socket.address();
    const address = formatAddress(info.address, info.port);
    this.ctx.log.info(`listening on UDP ${address}`);
    return { target, address, port: info.port };
  }

  private sender(socket: Socket, rinfo: RemoteInfo): UdpSender {
    return {
      address: formatAddress(rinfo.address, rinfo.port),
      ip: rinfo.address,
      reply: (code) => {
        this.reply(socket, rinfo, code);
      },
    };
  }

  /** Fire and forget: a failed ack is the sender's loss, like any lost datagram. */
  private reply(socket: Socket, rinfo: RemoteInfo, code: number): void {
    if (this.closed) return;
    const ack = ACKS.get(code) ?? encodeUdpAck(code);
    try {
      socket.send(ack, rinfo.port, rinfo.address, () => {
        /* send errors (unreachable, buffer full) are ignored: UDP gives no guarantee anyway */
      });
    } catch {
      /* socket closed between the check and the send (shutdown race) */
    }
  }
}

function listen(socket: Socket, target: UdpBindTarget): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => {
      socket.close();
      reject(new Error(`unable to bind UDP socket to ${target.address}: ${e.message}`, { cause: e }));
    };
    socket.once('error', onError);
    socket.bind({ address: target.host, port: target.port, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => {
        resolve();
      });
    } catch {
      resolve(); // already closed
    }
  });
}
