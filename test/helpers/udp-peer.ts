/**
 * A UDP peer for end-to-end tests: sends exact datagrams to psrtd and collects its acks in
 * arrival order. "No reply" is proven without sleeping: send the datagram under test, then an
 * acknowledged probe from the same socket; the server handles one sender's datagrams in order,
 * so the next ack must be the probe's.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { hex } from './raw.js';

export const ACK_OK = hex('EE AA 01 00 01');
export const ACK_DENIED = hex('EE AA 01 00 FE');
export const ACK_ERROR = hex('EE AA 01 00 FF');

export class UdpPeer {
  private readonly inbox: Buffer[] = [];
  private notify: (() => void) | null = null;

  private constructor(
    readonly socket: Socket,
    private readonly port: number,
  ) {
    socket.on('message', (msg: Buffer) => {
      this.inbox.push(msg);
      this.notify?.();
    });
  }

  /** A udp4 socket on 127.0.0.1 talking to psrtd's UDP `port`. */
  static async open(port: number): Promise<UdpPeer> {
    const socket = createSocket('udp4');
    socket.bind(0, '127.0.0.1');
    await once(socket, 'listening');
    return new UdpPeer(socket, port);
  }

  get localPort(): number {
    return this.socket.address().port;
  }

  /** Replies received and not yet read. */
  get pending(): number {
    return this.inbox.length;
  }

  send(datagram: Buffer | string, port = this.port): Promise<void> {
    const bytes = typeof datagram === 'string' ? hex(datagram) : datagram;
    return new Promise((resolve, reject) => {
      this.socket.send(bytes, port, '127.0.0.1', (e) => {
        if (e) reject(e);
        else resolve();
      });
    });
  }

  /** The next reply (in arrival order). */
  next(timeoutMs = 3000): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const msg = this.inbox.shift();
        if (msg === undefined) return false;
        clearTimeout(timer);
        this.notify = null;
        resolve(msg);
        return true;
      };
      const timer = setTimeout(() => {
        this.notify = null;
        reject(new Error(`no UDP reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.notify = () => {
        check();
      };
      check();
    });
  }

  async request(datagram: Buffer | string, timeoutMs = 3000): Promise<Buffer> {
    await this.send(datagram);
    return this.next(timeoutMs);
  }

  /** Waits `ms` and returns how many replies arrived meanwhile (for flood tests). */
  async drain(ms: number): Promise<Buffer[]> {
    await new Promise((r) => setTimeout(r, ms));
    return this.inbox.splice(0);
  }

  close(): void {
    this.socket.close();
  }
}
