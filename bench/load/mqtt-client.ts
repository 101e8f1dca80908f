/**
 * The MQTT 3.1.1 QoS 0 side of the load generator, shaped like the PSRT one so both brokers see
 * the same traffic. QoS 0 has no per-message acknowledgement, so a publisher's window counts
 * messages that not every subscriber has received yet: publishing stays as fast as the broker
 * delivers, and the broker's queues stay bounded (no overload loss is induced by the driver).
 */
import type { Socket } from 'node:net';
import { ByteQueue } from '../../src/protocol/index.js';
import type { PubSpec } from './job.js';
import {
  CONNACK,
  MqttDecoder,
  PINGREQ_PACKET,
  PUBACK,
  PUBLISH,
  SUBACK,
  encodeConnect,
  encodePubacks,
  encodePublish,
  encodePublishQos1,
  encodeSubscribe,
  publishPacketId,
  publishPayload,
} from './mqtt-codec.js';
import { dial, readExact } from './net.js';
import { payloadTemplate } from './payload.js';
import { Publisher } from './publisher.js';
import type { Receiver } from './receiver.js';

const KEEP_ALIVE_S = 60;
let clientSeq = 0;

/** CONNECT (clean session) and CONNACK; keeps the connection alive with PINGREQ. */
export async function openMqtt(port: number): Promise<Socket> {
  const socket = await dial(port);
  socket.write(encodeConnect(`bench-${process.pid}-${++clientSeq}`, KEEP_ALIVE_S));
  const { bytes } = await readExact(socket, 4);
  if (bytes[0] !== CONNACK << 4 || bytes[3] !== 0) throw new Error(`CONNACK refused: ${bytes.toString('hex')}`);
  const ping = setInterval(() => socket.write(PINGREQ_PACKET), (KEEP_ALIVE_S * 1000) / 2);
  ping.unref();
  socket.once('close', () => {
    clearInterval(ping);
  });
  return socket;
}

export class MqttPublisher {
  readonly pub: Publisher;
  /** QoS 1: PUBACKs received. */
  acked = 0;
  private readonly queue = new ByteQueue();
  private readonly decoder = new MqttDecoder(this.queue);

  /** QoS 0: `inflight` says how many messages not every subscriber has; QoS 1: unacked ones. */
  constructor(spec: PubSpec, socket: Socket, inflight: () => number) {
    const payload = payloadTemplate(spec.payload);
    if (spec.qos === 1) {
      const { frame, packetIdAt } = encodePublishQos1(spec.topic, payload);
      this.pub = new Publisher(spec, socket, frame, frame.length - payload.length, () => this.pub.sent - this.acked, packetIdAt);
    } else {
      const template = encodePublish(spec.topic, payload);
      this.pub = new Publisher(spec, socket, template, template.length - payload.length, inflight);
    }
    socket.on('data', (chunk: Buffer) => {
      this.onChunk(chunk);
    });
  }

  static async open(port: number, spec: PubSpec, inflight: () => number): Promise<MqttPublisher> {
    return new MqttPublisher(spec, await openMqtt(port), inflight);
  }

  /** PUBACKs (QoS 1) top the window up; PINGRESP is ignored. */
  private onChunk(chunk: Buffer): void {
    this.queue.push(chunk);
    let acks = 0;
    for (let p = this.decoder.next(); p !== null; p = this.decoder.next()) if (p.type === PUBACK) acks++;
    if (acks > 0) {
      this.acked += acks;
      this.pub.fill();
    }
  }
}

export class MqttSubscriber {
  decodeErrors = 0;
  private readonly queue = new ByteQueue();
  private readonly decoder = new MqttDecoder(this.queue);

  private constructor(
    readonly socket: Socket,
    private readonly receiver: Receiver,
  ) {}

  static async open(port: number, receiver: Receiver): Promise<MqttSubscriber> {
    const socket = await openMqtt(port);
    const topics = receiver.spec.topics;
    socket.write(encodeSubscribe(1, topics, receiver.spec.qos ?? 0));
    const { bytes, rest } = await readExact(socket, 4 + topics.length);
    if (bytes[0] !== SUBACK << 4 || bytes.subarray(4).includes(0x80) || bytes[4] !== (receiver.spec.qos ?? 0)) {
      throw new Error(`SUBACK refused: ${bytes.toString('hex')}`);
    }
    const sub = new MqttSubscriber(socket, receiver);
    socket.on('data', (chunk: Buffer) => {
      sub.onChunk(chunk);
    });
    if (rest.length > 0) sub.onChunk(rest);
    return sub;
  }

  private onChunk(chunk: Buffer): void {
    this.queue.push(chunk);
    const r = this.receiver;
    let acks: number[] | null = null;
    try {
      for (let p = this.decoder.next(); p !== null; p = this.decoder.next()) {
        if (p.type !== PUBLISH) continue;
        r.onPayload(publishPayload(p.body, p.flags));
        if ((p.flags & 0x06) !== 0) (acks ??= []).push(publishPacketId(p.body));
      }
      if (acks !== null) this.socket.write(encodePubacks(acks)); // one write per read
    } catch {
      this.decodeErrors++;
      this.socket.destroy();
    }
    r.onProgress?.();
  }
}
