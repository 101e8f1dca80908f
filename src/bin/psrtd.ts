/**
 * psrtd command line and process life cycle (SERVER.md §2): options, logging set-up, config
 * lookup (with an embedded default), daemonizing, PID file, signals and exit codes.
 */
// bin/psrtd.js loads this before the rest (see the module); imported here for its state.
import { takeEarlyHangup } from './early-signals.js';
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { parseHtpasswd } from '../auth/htpasswd.js';
import { convertMosquittoAcl } from '../auth/mosquitto-acl.js';
import { embeddedDefaultConfig, findConfig, loadConfigFile } from '../config/index.js';
import type { ServerConfig } from '../config/schema.js';
import { createLogger, type Logger } from '../log/logger.js';
import { isPsrtError } from '../protocol/errors.js';
import { VERSION, startServer, type RunningServer } from './app.js';
import { checkConfiguration } from './check.js';

interface CliOptions {
  config?: string;
  check?: boolean;
  convertMosquittoAcl?: string;
  users?: string;
  verbose?: boolean;
  daemon?: boolean;
  logSyslog?: boolean;
}

const DAEMON_CHILD_ENV = 'PSRTD_DAEMON_CHILD';
const SHUTDOWN_DEADLINE_MS = 1500;

function parseArgs(argv: readonly string[]): CliOptions {
  const program = new Command('psrtd')
    .description('PSRT (PubSubRT) server — wire-compatible with psrt 0.3.6')
    .option('-C, --config <file>', 'configuration file (default: /etc/psrtd/config.yml, then /usr/local/etc/psrtd/config.yml, else a built-in config: PSRT 127.0.0.1:2873, MQTT 127.0.0.1:1883, MQTT over WebSocket ws://127.0.0.1:9001/mqtt, anonymous full access)')
    .option('-t, --check', 'check the configuration and the files it names (TLS, ACL, passwords, keys, cluster, bridges) as a start and a SIGHUP reload would, then exit: 0 if all is well, 1 if not; binds nothing')
    .option('--convert-mosquitto-acl <acl_file>', 'print the acl.yml for a Mosquitto acl_file and exit (problems on stderr, exit 1 if a rule could not be converted)')
    .option('--users <password_file>', 'with --convert-mosquitto-acl: also an entry for each user of this password file (Mosquitto lets users without rules of their own connect)')
    .option('-v, --verbose', 'verbose logging (debug and trace) to stdout')
    .option('-d, --daemon', 'run in the background (logs to syslog unless DISABLE_SYSLOG=1)')
    .option('--log-syslog', 'log to syslog')
    .version(`PSRT ${VERSION}`, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print help')
    .addHelpText('after', '\nSignals: SIGHUP reloads ACL, password and key files, TLS certificates, bridges and mqtt.sys_interval; SIGINT/SIGTERM stop.\nExit status: 0 normal stop, 1 start-up or configuration error.');
  program.parse(argv, { from: 'user' });
  return program.opts<CliOptions>();
}

function makeLogger(opts: CliOptions): Logger {
  const daemonChild = process.env[DAEMON_CHILD_ENV] === '1';
  const syslog =
    opts.verbose !== true &&
    (opts.logSyslog === true || (daemonChild && process.env.DISABLE_SYSLOG !== '1'));
  return createLogger({ verbose: opts.verbose === true, syslog });
}

function loadConfig(opts: CliOptions, log: Logger): ServerConfig {
  const location = findConfig(opts.config);
  if ('embedded' in location) {
    log.info('no config file found: using the built-in default config');
    return embeddedDefaultConfig();
  }
  if (opts.config !== undefined) log.info(`using config: ${location.path}`);
  return loadConfigFile(location.path);
}

/** Node cannot fork: re-run ourselves detached with stdio on /dev/null; the parent exits 0. */
function daemonize(): void {
  const args = process.argv.slice(1).filter((a) => a !== '-d' && a !== '--daemon');
  const child = spawn(process.execPath, [...process.execArgv, ...args], {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, [DAEMON_CHILD_ENV]: '1' },
  });
  child.unref();
  process.exit(0);
}

function writePidFile(config: ServerConfig, log: Logger, server: RunningServer): void {
  const pidFile = config.server.pidFile;
  if (pidFile === undefined) return;
  log.info(`creating pid file ${pidFile}, PID: ${process.pid}`);
  try {
    writeFileSync(pidFile, String(process.pid));
  } catch (e) {
    log.error(`unable to write pid file ${pidFile}: ${(e as Error).message}`);
    server.removeSocketFiles();
    process.exit(1);
  }
}

/**
 * A save of mqtt.persistence_file stuck in a write (a hung disk) was given up, but Node's exit
 * waits for libuv's threads, that one included: psrtd would never end. After the 'exit'
 * handlers (the logger's last lines), the stop signal's default action ends the process instead
 * (systemd counts SIGTERM/SIGINT as a clean stop).
 */
function endBySignalAtExit(signal: 'SIGINT' | 'SIGTERM'): void {
  process.once('exit', () => {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
}

function installSignals(config: ServerConfig, log: Logger, server: RunningServer): void {
  let stopping = false;
  const stop = (signal: 'SIGINT' | 'SIGTERM'): void => {
    if (stopping) return;
    stopping = true;
    if (signal === 'SIGTERM') log.info('terminating');
    // With mqtt.persistence_file, stop() ends with a save that has its own bound.
    const force = setTimeout(() => {
      finish();
    }, SHUTDOWN_DEADLINE_MS + (server.mqtt?.saveBoundMs ?? 0));
    const finish = (): void => {
      clearTimeout(force);
      server.removeSocketFiles();
      if (config.server.pidFile !== undefined) rmSync(config.server.pidFile, { force: true });
      if (server.mqtt?.saveStuck === true) endBySignalAtExit(signal);
      process.exit(0);
    };
    server.stop().then(finish, finish);
  };
  process.on('SIGINT', () => {
    stop('SIGINT');
  });
  process.on('SIGTERM', () => {
    stop('SIGTERM');
  });
  process.on('SIGHUP', () => {
    // A reload now would start again the bridges the shutdown has just stopped.
    if (stopping) {
      log.info('SIGHUP ignored: psrtd is stopping');
      return;
    }
    log.info('SIGHUP received: reloading ACL, password and key files, TLS certificates and the bridges');
    reloadAndReport(server, log);
  });
  // The files may have changed after start-up read them: apply a SIGHUP that came meanwhile.
  if (takeEarlyHangup()) {
    log.info('SIGHUP received during start-up: reloading ACL, password and key files, TLS certificates and the bridges');
    reloadAndReport(server, log);
  }
}

/**
 * The server keeps serving while a reload reads its files (a million users take seconds), so
 * the end is logged: from this line on, new logins use the new files.
 */
function reloadAndReport(server: { reload(): Promise<boolean> }, log: Logger): void {
  const started = performance.now();
  const report = (ok: boolean): void => {
    const seconds = ((performance.now() - started) / 1000).toFixed(2);
    log.info(`SIGHUP reload ${ok ? 'done' : 'done with errors (see above)'} in ${seconds} s`);
  };
  server.reload().then(report, () => {
    report(false);
  });
}

/** `--convert-mosquitto-acl`: acl.yml on stdout, what was not converted on stderr. */
function convertAndExit(aclFile: string, passwordFile: string | undefined): never {
  const read = (file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      process.stderr.write(`psrtd: ${file}: ${(e as Error).message}\n`);
      process.exit(1);
    }
  };
  const users = passwordFile === undefined ? [] : parseHtpasswd(read(passwordFile), true).keys();
  const converted = convertMosquittoAcl(read(aclFile), users);
  process.stdout.write(converted.yaml);
  for (const p of converted.problems) process.stderr.write(`psrtd: ${aclFile}:${String(p.line)}: ${p.problem}\n`);
  for (const w of converted.warnings) process.stderr.write(`psrtd: ${aclFile}:${String(w.line)}: warning: ${w.problem}\n`);
  const warned = converted.warnings.length === 0 ? '' : `, ${String(converted.warnings.length)} warning${converted.warnings.length === 1 ? '' : 's'}`;
  process.stderr.write(`psrtd: ${String(converted.users)} acl.yml entries written, ${String(converted.problems.length)} rule${converted.problems.length === 1 ? '' : 's'} not converted${warned}\n`);
  process.exit(converted.problems.length === 0 ? 0 : 1);
}

/** `--check`: the verdict is the exit status; messages go to stdout like a start's. */
async function checkAndExit(opts: CliOptions, log: Logger): Promise<never> {
  let ok = false;
  try {
    ok = await checkConfiguration(loadConfig(opts, log), log);
  } catch (e) {
    log.error(e instanceof Error ? e.message : String(e));
    log.error('configuration check: the config file has errors (see above)');
  }
  // The logger batches its lines; 'exit' writes what is pending.
  process.exit(ok ? 0 : 1);
}

export async function main(argv: readonly string[]): Promise<void> {
  const opts = parseArgs(argv);
  if (opts.convertMosquittoAcl !== undefined) convertAndExit(opts.convertMosquittoAcl, opts.users);
  if (opts.check === true) await checkAndExit(opts, makeLogger({ ...opts, logSyslog: false, daemon: false }));
  if (opts.daemon === true && process.env[DAEMON_CHILD_ENV] !== '1') daemonize();
  const log = makeLogger(opts);
  log.info(`version: ${VERSION}`);
  let config: ServerConfig;
  let server: RunningServer;
  try {
    config = loadConfig(opts, log);
    server = await startServer(config, log);
  } catch (e) {
    const msg = isPsrtError(e) ? e.message : e instanceof Error ? e.message : String(e);
    process.stderr.write(`psrtd: ${msg}\n`);
    process.exit(1);
  }
  // Handlers first, then the line that tells supervisors (and tests) the server is up: a SIGTERM
  // sent on seeing it must find a handler, not the default action that kills without clean-up.
  installSignals(config, log, server);
  log.info(`starting server, workers: ${config.server.workers}, timeout: ${config.proto.timeout}s`);
  writePidFile(config, log, server);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  process.stderr.write(`psrtd: fatal: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
