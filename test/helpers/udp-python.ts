/**
 * An independent PSRT UDP implementation in Python (Debian's /usr/bin/python3 with
 * python3-cryptography), written from PROTOCOL.md §8 alone: it shares no code with src/. It
 * builds and sends every datagram kind and reports the acks, and it receives and decodes
 * datagrams sent by psrt-cli.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { SYSTEM_PYTHON } from './mqtt-tools.js';

/**
 * Modes (argv[1]):
 *   vectors                 → one JSON line: the §9.13/§9.14 datagrams built with the spec's inputs
 *   send <port> <json>      → sends each case (datagram built here, then `mutate`d), prints
 *                             one JSON line per send: {name, replies: [hex, ...]}
 *   receive <count> <keys>  → prints {port}, then one JSON line per datagram received, decoded
 *                             with the keys (user → hex), answering `EE AA 01 00 01` to op 01
 */
const SCRIPT = String.raw`
import json, socket, sys, time
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
HDR = b"\xee\xaa\x01\x00"

def inner(op, prio, topic, payload):
    return bytes([op, prio]) + topic + b"\x00" + payload

def build(c):
    if "raw" in c:
        return bytes.fromhex(c["raw"])
    login, topic, payload = c["login"].encode(), bytes.fromhex(c["topic"]), bytes.fromhex(c["payload"])
    blk = inner(c["op"], c["prio"], topic, payload)
    if c["type"] == 0:
        return HDR + b"\x00" + login + b"\x00" + c["password"].encode() + b"\x00" + blk
    key = bytes.fromhex(c["key"])
    key = key[:16] if c["type"] == 2 else key
    nonce = bytes.fromhex(c["nonce"]) if "nonce" in c else __import__("os").urandom(12)
    return HDR + bytes([c["type"]]) + login + b"\x00" + nonce + AESGCM(key).encrypt(nonce, blk, None)

def mutate(d, how):
    if how == "cut-tag-byte": return d[:-1]
    if how == "flip-ciphertext": return d[:-17] + bytes([d[-17] ^ 1]) + d[-16:]
    if how == "flip-tag": return d[:-1] + bytes([d[-1] ^ 0x80])
    return d

def replies(s, want):
    out, deadline = [], time.monotonic() + (2.0 if want else 0.25)
    while time.monotonic() < deadline:
        s.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            out.append(s.recv(100).hex())
        except socket.timeout:
            break
        if len(out) >= want:
            deadline = min(deadline, time.monotonic() + 0.05)
    return out

def send(port, cases):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    for c in cases:
        d = mutate(build(c), c.get("mutate"))
        for _ in range(c.get("times", 1)):
            s.sendto(d, ("127.0.0.1", port))
            print(json.dumps({"name": c["name"], "replies": replies(s, c["want"])}), flush=True)

def decode(d, keys):
    assert d[:4] == HDR, "header"
    typ, sep = d[4], d.index(b"\x00", 5)
    login, rest = d[5:sep].decode(), d[sep + 1:]
    if typ == 0:
        p = rest.index(b"\x00")
        password, blk = rest[:p].decode(), rest[p + 1:]
    else:
        key = bytes.fromhex(keys[login or "_"])
        password, blk = None, AESGCM(key[:16] if typ == 2 else key).decrypt(rest[:12], rest[12:], None)
    t = blk.index(b"\x00")
    return {"type": typ, "login": login, "password": password, "op": blk[0], "prio": blk[1],
            "topic": blk[2:t].hex(), "payload": blk[t + 1:].hex()}

def receive(count, keys):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(15)
    print(json.dumps({"port": s.getsockname()[1]}), flush=True)
    for _ in range(count):
        d, addr = s.recvfrom(70000)
        try:
            m = decode(d, keys)
        except Exception as e:
            print(json.dumps({"error": repr(e), "hex": d.hex()}), flush=True)
            continue
        print(json.dumps(m), flush=True)
        if m["op"] == 1:
            s.sendto(HDR + b"\x01", addr)

def vectors():
    base = {"login": "user1", "op": 1, "prio": 0x7f, "topic": b"mytopic".hex(), "payload": b"hello".hex(),
            "key": bytes(range(32)).hex(), "nonce": bytes(range(0xa0, 0xac)).hex()}
    print(json.dumps({"aes256": build(dict(base, type=3)).hex(), "aes128": build(dict(base, type=2)).hex(),
                      "plain": build(dict(base, type=0, op=0x21, password="secret")).hex()}))

mode = sys.argv[1]
if mode == "vectors": vectors()
elif mode == "send": send(int(sys.argv[2]), json.loads(sys.argv[3]))
elif mode == "receive": receive(int(sys.argv[2]), json.loads(sys.argv[3]))
`;

/** Fails (never skips) naming the Debian package when the independent side cannot run. */
export function requirePythonCryptography(): void {
  if (!existsSync(SYSTEM_PYTHON)) throw new Error(`${SYSTEM_PYTHON} not found: install the Debian package python3`);
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import cryptography.hazmat.primitives.ciphers.aead'], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`cryptography not importable by ${SYSTEM_PYTHON}: install the Debian package python3-cryptography (.ci/run does)\n${r.stderr}`);
}

/** One datagram for the Python sender. Byte fields are hex; `raw` (hex) bypasses the builder. */
export interface PyCase {
  readonly name: string;
  /** Replies to wait for (0: listen 250 ms for unexpected ones). */
  readonly want: 0 | 1;
  readonly type?: 0 | 2 | 3;
  readonly login?: string;
  readonly password?: string;
  readonly key?: string;
  readonly op?: number;
  readonly prio?: number;
  readonly topic?: string;
  readonly payload?: string;
  readonly mutate?: 'cut-tag-byte' | 'flip-ciphertext' | 'flip-tag';
  /** Sends the same bytes this many times (replay). */
  readonly times?: number;
  readonly raw?: string;
}

/** Runs a mode to its end and returns its JSON lines. */
export function runPyUdp(args: string[], timeoutMs = 60_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(SYSTEM_PYTHON, ['-c', SCRIPT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) reject(new Error(`python ${args[0] ?? ''} exited ${String(code)}: ${err}`));
      else resolve(out.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as unknown));
    });
  });
}

/** A running `receive` process: its port, and its decoded datagrams once it has them all. */
export interface PyReceiver {
  readonly port: number;
  readonly proc: ChildProcess;
  readonly done: Promise<unknown[]>;
}

export function startPyReceiver(count: number, keys: Record<string, string>): Promise<PyReceiver> {
  const proc = spawn(SYSTEM_PYTHON, ['-c', SCRIPT, 'receive', String(count), JSON.stringify(keys)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 30_000);
  return new Promise((resolve, reject) => {
    const lines: unknown[] = [];
    let port = 0;
    const done = new Promise<unknown[]>((res) => {
      proc.once('close', () => {
        clearTimeout(timer);
        res(lines);
      });
    });
    createInterface({ input: proc.stdout }).on('line', (line) => {
      const v = JSON.parse(line) as { port?: number };
      if (port === 0 && typeof v.port === 'number') {
        port = v.port;
        resolve({ port, proc, done });
      } else {
        lines.push(v);
      }
    });
    proc.once('close', (code) => {
      if (port === 0) reject(new Error(`python receiver exited ${String(code)} before binding`));
    });
  });
}
