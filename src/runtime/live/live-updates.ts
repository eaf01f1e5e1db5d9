/**
 * Live updates: how another version of a remote becomes current. A candidate is fetched and verified
 * (trust/trusted-manifest.ts), gated (trust/version-gate.ts: a release marked breaking, the host's range, the shared
 * singletons in use),
 * initialised with the share scope and made to load every expose the current version serves, optionally
 * health-checked, and only then swapped in — one assignment to the remote's record, so every later `host.import()`
 * and every call through a live binding gets it. A candidate that fails any step never becomes current; the `refused`
 * event says why. The replaced version drains (calls through live bindings finish on it, up to `live.drainTimeout`) and
 * is disposed. Checks run when the watcher (watcher.ts) says so, on `host.update()`, and when a remote served from
 * the cache comes back with another manifest.
 */
import { FerryError, HttpStatusError, IntegrityError, TimeoutError, UpdateRefusedError } from '../../common/errors.ts';
import type { PushedManifest } from '../../manifest/index.ts';
import { inBackground } from '../background.ts';
import { channels, tracing, type UpdateMessage, type UpdateTraceContext } from '../channels.ts';
import type { Deadlines } from '../net/deadline.ts';
import { isUnavailable } from '../net/failures.ts';
import type { ResolvedLiveHost } from '../options/live-options.ts';
import type { ResolvedRemote } from '../options/remote-options.ts';
import type { RemoteRecord, RemoteRegistry } from '../remotes.ts';
import type { ShareScope } from '../sharing/share-scope.ts';
import type { ChannelDecision } from '../trust/channel.ts';
import type { TrustedManifest } from '../trust/manifest-checks.ts';
import type { ManifestRequest } from '../trust/trusted-manifest.ts';
import { checkContract, checkSharedSingletons, checkVersionRange } from '../trust/version-gate.ts';
import type { RemoteVersion } from '../version/remote-version.ts';
import { watchRemote } from './watcher.ts';

/** What a check of one remote found. */
export interface UpdateOutcome {
  remote: string;
  /**
   * `unchanged`: the current version is the newest; `activated`: a new version is now current; `refused`: a new
   * version failed a check and the current one stays; `failed`: the remote could not be asked (it is unavailable);
   * `not-loaded`: nothing of the remote is loaded yet (the next import loads the newest version).
   */
  status: 'unchanged' | 'activated' | 'refused' | 'failed' | 'not-loaded';
  /** The current version after the check. */
  version?: string;
  /** For `activated`: the version it replaced. */
  previous?: string;
  /** For `refused`: which check refused it (as the `refused` event's `reason`). */
  reason?: string;
  error?: Error;
}

export type UpdateTrigger = NonNullable<UpdateMessage['trigger']>;

/** What the host lends to its live updates. */
export interface LiveUpdateDeps {
  hostName: string;
  live: ResolvedLiveHost;
  registry: RemoteRegistry;
  /** The origins the host may fetch from (the push channel is opened only on those). */
  origins: ReadonlySet<string>;
  fetch: Parameters<typeof watchRemote>[0]['fetch'];
  /** Bounds the health check like the candidate's own initialisation. */
  deadlines: Deadlines;
  /** `request.pushed`: the manifest's bytes as a push event delivered them (verified like fetched ones, or fetched). */
  fetchManifest(record: RemoteRecord, remote: ResolvedRemote, request: ManifestRequest): Promise<TrustedManifest>;
  createVersion(record: RemoteRecord, remote: ResolvedRemote, trusted: TrustedManifest): RemoteVersion;
  scopeOf(name: string): ShareScope;
}

interface Refusal {
  reason: string;
  error: Error;
  /** For `contract`: the breaking exports. */
  breaking?: string[];
}

const refusal = (reason: string, error: unknown): Refusal => ({ reason, error: error as Error });

/**
 * A candidate's file that could not be fetched (down, timed out, an HTTP error such as the 404 of a file not
 * deployed yet) or whose bytes did not match (a deployment still copying files, a CDN edge serving the old
 * `remoteEntry.js`) may be fine a moment later: such a build is tried again, not remembered as refused.
 */
function isTransient(error: unknown): boolean {
  return isUnavailable(error) || error instanceof HttpStatusError || error instanceof IntegrityError;
}

/** What a channel decided, as update events carry it. */
function channelOf(decision: ChannelDecision): NonNullable<UpdateMessage['channel']> {
  return {
    name: decision.document.channel,
    sequence: decision.document.sequence,
    bucket: decision.bucket,
    inRollout: decision.inRollout,
    pinned: decision.pinned,
  };
}

const channelFields = (trusted: TrustedManifest) => (trusted.channel ? { channel: channelOf(trusted.channel) } : {});

export class LiveUpdates {
  readonly #deps: LiveUpdateDeps;
  readonly #listeners = new Map<UpdateMessage['type'], Set<(event: UpdateMessage) => void>>();
  #closed = false;

  constructor(deps: LiveUpdateDeps) {
    this.#deps = deps;
  }

  /** Adds a listener for one event type; returns a function that removes it. */
  on(type: UpdateMessage['type'], listener: (event: UpdateMessage) => void): () => void {
    if (!this.#listeners.has(type)) this.#listeners.set(type, new Set());
    this.#listeners.get(type)!.add(listener);
    return () => this.#listeners.get(type)?.delete(listener);
  }

  emit(event: Omit<UpdateMessage, 'host'>): void {
    const message = { host: this.#deps.hostName, ...event } as UpdateMessage;
    channels.update[message.type].publish(message);
    this.#deps.live.onUpdate?.(message);
    for (const listener of this.#listeners.get(message.type) ?? []) listener(message);
  }

  /**
   * Starts detection for a loaded remote (once), in the host's background context (background.ts): the watcher's
   * timers and streams carry nothing of the import that loaded the remote.
   */
  watch(record: RemoteRecord): void {
    const { live, manifestUrl } = record.options;
    if (this.#closed || record.watcher !== undefined) return;
    if (live.pollInterval === false && (!live.push || record.options.channel !== undefined)) return;
    record.watcher = inBackground(() =>
      watchRemote({
        manifestUrl,
        pollInterval: live.pollInterval,
        // The push channel announces builds; a channel moves without one (`ferry release promote`): polled.
        push: live.push && record.options.channel === undefined,
        // The push channel goes through the host's own transport and origin policy, as every other request does.
        fetch: this.#deps.fetch,
        origins: this.#deps.origins,
        // The bytes a stream delivered count only for the URL it was opened for: an alias re-pointed meanwhile fetches.
        check: async (trigger, integrity, pushed) => {
          const outcome = await this.check(
            record,
            trigger,
            integrity,
            undefined,
            pushed && record.options.manifestUrl === manifestUrl ? pushed : undefined,
          );
          // A check that could not ask the remote: the watcher waits longer before its next poll.
          return !(outcome.status === 'failed' && isUnavailable(outcome.error));
        },
        current: () => record.current?.integrity,
      }),
    );
  }

  /** Stops detection and retries for a remote. */
  unwatch(record: RemoteRecord): void {
    this.#clearRetry(record);
    record.watcher?.stop();
    record.watcher = undefined;
  }

  /**
   * Checks one remote for a new version and activates it if it passes. A request that arrives during a run gets one
   * more run after it, shared with the others that arrived meanwhile (a push may announce a build mid-check, a caller
   * of `host.update()` may have just deployed one).
   * `remote` overrides the record's options (pointing an alias at a new URL); `pushed` is the announced manifest's
   * bytes from the push event, if it carried them (a follow-up run fetches).
   */
  check(
    record: RemoteRecord,
    trigger: UpdateTrigger,
    announced?: string,
    remote?: ResolvedRemote,
    pushed?: PushedManifest,
  ): Promise<UpdateOutcome> {
    const { updates } = record;
    const running = updates.running;
    if (running && remote === undefined) {
      // One follow-up for everyone who asked meanwhile; after close() they get the last run's outcome.
      updates.next ??= running.then(
        (outcome) => {
          updates.next = undefined;
          return this.#closed ? outcome : this.check(record, trigger);
        },
        (error: unknown) => {
          updates.next = undefined;
          if (this.#closed) throw error;
          return this.check(record, trigger);
        },
      );
      return updates.next;
    }
    // Each check has a whole import's time of its own (manifest, files, initialisation, health check), whatever
    // context it was started from: a watcher's timers are created inside the first import, whose deadline they would
    // otherwise inherit — long past by the time a poll or an announcement comes.
    const deadlineAt = performance.now() + (remote ?? record.options).timeouts.import;
    const traced = () => this.#traced(record, trigger, announced, remote, pushed);
    const run = this.#deps.deadlines.run(deadlineAt, traced).finally(() => {
      if (updates.running === run) updates.running = undefined;
    });
    updates.running = run;
    return run;
  }

  /** {@link #check}, on `tracing:ferry:update:*` when someone subscribes. */
  #traced(
    record: RemoteRecord,
    trigger: UpdateTrigger,
    announced: string | undefined,
    override: ResolvedRemote | undefined,
    pushed: PushedManifest | undefined,
  ): Promise<UpdateOutcome> {
    if (!tracing.update.hasSubscribers) return this.#check(record, trigger, announced, override, pushed);
    const trace: UpdateTraceContext = { host: this.#deps.hostName, remote: record.alias, trigger };
    return tracing.update.tracePromise(async () => {
      const outcome = await this.#check(record, trigger, announced, override, pushed);
      const { status, version, previous, reason } = outcome;
      Object.assign(trace, { status, version, previous, reason });
      return outcome;
    }, trace);
  }

  async #check(
    record: RemoteRecord,
    trigger: UpdateTrigger,
    announced: string | undefined,
    override: ResolvedRemote | undefined,
    pushed: PushedManifest | undefined,
  ): Promise<UpdateOutcome> {
    const { alias } = record;
    const remote = override ?? record.options;
    const pending = record.pending;
    const current = await pending?.catch(() => undefined);
    if (!pending || !current || this.#closed || this.#deps.registry.get(alias) !== record) {
      return { remote: alias, status: 'not-loaded' };
    }
    const base = { remote: alias, version: current.version };
    if (announced !== undefined && announced === current.integrity) return { ...base, status: 'unchanged' };
    this.emit({ type: 'check', remote: alias, version: current.version, trigger });
    let trusted: TrustedManifest;
    try {
      // Never the cached copy: the host runs a version already, and a remote this check could not ask is a failed
      // check, asked again (#askAgain), not an unchanged one.
      trusted = await this.#deps.fetchManifest(record, remote, { pushed, staleIfError: false });
    } catch (error) {
      if (isUnavailable(error) || !(error instanceof FerryError)) {
        if (override === undefined) this.#askAgain(record, trigger);
        return { ...base, status: 'failed', error: error as Error };
      }
      // It answered with something that does not verify (signature, rollback, expiry, another remote's manifest).
      // Never remembered, and tried again with backoff: a deployment may be between writing the manifest and its
      // signature. Each try is verified from scratch, so trying again costs a request and risks nothing.
      this.emit({
        type: 'refused',
        remote: alias,
        previous: current.version,
        trigger,
        reason: 'verification',
        error,
        retry: true,
      });
      this.#retryLater(record);
      return { ...base, status: 'refused', reason: 'verification', error };
    }
    const { manifest } = trusted;
    // close() ran while the manifest was on its way: nothing is written or activated after it.
    if (this.#closed) return { ...base, status: 'unchanged' };
    if (trusted.integrity === current.integrity) {
      this.#clearRetry(record);
      // The current version, confirmed: its cache record gets the new time and ETag.
      await trusted.commit().catch(() => {});
      return { ...base, status: 'unchanged' };
    }
    const refused = record.updates.refused;
    if (refused?.integrity === trusted.integrity) return { ...base, status: 'refused', error: refused.error };
    const candidate = {
      remote: alias,
      version: manifest.ferry.version,
      release: manifest.ferry.release,
      trigger,
      ...channelFields(trusted),
    };
    this.emit({ type: 'found', ...candidate, previous: current.version });
    const refuse = ({ reason, error, breaking }: Refusal): UpdateOutcome => {
      record.updates.refused = { integrity: trusted.integrity, error };
      const named = breaking === undefined ? {} : { breaking };
      this.emit({ type: 'refused', ...candidate, previous: current.version, reason, ...named, error });
      return { ...base, status: 'refused', reason, error };
    };
    try {
      checkContract(remote, manifest, current.version);
    } catch (error) {
      const { breaking } = error as UpdateRefusedError;
      return refuse({ ...refusal('contract', error), ...(breaking ? { breaking: [...breaking] } : {}) });
    }
    try {
      checkVersionRange(remote, manifest);
    } catch (error) {
      return refuse(refusal('version-range', error));
    }
    try {
      checkSharedSingletons(remote, manifest, this.#deps.scopeOf);
    } catch (error) {
      return refuse(refusal('shared-conflict', error));
    }
    const next = this.#deps.createVersion(record, remote, trusted);
    const failed = await this.#prepare(next, current);
    if (failed) {
      next.dispose();
      if (!isTransient(failed.error)) return refuse(failed);
      // Not remembered: tried again soon (a deployment in progress), and at every later check.
      this.emit({ type: 'refused', ...candidate, previous: current.version, ...failed, retry: true });
      this.#retryLater(record);
      return { ...base, status: 'failed', error: failed.error };
    }
    this.#clearRetry(record);
    // Another check, a removal or close() changed the remote meanwhile: this candidate is no longer wanted.
    if (this.#closed || record.pending !== pending || this.#deps.registry.get(alias) !== record) {
      next.dispose();
      return { ...base, status: 'unchanged' };
    }
    record.pending = Promise.resolve(next);
    record.current = next;
    record.updates.refused = undefined;
    this.emit({ type: 'activated', ...candidate, previous: current.version });
    // Committed now that it is current (release and cache record); a failed write is a warning, never undoes the swap.
    await trusted.commit().catch(() => {});
    void this.retire(current);
    return { remote: alias, status: 'activated', version: next.version, previous: current.version };
  }

  /** Initialises the candidate, loads what the current version serves, runs the health check; or says why not. */
  async #prepare(next: RemoteVersion, current: RemoteVersion): Promise<Refusal | undefined> {
    try {
      await next.initialise();
      for (const key of current.importedKeys()) await next.import(key);
    } catch (error) {
      return refusal(error instanceof IntegrityError ? 'verification' : 'initialisation', error);
    }
    const { healthCheck } = this.#deps.live;
    if (!healthCheck) return undefined;
    const { alias, manifestUrl } = next.remote;
    try {
      const check = healthCheck({
        remote: alias,
        version: next.version,
        previous: current.version,
        import: (exposeKey) => next.import(exposeKey),
      });
      // A health check that never settles would hold every later update of this remote: it is bounded too.
      const healthy = await this.#deps.deadlines.within(
        Promise.resolve(check),
        next.remote.timeouts.import,
        (ms) =>
          new TimeoutError(`the health check did not settle within ${ms} ms`, {
            remote: alias,
            url: manifestUrl,
            phase: 'evaluation',
          }),
      );
      if (healthy === false) throw new Error('the health check returned false');
      return undefined;
    } catch (error) {
      return refusal(
        'health-check',
        new UpdateRefusedError(
          `Version ${next.version} of remote "${alias}" failed the host's health check ` +
            `(${(error as Error)?.message ?? String(error)}); version ${current.version} keeps serving.`,
          { remote: alias, url: manifestUrl, reason: 'health-check', cause: error },
        ),
      );
    }
  }

  /**
   * A call through a live binding ended on `version` of `record`. A rollout's release (a canary) that fails more than
   * the budget allows within its window is halted on this host: it goes back to the channel's release by itself, says
   * so (`rolled-back`, with the numbers), and does not take that release again until the channel's sequence moves.
   */
  observe(record: RemoteRecord, version: RemoteVersion, failed: boolean): void {
    const budget = this.#deps.live.canary;
    const channel = version.channel;
    if (!budget || !channel?.inRollout || this.#closed || record.current !== version) return;
    const now = performance.now();
    const calls = version.calls;
    calls.push({ at: now, failed });
    while (calls.length > 0 && now - calls[0]!.at > budget.window) calls.shift();
    if (!failed || calls.length < budget.minCalls) return;
    const errors = calls.filter((call) => call.failed).length;
    if (errors / calls.length <= budget.maxErrorRate) return;
    if (record.halted?.sequence === channel.document.sequence && record.halted.release === channel.release) return;
    record.halted = { release: channel.release, sequence: channel.document.sequence };
    this.emit({
      type: 'rolled-back',
      remote: record.alias,
      version: version.version,
      release: channel.release,
      trigger: 'halt',
      calls: calls.length,
      errors,
      channel: channelOf(channel),
      reason: 'error-budget',
    });
    void this.check(record, 'halt');
  }

  /** Lets calls through live bindings finish on `version` (up to `live.drainTimeout`), then disposes it. */
  async retire(version: RemoteVersion): Promise<void> {
    await version.drain(this.#deps.live.drainTimeout);
    if (version.disposed) return;
    version.dispose();
    this.emit({ type: 'disposed', remote: version.alias, version: version.version });
  }

  /**
   * A check could not ask the remote (refused, timed out, the breaker open). A poll is asked again by the next poll
   * (the watcher waits longer after each failed one); a caller of `host.update()` has the answer and decides. A check
   * that a push or a retry started is tried again with backoff, unless the watcher polls meanwhile anyway (no push
   * channel connected): without that, a build announced while the remote was overloaded would wait for the next
   * revalidation (10 × `pollInterval`), or forever with polling off.
   */
  #askAgain(record: RemoteRecord, trigger: UpdateTrigger): void {
    if (trigger === 'poll' || trigger === 'manual') return;
    const polls = record.options.live.pollInterval !== false && record.watcher?.pushConnected === false;
    if (!polls) this.#retryLater(record);
  }

  #retryLater(record: RemoteRecord): void {
    const { updates } = record;
    clearTimeout(updates.retryTimer);
    // In the background context: a retry of a check that `host.update()` started inside a request is not that request's.
    updates.retryTimer = inBackground(() =>
      setTimeout(() => {
        updates.retryTimer = undefined;
        if (!this.#closed) void this.check(record, 'retry');
      }, updates.retryBackoff.next()),
    );
    updates.retryTimer.unref();
  }

  #clearRetry(record: RemoteRecord): void {
    clearTimeout(record.updates.retryTimer);
    record.updates.retryTimer = undefined;
    record.updates.retryBackoff.reset();
  }

  /** Stops every watcher and retry; later checks do nothing, and a check in progress writes nothing more. */
  close(): void {
    this.#closed = true;
    for (const record of this.#deps.registry.values()) this.unwatch(record);
  }
}
