/**
 * Shared set-up for the UDP end-to-end suites: users, keys and a TCP subscriber that sees every
 * delivered message, plus datagram builders.
 */
import assert from 'node:assert/strict';
import { hashSync } from '@node-rs/bcrypt';
import { randomBytes } from 'node:crypto';
import { OP_PUBLISH, OP_PUBLISH_NO_ACK, UDP_AUTH_AES_128_GCM, UDP_AUTH_AES_256_GCM } from '../../src/protocol/constants.js';
import { encodeUdpEncrypted, encodeUdpPlain } from '../../src/protocol/udp.js';
import { AES } from '../fixtures/vectors/spec-examples.js';
import { RawConn, attachData, deliveredFrame, login, topicsFrame } from './raw.js';
import { ACK_OK, type UdpPeer } from './udp-peer.js';
import { PASSWORD, TEST_ACL, makePasswd } from './users.js';

export const USER1_KEY = AES.key;
/** A key for `norights` (ACL entry without pub) and for `ghost` (no ACL entry: skipped). */
export const OTHER_KEY = 'ff'.repeat(32);

export const UDP_ACL = `${TEST_ACL}user1:\n  sub: ["#"]\n  pub: ["#"]\n`;

export function udpPasswd(): string {
  return `${makePasswd()}user1:${hashSync(PASSWORD, 4)}\n`;
}

export function plain(login: string, password: string, topic: string, payload: string | Buffer, ack = true, priority = 0x7f): Buffer {
  return encodeUdpPlain(ack ? OP_PUBLISH : OP_PUBLISH_NO_ACK, priority, login, password, topic, Buffer.from(payload));
}

export function sealed(
  keyHex: string,
  login: string,
  topic: string,
  payload: string | Buffer,
  opts: { ack?: boolean; aes128?: boolean } = {},
): Buffer {
  return encodeUdpEncrypted(
    opts.aes128 === true ? UDP_AUTH_AES_128_GCM : UDP_AUTH_AES_256_GCM,
    Buffer.from(keyHex, 'hex'),
    randomBytes(12),
    opts.ack === false ? OP_PUBLISH_NO_ACK : OP_PUBLISH,
    0x7f,
    login,
    topic,
    Buffer.from(payload),
  );
}

/** Anonymous TCP session subscribed to `#`: sees every delivered message, in order. */
export class Subscriber {
  private probes = 0;
  private constructor(
    readonly ctl: RawConn,
    readonly data: RawConn,
  ) {}

  static async create(port: number, user = '', password = ''): Promise<Subscriber> {
    const { ctl, token } = await login(port, user, password);
    const data = await attachData(port, token, 255); // pings every 127 s: exact frames only
    ctl.send(topicsFrame(2, ['#']));
    assert.deepEqual(await ctl.read(1), Buffer.from([1]));
    return new Subscriber(ctl, data);
  }

  async expect(topic: string, payload: string | Buffer, priority = 0x7f): Promise<void> {
    const frame = deliveredFrame(topic, payload, priority);
    assert.deepEqual((await this.data.read(frame.length)).toString('hex'), frame.toString('hex'));
  }

  /** Reads the next delivered frame whatever it is. */
  async nextFrame(): Promise<{ priority: number; topic: string; payload: Buffer }> {
    const head = await this.data.read(6);
    assert.equal(head[0], 0x01);
    const body = await this.data.read(head.readUInt32LE(2));
    const sep = body.indexOf(0);
    return { priority: head[1] ?? 0, topic: body.subarray(0, sep).toString(), payload: body.subarray(sep + 1) };
  }

  /**
   * Proves that nothing was replied to `peer` and nothing delivered since the last check: an
   * acknowledged probe from the same socket must produce the next ack and the next frame.
   */
  async probe(peer: UdpPeer, login = '', password = ''): Promise<void> {
    const payload = `probe-${++this.probes}`;
    assert.deepEqual(await peer.request(plain(login, password, 'probe', payload)), ACK_OK);
    await this.expect('probe', payload);
  }

  close(): void {
    this.ctl.destroy();
    this.data.destroy();
  }
}
