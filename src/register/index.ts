/**
 * register: runs in the host process at start-up, as `node --import ferry/register app.js`. Imports ../runtime,
 * ../manifest and ../common only.
 *
 * Before the app's first line runs (a top-level await in this preload module), it reads the host config, loads and
 * verifies every expose of every configured remote, and installs module hooks so that plain `require` and `import`
 * of `remote/expose` return those modules: live bindings (see `host.live()`), whose functions always call the remote's
 * current version. Named imports of functions follow live updates; named imports of other values (constants) keep
 * the value of the version loaded at start-up — read them through the default import to see the current one.
 */
import { FerryError, UnknownExposeError } from '../common/errors.ts';
import { createHost, type Host } from '../runtime/index.ts';
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

await Promise.all(
  [...remotes].map(async (alias) => {
    try {
      for (const expose of await host.exposes(alias)) {
        const specifier = expose === '.' ? alias : `${alias}/${expose.slice(2)}`;
        // A live binding: functions read from it (named imports too) call the remote's current version, so
        // `import { validate } from 'authService/tokenValidator'` follows live updates without a restart.
        exports.set(specifier, await host.live(specifier));
      }
    } catch (error) {
      failures.set(alias, error as Error);
    }
  }),
);

for (const [alias, error] of failures) {
  const code = error instanceof FerryError ? ` [${error.code}]` : '';
  const line = `ferry/register: remote "${alias}" (config ${file}) could not be loaded: ${error.message}${code}`;
  if (onStartupFailure === 'exit') {
    process.stderr.write(`${line}\nThe app was not started. Set onStartupFailure: 'defer' to start it anyway.\n`);
    process.exit(1);
  }
  process.stderr.write(`${line}\nStarting anyway (onStartupFailure: 'defer'); using its modules will throw.\n`);
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

/** The host `ferry/register` created, for code that also wants `host.import()` (one registry, same instances). */
export { host };
