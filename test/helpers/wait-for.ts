/** Polls `condition` every 10 ms until it holds; fails naming `what` after `timeout` ms. */
import { setTimeout as sleep } from 'node:timers/promises';

export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeout = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
