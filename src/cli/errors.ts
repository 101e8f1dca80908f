/**
 * Exit codes and error messages a person understands (CLI.md §9; the reference panics with 101
 * on everything, we distinguish the common causes).
 */
import { ErrorCode, isPsrtError, type PsrtError } from '../protocol/errors.js';

export const EXIT = {
  ok: 0,
  /** Anything else (payload mismatch in a benchmark, unexpected failure). */
  error: 1,
  /** Bad arguments. */
  usage: 2,
  /** Cannot connect: refused, unknown host, no Unix socket, TLS handshake, greeting refused. */
  connect: 3,
  /** Login failed (wrong user/password, anonymous not allowed, no ACL entry). */
  login: 4,
  /** Access denied by the server's ACL. */
  access: 5,
  /** No reply within --timeout. */
  timeout: 6,
  /** Connection lost or server error while running. */
  lost: 7,
} as const;

export const EXIT_HELP = `
Exit status:
  0  success (publish done, Ctrl-C or q in subscribe/top, benchmark finished)
  1  other error (e.g. benchmark payload mismatch)
  2  bad arguments (e.g. "Topic not specified", invalid ==SIZE)
  3  cannot connect (connection refused, unknown host, Unix socket missing, TLS failure)
  4  login failed (wrong user or password, anonymous access disabled, no ACL entry)
  5  access denied (the server's ACL refused a subscribe or publish; with --udp the
     server's FE ack also stands for a wrong user or password)
  6  timeout (no reply within --timeout)
  7  connection lost or server error while running`;

export class CliError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

export function usage(message: string): CliError {
  return new CliError(EXIT.usage, message);
}

/** Errors of connect(): everything that is not login/timeout means "cannot connect". */
export function connectError(err: unknown, target: string): CliError {
  // The client validates its options with TypeError (e.g. an address without a port).
  if (err instanceof TypeError) return new CliError(EXIT.usage, err.message);
  if (!isPsrtError(err)) return new CliError(EXIT.connect, `cannot connect to ${target}: ${String(err)}`);
  if (err.code === ErrorCode.LoginFailed) {
    return new CliError(
      EXIT.login,
      `${err.message}: the server closed the connection (wrong user or password, anonymous access disabled, or no ACL entry)`,
    );
  }
  if (err.code === ErrorCode.Timeout) return new CliError(EXIT.timeout, err.message);
  if (err.code === ErrorCode.DataChannelDenied) return new CliError(EXIT.access, err.message);
  return new CliError(EXIT.connect, `cannot connect: ${err.message}`);
}

/** OpenSSL verify results that a CA passed with --tls-ca can fix (not e.g. a wrong host name). */
const UNTRUSTED_ISSUER = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
]);

/**
 * A TLS handshake refused because no trusted CA signs the server's certificate: name the option
 * that fixes it (the OpenSSL text alone, "unable to verify the first certificate", does not).
 */
export function explainUntrusted(cli: CliError, err: unknown, tlsCa: string | undefined): CliError {
  const cause = err instanceof Error ? (err.cause as NodeJS.ErrnoException | undefined) : undefined;
  if (cause?.code === undefined || !UNTRUSTED_ISSUER.has(cause.code)) return cli;
  const hint =
    tlsCa === undefined
      ? "no CA this system trusts signs the server's certificate: pass the CA that does with --tls-ca <file>"
      : `neither the CA in --tls-ca ${tlsCa} nor a system CA signs the server's certificate`;
  return new CliError(cli.exitCode, `${cli.message} (${hint})`, { cause: err });
}

/** Errors while running. */
export function runError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (!isPsrtError(err)) {
    return new CliError(EXIT.error, err instanceof Error ? err.message : String(err));
  }
  return new CliError(exitCodeOf(err), describe(err));
}

function exitCodeOf(err: PsrtError): number {
  switch (err.code) {
    case ErrorCode.AccessDenied:
    case ErrorCode.DataChannelDenied:
      return EXIT.access;
    case ErrorCode.LoginFailed:
      return EXIT.login;
    case ErrorCode.Timeout:
      return EXIT.timeout;
    case ErrorCode.InvalidDataBlock:
    case ErrorCode.WildcardInPublish:
    case ErrorCode.EmptyTopic:
      return EXIT.usage;
    default:
      return EXIT.lost;
  }
}

function describe(err: PsrtError): string {
  switch (err.code) {
    case ErrorCode.AccessDenied:
      return `${err.message} (not allowed by the server's ACL)`;
    case ErrorCode.ServerError:
      return `${err.message} (e.g. topic deeper than the server's max_topic_depth)`;
    case ErrorCode.Eof:
    case ErrorCode.Io:
    case ErrorCode.ProtocolViolation:
      return `connection lost: ${err.message}`;
    default:
      return err.message;
  }
}
