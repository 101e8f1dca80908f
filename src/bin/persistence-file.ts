/**
 * `mqtt.persistence_file`: the retained messages and persistent sessions are loaded from it
 * once at start (before the MQTT listeners accept) and saved to it every `autosave_interval`
 * when they changed, and at shutdown. A save writes `<file>.tmp.<pid>`, fsyncs it, renames it over the file and fsyncs
 * the directory, so a crash mid-save leaves the previous file whole. The temporary name is the
 * process's own: two psrtd given the same file (a copied config) each rename only what they
 * wrote, where one shared `.tmp` made them write into the same inode and left a file that
 * failed its checksum. One save at a time. What is saved is src/mqtt/persistent-state.ts, the
 * format src/mqtt/state-codec.ts.
 */
import { open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { dirname } from 'node:path';
import { stampNow } from '../broker/delivery.js';
import { fsErrorText, type YamlLines } from '../auth/yaml-validate.js';
import type { Logger } from '../log/logger.js';
import { isPsrtError } from '../protocol/errors.js';
import type { MqttPersistentState, RestoreOptions, RestoreReport } from '../mqtt/persistent-state.js';
import { exportCount, type SavedBridgeExports } from '../mqtt/bridge-exports-codec.js';
import { decodeState, encodeStateChunks, type DecodedState } from '../mqtt/state-codec.js';
import type { PersistenceStats } from '../stats/mqtt-stats.js';
import { checkDirectory, identityOf, KEY, syncDirectory, writeAll, type FileIdentity } from './persistence-io.js';
import { PersistenceLock } from './persistence-lock.js';

/**
 * How long shutdown waits for the last save (and one still running): 64 MB needs a few hundred
 * ms on an ordinary disk; a disk that hangs must not keep psrtd from exiting (systemd's
 * TimeoutStopSec in packaging/psrtd.service is 10 s).
 */
export const FINAL_SAVE_BOUND_MS = 5000;

/** A save running longer than this (or than autosave_interval, if longer) is logged as hanging. */
const STUCK_SAVE_SECONDS = 10;

/**
 * What the bridges hand the file (src/bridges/waiting-exports.ts): the exports they still have
 * to send. Narrow, so that the bridges import nothing from here nor from the file format.
 */
export interface BridgeExportsStore {
  /** Moves whenever what snapshot() returns changes. */
  readonly changes: number;
  /** The exports waiting now, by bridge name, oldest first. */
  snapshot(): readonly SavedBridgeExports[];
  /** At start: the exports the file held (none without a file), and the file they are saved in. */
  restore(saved: readonly SavedBridgeExports[], file: string): void;
}

export interface PersistenceFileOptions {
  /** Resolved path of the file. */
  readonly file: string;
  /** The config file's keys, for `<file>:<line>: mqtt.persistence_file: …` errors. */
  readonly configLines: YamlLines;
  readonly autosaveSeconds: number;
  /** For the sessions loaded at start (see RestoreOptions). */
  aclFor: RestoreOptions['aclFor'];
  readonly maxSessionExpiry: number;
  readonly maxSubscriptions: number;
  readonly maxSubscriptionBytes: number;
}

/** Counted for /status and /metrics (see PersistenceStats). */
interface SaveRecord {
  saves: number;
  saveFailures: number;
  lastSaveMs: number;
  lastSaveDurationMs: number;
}

export class PersistenceFile {
  private timer: NodeJS.Timeout | null = null;
  private saving: Promise<void> | null = null;
  /** `state.changes` as of the snapshot the file holds. */
  private savedChanges: number;
  /** A file that could not be read nor moved aside is never overwritten. */
  private disabled = false;
  /** The last save failed (logged once until one succeeds again). */
  private failing = false;
  /** Retained messages and sessions in the file as last loaded or saved. */
  private savedCounts = '';
  /** The file as last loaded or saved; null while there is none. */
  private written: FileIdentity | null = null;
  /**
   * The last save held sessions whose clients were connected. After a crash their expiry counts
   * from when psrtd was last known alive, which is the file's modification time: each autosave
   * with nothing to save sets it to now (without rewriting the file). Without that, a client
   * connected for longer than its interval with nothing changing lost its session to a crash.
   */
  private keepAlive = false;
  private keepAliveFailed = false;
  private lock: PersistenceLock | null = null;
  private readonly record: SaveRecord = { saves: 0, saveFailures: 0, lastSaveMs: 0, lastSaveDurationMs: 0 };
  /** The file was removed or replaced behind psrtd's back (logged once). */
  private replacedLogged = false;
  /** Open connections' wills left out of a save by the bounds (logged once until they fit again). */
  private willsOverLimitLogged = false;
  /** When the running save started (performance.now()), and whether it was said to hang. */
  private savingSinceMs = 0;
  private stuckLogged = false;

  private constructor(
    private readonly o: PersistenceFileOptions,
    private readonly state: MqttPersistentState,
    private readonly log: Logger,
    private readonly bridges: BridgeExportsStore | null,
  ) {
    this.savedChanges = this.changes();
  }

  /** The MQTT state's changes and the bridge exports' (both only ever grow). */
  private changes(): number {
    return this.state.changes + (this.bridges?.changes ?? 0);
  }

  /**
   * Checks the directory, loads the file into `state` (empty) and `bridges` and starts the
   * autosave timer.
   */
  static async open(o: PersistenceFileOptions, state: MqttPersistentState, log: Logger, bridges: BridgeExportsStore | null = null): Promise<PersistenceFile> {
    await checkDirectory(o);
    const lock = await PersistenceLock.acquire(`${o.file}.lock`).catch((e: unknown) => {
      throw o.configLines.error(KEY, `${o.file} ${e instanceof Error && !('code' in e) ? e.message : `cannot be locked (${fsErrorText(e)})`}`);
    });
    const rf = new PersistenceFile(o, state, log, bridges);
    rf.lock = lock;
    bridges?.restore([], o.file); // a file without exports, or none at all
    let leftOut: boolean;
    try {
      ({ counts: rf.savedCounts, leftOut } = await rf.load());
    } catch (e) {
      await lock.release();
      throw e;
    }
    // What the load left out (expired, over the limits, no longer allowed) leaves the file at
    // the first autosave, rather than being reported again at every start.
    rf.savedChanges = leftOut ? rf.changes() - 1 : rf.changes();
    rf.timer = setInterval(() => { void rf.save(); }, o.autosaveSeconds * 1000);
    rf.timer.unref();
    return rf;
  }

  /**
   * Loads the file: what it held (retained messages, sessions) for the shutdown line, and
   * whether the load left some of it out.
   */
  private async load(): Promise<{ counts: string; leftOut: boolean }> {
    const file = this.o.file;
    let bytes: Buffer;
    let modifiedMs: number;
    try {
      const s = await stat(file);
      bytes = await readFile(file);
      this.written = identityOf(s);
      modifiedMs = s.mtimeMs;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        this.log.info(`mqtt: loaded 0 retained message(s) from ${file} (no file yet)`);
        return { counts: counts(0, 0), leftOut: false };
      }
      throw this.o.configLines.error(KEY, `cannot read ${file} (${fsErrorText(e)})`);
    }
    let decoded: DecodedState;
    try {
      decoded = decodeState(bytes);
    } catch (e) {
      this.written = null;
      await this.setAside(isPsrtError(e) ? e.message : String(e));
      return { counts: counts(0, 0), leftOut: false };
    }
    const o = this.o;
    const nowMs = Date.now();
    // Sessions connected at the save count their expiry from when psrtd was last alive (see keepAlive).
    const aliveAtMs = Math.min(nowMs, Math.max(decoded.savedAtMs, modifiedMs));
    const report = this.state.restore({ ...decoded, savedAtMs: aliveAtMs }, {
      aclFor: o.aclFor,
      maxSessionExpiry: o.maxSessionExpiry,
      maxSubscriptions: o.maxSubscriptions,
      maxSubscriptionBytes: o.maxSubscriptionBytes,
      nowMs,
      stamp: stampNow(),
    });
    this.logLoaded(report, decoded.sessions.length);
    this.logOpenWills(report, decoded.openWills.length);
    if (decoded.bridges.length > 0) this.bridges?.restore(decoded.bridges, file);
    // Wills published during the load changed what the file holds (they must not go out again).
    const leftOut = report.retainedExpired + report.retainedDropped + report.sessionsExpired + report.sessionsWithoutAcl + report.subscriptionsDenied + report.subscriptionsOverLimit + report.willsPublished + report.openWills + report.openWillsWithoutAcl + report.openWillsOverLimit > 0;
    return { counts: counts(report.retained, report.sessions), leftOut };
  }

  private logLoaded(r: RestoreReport, savedSessions: number): void {
    const file = this.o.file;
    this.log.info(`mqtt: loaded ${r.retained} retained message(s) from ${file}${r.retainedExpired === 0 ? '' : ` (${r.retainedExpired} expired while psrtd was down)`}`);
    if (r.retainedDropped > 0) this.log.warn(`mqtt: ${r.retainedDropped} retained message(s) from ${file} dropped: retained_max_count / retained_max_bytes reached`);
    if (savedSessions === 0) return;
    const notes: string[] = [];
    if (r.sessionsExpired > 0) notes.push(`${r.sessionsExpired} expired while psrtd was down`);
    if (r.wills > 0) notes.push(`${r.wills} delayed will(s) scheduled again`);
    if (r.sessionsWithoutAcl > 0) notes.push(`${r.sessionsWithoutAcl} dropped: their user can no longer log in (no ACL entry, or anonymous logins are off)`);
    this.log.info(`mqtt: loaded ${r.sessions} persistent session(s) from ${file}${notes.length === 0 ? '' : ` (${notes.join('; ')})`}`);
    if (r.subscriptionsDenied > 0) {
      const messages = r.messagesDenied === 0 ? '' : ` (with ${r.messagesDenied} queued message(s) on topics their users may no longer read)`;
      this.log.warn(`mqtt: ${r.subscriptionsDenied} subscription(s) of loaded sessions removed: the ACL no longer allows them${messages}`);
    }
    if (r.subscriptionsOverLimit > 0) {
      this.log.warn(`mqtt: ${r.subscriptionsOverLimit} subscription(s) of loaded sessions not restored: server.max_subscriptions ${this.o.maxSubscriptions} / max_subscription_bytes ${this.o.maxSubscriptionBytes} per session reached`);
    }
  }

  /** The wills of connections that were open when psrtd ended without a clean stop. */
  private logOpenWills(r: RestoreReport, saved: number): void {
    if (saved === 0) return;
    const notes: string[] = [];
    if (r.openWillsWithoutAcl > 0) notes.push(`${r.openWillsWithoutAcl} dropped: their user can no longer log in`);
    if (r.openWillsOverLimit > 0) notes.push(`${r.openWillsOverLimit} dropped: retained_max_count / retained_max_bytes reached`);
    const line = `mqtt: psrtd did not stop cleanly: ${r.openWills} will(s) of connections open at the last save of ${this.o.file} published or scheduled${notes.length === 0 ? '' : ` (${notes.join('; ')})`}`;
    this.log.warn(line);
  }

  /** A file that fails its checks is kept as `<file>.bad` (evidence; the next save must not overwrite it). */
  private async setAside(problem: string): Promise<void> {
    const file = this.o.file;
    const bad = `${file}.bad`;
    try {
      await rename(file, bad);
      this.log.error(`mqtt: persistence file ${file} is unusable: ${problem}; moved to ${bad}, starting with no retained messages or sessions`);
    } catch (e) {
      this.disabled = true;
      this.log.error(`mqtt: persistence file ${file} is unusable: ${problem}; it could not be moved to ${bad} (${fsErrorText(e)}), so nothing will be saved until psrtd restarts`);
    }
  }

  /**
   * Saves when the state changed since the last save, or when the file is no longer the one
   * psrtd wrote (deleted or replaced while running: without this, a shutdown with no change
   * logged "saved" and left no file, and the next start had no retained messages). A save
   * already running is not repeated.
   */
  save(): Promise<void> {
    if (this.saving !== null) {
      this.warnIfStuck();
      return this.saving;
    }
    if (this.disabled) return Promise.resolve();
    this.savingSinceMs = performance.now();
    this.saving = this.saveIfNeeded().finally(() => {
      this.saving = null;
      if (this.stuckLogged) this.log.info(`mqtt: the save of ${this.o.file} finished after ${this.runningSeconds()} s`);
      this.stuckLogged = false;
    });
    return this.saving;
  }

  /**
   * A save that still runs at a later autosave (a hung disk or NFS server) holds every later
   * one back: said once, instead of saves silently stopping.
   */
  private warnIfStuck(): void {
    if (this.stuckLogged || this.runningSeconds() < Math.max(this.o.autosaveSeconds, STUCK_SAVE_SECONDS)) return;
    this.stuckLogged = true;
    this.log.warn(`mqtt: a save to ${this.o.file} has been running for ${this.runningSeconds()} s (the disk or file system does not answer?); later saves wait for it`);
  }

  private runningSeconds(): number {
    return Math.round((performance.now() - this.savingSinceMs) / 1000);
  }

  private async saveIfNeeded(): Promise<void> {
    if (this.changes() === this.savedChanges) {
      if (await this.fileAsWritten()) {
        if (this.keepAlive) await this.touch();
        return;
      }
      if (!this.replacedLogged) this.log.warn(`mqtt: ${this.o.file} was removed or replaced while psrtd runs; writing it again`);
      this.replacedLogged = true;
    }
    await this.write();
  }

  /** Sets the file's modification time to now (see keepAlive). */
  private async touch(): Promise<void> {
    const file = this.o.file;
    try {
      const now = new Date();
      await utimes(file, now, now);
      this.written = identityOf(await stat(file));
      this.keepAliveFailed = false;
    } catch (e) {
      if (!this.keepAliveFailed) this.log.warn(`mqtt: cannot set the time of ${file} (${fsErrorText(e)}): after a crash, sessions connected now would count their expiry from the last save`);
      this.keepAliveFailed = true;
    }
  }

  private async fileAsWritten(): Promise<boolean> {
    const s = await stat(this.o.file).catch(() => null);
    const w = this.written;
    if (w === null || s === null) return w === s;
    return s.ino === w.ino && s.size === w.size && s.mtimeMs === w.mtimeMs;
  }

  private async write(): Promise<void> {
    const changes = this.changes();
    const snapshot = this.state.snapshot(Date.now());
    const bridges = this.bridges?.snapshot() ?? [];
    const file = this.o.file;
    const tmp = `${file}.tmp.${process.pid}`;
    const t0 = performance.now();
    let written: FileIdentity;
    try {
      const fh = await open(tmp, 'w', 0o600);
      try {
        // Each chunk is encoded in its own turn of the event loop (clients keep being served).
        const state = { retained: snapshot.retained, savedAtMs: snapshot.savedAtMs, sessions: snapshot.sessions, bridges, openWills: snapshot.openWills };
        for (const chunk of encodeStateChunks(state)) await writeAll(fh, chunk);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
      await syncDirectory(dirname(file));
      // Through the path, as the next check sees it (a file system may number an open file's inode otherwise).
      written = identityOf(await stat(file));
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      this.record.saveFailures++;
      if (!this.failing) this.log.error(`mqtt: saving to ${file} failed: ${fsErrorText(e)} (the previous file is kept; retrying every autosave_interval)`);
      this.failing = true;
      return;
    }
    this.savedChanges = changes;
    this.keepAlive = snapshot.connectedSessions > 0 || snapshot.delayedOpenWills > 0;
    this.warnOpenWillsOverLimit(snapshot.openWillsOverLimit);
    this.savedCounts = counts(snapshot.retained.length, snapshot.sessionCount, exportCount(bridges));
    this.written = written;
    const durationMs = performance.now() - t0;
    Object.assign(this.record, { saves: this.record.saves + 1, lastSaveMs: Date.now(), lastSaveDurationMs: durationMs });
    const ms = durationMs.toFixed(0);
    if (this.failing) this.log.info(`mqtt: saved to ${file} again`);
    this.failing = false;
    this.log.debug(`mqtt: saved ${this.savedCounts} to ${file} in ${ms} ms`);
  }

  private warnOpenWillsOverLimit(n: number): void {
    if (n > 0 && !this.willsOverLimitLogged) this.log.warn(`mqtt: ${n} will(s) of open connections not saved in ${this.o.file}: retained_max_count / retained_max_bytes reached (after a crash they would not be published)`);
    this.willsOverLimitLogged = n > 0;
  }

  /** The file's health for /status and /metrics. */
  stats(): PersistenceStats {
    return { file: this.o.file, failing: this.failing, fileBytes: this.written?.size ?? 0, ...this.record };
  }

  /** A save is running (after stop(): one that hangs). */
  get writing(): boolean {
    return this.saving !== null;
  }

  /** Start-up failed after open(): stops the timer, saves nothing, gives the lock back. */
  cancel(): void {
    this.stopTimer();
    void this.lock?.release();
  }

  private stopTimer(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Shutdown: stops the timer, waits for a running save, then saves what changed since; gives
   * up after FINAL_SAVE_BOUND_MS (the previous file stays as it was).
   */
  async stop(): Promise<void> {
    this.stopTimer();
    const work = (async () => {
      await this.saving;
      await this.save();
    })();
    let bound: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => { bound = setTimeout(() => { resolve(true); }, FINAL_SAVE_BOUND_MS); });
    const late = await Promise.race([work.then(() => false), timedOut]);
    clearTimeout(bound);
    const file = this.o.file;
    if (late) this.log.error(`mqtt: saving to ${file} did not finish within ${FINAL_SAVE_BOUND_MS / 1000} s; stopping without it (the previous file is kept)`);
    else if (this.failing) this.log.error(`mqtt: nothing saved to ${file} at shutdown (see the error above); the file keeps the last saved state`);
    else if (!this.disabled) this.log.info(`mqtt: ${this.savedCounts} saved in ${file}`);
    await this.lock?.release();
  }
}

function counts(retained: number, sessions: number, exports = 0): string {
  if (exports === 0) return `${retained} retained message(s) and ${sessions} persistent session(s)`;
  return `${retained} retained message(s), ${sessions} persistent session(s) and ${exports} bridge export(s)`;
}
