/**
 * register: runs in the host process at start-up, as `node --import ferry/register app.js`. Imports ../runtime,
 * ../manifest and ../common only.
 *
 * Before the app's first line runs (a top-level await in this preload module), it reads the host config, loads and
 * verifies every expose of every configured remote, and installs module hooks so that plain `require` and `import`
 * of `remote/expose` return those modules: live bindings (see `host.live()`), whose functions always call the remote's
 * current version. Named imports of functions follow live updates; named imports of other values (constants) keep
 * the value of the version loaded at start-up — read them through the default import to see the current one.
 *
 * With `onStartupFailure: 'defer'`, a remote that could not be loaded at start-up is retried in the background; a
 * later `require`/`import()` of its modules works once it has loaded (the hooks resolve synchronously, so an import
 * cannot wait for it: until then it throws the last load error). Code that would rather wait awaits
 * `whenLoaded(alias)` first.
 */
import { CircuitOpenError, FerryError, UnknownExposeError, UnknownRemoteError } from '../common/errors.ts';
import { createHost, type Host } from '../runtime/index.ts';
import { Backoff } from '../runtime/net/backoff.ts';
import { installRemoteModuleHooks } from './hooks.ts';
import { loadHostConfig } from './load-config.ts';

const { file, config } = await loadHostConfig().catch((error: unknown) => {
  // No config, or one that does not load: one line with the code, not an uncaught stack from a preload module.
  if (!(error instanceof FerryError)) throw error;
  process.stderr.write(`${error.message} [${error.code}]\nThe app was not started.\n`);
  process.exit(1);
});
const { onStartupFailure = 'exit', ...options } = config;
const host: Host = createHost(options);
const exports = new Map<string, unknown>();
const failures = new Map<string, Error>();
const remotes = new Set(Object.keys(options.remotes));

/** Waiters of {@link whenLoaded}, per remote not loaded yet. */
const waiters = new Map<string, { promise: Promise<void>; resolve: () => void }>();

/** Loads every expose of one remote as live bindings, or records why it could not. */
async function loadRemote(alias: string): Promise<boolean> {
  try {
    const loaded = new Map<string, unknown>();
    for (const expose of await host.exposes(alias)) {
      const specifier = expose === '.' ? alias : `${alias}/${expose.slice(2)}`;
      // A live binding: functions read from it (named imports too) call the remote's current version, so
      // `import { validate } from 'authService/tokenValidator'` follows live updates without a restart.
      loaded.set(specifier, await host.live(specifier));
    }
    // All of the remote's modules appear at once: an import never sees half of a remote.
    for (const [specifier, binding] of loaded) exports.set(specifier, binding);
    failures.delete(alias);
    waiters.get(alias)?.resolve();
    waiters.delete(alias);
    return true;
  } catch (error) {
    failures.set(alias, error as Error);
    return false;
  }
}

/** The first ceiling of the background retries' backoff, and the random spread added after an open breaker. */
const RETRY_BASE_MS = 1000;

/**
 * `defer`: a remote that failed at start-up is tried again in the background, on the runtime's backoff schedule, until
 * it loads; from then on a `require`/`import` of its modules gets their live bindings. The timers never keep the
 * process alive.
 *
 * An attempt refused by the remote's open circuit breaker did not call the remote, so it is not counted as a failure
 * (the backoff does not grow): the next attempt waits until the breaker lets its probe through, plus a random spread
 * below {@link RETRY_BASE_MS}. Counting it would leave a remote that came back unseen for up to the 30 s ceiling.
 */
function retryInBackground(alias: string): void {
  const backoff = new Backoff({ base: RETRY_BASE_MS, max: 30_000 });
  const attempt = () => {
    void loadRemote(alias).then((loaded) => {
      if (loaded) {
        process.stderr.write(
          `ferry/register: remote "${alias}" loaded after ${backoff.attempts} background attempt(s); its modules ` +
            'can be imported now.\n',
        );
        return;
      }
      const failure = failures.get(alias);
      const probeAt = failure instanceof CircuitOpenError && failure.retryAt ? Date.parse(failure.retryAt) : Number.NaN;
      const wait = Number.isNaN(probeAt)
        ? backoff.next()
        : Math.max(0, probeAt - Date.now()) + Math.random() * RETRY_BASE_MS;
      setTimeout(attempt, wait).unref();
    });
  };
  setTimeout(attempt, backoff.next()).unref();
}

await Promise.all([...remotes].map(loadRemote));

for (const [alias, error] of failures) {
  const code = error instanceof FerryError ? ` [${error.code}]` : '';
  const line = `ferry/register: remote "${alias}" (config ${file}) could not be loaded: ${error.message}${code}`;
  if (onStartupFailure === 'exit') {
    process.stderr.write(`${line}\nThe app was not started. Set onStartupFailure: 'defer' to start it anyway.\n`);
    process.exit(1);
  }
  process.stderr.write(
    `${line}\nStarting anyway (onStartupFailure: 'defer'): ferry keeps trying it in the background; until it loads, ` +
      "a require/import of its modules throws this error (a static import fails the app's start-up; use a dynamic " +
      "import() or require() where the module is needed, and handle the error, or await whenLoaded('" +
      `${alias}') from 'ferry/register' first).\n`,
  );
  retryInBackground(alias);
}

installRemoteModuleHooks({ remotes, exports, failures }, (specifier, alias) => {
  const failure = failures.get(alias);
  if (failure) return failure;
  return new UnknownExposeError(
    `ferry/register: "${specifier}" is not a module of remote "${alias}"; it exposes ` +
      `${[...exports.keys()].filter((key) => key.split('/', 1)[0] === alias).join(', ') || 'nothing'}.`,
    { remote: alias, expose: specifier },
  );
});

/**
 * Resolves once the remote `alias` (a key of the config's `remotes`) is loaded: at once when it loaded at start-up,
 * else when the background retries of `onStartupFailure: 'defer'` load it. After it, `import()` and `require()` of
 * the remote's modules return them. Rejects with the signal's reason when `signal` aborts first.
 *
 * @example
 * ```ts
 * import { whenLoaded } from 'ferry/register';
 * await whenLoaded('authService', { signal: AbortSignal.timeout(30_000) });
 * const { validateJwtToken } = await import('authService/tokenValidator');
 * ```
 */
export function whenLoaded(alias: string, options: { signal?: AbortSignal } = {}): Promise<void> {
  if (!remotes.has(alias)) {
    return Promise.reject(
      new UnknownRemoteError(
        `ferry/register: whenLoaded("${alias}"): the host config ${file} has no remote "${alias}"; its remotes are ` +
          `${[...remotes].join(', ') || 'none'}.`,
        { remote: alias },
      ),
    );
  }
  if (!failures.has(alias)) return Promise.resolve();
  let waiter = waiters.get(alias);
  if (!waiter) {
    let resolve!: () => void;
    const promise = new Promise<void>((done) => {
      resolve = done;
    });
    waiter = { promise, resolve };
    waiters.set(alias, waiter);
  }
  const { signal } = options;
  if (!signal) return waiter.promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<void>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener('abort', abort, { once: true });
    void waiter.promise.then(() => {
      signal.removeEventListener('abort', abort);
      resolve();
    });
  });
}

/** The host `ferry/register` created, for code that also wants `host.import()` (one registry, same instances). */
export { host };
