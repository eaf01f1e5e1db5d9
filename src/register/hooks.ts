/**
 * Node module hooks (`module.registerHooks`, synchronous, in-thread) that make `require('remote/expose')` and
 * `import { named } from 'remote/expose'` resolve to modules the host has already loaded and verified.
 *
 * A CommonJS shim would serve `require` and default imports but not named imports, so each remote module is
 * presented as a generated ES module: one export per key of the loaded exports, a `default` export, and the
 * `'module.exports'` export name, which makes `require()` of it return the loaded object itself.
 * Specifiers that are not remote fall through to Node untouched.
 *
 * Node keeps a module that failed to evaluate, failed, under its URL. A module of a remote that is not loaded (yet)
 * therefore resolves to a URL naming the current load failure (`ferry:authService/tokenValidator?failure=2`): a
 * later `require`/`import()` after the next failed attempt throws the new error, and one after the remote has
 * loaded gets the plain URL and the loaded module.
 */
import { registerHooks } from 'node:module';

/** What the hooks read: loaded exports by specifier, and load failures by remote alias (`defer` mode). */
export interface RemoteModuleTable {
  /** Configured remote aliases. */
  remotes: ReadonlySet<string>;
  exports: ReadonlyMap<string, unknown>;
  failures: ReadonlyMap<string, Error>;
}

const SCHEME = 'ferry:';
// The generated modules reach the table through one well-known global: module hooks give them no other channel.
const TABLE = Symbol.for('ferry.register.table');

/** A number per load failure (an Error object), for the URL of a module that throws it. */
const failureIds = new WeakMap<Error, number>();
let nextFailureId = 0;

function failureId(error: Error): number {
  let id = failureIds.get(error);
  if (id === undefined) {
    id = ++nextFailureId;
    failureIds.set(error, id);
  }
  return id;
}

function remoteAlias(specifier: string, remotes: ReadonlySet<string>): string | undefined {
  const alias = specifier.split('/', 1)[0]!;
  return remotes.has(alias) ? alias : undefined;
}

/** The source of the ES module standing for one remote module. */
function moduleSource(specifier: string, table: RemoteModuleTable): string {
  const lookup = `globalThis[Symbol.for(${JSON.stringify(TABLE.description)})]`;
  const alias = specifier.split('/', 1)[0]!;
  if (!table.exports.has(specifier)) {
    return `throw ${lookup}.missing(${JSON.stringify(specifier)}, ${JSON.stringify(alias)});\n`;
  }
  const value = table.exports.get(specifier);
  const names =
    typeof value === 'object' && value !== null
      ? Object.keys(value).filter((key) => key !== 'default' && key !== 'module.exports' && key !== '__esModule')
      : [];
  const lines = [
    `const m = ${lookup}.get(${JSON.stringify(specifier)});`,
    // esbuild's CommonJS output of an ES module marks itself with __esModule; its default is the `default` key.
    "const d = m !== null && typeof m === 'object' && m.__esModule && 'default' in m ? m.default : m;",
    'export { d as default, m as "module.exports" };',
    ...names.map(
      (name, index) =>
        `const e${index} = m[${JSON.stringify(name)}];\nexport { e${index} as ${JSON.stringify(name)} };`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Installs the hooks. `missing` builds the error thrown when code imports a remote module that is not loaded (its
 * remote failed at start-up in `defer` mode, or it does not expose that module).
 */
export function installRemoteModuleHooks(
  table: RemoteModuleTable,
  missing: (specifier: string, alias: string) => Error,
): void {
  (globalThis as Record<symbol, unknown>)[TABLE] = {
    get: (specifier: string) => table.exports.get(specifier),
    missing,
  };
  registerHooks({
    resolve(specifier, context, nextResolve) {
      const alias = remoteAlias(specifier, table.remotes);
      if (alias === undefined) return nextResolve(specifier, context);
      const failure = table.exports.has(specifier) ? undefined : table.failures.get(alias);
      const query = failure === undefined ? '' : `?failure=${failureId(failure)}`;
      return { url: `${SCHEME}${specifier}${query}`, format: 'module', shortCircuit: true };
    },
    load(url, context, nextLoad) {
      if (!url.startsWith(SCHEME)) return nextLoad(url, context);
      return {
        format: 'module',
        source: moduleSource(url.slice(SCHEME.length).split('?', 1)[0]!, table),
        shortCircuit: true,
      };
    },
  });
}
