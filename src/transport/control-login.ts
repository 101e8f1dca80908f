/**
 * The login phase of a control socket after its greeting (PROTOCOL.md §5.1), as the base class
 * of ControlConnection (control-connection.ts): one object per connection, not two, and no
 * closure kept per connection (socket-events.ts says why that matters at a million clients).
 *
 * Unix-socket clients are trusted (full access, no password). Anonymous logins and remembered
 * passwords are decided at once; a password check that has to run bcrypt pauses reading until
 * it is decided (state `authenticating`, during which the request deadline is not the client's
 * fault). The subclass establishes the session (loggedIn) and runs the request loop.
 */
import type { Socket } from 'node:net';
import { FULL_ACCESS, type AclEntry } from '../auth/acl.js';
import { ByteQueue } from '../protocol/byte-queue.js';
import { ErrorCode, PsrtError } from '../protocol/errors.js';
import { readLoginFrame } from '../protocol/handshake.js';
import { ipOfAddress, type AuthResult, type StreamContext } from './context.js';
import { PeerEndWatch } from './socket-events.js';

export type ControlState = 'login' | 'authenticating' | 'ready' | 'closed';

export abstract class ControlLogin {
  protected state: ControlState = 'login';
  /** The socket's unread bytes: the login frame, then the requests (read by the subclass). */
  protected readonly queue = new ByteQueue();

  constructor(
    protected readonly ctx: StreamContext,
    protected readonly socket: Socket,
    protected readonly address: string,
    protected readonly unix: boolean,
  ) {}

  /** Starts the session of `user` with `acl`: state `ready`, the token sent. */
  protected abstract loggedIn(user: string, acl: AclEntry): void;

  /** Reads what is queued (requests after the login). */
  protected abstract process(): void;

  /** Closes this client only, logging `e`. */
  protected abstract fail(e: unknown): void;

  /** The peer ended while its login was checked: answer what it sent, then close. */
  protected abstract endAfterPeer(): void;

  /** Reads the login frame once it is complete and decides it (at once or after a password check). */
  protected processLogin(): void {
    let frame;
    try {
      frame = readLoginFrame(this.queue, this.unix);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (frame === null) return;
    if (this.unix) {
      this.loggedIn(frame.login === '' ? 'anonymous' : frame.login, FULL_ACCESS);
      return;
    }
    const now = this.ctx.auth.authenticateNow(frame.login, frame.password);
    if (now !== undefined) {
      // Anonymous or a remembered password: no promise, no pause/resume (reconnect storms).
      this.loginDecided(frame.login, now);
      return;
    }
    this.state = 'authenticating';
    this.socket.pause();
    const peer = new PeerEndWatch(this.socket);
    this.ctx.auth.authenticate(frame.login, frame.password, this.loginSource()).then(
      (result) => {
        const peerEnded = peer.release();
        if (this.state !== 'authenticating') return;
        if (!this.loginDecided(frame.login, result)) return;
        this.socket.resume();
        this.process();
        if (peerEnded) this.endAfterPeer();
      },
      (e: unknown) => {
        this.fail(e);
      },
    );
  }

  /**
   * The unit of the per-address login budget: the client's IP, taken from the address (reading
   * the socket's would make Node cache its peer object on it again, see flatAddress).
   */
  private loginSource(): string {
    return (this.unix ? undefined : ipOfAddress(this.address)) ?? this.address;
  }

  /** Logs in or fails the connection; true when logged in. */
  private loginDecided(login: string, result: AuthResult): boolean {
    if (!result.ok) {
      this.ctx.broker.counters.rejectedLogins++;
      const code = result.code === 'NoAcl' ? ErrorCode.NoAcl : ErrorCode.LoginFailed;
      this.fail(new PsrtError(code, `${result.message} from ${this.address}`));
      return false;
    }
    this.loggedIn(login === '' ? 'anonymous' : result.user, result.acl.forClient(result.user));
    return true;
  }
}
