/**
 * Hostile connections for network fuzzing (issue 7 item 2). Each behaviour opens one
 * connection (a stuck subscriber two), misbehaves, and reports how it ended. Behaviours where
 * the protocol obliges the server to close (bad greeting, violation, timeout T) must see that
 * close within their deadline; otherwise the outcome is `lingered`, which the tests reject.
 */
import { encodeGreeting, encodeLogin, encodeNop, encodePublish, encodeSubscribe } from '../../../src/protocol/encode.js';
import { applyMutations, type Mutation } from '../fuzz/mutate.js';
import { Peer } from './peer.js';
import type { Rng } from './rng.js';

export type Behaviour =
  | 'badGreeting'
  | 'garbage'
  | 'hugeLength'
  | 'garbageAfterValid'
  | 'mutated'
  | 'truncated'
  | 'reset'
  | 'slowloris'
  | 'noRead'
  | 'dataNoToken'
  | 'dataBadToken'
  | 'stuckSubscriber'
  | 'wrongPassword';

/** server-closed: as required; client-closed: we ended it on purpose; lingered: the server did not close in time. */
export type Outcome = 'server-closed' | 'client-closed' | 'lingered' | 'unexpected-reply' | 'connect-failed';

export interface HostileContext {
  readonly port: number;
  readonly rng: Rng;
  /** The server's proto.timeout in ms. */
  readonly timeoutMs: number;
  /** Delay between two bytes of a slowloris sender. */
  readonly slowByteMs: number;
  /** Extra time the server gets on top of the protocol's deadline (loaded machines). */
  readonly slackMs: number;
  /** A login/password the server knows (bcrypt), used with a wrong password too. */
  readonly user: { readonly login: string; readonly password: string };
}

const GREETING = encodeGreeting('control', false);
const DATA_GREETING = encodeGreeting('data', false);
const ANON = Buffer.concat([GREETING, encodeLogin('', '')]);

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** A plausible session: subscriptions, publishes to fz/…, pings. Never the pair's topic. */
export function validSession(rng: Rng): Buffer {
  const parts: Buffer[] = [ANON];
  for (let i = rng.int(1, 8); i > 0; i--) {
    const topic = `fz/${rng.pick(['a', 'b', '+', 'x/y', ''])}/${rng.int(0, 9)}`;
    const kind = rng.weighted({ sub: 2, pub: 5, nop: 1 });
    if (kind === 'sub') parts.push(encodeSubscribe([rng.pick(['fz/#', topic, 'fz/+/1'])]));
    else if (kind === 'nop') parts.push(encodeNop());
    else parts.push(encodePublish(0x7f, topic.replace(/\+/g, 'p'), rng.bytes(rng.int(0, 300))));
  }
  return Buffer.concat(parts);
}

function randomMutations(rng: Rng): Mutation[] {
  const out: Mutation[] = [];
  for (let i = rng.int(1, 4); i > 0; i--) {
    const at = rng.int(0, 4096);
    const op = rng.weighted({ set: 4, insert: 2, delete: 2, truncate: 1, u32: 2, append: 1 });
    if (op === 'set') out.push({ op, at, value: rng.int(0, 255) });
    else if (op === 'insert') out.push({ op, at, bytes: rng.bytes(rng.int(1, 16)) });
    else if (op === 'delete') out.push({ op, at, count: rng.int(1, 8) });
    else if (op === 'truncate') out.push({ op, at });
    else if (op === 'u32') out.push({ op, at, value: rng.pick([0, 1025, 0x7fffffff, 0xffffffff]) });
    else out.push({ op, bytes: rng.bytes(rng.int(1, 64)) });
  }
  return out;
}

/** Sends `bytes` in random pieces with small random pauses, as a congested link would. */
async function sendChopped(peer: Peer, bytes: Buffer, rng: Rng): Promise<void> {
  let at = 0;
  while (at < bytes.length && !peer.ended) {
    const n = rng.int(1, 512);
    peer.send(bytes.subarray(at, at + n));
    at += n;
    if (rng.chance(0.3)) await new Promise((r) => setTimeout(r, rng.int(0, 40)));
  }
}

type Run = (c: HostileContext) => Promise<Outcome>;

/** Server must close within T + slack (after whatever `act` sent). */
function mustClose(act: (peer: Peer, c: HostileContext) => Promise<void> | void, deadline = (c: HostileContext) => c.timeoutMs + c.slackMs): Run {
  return async (c) => {
    const peer = await Peer.open(c.port);
    await act(peer, c);
    return (await peer.closesWithin(deadline(c))) ? 'server-closed' : 'lingered';
  };
}

/** We end the connection ourselves mid-frame: FIN (`end`) or RST (`reset`). */
function clientEnds(how: 'end' | 'reset'): Run {
  return async (c) => {
    const peer = await Peer.open(c.port);
    const frame = encodePublish(0x7f, 'fz/cut', c.rng.bytes(c.rng.int(10, 2000)));
    peer.send(Buffer.concat([ANON, frame.subarray(0, c.rng.int(1, frame.length - 1))]));
    await peer.read(36, 1000); // greeting reply + token: the session exists when we cut
    if (how === 'end') peer.socket.end();
    else peer.socket.resetAndDestroy();
    await peer.closesWithin(c.timeoutMs + c.slackMs);
    return 'client-closed';
  };
}

const BEHAVIOURS: Readonly<Record<Behaviour, Run>> = {
  badGreeting: mustClose((p, c) => {
    const bad = c.rng.pick([Buffer.from([0xee, 0xac, 0]), Buffer.from([0xee, 0xaa, 0x02]), Buffer.from([0xee, 0xaa, 0x01]), c.rng.bytes(3)]);
    if (bad[0] === 0xee && (bad[1] === 0xaa || bad[1] === 0xab) && bad[2] === 0) bad[2] = 7;
    p.send(bad);
  }),
  garbage: mustClose((p, c) => {
    p.send(Buffer.concat([GREETING, c.rng.bytes(c.rng.int(0, 4096))]));
  }),
  hugeLength: mustClose((p, c) => {
    const huge = u32(c.rng.pick([0xffffffff, 0x7fffffff, 1025, 0x10000000]));
    const variants = [
      Buffer.concat([GREETING, huge]),
      Buffer.concat([ANON, Buffer.from([0x01, 0x7f]), huge, c.rng.bytes(100)]),
      Buffer.concat([ANON, Buffer.from([0x02]), huge]),
      Buffer.concat([ANON, Buffer.from([0x11]), huge]),
    ];
    p.send(c.rng.pick(variants));
  }),
  garbageAfterValid: mustClose((p, c) => {
    p.send(Buffer.concat([validSession(c.rng), c.rng.bytes(c.rng.int(1, 512))]));
  }),
  mutated: mustClose(async (p, c) => {
    await sendChopped(p, applyMutations(validSession(c.rng), randomMutations(c.rng)), c.rng);
  }),
  truncated: clientEnds('end'),
  reset: clientEnds('reset'),
  // One byte per slowByteMs: the request deadline (T since the last reply) must cut it.
  slowloris: mustClose(
    (p, c) => {
      const bytes = Buffer.concat([ANON, encodePublish(0x7f, 'fz/slow', Buffer.alloc(64, 0x73))]);
      let i = 0;
      const timer = setInterval(() => {
        if (p.ended || i >= bytes.length) clearInterval(timer);
        else p.send(bytes.subarray(i, ++i));
      }, c.slowByteMs);
      void p.closed.then(() => {
        clearInterval(timer);
      });
    },
    (c) => 2 * c.timeoutMs + c.slackMs,
  ),
  // Pipelines requests and never reads the replies; the idle deadline must still apply.
  noRead: async (c) => {
    const peer = await Peer.open(c.port);
    peer.socket.pause();
    const nops = Buffer.alloc(c.rng.int(1, 65536), 0);
    peer.send(Buffer.concat([ANON, nops]));
    await new Promise((r) => setTimeout(r, c.timeoutMs + 500));
    peer.socket.resume(); // now read what piled up, then the close must follow (or have happened)
    return (await peer.closesWithin(c.slackMs)) ? 'server-closed' : 'lingered';
  },
  dataNoToken: mustClose((p) => {
    p.send(DATA_GREETING);
  }),
  dataBadToken: async (c) => {
    const peer = await Peer.open(c.port);
    peer.send(Buffer.concat([DATA_GREETING, c.rng.bytes(32), Buffer.from([c.rng.int(0, 255)])]));
    const reply = await peer.read(5, c.timeoutMs + c.slackMs);
    const closed = await peer.closesWithin(c.slackMs);
    if (reply?.equals(Buffer.from([0xee, 0xab, 0x01, 0x00, 0xff])) !== true) return 'unexpected-reply';
    return closed ? 'server-closed' : 'lingered';
  },
  stuckSubscriber: stuckSubscriber,
  wrongPassword: mustClose((p, c) => {
    const password = c.rng.chance(0.2) ? c.user.password : `${c.user.password}x${c.rng.int(0, 9)}`;
    p.send(Buffer.concat([GREETING, encodeLogin(c.user.login, password)]));
  }),
};

/**
 * Subscribes to everything with a data socket it never reads, and never pings: its queue
 * fills (the server pauses publishers, then drops the data socket after data_drain_timeout)
 * and its control session ends after T.
 */
async function stuckSubscriber(c: HostileContext): Promise<Outcome> {
  const ctl = await Peer.open(c.port);
  ctl.send(ANON);
  const head = await ctl.read(36, c.timeoutMs + c.slackMs);
  if (head === null) return ctl.ended ? 'server-closed' : 'unexpected-reply';
  const data = await Peer.open(c.port);
  data.socket.pause();
  data.send(Buffer.concat([DATA_GREETING, head.subarray(4), Buffer.from([c.rng.int(0, 3)])]));
  ctl.send(encodeSubscribe([c.rng.pick(['#', 'fz/#'])]));
  const closed = await ctl.closesWithin(c.timeoutMs + c.slackMs);
  data.socket.resume();
  await data.closesWithin(c.slackMs);
  return closed ? 'server-closed' : 'lingered';
}

export const ALL_BEHAVIOURS = Object.keys(BEHAVIOURS) as Behaviour[];

export async function runBehaviour(b: Behaviour, c: HostileContext): Promise<Outcome> {
  try {
    return await BEHAVIOURS[b](c);
  } catch {
    return 'connect-failed';
  }
}
