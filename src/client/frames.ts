/** Client-only framing helpers that src/protocol/encode.ts does not offer. */
import { OP_PUBLISH } from '../protocol/constants.js';

/** Payloads at least this long are sent without being copied into the request frame. */
export const ZERO_COPY_MIN = 64 * 1024;

/**
 * `01 prio LEN topic 00` for a payload of `payloadLength` bytes that follows separately:
 * PUBLISH on the wire is byte-identical to encodePublish(), minus the 1 MB copy.
 */
export function encodePublishHeader(priority: number, topic: string, payloadLength: number): Buffer {
  const topicLength = Buffer.byteLength(topic);
  const head = Buffer.allocUnsafe(6 + topicLength + 1);
  head[0] = OP_PUBLISH;
  head[1] = priority;
  head.writeUInt32LE(topicLength + 1 + payloadLength, 2);
  head.write(topic, 6, topicLength, 'utf8');
  head[6 + topicLength] = 0;
  return head;
}
