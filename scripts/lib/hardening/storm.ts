/**
 * Reconnect storms (issue 7 item 3): connect → login → subscribe → (attach a data socket) →
 * disconnect, cycling through every way a session can end: BYE, close, reset (RST), and the
 * data socket going first. Shared by hardening/faults.test.ts and scripts/soak.ts.
 */
import { encodeBye, encodeSubscribe } from '../../../src/protocol/encode.js';
import { attachData, login } from '../../../test/helpers/raw.js';

/** Runs `count` tasks with at most `concurrency` at a time; rejects on the first failure. */
export async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** One cycle; throws if the server answers anything unexpected or does not end the session. */
export async function stormCycle(port: number, i: number): Promise<void> {
  const { ctl, token } = await login(port);
  ctl.send(encodeSubscribe([`storm/${i % 64}`, 'storm/#']));
  const ok = await ctl.read(1);
  if (ok[0] !== 1) throw new Error(`cycle ${i}: subscribe answered ${ok[0]}`);
  const data = i % 2 === 0 ? await attachData(port, token, 255) : null;
  switch (i % 4) {
    case 0: {
      ctl.send(encodeBye());
      const bye = await ctl.read(1);
      if (bye[0] !== 1) throw new Error(`cycle ${i}: BYE answered ${bye[0]}`);
      await ctl.expectClose(5000);
      break;
    }
    case 1:
      ctl.destroy();
      break;
    case 2:
      ctl.socket.resetAndDestroy();
      break;
    default:
      data?.destroy(); // the data socket goes first; the session then ends with its control socket
      ctl.destroy();
  }
  // The session ended, so the server must close its data socket (PROTOCOL.md §5.10).
  if (data !== null && !data.closed) await data.expectClose(5000, Number.MAX_SAFE_INTEGER);
}

