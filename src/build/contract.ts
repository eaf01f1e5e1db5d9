/**
 * The contract check of `ferry build`: each expose's API (its export names and kinds, and its declaration file)
 * against the baseline release's, classified per export as breaking, compatible or unchanged. Declarations that
 * differ are related with TypeScript's checker (contract-types.ts) when `@typescript/typescript6` is installed;
 * without it, only names and kinds are compared and the report says what was not checked. A breaking change is
 * refused unless the version is a new major one (outside `^<baseline>`) or the build passes an override, which the
 * manifest then records.
 */
import { BreakingChangeError } from '../common/errors.ts';
import * as semver from '../common/semver.ts';
import type { BreakingChange, ContractSection, ExportKind } from '../manifest/index.ts';
import type { ExposeExports } from './api-exports.ts';
import type { Baseline } from './baseline.ts';
import { compareDeclarations, type ExportVerdict, loadTypeScript } from './contract-types.ts';
import { REMOTE_PLACEHOLDER } from './types-bundle.ts';

/** One expose's comparison: every export's verdict, or the whole expose added or removed. */
export interface ExposeReport {
  key: string;
  /** `removed`: the baseline had this expose and this build has not (breaking); `added`: new (compatible). */
  status?: 'added' | 'removed';
  verdicts: ExportVerdict[];
}

/** The comparison of a build's API with its baseline release. */
export interface ContractReport {
  /** The baseline's version and where it came from. */
  baseline: { version: string; source: string };
  /** `types` when every changed declaration was related by TypeScript; `names` otherwise. */
  checked: 'types' | 'names';
  /** What could not be checked, and why (no TypeScript, an expose without declarations). */
  unchecked: string[];
  exposes: ExposeReport[];
  breaking: BreakingChange[];
}

/** This build's API: export names and kinds, and the declaration text of each expose that has one. */
export interface BuildApi {
  exports: ExposeExports;
  types: ReadonlyMap<string, string>;
}

const TYPESCRIPT_HINT = 'install @typescript/typescript6 (npm i -D @typescript/typescript6) to compare types';

/** Names and kinds only: a removed export, or one whose kind changed (a class that became a function). */
function compareNames(
  before: Readonly<Record<string, ExportKind>>,
  after: Readonly<Record<string, ExportKind>>,
): ExportVerdict[] {
  const verdicts: ExportVerdict[] = [];
  for (const [name, kind] of Object.entries(before)) {
    // Own keys only: an export named `constructor` or `toString` is not Object.prototype's.
    const now = Object.hasOwn(after, name) ? after[name] : undefined;
    const was = `${kind} ${name}`;
    if (now === undefined) verdicts.push({ name, status: 'breaking', change: 'removed', was });
    else if (now !== kind) {
      verdicts.push({ name, status: 'breaking', change: `was a ${kind}, now a ${now}`, was, now: `${now} ${name}` });
    } else verdicts.push({ name, status: 'unchanged', change: '' });
  }
  for (const [name, kind] of Object.entries(after)) {
    if (!Object.hasOwn(before, name))
      verdicts.push({ name, status: 'compatible', change: 'added', now: `${kind} ${name}` });
  }
  return verdicts;
}

/** The declarations related by TypeScript: verdicts per expose key, for the exposes whose declarations differ. */
export interface TypedComparison {
  /** The exposes whose declarations differ between the two releases. */
  changed: string[];
  /** False when TypeScript's compiler API is not installed (then `verdicts` is empty). */
  available: boolean;
  verdicts: Map<string, ExportVerdict[]>;
}

/**
 * Relates the declarations that differ between `baseline` and this build's (`types`, by expose key) with
 * TypeScript's checker. It needs no bundle, so the build starts it as soon as the declarations are written, while
 * esbuild is still bundling.
 *
 * @example
 * ```ts
 * const typed = await compareTypes(baseline, new Map([['./tokenValidator', text]]), config.root);
 * ```
 */
export async function compareTypes(
  baseline: Baseline,
  types: ReadonlyMap<string, string>,
  root: string,
): Promise<TypedComparison> {
  const pairs: Array<{ key: string; before: string; after: string }> = [];
  for (const [key, after] of types) {
    const before = baseline.types.get(key);
    // Byte for byte the same declarations: nothing to ask the compiler.
    if (before !== undefined && before !== after) pairs.push({ key, before, after });
  }
  const changed = pairs.map((pair) => pair.key);
  if (pairs.length === 0) return { changed, available: true, verdicts: new Map() };
  const ts = await loadTypeScript();
  if (ts === undefined) return { changed, available: false, verdicts: new Map() };
  return {
    changed,
    available: true,
    verdicts: compareDeclarations(ts, { root, placeholder: REMOTE_PLACEHOLDER, pairs }),
  };
}

/**
 * Compares `api` with `baseline`, expose by expose and export by export. `typed` is {@link compareTypes}' result
 * when the caller started it early.
 *
 * @example
 * ```ts
 * const report = await compareApi(baseline, { exports, types }, config.root);
 * report.breaking; // [{ expose: './tokenValidator', export: 'validateJwtToken', change: 'new required parameter `options`' }]
 * ```
 */
export async function compareApi(
  baseline: Baseline,
  api: BuildApi,
  root: string,
  typed: Promise<TypedComparison> = compareTypes(baseline, api.types, root),
): Promise<ContractReport> {
  const unchecked: string[] = [];
  const exposes: ExposeReport[] = [];
  const { changed, available, verdicts } = await typed;
  let namesOnly = false;
  const old = baseline.manifest.ferry.exposes;
  for (const [key, expose] of Object.entries(old)) {
    const exports = api.exports.get(key);
    if (exports === undefined) {
      exposes.push({ key, status: 'removed', verdicts: [] });
      continue;
    }
    const report: ExposeReport = { key, verdicts: [] };
    exposes.push(report);
    const names = compareNames(expose.exports ?? {}, exports);
    const before = baseline.types.get(key);
    const after = api.types.get(key);
    if (before !== undefined && after !== undefined && !changed.includes(key)) {
      report.verdicts = Object.keys(exports).map((name) => ({ name, status: 'unchanged', change: '' }));
    } else if (changed.includes(key) && verdicts.has(key)) {
      // A value export that vanished from the JavaScript is breaking whatever the types say; kinds are left to
      // the types here (`const f = make()` and `function f` may well have one type).
      const typedVerdicts = verdicts.get(key) ?? [];
      const breaks = (name: string) =>
        typedVerdicts.some((verdict) => verdict.name === name && verdict.status === 'breaking');
      const extra = names.filter((named) => named.change === 'removed' && !breaks(named.name));
      report.verdicts = [
        ...typedVerdicts.filter((verdict) => !extra.some((named) => named.name === verdict.name)),
        ...extra,
      ];
    } else {
      namesOnly = true;
      report.verdicts = names;
      if (changed.includes(key) && available) {
        unchecked.push(
          `${key}: its declarations are not in the layout ferry build writes, so only names were compared`,
        );
      } else if (changed.includes(key)) {
        unchecked.push(
          `${key}: declarations changed, but TypeScript's compiler API is not installed, so parameter and return ` +
            `types were not compared (${TYPESCRIPT_HINT})`,
        );
      } else if (before !== undefined || after !== undefined) {
        unchecked.push(
          `${key}: only one of the two releases has declarations, so only export names and kinds were compared`,
        );
      }
    }
  }
  for (const key of api.exports.keys()) {
    if (!Object.hasOwn(old, key)) exposes.push({ key, status: 'added', verdicts: [] });
  }
  const breaking: BreakingChange[] = [];
  for (const report of exposes) {
    if (report.status === 'removed') breaking.push({ expose: report.key, export: '*', change: 'expose removed' });
    for (const verdict of report.verdicts) {
      if (verdict.status === 'breaking') {
        breaking.push({ expose: report.key, export: verdict.name, change: verdict.change });
      }
    }
  }
  return {
    baseline: { version: baseline.manifest.ferry.version, source: baseline.source },
    checked: namesOnly ? 'names' : 'types',
    unchecked,
    exposes,
    breaking,
  };
}

/** Whether `version` may break `baseline`'s API: outside `^<baseline>` and above it (1.4.0 -> 2.0.0, 0.3.1 -> 0.4.0). */
export function isNewMajor(version: string, baseline: string): boolean {
  const options = { includePrerelease: true };
  return !semver.satisfies(version, `^${baseline}`, options) && semver.satisfies(version, `>${baseline}`, options);
}

/** The breaking changes as a person reads them: expose, export and change, then the declarations side by side. */
export function formatBreaking(report: ContractReport): string {
  const lines: string[] = [];
  for (const expose of report.exposes) {
    if (expose.status === 'removed') lines.push(`  ${expose.key}: the whole expose was removed`);
    for (const verdict of expose.verdicts) {
      if (verdict.status !== 'breaking') continue;
      lines.push(`  ${expose.key}  ${verdict.name}: ${verdict.change}`);
      if (verdict.was !== undefined) lines.push(`      was  ${verdict.was}`);
      lines.push(`      now  ${verdict.now ?? '(gone)'}`);
    }
  }
  return lines.join('\n');
}

/**
 * Refuses a breaking change without a new major version or an override (a {@link BreakingChangeError}), and returns
 * the manifest's `contract` section.
 *
 * @example
 * ```ts
 * manifest.ferry.contract = enforceContract(report, { name: 'authService', version: '1.0.1' });
 * ```
 */
export function enforceContract(
  report: ContractReport,
  build: { name: string; version: string; override?: string },
): ContractSection {
  const section: ContractSection = {
    baseline: report.baseline.version,
    checked: report.checked,
    breaking: report.breaking,
  };
  if (report.breaking.length === 0 || isNewMajor(build.version, report.baseline.version)) return section;
  if (build.override !== undefined) return { ...section, override: build.override };
  const next = `${Number(report.baseline.version.split('.')[0]) + 1}.0.0`;
  throw new BreakingChangeError(
    `Remote "${build.name}" ${build.version} breaks its API compared with ${report.baseline.version} ` +
      `(${report.baseline.source}), and ${build.version} is not a new major version; nothing was written.\n` +
      `${formatBreaking(report)}\n` +
      `Hosts written against ${report.baseline.version} would fail at run time. Either release it as a new major ` +
      `version (version ${next} in package.json or the config), or, when you know no host uses these exports, ` +
      'build with --allow-breaking "<reason>": the manifest records the breaking exports and the reason, and hosts ' +
      "refuse it as a live update unless it is inside their remote's versionRange.",
    { remote: build.name, changes: report.breaking },
  );
}

/** One line per expose for the build summary: how many exports are breaking, compatible, unchanged. */
export function formatContractSummary(report: ContractReport, override?: string): string[] {
  const lines = [
    `API compared with ${report.baseline.version} (${report.baseline.source}), ${report.checked === 'types' ? "by TypeScript's assignability" : 'by export names and kinds only'}:`,
  ];
  for (const expose of report.exposes) {
    if (expose.status !== undefined) {
      lines.push(`  ${expose.key}: expose ${expose.status}${expose.status === 'removed' ? ' (breaking)' : ''}`);
      continue;
    }
    const of = (status: ExportVerdict['status']) => expose.verdicts.filter((verdict) => verdict.status === status);
    const part = (status: ExportVerdict['status']) => {
      const list = of(status);
      if (list.length === 0) return undefined;
      const names = status === 'unchanged' ? '' : ` (${list.map((verdict) => verdict.name).join(', ')})`;
      return `${list.length} ${status}${names}`;
    };
    const parts = [part('breaking'), part('compatible'), part('unchanged')].filter((text) => text !== undefined);
    lines.push(`  ${expose.key}: ${parts.length > 0 ? parts.join(', ') : 'no exports'}`);
  }
  for (const note of report.unchecked) lines.push(`  not checked: ${note}`);
  if (report.breaking.length > 0) {
    lines.push(
      override === undefined
        ? '  Breaking changes released as a new major version; hosts take it live only inside their versionRange.'
        : `  Breaking changes released with --allow-breaking (${override}); recorded in the manifest.`,
    );
  }
  return lines;
}
