/**
 * Local fallbacks: a remote (or one of its exposes) may name a local module that the host uses when neither the
 * remote nor the disk cache can serve the expose. The failure is not hidden: the fallback is announced on
 * `ferry:fallback` and with the warning `FERRY_FALLBACK_USED`, naming the error it replaces.
 */
import { FerryError, HostClosedError } from '../common/errors.ts';
import { channels } from './channels.ts';
import type { ResolvedRemote } from './options/remote-options.ts';
import type { Warn } from './warnings.ts';

/**
 * The exports of the local fallback for `exposeKey`, or undefined when there is none (or the error is not one a
 * fallback answers: only ferry's own load failures are, not a closed host). A fallback that fails to load throws
 * the original error, with the fallback's failure attached as `fallbackError`.
 */
export async function importFallback(
  host: { name: string; warn: Warn },
  remote: ResolvedRemote,
  exposeKey: string,
  error: unknown,
): Promise<{ exports: unknown } | undefined> {
  const load = remote.fallbacks.get(exposeKey) ?? remote.fallbacks.get('*');
  if (!load || !(error instanceof FerryError) || error instanceof HostClosedError) return undefined;
  let exports: unknown;
  try {
    exports = await load(exposeKey);
  } catch (fallbackError) {
    Object.defineProperty(error, 'fallbackError', { value: fallbackError, enumerable: false });
    throw error;
  }
  // `import()` of an ES module gives its namespace; of CommonJS, `default` is module.exports: give what require would.
  const namespace = exports as { default?: unknown; [Symbol.toStringTag]?: string } | null;
  const value =
    namespace?.[Symbol.toStringTag] === 'Module' && Object.keys(namespace).length === 1 && 'default' in namespace
      ? namespace.default
      : exports;
  channels.fallback.publish({ host: host.name, remote: remote.alias, expose: exposeKey, error });
  host.warn(
    'FERRY_FALLBACK_USED',
    `Remote "${remote.alias}" could not serve ${exposeKey} (${error.code}: ${error.message.split('. ')[0]}), and ` +
      'no cached copy could either; the local fallback module configured for it is used instead.',
    remote.alias,
  );
  return { exports: value };
}
