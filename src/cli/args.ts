/**
 * psrt-cli options (the reference's) plus our extensions, parsed with commander; the short ones
 * a mosquitto_sub/pub user reaches for (-C, -W, -f, -s, -l, -v, -N) mean what they mean there.
 * Mode selection: --benchmark, then --top, then -m/-f/--stdin (publish), else subscribe.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { EXIT_HELP, usage } from './errors.js';
import type { OutputFormat } from './format.js';
import { VERSION } from '../protocol/constants.js';

// One version string for the package, the CLI and the server.
export { VERSION };

export type Mode = 'benchmark' | 'top' | 'publish' | 'subscribe';

/** mosquitto_sub's default: the local server on the standard port. */
export const DEFAULT_ADDRESS = 'localhost:2873';

export interface CliOptions {
  readonly address: string;
  readonly mode: Mode;
  readonly user: string;
  readonly password: string;
  readonly topic: string | undefined;
  readonly message: string | undefined;
  /** -f: publish the contents of this file. */
  readonly file: string | undefined;
  readonly priority: number | undefined;
  /** -C: exit after this many received messages. */
  readonly count: number | undefined;
  /** -W: exit after this many seconds (exit status 6 unless -C was reached). */
  readonly wait: number | undefined;
  /** Subscribe mode reconnects after a lost connection unless --no-reconnect. */
  readonly reconnect: boolean;
  readonly timeout: number;
  readonly tls: boolean;
  readonly tlsCa: string | undefined;
  readonly benchmarkIterations: number;
  readonly benchmarkWorkers: number;
  readonly benchmarkClusterSub: string | undefined;
  readonly output: OutputFormat;
  readonly stdin: 'lines' | 'raw' | null;
  readonly udp: boolean;
  readonly udpKeyFile: string | undefined;
  readonly udpEncryption: 'aes128' | 'aes256';
  readonly udpAck: boolean;
  readonly progress: boolean;
  readonly quiet: boolean;
}

interface Raw {
  u?: string;
  p?: string;
  t?: string;
  m?: string;
  file?: string;
  priority?: number;
  count?: number;
  wait?: number;
  reconnect: boolean;
  verbose?: boolean;
  eol: boolean;
  json?: boolean;
  top?: boolean;
  benchmark?: boolean;
  benchmarkIterations: number;
  benchmarkWorkers: number;
  benchmarkClusterSub?: string;
  timeout: number;
  tls?: boolean;
  tlsCa?: string;
  output: OutputFormat;
  stdin?: boolean;
  stdinRaw?: boolean;
  udp?: boolean;
  udpKeyFile?: string;
  udpEncryption: 'aes128' | 'aes256';
  udpNoAck?: boolean;
  progress: boolean;
  quiet?: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 0xffffffff) {
    throw new InvalidArgumentError('expected a positive integer.');
  }
  return n;
}

function priorityByte(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 255) throw new InvalidArgumentError('expected 0..255.');
  return n;
}

/** Node's timers hold at most 2^31 − 1 ms; a longer one fires at once (after a warning). */
const MAX_SECONDS = 2_147_483;

function seconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > MAX_SECONDS) {
    throw new InvalidArgumentError(`expected a positive number of seconds, at most ${MAX_SECONDS} (24 days).`);
  }
  return n;
}

export function buildProgram(): Command {
  return new Command('psrt-cli')
    .description('PSRT command-line client: subscribe (default), publish (-m), --top, --benchmark')
    .argument('[host:port]', `server address; a path ending in .sock or .socket is a Unix socket (default ${DEFAULT_ADDRESS})`)
    .option('-u <user>', 'login (empty user and password = anonymous)')
    .option('-p <password>', 'password')
    .option('-t <topic>', 'topic; comma-separated list in subscribe and top modes')
    .option('-m <message>', 'publish this message and exit; ==SIZE to generate (e.g. ==1kb, ==1mib)')
    .option('-f, --file <file>', 'publish the contents of this file as one message and exit')
    .option('--priority <0..255>', 'priority byte of published messages (default 127)', priorityByte)
    .option('-C, --count <n>', 'subscribe: exit after receiving n messages', positiveInt)
    .option('-W, --wait <seconds>', 'subscribe: exit after this many seconds (status 6 if -C was not reached)', seconds)
    .option('--no-reconnect', 'subscribe: exit when the connection is lost instead of reconnecting')
    .option('-v, --verbose', 'subscribe: print each message as one line "topic payload"')
    .option('-N, --no-eol', 'subscribe: print payloads only, with no newline after them')
    .option('--json', 'subscribe: one JSON object a line (same as --output json)')
    .option('--top', 'monitor the most used topics (s: switch sort, q: quit)')
    .option('--benchmark', 'run the benchmark')
    .option('--benchmark-iterations <n>', 'iterations per worker', positiveInt, 10000)
    .option('--benchmark-workers <n>', 'number of concurrent workers', positiveInt, 4)
    .option('--benchmark-cluster-sub <host:port>', 'subscribe to another node (cluster test)')
    .option('--timeout <seconds>', 'timeout (also the Unix socket wait)', seconds, 5)
    .option('--tls', 'use TLS (STARTTLS) on both sockets')
    .option('--tls-ca <file>', 'PEM CA file to trust (in addition to the system CAs)')
    .addOption(
      new Option('--output <format>', 'received messages: text (reference), raw payload + newline, json (one object a line)')
        .choices(['text', 'raw', 'json'])
        .default('text'),
    )
    .option('-l, --stdin', 'publish each line read from stdin as a message (to -t)')
    .option('-s, --stdin-raw', 'publish all of stdin as one message (to -t)')
    .option('--udp', 'publish over UDP to <host:port> instead of TCP')
    .option('--udp-key-file <file>', 'encrypt UDP datagrams with the key in this file (64 hex digits)')
    .addOption(new Option('--udp-encryption <cipher>', 'UDP cipher with --udp-key-file').choices(['aes128', 'aes256']).default('aes256'))
    .option('--udp-no-ack', 'do not ask the server to acknowledge UDP publishes')
    .option('--no-progress', 'no progress line on stderr during benchmark stages')
    .option('-q, --quiet', 'no informational log lines on stderr')
    .version(`psrt-cli ${VERSION}`, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'print help')
    .addHelpText('after', EXIT_HELP)
    .showHelpAfterError('(run psrt-cli --help for usage)');
}

function modeOf(r: Raw): Mode {
  if (r.benchmark === true) return 'benchmark';
  if (r.top === true) return 'top';
  if (r.m !== undefined || r.file !== undefined || r.stdin === true || r.stdinRaw === true) return 'publish';
  return 'subscribe';
}

/**
 * The comma-separated -t of subscribe and top modes. Empty pieces (`a,`, `a,,b`) are dropped, as
 * psrtd drops them from a bulk SUBSCRIBE, instead of failing after connecting.
 */
export function topicList(topic: string | undefined): string[] {
  return (topic ?? '').split(',').filter((t) => t !== '');
}

/** Cross-option checks commander cannot express. */
function validate(o: CliOptions): void {
  if (o.mode !== 'benchmark' && (o.topic === undefined || o.topic === '')) throw usage('Topic not specified');
  if ((o.mode === 'subscribe' || o.mode === 'top') && topicList(o.topic).length === 0) throw usage('Topic not specified');
  const sources = [o.message !== undefined, o.file !== undefined, o.stdin !== null].filter(Boolean).length;
  if (o.mode === 'publish' && sources > 1) throw usage('-m, -f and -s/-l (--stdin, --stdin-raw) exclude each other');
  if (o.mode !== 'subscribe' && (o.count !== undefined || o.wait !== undefined)) throw usage('-C and -W work only when subscribing');
  if (o.udp && o.mode !== 'publish') throw usage('--udp works only for publishing (-m, --stdin)');
  if (o.udpKeyFile !== undefined && !o.udp) throw usage('--udp-key-file needs --udp');
  if (o.udp && o.priority === 0) throw usage('--priority 0 cannot be sent over UDP (psrtd drops such datagrams)');
}

/** -s (all of stdin, one message) or -l (a message a line); not both, as in mosquitto_pub. */
function stdinMode(r: Raw): 'lines' | 'raw' | null {
  if (r.stdinRaw === true && r.stdin === true) throw usage('-s and -l (--stdin-raw, --stdin) exclude each other');
  return r.stdinRaw === true ? 'raw' : r.stdin === true ? 'lines' : null;
}

/** -v, -N and --json are shorthands for output formats; the last word is --output's. */
function outputOf(r: Raw): OutputFormat {
  if (r.json === true) return 'json';
  if (!r.eol) return r.verbose === true ? 'line-no-eol' : 'raw-no-eol';
  if (r.verbose === true) return 'line';
  return r.output;
}

/**
 * The reference's argument parser (clap) reads `-t=topic` as `-t topic`; commander would keep the
 * `=` in the value (a script's `-t=sensors/x` would publish to "=sensors/x"). Values and
 * everything after `--` are left as they are.
 */
export function withoutShortEquals(program: Command, argv: readonly string[]): string[] {
  const takesValue = new Set(program.options.filter((o) => o.required).flatMap((o) => [o.short, o.long]));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') return [...out, ...argv.slice(i)];
    if (takesValue.has(arg)) {
      out.push(...argv.slice(i, i + 2)); // the option and its value
      i++;
    } else if (/^-[A-Za-z]=/.test(arg) && takesValue.has(arg.slice(0, 2))) {
      out.push(arg.slice(0, 2) + arg.slice(3));
    } else out.push(arg);
  }
  return out;
}

export function parseArgs(argv: readonly string[]): CliOptions {
  const program = buildProgram().exitOverride();
  program.parse(withoutShortEquals(program, argv), { from: 'user' });
  const r = program.opts<Raw>();
  const o: CliOptions = {
    address: program.args[0] ?? DEFAULT_ADDRESS,
    mode: modeOf(r),
    user: r.u ?? '',
    password: r.p ?? '',
    topic: r.t,
    message: r.m,
    file: r.file,
    priority: r.priority,
    count: r.count,
    wait: r.wait,
    reconnect: r.reconnect,
    timeout: r.timeout,
    tls: r.tls === true,
    tlsCa: r.tlsCa,
    benchmarkIterations: r.benchmarkIterations,
    benchmarkWorkers: r.benchmarkWorkers,
    benchmarkClusterSub: r.benchmarkClusterSub,
    output: outputOf(r),
    stdin: stdinMode(r),
    udp: r.udp === true,
    udpKeyFile: r.udpKeyFile,
    udpEncryption: r.udpEncryption,
    udpAck: r.udpNoAck !== true,
    progress: r.progress,
    quiet: r.quiet === true,
  };
  validate(o);
  return o;
}
