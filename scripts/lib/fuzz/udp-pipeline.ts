/**
 * The server's UDP walk (PROTOCOL.md §8.3) over the pure codec, as transport/udp-handler.ts
 * chains it, including the truncation to `udp_frame_size` (§8.5) and the topic steps 14–15.
 * Authentication and ACL (steps 12–13, 16) are outside the codec and left out.
 */
import { RESPONSE_ERR } from '../../../src/protocol/constants.js';
import { decryptUdp, openUdpPlain, parseUdpEnvelope, parseUdpInner, type UdpInner } from '../../../src/protocol/udp.js';
import { hasWildcardChar, normalizeTopic, topicDepth } from '../../../src/topics/index.js';
import type { UdpDropStage } from '../../../test/fixtures/vectors/udp.js';

export type UdpResult =
  | { readonly kind: 'drop'; readonly stage: UdpDropStage }
  | { readonly kind: 'error'; readonly ack: boolean; readonly code: number }
  | {
      readonly kind: 'publish';
      readonly ack: boolean;
      readonly priority: number;
      readonly topic: string;
      readonly payload: Buffer;
      readonly login: string;
      /** The decrypted inner block (encrypted datagrams only), for the no-forgery check. */
      readonly plaintext: Buffer | null;
    };

export function udpPipeline(
  datagram: Buffer,
  frameSize: number,
  keyFor: (login: string) => Buffer | undefined,
  maxTopicDepth: number,
): UdpResult {
  const cut = datagram.length > frameSize ? datagram.subarray(0, frameSize) : datagram;
  const envelope = parseUdpEnvelope(cut);
  if (envelope === null) return { kind: 'drop', stage: 'envelope' };
  let inner: Buffer;
  let plaintext: Buffer | null = null;
  if (envelope.authType === 0) {
    const plain = openUdpPlain(envelope.rest);
    if (plain === null) return { kind: 'drop', stage: 'plain' };
    inner = plain.inner;
  } else {
    const key = keyFor(envelope.login === '' ? '_' : envelope.login);
    if (key === undefined) return { kind: 'drop', stage: 'key' };
    plaintext = decryptUdp(envelope.authType, key, envelope.rest);
    if (plaintext === null) return { kind: 'drop', stage: 'decrypt' };
    inner = plaintext;
  }
  return afterInner(parseUdpInner(inner), envelope.login, plaintext, maxTopicDepth);
}

/** Steps 14–15: too deep or a wildcard anywhere → `FF` (acked only for op 01). */
function afterInner(r: UdpInner, login: string, plaintext: Buffer | null, maxTopicDepth: number): UdpResult {
  if (r.kind === 'drop') return { kind: 'drop', stage: 'inner' };
  if (r.kind === 'error') return { kind: 'error', ack: r.ack, code: r.code };
  const topic = normalizeTopic(r.topic);
  if (topicDepth(topic) > maxTopicDepth || hasWildcardChar(topic)) {
    return { kind: 'error', ack: r.ack, code: RESPONSE_ERR };
  }
  return { kind: 'publish', ack: r.ack, priority: r.priority, topic, payload: r.payload, login, plaintext };
}

/** `op prio topic 00 payload`: the inner block both datagram kinds carry. */
export function innerBlock(op: number, priority: number, topic: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([op, priority]), Buffer.from(topic), Buffer.from([0]), payload]);
}
