/**
 * The federation graph drawn as SVG on the server: three columns (host → remotes → shared packages), nodes spread
 * evenly in each column, edges as curves. Why not elkjs or dagre in the page: the graph is always these three
 * layers, a layered layout of three fixed columns is ~60 lines, and generating it server-side keeps the page free of
 * a 1-2 MB layout library that would have to be shipped in the package (no CDN: hosts often have no internet).
 * Every label is XML-escaped: names come from manifests.
 */

export interface GraphNode {
  id: string;
  /** 0: the host, 1: remotes, 2: shared packages. */
  column: 0 | 1 | 2;
  label: string;
  detail?: string;
  /** A remote's breaker state, drawn as the node's colour. */
  state?: 'closed' | 'open' | 'half-open';
}

export interface GraphEdge {
  from: string;
  to: string;
  /** `loads`: host → remote; `uses`: a consumer got this version; `provides`: a provider offers this version. */
  kind: 'loads' | 'uses' | 'provides';
  label?: string;
}

const WIDTH = 200;
const HEIGHT = 46;
const GAP_X = 110;
const GAP_Y = 22;
const PAD = 12;

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The SVG markup of the graph (an `<svg>` element, sized to fit). */
export function layoutGraph(nodes: GraphNode[], edges: GraphEdge[]): string {
  const columns: GraphNode[][] = [[], [], []];
  for (const node of nodes) columns[node.column]!.push(node);
  const rows = Math.max(1, ...columns.map((column) => column.length));
  const height = PAD * 2 + rows * HEIGHT + (rows - 1) * GAP_Y;
  const width = PAD * 2 + 3 * WIDTH + 2 * GAP_X;
  const at = new Map<string, { x: number; y: number }>();
  columns.forEach((column, index) => {
    const used = column.length * HEIGHT + Math.max(0, column.length - 1) * GAP_Y;
    const top = PAD + (height - PAD * 2 - used) / 2;
    column.forEach((node, row) => {
      at.set(node.id, { x: PAD + index * (WIDTH + GAP_X), y: top + row * (HEIGHT + GAP_Y) });
    });
  });
  const parts: string[] = [];
  // Edges into one node with the same label (two remotes using one version) share one label.
  const labelled = new Set<string>();
  for (const edge of edges) {
    const from = at.get(edge.from);
    const to = at.get(edge.to);
    if (!from || !to) continue;
    const x1 = from.x + WIDTH;
    const y1 = from.y + HEIGHT / 2 + (edge.kind === 'provides' ? 6 : edge.kind === 'uses' ? -6 : 0);
    const x2 = to.x;
    const y2 = to.y + HEIGHT / 2 + (edge.kind === 'provides' ? 6 : edge.kind === 'uses' ? -6 : 0);
    const bend = Math.max(40, (x2 - x1) / 2);
    const path = `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
    parts.push(
      `<path class="edge ${edge.kind}" d="${path}" marker-end="url(#arrow)" data-from="${escapeXml(edge.from)}" data-to="${escapeXml(edge.to)}"/>`,
    );
    const labelKey = `${edge.to}|${edge.kind}|${edge.label}`;
    if (edge.label && !labelled.has(labelKey)) {
      labelled.add(labelKey);
      const mx = x2 - 18;
      const my = y2 + (edge.kind === 'provides' ? 14 : -6);
      parts.push(
        `<text class="edge-label ${edge.kind}" x="${mx}" y="${my}" text-anchor="end">${escapeXml(`${edge.kind} ${edge.label}`)}</text>`,
      );
    }
  }
  for (const node of nodes) {
    const { x, y } = at.get(node.id)!;
    const kind = node.id.split(':')[0]!;
    parts.push(
      `<g class="node ${kind}${node.state ? ` breaker-${node.state}` : ''}" data-id="${escapeXml(node.id)}">` +
        `<rect x="${x}" y="${y}" width="${WIDTH}" height="${HEIGHT}" rx="8"/>` +
        `<text class="label" x="${x + 10}" y="${y + 19}">${escapeXml(truncate(node.label, 26))}</text>` +
        (node.detail
          ? `<text class="detail" x="${x + 10}" y="${y + 36}">${escapeXml(truncate(node.detail, 30))}</text>`
          : '') +
        '</g>',
    );
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="federation graph">` +
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>' +
    parts.join('') +
    '</svg>'
  );
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
