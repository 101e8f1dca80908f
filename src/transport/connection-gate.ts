/**
 * One process-wide admission check for every listener (PSRT TCP/unix, MQTT, MQTT over
 * WebSocket): the open sockets of all of them count against `server.max_connections` and
 * against the descriptors the open-files limit leaves (connection-limits.ts), because file
 * descriptors are a per-process resource. A refused socket is closed at once, counted, and
 * reported through a rate-limited log line per listener kind and reason.
 *
 * Running out of descriptors in accept() itself is absorbed by libuv (it closes a reserve
 * descriptor, accepts and closes the pending connections, reopens the reserve), so the server
 * keeps listening and resumes by itself. libuv reports EMFILE/ENFILE to Node only when that
 * reserve is unavailable; Node then emits 'error' on the net.Server, which `watch` turns into a
 * counted refusal instead of an uncaught exception.
 */
import type { Server, Socket } from 'node:net';
import type { BrokerLogger } from '../broker/ports.js';
import { describeReserve, groupThousands, type ConnectionLimits } from './connection-limits.js';
import { realClock, RefusalLog, type Refusal, type RefusalClock } from './refusal-log.js';

export type ListenerKind = 'PSRT' | 'MQTT' | 'MQTT WebSocket' | 'stats';
export type RefusalReason = 'max_connections' | 'fd_exhausted';

/** Cumulative refusals since start, for /status and /metrics. */
export interface ConnectionRefusals {
  maxConnections: number;
  fdExhausted: number;
}

const PREFIX: Readonly<Record<ListenerKind, string>> = {
  PSRT: '',
  MQTT: 'mqtt: ',
  'MQTT WebSocket': 'mqtt websocket: ',
  stats: 'stats: ',
};

const FD_HINT = 'raise LimitNOFILE / ulimit -n (see docs/operations.md)';

export class ConnectionGate {
  readonly refused: ConnectionRefusals = { maxConnections: 0, fdExhausted: 0 };
  private openCount = 0;
  private readonly logs = new Map<string, RefusalLog>();
  private readonly maxRefusal: Refusal;
  private readonly fdRefusal: Refusal;
  private readonly release = (): void => {
    this.openCount--;
  };

  constructor(
    readonly limits: ConnectionLimits,
    private readonly log: Pick<BrokerLogger, 'warn'>,
    private readonly clock: RefusalClock = realClock,
  ) {
    const max = groupThousands(limits.maxConnections);
    this.maxRefusal = { what: `server.max_connections (${limits.explicit ? max : `${max}, the default`}) reached` };
    const fdWhat = limits.fdLimit === null ? 'out of file descriptors'
      : `out of file descriptors (open-files limit ${groupThousands(limits.fdLimit)}, ${describeReserve(limits)})`;
    this.fdRefusal = { what: fdWhat, hint: FD_HINT };
  }

  /** Sockets admitted and not yet closed, over all listeners. */
  get open(): number {
    return this.openCount;
  }

  /**
   * Counts an accepted socket in until it closes, or closes it at once when a limit is reached.
   * Returns false for a refused socket (the caller must not use it). `onClose` false: the caller
   * calls released() when the socket closes (its own 'close' listener then stays the only one: a
   * second one costs every socket a listener array).
   */
  admit(socket: Socket, kind: ListenerKind, onClose = true): boolean {
    const reason = this.refusalFor(this.openCount);
    if (reason !== null) {
      socket.destroy();
      this.refuse(kind, reason, reason === 'max_connections' ? this.maxRefusal : this.fdRefusal);
      return false;
    }
    this.openCount++;
    // One shared listener, no closure or once-wrapper per socket ('close' is emitted once).
    if (onClose) socket.on('close', this.release);
    return true;
  }

  /** An admitted socket closed (for a socket admitted with `onClose` false). */
  released(): void {
    this.openCount--;
  }

  /** Handles the listener's errors after it is bound: EMFILE/ENFILE in accept() never crash it. */
  watch(server: Server, kind: ListenerKind): void {
    server.on('error', (e: NodeJS.ErrnoException) => {
      if (!this.acceptError(kind, e)) this.log.warn(`${PREFIX[kind]}listener error: ${e.message}`);
    });
  }

  /** Counts and logs an accept() that failed for lack of descriptors; false for other errors. */
  acceptError(kind: ListenerKind, e: NodeJS.ErrnoException): boolean {
    if (e.code === 'EMFILE') {
      this.refuse(kind, 'fd_exhausted', { what: 'out of file descriptors (EMFILE)', hint: FD_HINT });
      return true;
    }
    if (e.code === 'ENFILE') {
      this.refuse(kind, 'fd_exhausted', { what: 'system out of file descriptors (ENFILE)', hint: 'raise fs.file-max (see docs/operations.md)' });
      return true;
    }
    return false;
  }

  /**
   * The stats server closed a connection at its own limits (its cap, or its per-address cap):
   * logged like other refusals, at most once a second with the count, but not counted in
   * `connections_refused`, which is about client connections.
   */
  statsRefused(what: string): void {
    this.logFor('stats', what).note({ what }); // one log per limit: a few fixed texts of the stats server
  }

  /** Cancels pending log timers (shutdown). */
  stop(): void {
    for (const l of this.logs.values()) l.stop();
  }

  private refusalFor(open: number): RefusalReason | null {
    const { maxConnections, fdBudget, explicit } = this.limits;
    // An explicit limit is the operator's; the derived one is the descriptor budget itself.
    if (explicit && open >= maxConnections) return 'max_connections';
    if (fdBudget !== null && open >= fdBudget) return 'fd_exhausted';
    if (open >= maxConnections) return 'max_connections';
    return null;
  }

  private refuse(kind: ListenerKind, reason: RefusalReason, refusal: Refusal): void {
    if (reason === 'max_connections') this.refused.maxConnections++;
    else this.refused.fdExhausted++;
    this.logFor(kind, reason).note(refusal);
  }

  private logFor(kind: ListenerKind, reason: string): RefusalLog {
    const key = `${kind}/${reason}`;
    let log = this.logs.get(key);
    if (log === undefined) {
      log = new RefusalLog(PREFIX[kind], (line) => { this.log.warn(line); }, this.clock);
      this.logs.set(key, log);
    }
    return log;
  }
}
