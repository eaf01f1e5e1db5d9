/**
 * Keeps a Module Federation container's asynchronous failures from taking the host down. A container's chunk loading
 * runs in callbacks and `async` functions whose errors nobody awaits (the measured case: @module-federation/node's
 * `httpVmStrategy` threw `ERR_INVALID_PROTOCOL` inside an async function, an unhandled rejection that ended the host).
 * While a container's `init()`, `get()` or factory runs, an unhandled rejection or uncaught exception whose stack
 * runs through that version's code (its `ferry://name@version/` files, or its folder) fails that step with an
 * EvaluationError instead. Anything else gets what Node would have done without ferry's listener: the host's own
 * listeners handle it, or Node's `--unhandled-rejections` mode (default `throw`: an uncaught exception), and an
 * uncaught exception is printed and ends the process with code 1.
 *
 * The listeners are process-wide by nature (like source-maps.ts's stack hook): installed while at least one step runs,
 * removed after the last one.
 */
import { EvaluationError } from '../../common/errors.ts';

interface Watch {
  /** Strings a stack frame of this version's code contains. */
  marks: readonly string[];
  fail(error: unknown): void;
}

const watches = new Set<Watch>();

const stackOf = (error: unknown) =>
  error instanceof Error ? String(error.stack ?? '') : typeof error === 'string' ? error : '';

function owner(error: unknown): Watch | undefined {
  const stack = stackOf(error);
  if (stack === '') return undefined;
  for (const watch of watches) if (watch.marks.some((mark) => stack.includes(mark))) return watch;
  return undefined;
}

/** Node's `--unhandled-rejections` mode (flags or NODE_OPTIONS); `throw` is the default. */
function rejectionMode(): string {
  const flags = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
  const flag = flags.findLast((arg) => arg.startsWith('--unhandled-rejections='));
  return flag?.slice('--unhandled-rejections='.length) ?? 'throw';
}

function onRejection(reason: unknown): void {
  const watch = owner(reason);
  if (watch) {
    watch.fail(reason);
    return;
  }
  // Not this container's: what Node would have done had ours not been the only listener.
  if (process.listenerCount('unhandledRejection') !== 1) return;
  const mode = rejectionMode();
  if (mode === 'none') return;
  if (mode === 'warn' || mode === 'warn-with-error-code') {
    process.emitWarning(
      `Unhandled promise rejection: ${stackOf(reason) || String(reason)}`,
      'UnhandledPromiseRejectionWarning',
    );
    if (mode === 'warn-with-error-code') process.exitCode = 1;
    return;
  }
  process.nextTick(() => {
    throw reason;
  });
}

function onException(error: unknown): void {
  const watch = owner(error);
  if (watch) {
    watch.fail(error);
    return;
  }
  if (process.listenerCount('uncaughtException') === 1) {
    // Node's default for an uncaught exception: print it and exit with code 1.
    process.removeListener('uncaughtException', onException);
    console.error(error);
    process.exit(1);
  }
}

/**
 * Runs `work` (a step of a container's evaluation) so that an asynchronous failure of the container's own code
 * rejects it with an EvaluationError naming `what`, instead of crashing the process.
 */
export function contain<T>(
  work: () => Promise<T>,
  marks: readonly string[],
  describe: { alias: string; url: string; version: string; what: string },
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const watch: Watch = {
      marks,
      fail(error) {
        // The step's own promise may never settle (a chunk whose loader died): it is given up here.
        done();
        reject(
          new EvaluationError(
            `Remote "${describe.alias}" (${describe.url}) version ${describe.version} failed asynchronously while ` +
              `evaluating ${describe.what}: ${(error as Error)?.message ?? String(error)}. The failure was contained; ` +
              "the host keeps running. See the cause's stack.",
            { remote: describe.alias, url: describe.url, expose: describe.what, cause: error },
          ),
        );
      },
    };
    if (watches.size === 0) {
      process.on('unhandledRejection', onRejection);
      process.on('uncaughtException', onException);
    }
    watches.add(watch);
    const done = () => {
      if (!watches.delete(watch)) return;
      if (watches.size === 0) {
        process.removeListener('unhandledRejection', onRejection);
        process.removeListener('uncaughtException', onException);
      }
    };
    work().then(
      (value) => {
        // Node reports an unhandled rejection after the microtasks of the turn that made it: a factory that left one
        // behind is caught by waiting that turn out before the step counts as done.
        setImmediate(() => {
          done();
          resolve(value);
        });
      },
      (error: unknown) => {
        done();
        reject(error);
      },
    );
  });
}
