/**
 * Child process for test/transport/emfile.test.ts: a TCP listener admitted through a
 * ConnectionGate with no descriptor budget, run under a small `ulimit -n`, so accept() itself
 * hits EMFILE. Prints `port N`; on stdin `close N` destroys N accepted sockets and prints
 * `closed`; on `stats` prints the counts as JSON. Warnings go to stdout as `warn …`.
 * Runs only with the `--child` argument: `node --test dist/test/` loads every file under it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { ConnectionGate } from '../../src/transport/connection-gate.js';
import { resolveConnectionLimits } from '../../src/transport/connection-limits.js';

function listen(gate: ConnectionGate, accepted: Socket[]): Server {
  const server = createServer((s) => {
    if (!gate.admit(s, 'PSRT')) return;
    s.on('error', () => { /* close follows */ });
    accepted.push(s);
  });
  server.listen(0, '127.0.0.1', () => {
    gate.watch(server, 'PSRT');
    const a = server.address();
    process.stdout.write(`port ${typeof a === 'object' && a !== null ? a.port : 0}\n`);
  });
  return server;
}

function command(line: string, gate: ConnectionGate, accepted: Socket[]): void {
  const close = /^close (\d+)$/.exec(line);
  if (close !== null) {
    for (let i = 0; i < Number(close[1]); i++) accepted.pop()?.destroy();
    process.stdout.write('closed\n');
  } else if (line === 'stats') {
    process.stdout.write(`stats ${JSON.stringify({ open: gate.open, accepted: accepted.length, ...gate.refused })}\n`);
  }
}

function run(): void {
  const gate = new ConnectionGate(resolveConnectionLimits(100_000, null), { warn: (l) => { process.stdout.write(`warn ${l}\n`); } });
  const accepted: Socket[] = [];
  const server = listen(gate, accepted);
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (text: string) => {
    for (const line of text.split('\n')) command(line, gate, accepted);
  });
  process.stdin.on('end', () => {
    gate.stop();
    server.close();
    for (const s of accepted) s.destroy();
  });
}

if (process.argv[2] === '--child') run();
