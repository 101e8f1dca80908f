/**
 * What MQTT connections share rather than keep each (src/mqtt/connection.ts): the packet handler
 * of a context, and the limits a client set on our output at CONNECT, one object for all
 * clients that set none.
 */
import type { ConnectPacket, MqttVersion } from '../protocol/mqtt/index.js';
import type { MqttContext } from './context.js';
import { PacketHandler } from './packet-handler.js';

/** Outbound topic aliases (v5), only for a client that allows them: topic → alias. */
export class OutboundAliases {
  readonly map = new Map<string, number>();
  constructor(readonly max: number) {}
}

/**
 * What a client asked of our output at CONNECT (v5 Maximum Packet Size, Receive Maximum and
 * Topic Alias Maximum) with the server's own window applied. Clients that ask nothing share
 * one object per context, not three fields each.
 */
export class PeerLimits {
  constructor(
    readonly maxPacket: number,
    /** Outbound window: min(max_inflight, the client's Receive Maximum). */
    readonly sendWindow: number,
    readonly aliases: OutboundAliases | null,
  ) {}
}

export const BEFORE_CONNECT = new PeerLimits(0x0fffffff, 1, null);

/** What the connections of one context share: the packet handler and the default PeerLimits. */
export interface Shared {
  readonly handler: PacketHandler;
  readonly plainPeer: PeerLimits;
}

const shared = new WeakMap<MqttContext, Shared>();

export function sharedOf(ctx: MqttContext): Shared {
  let s = shared.get(ctx);
  if (s === undefined) {
    s = { handler: new PacketHandler(ctx), plainPeer: new PeerLimits(0x0fffffff, Math.min(ctx.limits.maxInflight, 65535), null) };
    shared.set(ctx, s);
  }
  return s;
}

/** The shared PeerLimits unless the client asked for limits of its own (v5). */
export function peerLimits(ctx: MqttContext, version: MqttVersion, props: ConnectPacket['properties']): PeerLimits {
  const plain = sharedOf(ctx).plainPeer;
  const maxPacket = props?.maximumPacketSize ?? 0x0fffffff;
  const window = Math.min(ctx.limits.maxInflight, props?.receiveMaximum ?? 65535);
  const aliasMax = version === 5 ? (props?.topicAliasMaximum ?? 0) : 0;
  if (maxPacket === plain.maxPacket && window === plain.sendWindow && aliasMax === 0) return plain;
  return new PeerLimits(maxPacket, window, aliasMax > 0 ? new OutboundAliases(aliasMax) : null);
}

/** Alias for a topic: > 0 first use (topic + alias), < 0 known (alias only), 0 none. */
export function aliasFor(aliases: OutboundAliases, topic: string): number {
  const map = aliases.map;
  const known = map.get(topic);
  if (known !== undefined) return -known;
  if (map.size >= aliases.max) return 0;
  const alias = map.size + 1;
  map.set(topic, alias);
  return alias;
}
