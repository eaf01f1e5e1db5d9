/**
 * The host's one warning path: each warning (a code from the catalogue in src/common/warnings.ts) is reported once
 * per message, on `ferry:warning` and to the host's `onWarning`.
 */
import type { FerryWarning, WarningCode } from '../common/warnings.ts';
import { channels } from './channels.ts';

/** Reports a warning, naming the remote it concerns when there is one. */
export type Warn = (code: WarningCode, message: string, remote?: string) => void;

/** The warning path of the host named `host`. */
export function createWarn(host: string, onWarning: (warning: FerryWarning) => void): Warn {
  const warned = new Set<string>();
  return (code, message, remote) => {
    // A cache folder that cannot be written fails every write: one warning says it.
    const key = code === 'FERRY_CACHE_WRITE' ? code : message;
    if (warned.has(key)) return;
    warned.add(key);
    channels.warning.publish({ host, remote, code, message });
    onWarning({ code, message, ...(remote === undefined ? {} : { remote }) });
  };
}
