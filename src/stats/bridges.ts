/**
 * Bridge figures for /status, /metrics and the page, from a read-only provider that the bin
 * layer wires to src/bridges (stats may not import it: the shape is repeated here).
 */
/** The part of metrics.ts's Exposition used here (structural: metrics.ts imports this file). */
interface MetricsOut {
  add(name: string, type: 'counter' | 'gauge', help: string, samples: readonly (readonly [Readonly<Record<string, string>> | null, number])[]): this;
}

export interface BridgeStatusView {
  readonly name: string;
  readonly type: string;
  /** connecting, online, offline or stopped. */
  readonly state: string;
  readonly server: string;
  readonly buffered: number;
  readonly bufferedBytes: number;
  readonly counters: {
    readonly exported: number;
    readonly exportedBytes: number;
    readonly imported: number;
    readonly importedBytes: number;
    readonly dropped: number;
    readonly unmappable: number;
    readonly echoes: number;
    readonly connects: number;
  };
}

export type BridgeStatusProvider = () => readonly BridgeStatusView[];

export const BRIDGE_STATES = ['connecting', 'online', 'offline', 'stopped'] as const;

/** `/status.bridges`: name → {type, state, server, buffered, buffered_bytes, counters…}; null without a provider. */
export function bridgesJson(provider: BridgeStatusProvider | null): string {
  if (provider === null) return 'null';
  const members = provider().map((b) => {
    const c = b.counters;
    return `${JSON.stringify(b.name)}:` + JSON.stringify({
      type: b.type, state: b.state, server: b.server, buffered: b.buffered, buffered_bytes: b.bufferedBytes,
      exported: c.exported, exported_bytes: c.exportedBytes, imported: c.imported, imported_bytes: c.importedBytes,
      dropped: c.dropped, unmappable: c.unmappable, echoes: c.echoes, connects: c.connects,
    });
  });
  return `{${members.join(',')}}`;
}

export function bridgeMetrics(out: MetricsOut, provider: BridgeStatusProvider | null): void {
  if (provider === null) return;
  const bridges = provider();
  if (bridges.length === 0) return;
  const per = (f: (b: BridgeStatusView) => number): [Record<string, string>, number][] =>
    bridges.map((b) => [{ bridge: b.name, type: b.type }, f(b)]);
  const states: [Record<string, string>, number][] = [];
  for (const b of bridges) for (const s of BRIDGE_STATES) states.push([{ bridge: b.name, state: s }, b.state === s ? 1 : 0]);
  out
    .add('psrt_bridge_state', 'gauge', 'State of each bridge (1 = current state).', states)
    .add('psrt_bridge_exported_messages_total', 'counter', 'Messages sent to the upstream.', per((b) => b.counters.exported))
    .add('psrt_bridge_exported_bytes_total', 'counter', 'Payload bytes sent to the upstream.', per((b) => b.counters.exportedBytes))
    .add('psrt_bridge_imported_messages_total', 'counter', 'Messages taken from the upstream.', per((b) => b.counters.imported))
    .add('psrt_bridge_imported_bytes_total', 'counter', 'Payload bytes taken from the upstream.', per((b) => b.counters.importedBytes))
    .add('psrt_bridge_dropped_messages_total', 'counter', 'Exports dropped because the buffer was full (oldest first).', per((b) => b.counters.dropped))
    .add('psrt_bridge_unmappable_messages_total', 'counter', 'Messages whose topic or subject could not be mapped (or matched no current in mask).', per((b) => b.counters.unmappable))
    .add('psrt_bridge_echoes_total', 'counter', 'Imports carrying this node\'s own origin, discarded.', per((b) => b.counters.echoes))
    .add('psrt_bridge_connects_total', 'counter', 'Connections to the upstream (re-)established.', per((b) => b.counters.connects))
    .add('psrt_bridge_buffered_messages', 'gauge', 'Exports waiting for the upstream.', per((b) => b.buffered))
    .add('psrt_bridge_buffered_bytes', 'gauge', 'Bytes of the exports waiting for the upstream.', per((b) => b.bufferedBytes));
}
