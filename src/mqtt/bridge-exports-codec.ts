/**
 * The bridge section of the `mqtt.persistence_file` format (src/mqtt/state-codec.ts, format
 * version 3): the exports each bridge still had to send when the file was written, in the
 * order they are to be sent. The bridges (src/bridges) fill and read it through the narrow
 * interface in src/bin/persistence-file.ts; nothing here knows a bridge. Big-endian:
 *
 *   bridges   u32 bridge count, then each: u32 + bridge name (UTF-8, not empty, once per file),
 *             u32 export count, then each export: u8 PSRT priority, a message (record-codec.ts)
 *             whose topic is the local topic, with no expiry and no properties other than
 *             content type and user properties
 *
 * The remote name is not saved: it is derived again from the local topic with the bridge's
 * configuration at the next start.
 */
import type { QoS } from './message.js';
import { bad, flagsOf, MIN_RECORD_BYTES, readRecord, recordSize, writeRecord, writeString, type Reader, type RetainedRecord } from './record-codec.js';

/** One export waiting for its upstream (a bridge's OutMessage has this shape). */
export interface SavedExport {
  readonly priority: number;
  /** The local (normalised) topic. */
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly contentType: string | undefined;
  readonly userProperties: readonly (readonly [string, string])[] | undefined;
}

/** The exports one bridge had waiting, oldest first. */
export interface SavedBridgeExports {
  readonly name: string;
  readonly exports: readonly SavedExport[];
}

/** An export as a message record (its props only when it carries some). */
function recordOf(e: SavedExport): RetainedRecord {
  const plain = e.contentType === undefined && e.userProperties === undefined;
  const props = plain ? null : { contentType: e.contentType, userProperties: e.userProperties };
  return { rawTopic: e.topic, payload: e.payload, qos: e.qos, props, expiresAtMs: 0 };
}

/** Exports held by `bridges` in all. */
export function exportCount(bridges: readonly SavedBridgeExports[]): number {
  let n = 0;
  for (const b of bridges) n += b.exports.length;
  return n;
}

/**
 * The section as chunks of about `chunkBytes` (one bridge's exports may span several), so a
 * writer can let the event loop run between them.
 */
export function* encodeBridgeExports(bridges: readonly SavedBridgeExports[], chunkBytes: number): Generator<Buffer, void, undefined> {
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(bridges.length, 0);
  yield count;
  for (const b of bridges) {
    const name = Buffer.allocUnsafe(8 + Buffer.byteLength(b.name));
    name.writeUInt32BE(b.exports.length, writeString(name, 0, b.name));
    yield name;
    let parts: Buffer[] = [];
    let bytes = 0;
    for (const e of b.exports) {
      const r = recordOf(e);
      const flags = flagsOf(r);
      const buf = Buffer.allocUnsafe(1 + recordSize(r, flags));
      writeRecord(buf, buf.writeUInt8(e.priority, 0), r, flags);
      parts.push(buf);
      bytes += buf.length;
      if (bytes >= chunkBytes) {
        yield Buffer.concat(parts, bytes);
        parts = [];
        bytes = 0;
      }
    }
    if (bytes > 0) yield Buffer.concat(parts, bytes);
  }
}

/** One export; its payload is copied out of the file (a buffered export lives for hours). */
function readExport(r: Reader): SavedExport {
  const priority = r.u8('export priority');
  const at = r.at;
  const rec = readRecord(r);
  if (rec.expiresAtMs !== 0) throw bad(`bridge export at byte ${at}: an expiry deadline`);
  const p = rec.props;
  if (p !== null && (p.payloadFormatIndicator !== undefined || p.responseTopic !== undefined || p.correlationData !== undefined)) {
    throw bad(`bridge export at byte ${at}: properties a bridge does not keep`);
  }
  return { priority, topic: rec.rawTopic, payload: Buffer.from(rec.payload), qos: rec.qos, contentType: p?.contentType, userProperties: p?.userProperties };
}

/** The section, checked (every count and length, names unique). */
export function decodeBridgeExports(r: Reader): SavedBridgeExports[] {
  const count = r.u32('bridge count');
  if (count > r.left / 8) throw bad(`${count} bridges cannot fit in the ${r.left} bytes left`);
  const names = new Set<string>();
  const bridges: SavedBridgeExports[] = [];
  for (let i = 0; i < count; i++) {
    const at = r.at;
    const name = r.text('bridge name');
    if (name === '' || names.has(name)) throw bad(`bridge at byte ${at}: ${name === '' ? 'empty name' : `name ${JSON.stringify(name)} saved twice`}`);
    names.add(name);
    const n = r.u32('bridge export count');
    if (n > r.left / (1 + MIN_RECORD_BYTES)) throw bad(`${n} exports of bridge ${JSON.stringify(name)} cannot fit in the ${r.left} bytes left`);
    const exports: SavedExport[] = [];
    for (let j = 0; j < n; j++) exports.push(readExport(r));
    bridges.push({ name, exports });
  }
  return bridges;
}
