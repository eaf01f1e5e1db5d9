/**
 * The instrumentation's metric instruments (names in semantics.ts), and the gauges' callbacks, which read what the
 * instrumentation remembers: each remote's active version and each breaker's last state.
 */
import type { Counter, Histogram, Meter, ObservableGauge } from '@opentelemetry/api';
import type { BreakerMessage } from '../runtime/channels.ts';
import { attributeNames, metricNames } from './semantics.ts';

export interface Instruments {
  importDuration: Histogram;
  verificationFailures: Counter;
  staleServes: Counter;
  updateOutcomes: Counter;
  breakerState: ObservableGauge;
  activeRelease: ObservableGauge;
  activeVersion: ObservableGauge;
}

/** What the gauges read. */
export interface GaugeState {
  /** `host\0remote` → the active version, and every version that was active before (reported as 0). */
  active: Map<string, { host: string; remote: string; version: string; release: number; before: Set<string> }>;
  /** `host\0remote` → the breaker's last state. */
  breakers: Map<string, { host: string; remote: string; state: BreakerMessage['state'] }>;
}

const BREAKER_STATES: readonly BreakerMessage['state'][] = ['closed', 'half-open', 'open'];

/** Creates the instruments on `meter`; the gauges read `state()` when collected (undefined: nothing to report). */
export function createInstruments(meter: Meter, state: () => GaugeState | undefined): Instruments {
  const instruments: Instruments = {
    importDuration: meter.createHistogram(metricNames.importDuration, {
      description: 'Duration of host.import() calls of remote modules.',
      unit: 's',
      // The semantic conventions' boundaries for request durations.
      advice: {
        explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10],
      },
    }),
    verificationFailures: meter.createCounter(metricNames.verificationFailures, {
      description: 'Manifests and files refused by a verification check, by reason (the ferry error code).',
      unit: '{failure}',
    }),
    staleServes: meter.createCounter(metricNames.staleServes, {
      description: 'Times a remote was unavailable and its last verified copy was served from the cache.',
      unit: '{serve}',
    }),
    updateOutcomes: meter.createCounter(metricNames.updateOutcomes, {
      description: 'Live updates activated or refused, by outcome and reason.',
      unit: '{update}',
    }),
    breakerState: meter.createObservableGauge(metricNames.breakerState, {
      description: "1 for each remote's current circuit-breaker state, 0 for the others.",
      unit: '{state}',
    }),
    activeRelease: meter.createObservableGauge(metricNames.activeRelease, {
      description: "The release number of each remote's active version.",
      unit: '{release}',
    }),
    activeVersion: meter.createObservableGauge(metricNames.activeVersion, {
      description:
        "1 for each remote's active version (the ferry.remote.version attribute), 0 for versions active before.",
      unit: '{version}',
    }),
  };
  instruments.breakerState.addCallback((result) => {
    for (const { host, remote, state: current } of state()?.breakers.values() ?? []) {
      for (const candidate of BREAKER_STATES) {
        result.observe(candidate === current ? 1 : 0, {
          [attributeNames.host]: host,
          [attributeNames.remote]: remote,
          [attributeNames.breakerState]: candidate,
        });
      }
    }
  });
  // Two gauges rather than one with the version as an attribute and the release as its value: a cumulative
  // exporter keeps reporting every attribute set it ever saw, so a replaced version must be observed as 0.
  instruments.activeRelease.addCallback((result) => {
    for (const { host, remote, release } of state()?.active.values() ?? []) {
      result.observe(release, { [attributeNames.host]: host, [attributeNames.remote]: remote });
    }
  });
  instruments.activeVersion.addCallback((result) => {
    for (const { host, remote, version, before } of state()?.active.values() ?? []) {
      const where = { [attributeNames.host]: host, [attributeNames.remote]: remote };
      for (const old of before) if (old !== version) result.observe(0, { ...where, [attributeNames.version]: old });
      result.observe(1, { ...where, [attributeNames.version]: version });
    }
  });
  return instruments;
}
