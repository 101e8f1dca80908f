/**
 * The output side of an MQTT connection, as the base class of MqttConnection (connection.ts):
 * one object per connection, not two. Everything goes out through a DataChannel (the broker's
 * one slow-consumer policy: bounded queue, publishers paused while it is congested, dropped
 * when it stays so) whose port is the transport; control packets (acks) ride in the same
 * ordered queue as deliveries, counted as bytes but not as messages. The channel is made when
 * needed and given back when idle, so a quiet connection holds none.
 */
import { DataChannel, Stamp, WheelNode, type DataChannelOwner, type DataPort, type Delivery, type PublisherPort } from '../broker/index.js';
import { encodeAck, encodePublish, type MqttVersion } from '../protocol/mqtt/index.js';
import { escapeForLog } from '../protocol/log-escape.js';
import type { MqttContext } from './context.js';
import type { MqttMessage, QoS } from './message.js';
import { BEFORE_CONNECT, aliasFor } from './peer-limits.js';
import type { MqttSession } from './session.js';

/** The transport side: a DataPort plus read flow control. */
export interface MqttTransport extends DataPort {
  readonly address: string;
  /** The peer's IP address (login budget per address); undefined for unix sockets. */
  readonly ip?: string | undefined;
  pauseReading(): void;
  resumeReading(): void;
}

export const NO_STAMP = new Stamp(0);

export abstract class MqttOutput extends WheelNode implements DataChannelOwner {
  version: MqttVersion = 4;
  /** Made for output once established, given back when idle (see channelIdle). */
  protected channel: DataChannel | null = null;
  protected session: MqttSession | null = null;
  /** The client's limits on what it receives (Receive Maximum, Maximum Packet Size, aliases). */
  protected peer = BEFORE_CONNECT;
  protected readonly transport: MqttTransport;
  /** Dropped as a slow consumer: logged and counted once. */
  private dropped = false;

  constructor(
    protected readonly ctx: MqttContext,
    transport: MqttTransport | null,
    /** The peer, for logs (`ip:port`, or the unix socket path). */
    readonly address: string,
  ) {
    super();
    this.transport = transport ?? (this as unknown as MqttTransport);
  }

  get sendWindow(): number {
    return this.peer.sendWindow;
  }

  /** `<user>@<addr> (<client id>)` for logs: made when a line is written, not kept per client. */
  get label(): string {
    const s = this.session;
    if (s === null) return this.address;
    return escapeForLog(`${s.user === '_' ? 'anonymous' : s.user}@${this.address} (${s.clientId})`);
  }

  /** A control packet (CONNACK, acks, PINGRESP) in order with the deliveries. */
  send(packet: Buffer): void {
    const channel = this.output();
    if (channel === null) return;
    const d: Delivery = { buffer: packet, slab: null, offset: 0, bytes: packet.length, messages: 0, pieces: null, received: NO_STAMP, topic: '' };
    // Never shed (a lost ack or PINGRESP stalls the client); a client that does not read its
    // answers is not read further until it does.
    if (channel.enqueueKept(d) === 'congested') this.answersCongested(channel);
  }

  /** The client does not read the answers to its own packets: stop reading it until it does. */
  protected abstract answersCongested(channel: DataChannel): void;

  sendPublish(msg: MqttMessage, qos: QoS, retain: boolean, packetId: number, dup: boolean, subIds: readonly number[] | null, publisher: PublisherPort | null): boolean {
    const channel = this.output();
    if (channel === null) return false;
    let packet: Buffer;
    const peer = this.peer;
    const alias = peer.aliases !== null ? aliasFor(peer.aliases, msg.rawTopic) : 0;
    if (qos === 0 && subIds === null && alias === 0 && msg.expiresAtMs === 0) {
      const d = msg.plainQos0(this.version, retain, this.ctx.router.slabs);
      if (d.bytes > peer.maxPacket) {
        this.ctx.router.counters.droppedTooLarge++;
        return false;
      }
      if (channel.enqueue(d) === 'congested' && publisher !== null) channel.addWaiter(publisher);
      return true;
    } else {
      const props = this.version === 5 ? msg.propertiesFor(Date.now(), subIds, Math.abs(alias)) : undefined;
      const topic = alias < 0 ? '' : msg.rawTopic; // a known alias replaces the topic
      packet = encodePublish(topic, msg.payload, qos, retain, dup, packetId, props, this.version);
    }
    if (packet.length > peer.maxPacket) {
      if (alias > 0) peer.aliases?.map.delete(msg.rawTopic); // never announced: the next one must carry the topic
      this.ctx.router.counters.droppedTooLarge++;
      return false;
    }
    const d: Delivery = { buffer: packet, slab: null, offset: 0, bytes: packet.length, messages: 1, pieces: null, received: msg.received, topic: msg.rawTopic };
    // Only QoS 0 may be shed (slow_consumer: drop): a QoS 1/2 one holds an in-flight slot until
    // acknowledged, and later messages refer to an alias its first use announces.
    const kept = qos > 0 || alias > 0;
    if ((kept ? channel.enqueueKept(d) : channel.enqueue(d)) === 'congested' && publisher !== null) channel.addWaiter(publisher);
    return true;
  }

  sendPubrel(packetId: number): void {
    this.send(encodeAck('pubrel', packetId, 0, this.version));
  }

  // ---- DataChannelOwner -------------------------------------------------------------------

  channelClosed(): void {
    /* the connection's close() ends the channel */
  }

  /** A channel that only wrote acks and is empty: an idle connection keeps none (~150 bytes). */
  channelIdle(channel: DataChannel): void {
    if (this.channel === channel) this.channel = null;
  }

  /** The output channel, made when needed from CONNACK until the socket closes; else null. */
  private output(): DataChannel | null {
    if (this.channel === null && this.session !== null) {
      this.channel = new DataChannel(this.transport, this, this.ctx.channelOptions, this.ctx.broker.channelEnv);
    }
    return this.channel;
  }

  dropSlow(why: string): void {
    if (this.dropped) return;
    this.dropped = true;
    // Closed at once: what is still enqueued before the socket's close event must not drop it again.
    this.channel?.close();
    this.ctx.router.counters.droppedSlow++;
    this.ctx.log.warn(`mqtt: client ${this.label} is too slow (${why}), disconnecting`);
    this.transport.destroy();
  }

  /** The channel stayed congested, or the slow-reader policy dropped it (`reason`). */
  dropCongested(_channel: DataChannel, reason?: string): void {
    if (reason !== undefined) {
      this.dropSlow(reason);
      return;
    }
    if (this.dropped) return;
    this.dropped = true;
    this.channel?.close();
    this.ctx.router.counters.droppedSlow++;
    this.ctx.log.warn(`mqtt: client ${this.label} does not read its messages (queue full), disconnecting`);
    this.transport.destroy();
  }

  /** Written before any channel exists (refusing CONNACK). */
  protected writeDirect(packet: Buffer): void {
    this.transport.write([packet]);
  }
}
