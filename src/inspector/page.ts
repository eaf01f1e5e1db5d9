/**
 * The inspector's page: one HTML document with its style and script inline (allowed by a per-response nonce in the
 * Content-Security-Policy; nothing is loaded from elsewhere). The script reads `api` for the data and listens on
 * `events` (server-sent events) to read it again when something happens, so the page updates without a reload.
 * Values are written with `textContent`; the graph's SVG comes escaped from the server (graph.ts).
 */

const STYLE = `
:root { color-scheme: light dark; --fg: #1d2430; --muted: #5d6b7e; --bg: #fbfcfe; --card: #fff; --line: #d5dbe5;
  --host: #2f6fdf; --remote: #0f8a6a; --shared: #8a4fd0; --bad: #c73a3a; --warn: #c98a12; }
@media (prefers-color-scheme: dark) { :root { --fg: #e3e8f0; --muted: #97a3b5; --bg: #12161d; --card: #1a2029; --line: #2c3542; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 14px 24px; border-bottom: 1px solid var(--line); display: flex; gap: 16px; align-items: baseline; }
header h1 { font-size: 18px; margin: 0; }
header .status { color: var(--muted); font-size: 12px; }
header .live { color: var(--remote); }
main { padding: 16px 24px; display: grid; gap: 18px; }
section { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 16px; overflow-x: auto; }
h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; white-space: pre-line; }
th { color: var(--muted); font-weight: 600; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.pill { display: inline-block; padding: 0 7px; border-radius: 9px; font-size: 12px; border: 1px solid currentColor; }
.ok { color: var(--remote); } .bad { color: var(--bad); } .warn { color: var(--warn); } .muted { color: var(--muted); }
#graph svg { max-width: 100%; height: auto; }
#graph .node rect { fill: var(--card); stroke-width: 2; }
#graph .node.host rect { stroke: var(--host); } #graph .node.remote rect { stroke: var(--remote); }
#graph .node.shared rect { stroke: var(--shared); }
#graph .node.breaker-open rect { stroke: var(--bad); } #graph .node.breaker-half-open rect { stroke: var(--warn); }
#graph text { fill: var(--fg); font-size: 13px; } #graph text.detail { fill: var(--muted); font-size: 11px; }
#graph .edge { fill: none; stroke: var(--muted); stroke-width: 1.5; }
#graph .edge.provides { stroke-dasharray: 4 4; opacity: .7; } #graph .edge.uses { stroke: var(--shared); }
#graph .edge-label { fill: var(--muted); font-size: 10px; } #graph marker path { fill: var(--muted); }
`;

const SCRIPT = `
const base = location.pathname.endsWith('/') ? location.pathname : location.pathname + '/';
const token = new URLSearchParams(location.search).get('token');
const query = token ? '?token=' + encodeURIComponent(token) : '';
const $ = (id) => document.getElementById(id);
function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
function row(cells) { const tr = el('tr'); for (const c of cells) { const td = el('td'); if (c instanceof Node) td.append(c); else td.textContent = c ?? '—'; tr.append(td); } return tr; }
function table(id, head, rows) {
  const t = $(id); t.replaceChildren();
  const tr = el('tr'); for (const h of head) tr.append(el('th', h)); t.append(tr);
  for (const r of rows) t.append(row(r));
  if (rows.length === 0) { const empty = row(['nothing yet']); empty.firstChild.colSpan = head.length; empty.className = 'muted'; t.append(empty); }
}
function age(ms) { if (ms === undefined) return '—'; const s = Math.round(ms / 1000); return s < 90 ? s + ' s' : s < 5400 ? Math.round(s / 60) + ' min' : Math.round(s / 3600) + ' h'; }
function pill(text, cls) { return el('span', text, 'pill ' + cls); }
function update(u) { if (!u) return '—'; return [u.type, u.version, u.reason && '(' + u.reason + ')', u.code, new Date(u.at).toLocaleTimeString()].filter(Boolean).join(' '); }
function render(s) {
  $('host').textContent = s.host;
  $('generated').textContent = 'updated ' + new Date(s.generatedAt).toLocaleTimeString();
  $('graph').innerHTML = s.graph.svg;
  table('remotes', ['remote', 'version', 'release', 'source', 'age', 'key id', 'breaker', 'last check', 'last update', 'last error', 'url'],
    s.remotes.map((r) => [el('strong', r.alias), r.version, r.release, pill(r.source, r.source === 'stale' ? 'warn' : r.source === 'none' ? 'muted' : 'ok'),
      age(r.ageMs), r.keyId ? el('code', r.keyId) : 'unsigned', r.breaker ? pill(r.breaker.state, r.breaker.state === 'closed' ? 'ok' : 'bad') : 'off',
      update(r.lastCheck), update(r.lastUpdate), r.lastError ? r.lastError.code : '—', el('code', r.url)]));
  const shared = [];
  for (const [scope, modules] of Object.entries(s.shared)) for (const [name, m] of Object.entries(modules)) {
    const provided = m.provided.map((p) => p.version + ' by ' + p.from + (p.loaded ? ' (loaded)' : '')).join(', ');
    const uses = m.uses.map((u) => u.consumer + ' → ' + u.version + ' from ' + u.from + ': ' + u.reason + (u.warning ? ' ⚠ ' + u.warning : '')).join('\\n');
    shared.push([el('strong', scope === 'default' ? name : scope + '/' + name), provided, m.chosen.join(', '), uses]);
  }
  table('shared', ['package', 'provided', 'chosen', 'who got what, and why'], shared);
  table('imports', ['time', 'import', 'version', 'ms', 'result'], s.imports.slice(0, 30).map((i) => [new Date(i.at).toLocaleTimeString(),
    i.remote + '/' + i.expose.slice(2), i.version, i.durationMs.toFixed(1), i.code ? pill(i.code, 'bad') : pill('ok', 'ok')]));
  table('events', ['time', 'event', 'remote', 'what', 'code'], s.events.slice(0, 50).map((e) => [new Date(e.at).toLocaleTimeString(), e.type, e.remote, e.summary, e.code]));
}
let pending = false;
async function refresh() {
  if (pending) return; pending = true;
  try { const res = await fetch(base + 'api' + query, { cache: 'no-store' }); if (res.ok) render(await res.json()); else $('generated').textContent = 'HTTP ' + res.status; }
  catch (e) { $('generated').textContent = 'offline'; }
  finally { pending = false; }
}
refresh();
if (typeof EventSource === 'function') {
  const events = new EventSource(base + 'events' + query);
  events.addEventListener('change', () => refresh());
  events.onopen = () => { $('live').textContent = '● live'; };
  events.onerror = () => { $('live').textContent = '○ reconnecting'; };
} else setInterval(refresh, 2000);
`;

/** The page, with `nonce` on its style and script. */
export function inspectorPage(nonce: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>ferry inspector</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<header><h1>ferry · <span id="host">…</span></h1><span class="status" id="generated"></span><span class="status live" id="live"></span></header>
<main>
<section><h2>Federation graph</h2><div id="graph"></div></section>
<section><h2>Remotes</h2><table id="remotes"></table></section>
<section><h2>Shared packages</h2><table id="shared"></table></section>
<section><h2>Recent imports</h2><table id="imports"></table></section>
<section><h2>Recent events</h2><table id="events"></table></section>
</main>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`;
}
