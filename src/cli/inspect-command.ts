/**
 * `ferry inspect <url>`: prints what a host's inspector shows (ferry/inspector mounted at `<url>`): its remotes with
 * version, release, source, age, key id, breaker and last update; the federation graph as a tree; the shared
 * packages and why each version was chosen; recent imports and events. `--json` prints the snapshot as it came.
 */
import { parseArgs } from 'node:util';
import { HttpStatusError, InvalidOptionError, NetworkError } from '../common/errors.ts';
import type { InspectorSnapshot } from '../inspector/index.ts';

const HELP = `Usage: ferry inspect <url> [options]

Prints the state of a running host whose inspector (ferry/inspector) is mounted at <url>,
e.g. ferry inspect http://127.0.0.1:3000/ferry

Options:
  --token <token>   the inspector's token (default: $FERRY_INSPECTOR_TOKEN)
  --json            print the JSON snapshot instead of tables
  -h, --help        show this help
`;

/**
 * Runs `ferry inspect` and resolves to the exit code.
 *
 * @example
 * ```ts
 * process.exitCode = await runInspect(['http://127.0.0.1:3000/ferry', '--token', token]);
 * ```
 */
export async function runInspect(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { token: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const [target] = positionals;
  if (target === undefined || positionals.length > 1) {
    throw new InvalidOptionError('ferry inspect takes one URL: where the host mounts its inspector.', {
      option: 'url',
    });
  }
  let base: URL;
  try {
    base = new URL(target.endsWith('/') ? target : `${target}/`);
  } catch {
    throw new InvalidOptionError(
      `"${target}" is not a URL; give the inspector's address, e.g. http://127.0.0.1:3000/ferry`,
      {
        option: 'url',
      },
    );
  }
  const api = new URL('api', base);
  const token = values.token ?? process.env['FERRY_INSPECTOR_TOKEN'];
  let response: Response;
  try {
    response = await fetch(api, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
  } catch (error) {
    throw new NetworkError(`Could not reach the inspector at ${api.href}: ${(error as Error).message}.`, {
      url: api.href,
      cause: error,
    });
  }
  if (!response.ok) {
    const hint =
      response.status === 401
        ? ' Pass its token with --token or FERRY_INSPECTOR_TOKEN.'
        : response.status === 403
          ? ' The inspector answers only loopback clients unless the host gives it a token.'
          : '';
    throw new HttpStatusError(`The inspector at ${api.href} answered ${response.status}.${hint}`, {
      url: api.href,
      status: response.status,
    });
  }
  const snapshot = (await response.json()) as InspectorSnapshot;
  process.stdout.write(values.json ? `${JSON.stringify(snapshot, null, 2)}\n` : formatSnapshot(snapshot));
  return 0;
}

function age(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const s = Math.round(ms / 1000);
  return s < 90 ? `${s}s` : s < 5400 ? `${Math.round(s / 60)}min` : `${Math.round(s / 3600)}h`;
}

/** Rows as aligned columns. */
function columns(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The snapshot as the terminal shows it. */
export function formatSnapshot(s: InspectorSnapshot): string {
  const out: string[] = [`ferry host "${s.host}" at ${s.generatedAt}`, ''];
  out.push('Remotes');
  out.push(
    columns([
      ['remote', 'version', 'release', 'source', 'age', 'key id', 'breaker', 'last update', 'url'],
      ...s.remotes.map((r) => [
        r.alias,
        r.version ?? '-',
        r.release === undefined ? '-' : String(r.release),
        r.source,
        age(r.ageMs),
        r.keyId ?? 'unsigned',
        r.breaker?.state ?? 'off',
        r.lastUpdate
          ? [
              r.lastUpdate.type,
              r.lastUpdate.version,
              r.lastUpdate.reason && `(${r.lastUpdate.reason})`,
              r.lastUpdate.code,
            ]
              .filter(Boolean)
              .join(' ')
          : '-',
        r.url,
      ]),
    ]),
  );
  out.push('', 'Federation graph');
  const hostId = s.graph.nodes.find((n) => n.column === 0)?.id;
  const labelOf = new Map(s.graph.nodes.map((n) => [n.id, `${n.label}${n.detail ? ` (${n.detail})` : ''}`]));
  out.push(labelOf.get(hostId ?? '') ?? s.host);
  const hostUses = s.graph.edges.filter((e) => e.from === hostId && e.kind !== 'loads');
  const loads = s.graph.edges.filter((e) => e.from === hostId && e.kind === 'loads');
  for (const [i, edge] of loads.entries()) {
    const last = i === loads.length - 1 && hostUses.length === 0;
    out.push(`${last ? '└─' : '├─'} ${labelOf.get(edge.to)}`);
    const below = s.graph.edges.filter((e) => e.from === edge.to);
    for (const [j, use] of below.entries()) {
      out.push(
        `${last ? '   ' : '│  '}${j === below.length - 1 ? '└─' : '├─'} ${use.kind} ${labelOf.get(use.to)} ${use.label ?? ''}`.trimEnd(),
      );
    }
  }
  for (const [i, edge] of hostUses.entries()) {
    out.push(
      `${i === hostUses.length - 1 ? '└─' : '├─'} ${edge.kind} ${labelOf.get(edge.to)} ${edge.label ?? ''}`.trimEnd(),
    );
  }
  out.push('', 'Shared packages');
  const shared: string[][] = [['package', 'provided', 'chosen', 'who got what, and why']];
  for (const [scope, modules] of Object.entries(s.shared)) {
    for (const [name, m] of Object.entries(modules)) {
      const uses = m.uses.map((u) => `${u.consumer} -> ${u.version} from ${u.from}: ${u.reason}`);
      shared.push([
        scope === 'default' ? name : `${scope}/${name}`,
        m.provided.map((p) => `${p.version} by ${p.from}`).join(', '),
        m.chosen.join(', '),
        uses[0] ?? '-',
      ]);
      for (const use of uses.slice(1)) shared.push(['', '', '', use]);
    }
  }
  out.push(columns(shared));
  out.push('', 'Recent imports');
  out.push(
    s.imports.length === 0
      ? '(none)'
      : columns([
          ['time', 'import', 'version', 'ms', 'result'],
          ...s.imports
            .slice(0, 10)
            .map((i) => [
              i.at.slice(11, 19),
              `${i.remote}/${i.expose.slice(2)}`,
              i.version ?? '-',
              i.durationMs.toFixed(1),
              i.code ?? 'ok',
            ]),
        ]),
  );
  out.push('', 'Recent events');
  out.push(
    s.events.length === 0
      ? '(none)'
      : columns(
          s.events.slice(0, 15).map((e) => [e.at.slice(11, 19), e.type, e.remote ?? '', e.summary, e.code ?? '']),
        ),
  );
  return `${out.join('\n')}\n`;
}
