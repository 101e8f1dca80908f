/**
 * The file format of `mqtt.persistence_file`: retained messages and persistent sessions,
 * encoded and decoded here (Buffers in and out; the file I/O is src/bin/persistence-file.ts).
 * Big-endian:
 *
 *   header    8 bytes magic `PSRTRET\0`, u16 format version (4, 3 or 2; 1 is read too), u32
 *             retained count
 *   retained  the retained messages (record-codec.ts)
 *   — versions 2 and 3 —
 *   saved at  f64 wall-clock ms of the save (a session connected then ends its expiry
 *             interval after it)
 *   sessions  each: u8 1, then a persistent session (session-codec.ts, with the messages
 *             queued and in flight for it); then u8 0
 *   — versions 3 and 4 —
 *   bridges   the exports the bridges had waiting (bridge-exports-codec.ts)
 *   — version 4 only —
 *   wills     the wills of the connections open at the save (open-will-codec.ts)
 *   trailer   SHA-256 of every byte before it (32 bytes)
 *
 * A save writes the oldest version that holds what it has: 2 with no bridge export waiting
 * and no open connection's will, 3 with exports only, 4 with such wills (always none after a
 * clean stop, which ends the connections first). So a downgrade to a psrtd that reads only
 * versions 2 or 3 keeps a clean stop's file.
 *
 * The sessions are not counted up front, so a save can take each session when it encodes it,
 * a chunk per turn of the event loop, rather than copying 100,000 sessions' state in one go.
 *
 * Version 1 (psrtd before sessions were saved) is the header, the retained messages and the
 * trailer. SHA-256 (node:crypto) rather than zlib's CRC-32: crc32 exists only from Node 20.15
 * and the package supports every Node 20; hashing 64 MB takes ~40 ms either way.
 */
import { createHash, type Hash } from 'node:crypto';
import { bad, flagsOf, MIN_RECORD_BYTES, Reader, readRecord, recordSize, writeRecord, type RetainedRecord } from './record-codec.js';
import { decodeBridgeExports, encodeBridgeExports, exportCount, type SavedBridgeExports } from './bridge-exports-codec.js';
import { decodeOpenWills, encodeOpenWills, type SavedOpenWill } from './open-will-codec.js';
import { readSession, SessionWriter, type SavedSession } from './session-codec.js';

export const STATE_MAGIC: Buffer = Buffer.from('PSRTRET\0', 'latin1');
export const STATE_FORMAT_VERSION = 4;
/** The format of a file with bridge exports but no open connection's will. */
const BRIDGES_FORMAT_VERSION = 3;
/** The format of a file with neither (the newest the oldest psrtd with sessions reads). */
const SESSIONS_FORMAT_VERSION = 2;
const HEADER_BYTES = STATE_MAGIC.length + 2 + 4;
const CHECKSUM_BYTES = 32;
const MORE_SESSIONS = 1;
const NO_MORE_SESSIONS = 0;

/** What a save writes: the retained messages, and the sessions with their messages. */
export interface StateSnapshot<M extends RetainedRecord> {
  readonly retained: readonly RetainedRecord[];
  readonly savedAtMs: number;
  /** Taken one by one as the encoding gets to them (see encodeStateChunks). */
  readonly sessions: Iterable<SavedSession<M>>;
  /** The bridges' waiting exports (absent or none, and no open will: a version 2 file). */
  readonly bridges?: readonly SavedBridgeExports[];
  /** The wills of the connections open at the save (absent or none: version 2 or 3). */
  readonly openWills?: readonly SavedOpenWill[];
}

/** A file as read: the sessions' messages are indexes into `messages`. */
export interface DecodedState {
  readonly version: number;
  readonly retained: RetainedRecord[];
  /** 0 in a version 1 file. */
  readonly savedAtMs: number;
  /** The sessions' queued and in-flight messages, in the order they were defined. */
  readonly messages: RetainedRecord[];
  readonly sessions: SavedSession<number>[];
  /** Empty before version 3. */
  readonly bridges: SavedBridgeExports[];
  /** Empty before version 4. */
  readonly openWills: SavedOpenWill[];
}

// ---- encoding -------------------------------------------------------------------------------

function header(version: number, retainedCount: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  STATE_MAGIC.copy(h, 0);
  h.writeUInt16BE(version, STATE_MAGIC.length);
  h.writeUInt32BE(retainedCount, STATE_MAGIC.length + 2);
  return h;
}

/**
 * `items` as chunks of about `chunkBytes` (an item is never split; a larger one is a chunk of
 * its own), so a writer can hand each to the disk and let the event loop run in between: 64 MB
 * encoded in one go would hold every client for tens of milliseconds.
 */
function* chunked<T>(items: readonly T[], chunkBytes: number, size: (item: T) => number, write: (buf: Buffer, at: number, item: T) => number): Generator<Buffer, void, undefined> {
  let i = 0;
  while (i < items.length) {
    const start = i;
    const sizes: number[] = [];
    let total = 0;
    while (i < items.length && (total === 0 || total < chunkBytes)) {
      const n = size(items[i] as T);
      sizes.push(n);
      total += n;
      i++;
    }
    const chunk = Buffer.allocUnsafe(total);
    let at = 0;
    for (let j = start; j < i; j++) at = write(chunk, at, items[j] as T);
    yield chunk;
  }
}

function* messageRecords(records: readonly RetainedRecord[], chunkBytes: number): Generator<Buffer, void, undefined> {
  // The flags are worked out twice (size, then write): cheap next to copying the payload.
  yield* chunked(records, chunkBytes, (r) => recordSize(r, flagsOf(r)), (buf, at, r) => writeRecord(buf, at, r, flagsOf(r)));
}

/** The sessions as chunks of about `chunkBytes`, each session encoded when its chunk is made. */
function* sessionRecords<M extends RetainedRecord>(sessions: Iterable<SavedSession<M>>, chunkBytes: number): Generator<Buffer, void, undefined> {
  const writer = new SessionWriter<M>();
  const tag = Buffer.from([MORE_SESSIONS]);
  let parts: Buffer[] = [];
  let bytes = 0;
  for (const s of sessions) {
    const record = writer.encode(s);
    parts.push(tag, record);
    bytes += 1 + record.length;
    if (bytes >= chunkBytes) {
      yield Buffer.concat(parts, bytes);
      parts = [];
      bytes = 0;
    }
  }
  parts.push(Buffer.from([NO_MORE_SESSIONS]));
  yield Buffer.concat(parts, bytes + 1);
}

/**
 * The file as chunks (see chunked), its SHA-256 last. Each chunk is made when the consumer asks
 * for it, sessions included: a writer that awaits between chunks lets clients be served.
 */
export function* encodeStateChunks<M extends RetainedRecord>(state: StateSnapshot<M>, chunkBytes = 256 * 1024): Generator<Buffer, void, undefined> {
  const hash = createHash('sha256');
  const bridges = state.bridges ?? [];
  const openWills = state.openWills ?? [];
  const version = formatFor(exportCount(bridges) > 0, openWills.length > 0);
  yield hashed(hash, header(version, state.retained.length));
  for (const chunk of messageRecords(state.retained, chunkBytes)) yield hashed(hash, chunk);
  const savedAt = Buffer.allocUnsafe(8);
  savedAt.writeDoubleBE(state.savedAtMs, 0);
  yield hashed(hash, savedAt);
  for (const chunk of sessionRecords(state.sessions, chunkBytes)) yield hashed(hash, chunk);
  if (version >= BRIDGES_FORMAT_VERSION) for (const chunk of encodeBridgeExports(bridges, chunkBytes)) yield hashed(hash, chunk);
  if (version >= STATE_FORMAT_VERSION) for (const chunk of encodeOpenWills(openWills, chunkBytes)) yield hashed(hash, chunk);
  yield hash.digest();
}

/** The oldest format that holds what a save has (see the file comment). */
function formatFor(withBridges: boolean, withOpenWills: boolean): number {
  if (withOpenWills) return STATE_FORMAT_VERSION;
  return withBridges ? BRIDGES_FORMAT_VERSION : SESSIONS_FORMAT_VERSION;
}

function hashed(hash: Hash, chunk: Buffer): Buffer {
  hash.update(chunk);
  return chunk;
}

/** The whole file in one Buffer (tests, small stores). */
export function encodeState<M extends RetainedRecord>(state: StateSnapshot<M>): Buffer {
  return Buffer.concat([...encodeStateChunks(state)]);
}

/** A file of retained messages only (no session, saved at 0). */
export function encodeRetained(records: readonly RetainedRecord[]): Buffer {
  return encodeState({ retained: records, savedAtMs: 0, sessions: [] });
}

// ---- decoding -------------------------------------------------------------------------------

function readRecords(r: Reader, count: number, what: string): RetainedRecord[] {
  if (count > r.left / MIN_RECORD_BYTES) throw bad(`${count} ${what} cannot fit in the ${r.left} bytes left`);
  const records: RetainedRecord[] = [];
  for (let i = 0; i < count; i++) records.push(readRecord(r));
  return records;
}

/** Magic, version and checksum; the version. */
function checkFrame(file: Buffer): number {
  if (file.length < STATE_MAGIC.length || !file.subarray(0, STATE_MAGIC.length).equals(STATE_MAGIC)) {
    throw bad(file.length < STATE_MAGIC.length ? `truncated: ${file.length} bytes` : 'not a psrtd persistence file (bad magic bytes)');
  }
  if (file.length < HEADER_BYTES + CHECKSUM_BYTES) throw bad(`truncated: ${file.length} bytes`);
  const version = file.readUInt16BE(STATE_MAGIC.length);
  if (version < 1 || version > STATE_FORMAT_VERSION) throw bad(`unsupported format version ${version} (this psrtd reads versions 1 to ${STATE_FORMAT_VERSION})`);
  const end = file.length - CHECKSUM_BYTES;
  const digest = createHash('sha256').update(file.subarray(0, end)).digest();
  if (!digest.equals(file.subarray(end))) throw bad('checksum mismatch (truncated or corrupted)');
  return version;
}

/**
 * A file, checked (magic, version, checksum, every length and index) before anything is used;
 * payloads are views into `file`. Throws only PsrtError(BadStateFile) naming the problem.
 */
export function decodeState(file: Buffer): DecodedState {
  const version = checkFrame(file);
  const end = file.length - CHECKSUM_BYTES;
  const r = new Reader(file, HEADER_BYTES, end);
  const retained = readRecords(r, file.readUInt32BE(STATE_MAGIC.length + 2), 'retained messages');
  let savedAtMs = 0;
  let messages: RetainedRecord[] = [];
  const sessions: SavedSession<number>[] = [];
  if (version >= 2) {
    savedAtMs = r.f64('saved-at time');
    if (!Number.isFinite(savedAtMs) || savedAtMs < 0) throw bad(`saved-at time ${savedAtMs}`);
    messages = [];
    const ids = new Set<string>();
    for (;;) {
      const at = r.at;
      const tag = r.u8('session tag');
      if (tag === NO_MORE_SESSIONS) break;
      if (tag !== MORE_SESSIONS) throw bad(`session tag ${tag} at byte ${at}`);
      const s = readSession(r, messages);
      if (ids.has(s.clientId)) throw bad(`session at byte ${at + 1}: client id saved twice`);
      ids.add(s.clientId);
      sessions.push(s);
    }
  }
  const bridges = version >= BRIDGES_FORMAT_VERSION ? decodeBridgeExports(r) : [];
  const openWills = version >= STATE_FORMAT_VERSION ? decodeOpenWills(r) : [];
  if (r.at !== end) throw bad(`${end - r.at} bytes after the last record`);
  return { version, retained, savedAtMs, messages, sessions, bridges, openWills };
}

/** The retained messages of a file (tests, tools). */
export function decodeRetained(file: Buffer): RetainedRecord[] {
  return decodeState(file).retained;
}
