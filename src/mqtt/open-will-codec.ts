/**
 * The wills of the connections open at a save of `mqtt.persistence_file` (state-codec.ts,
 * format version 4). A clean stop ends every connection first, so its save has none; after a
 * crash they are what the ends of those connections would have published. Big-endian:
 *
 *   section   u32 count, then each:
 *   open will u32 + client id, u32 + user (UTF-8), u32 session expiry interval (s; 0: a clean
 *             session), then the will as a session's delayed will is saved (session-codec.ts)
 *             without its due time: it is due its Will Delay Interval after the connection's end
 */
import { bad, MIN_RECORD_BYTES, writeString, type Reader } from './record-codec.js';
import { readWill, willSize, writeWill, type SavedWill } from './session-codec.js';

export interface SavedOpenWill {
  readonly clientId: string;
  readonly user: string;
  /** The session's expiry interval at the save; 0: a clean session, which ends with its connection. */
  readonly sessionExpiry: number;
  /** Its atMs is 0: the will is due its delay after the connection's end. */
  readonly will: SavedWill;
}

/** Client id and user lengths, expiry, will flags and delay, the smallest message. */
const MIN_OPEN_WILL_BYTES = 4 + 4 + 4 + 1 + 4 + MIN_RECORD_BYTES;

export function openWillSize(w: SavedOpenWill): number {
  return 8 + Buffer.byteLength(w.clientId) + Buffer.byteLength(w.user) + 4 + willSize(w.will, false);
}

/** The section as chunks of about `chunkBytes`. */
export function* encodeOpenWills(wills: readonly SavedOpenWill[], chunkBytes: number): Generator<Buffer, void, undefined> {
  const count = Buffer.allocUnsafe(4);
  count.writeUInt32BE(wills.length, 0);
  let parts: Buffer[] = [count];
  let bytes = 4;
  for (const w of wills) {
    const buf = Buffer.allocUnsafe(openWillSize(w));
    let at = writeString(buf, writeString(buf, 0, w.clientId), w.user);
    at = writeWill(buf, buf.writeUInt32BE(w.sessionExpiry, at), w.will, false);
    if (at !== buf.length) throw new Error(`open will record: wrote ${at} of ${buf.length} bytes`);
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

export function decodeOpenWills(r: Reader): SavedOpenWill[] {
  const count = r.u32('open will count');
  if (count > r.left / MIN_OPEN_WILL_BYTES) throw bad(`${count} open wills cannot fit in the ${r.left} bytes left`);
  const ids = new Set<string>();
  const wills: SavedOpenWill[] = [];
  for (let i = 0; i < count; i++) {
    const at = r.at;
    const clientId = r.text('client id');
    if (ids.has(clientId)) throw bad(`open will at byte ${at}: client id saved twice`);
    ids.add(clientId);
    const user = r.text('user');
    const sessionExpiry = r.u32('session expiry interval');
    wills.push({ clientId, user, sessionExpiry, will: readWill(r, false) });
  }
  return wills;
}
