/**
 * `ferry build --watch`: builds once, then again whenever a file of the project changes, until stopped. Each build is
 * a normal `buildRemote()` (every file written atomically, the manifest last), so a host with live updates picks the
 * new version up through `ferry serve`'s push channel. A failed build prints its error and leaves the last good
 * output as it was (the build writes nothing before its bundles are made); the watch goes on.
 */
import { type FSWatcher, watch } from 'node:fs';
import { relative, sep } from 'node:path';
import { performance } from 'node:perf_hooks';

/** Options of {@link watchBuild}. */
export interface WatchBuildOptions {
  /** The project folder to watch (recursively). */
  root: string;
  /**
   * The build output folder (absolute), read at each change: its changes (the build's own writes) never start a
   * build. Undefined before the first build has told it.
   */
  outDir: () => string | undefined;
  /** Runs one build; a rejection is reported and the watch goes on. */
  build: () => Promise<void>;
  /** Reports a failed build. */
  onError: (error: unknown) => void;
  /** Reports the changed file that starts a build, and how long the build took. */
  log: (line: string) => void;
  /** Quiet time after the last change before a build starts, in ms. Default 50. */
  debounceMs?: number;
  /** Stops the watch; the promise resolves once a build under way has finished. */
  signal: AbortSignal;
}

/** Whether a change to `file` (relative to the root) should start a build. */
function relevant(file: string, outDir: string | undefined): boolean {
  if (file === '') return false;
  // The output folder, what is in it, and the folders it is in (the build creates `dist` for `dist/federation`).
  if (
    outDir !== undefined &&
    (file === outDir || file.startsWith(`${outDir}${sep}`) || outDir.startsWith(`${file}${sep}`))
  ) {
    return false;
  }
  // node_modules, .git, the config loader's temporary `.ferry.config.ts.<pid>-<hex>.mjs`, editors' swap files.
  return !file.split(sep).some((part) => part === 'node_modules' || part.startsWith('.') || part.endsWith('~'));
}

/**
 * Builds now and after every change, one build at a time (changes during a build start one more build after it).
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * process.once('SIGINT', () => controller.abort());
 * await watchBuild({ root, outDir, build, onError: console.error, log: console.log, signal: controller.signal });
 * ```
 */
export async function watchBuild(options: WatchBuildOptions): Promise<void> {
  const { root, signal } = options;
  const debounceMs = options.debounceMs ?? 50;
  let running: Promise<void> | undefined;
  let again: string | undefined;
  let timer: NodeJS.Timeout | undefined;

  const run = (reason: string) => {
    if (signal.aborted) return;
    if (running) {
      again = reason;
      return;
    }
    const started = performance.now();
    options.log(reason);
    running = options
      .build()
      .then(
        () => options.log(`built in ${Math.round(performance.now() - started)} ms; watching for changes`),
        (error: unknown) => {
          options.onError(error);
          options.log('build failed; the last good output is unchanged; watching for changes');
        },
      )
      .finally(() => {
        running = undefined;
        if (again !== undefined) {
          const next = again;
          again = undefined;
          run(next);
        }
      });
  };

  const watcher: FSWatcher = watch(root, { recursive: true }, (_event, name) => {
    const file = name === null ? '' : String(name);
    const outDir = options.outDir();
    if (!relevant(file, outDir === undefined ? undefined : relative(root, outDir))) return;
    clearTimeout(timer);
    timer = setTimeout(() => run(`changed: ${file.split(sep).join('/')}; building`), debounceMs);
  });
  run('building');
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  watcher.close();
  clearTimeout(timer);
  await running;
}
