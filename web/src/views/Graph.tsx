// A small service graph as SVG: services in columns by call depth (callers
// left of callees), edges labelled with their call counts. Enough for the
// handful of services a trace or a system has; no layout library needed.
export interface GraphNode { name: string; label?: string }
export interface GraphEdge { from: string; to: string; count: bigint }

export function DependencyGraph({ services, edges, label }: { services: GraphNode[]; edges: GraphEdge[]; label: string }) {
  const names = new Set(services.map((s) => s.name));
  edges.forEach((e) => { names.add(e.from); names.add(e.to); });
  const depth = new Map<string, number>([...names].map((n) => [n, 0]));
  for (let i = 0; i < names.size; i++) // Longest path, bounded (cycles stop).
    for (const e of edges) if (e.from !== e.to) depth.set(e.to, Math.max(depth.get(e.to)!, Math.min(depth.get(e.from)! + 1, names.size)));
  const cols = new Map<number, string[]>();
  [...names].sort().forEach((n) => { const d = depth.get(n)!; cols.set(d, [...(cols.get(d) ?? []), n]); });
  const pos = new Map<string, { x: number; y: number }>();
  const W = 160, H = 44, GX = 110, GY = 30;
  cols.forEach((ns, d) => ns.forEach((n, i) => pos.set(n, { x: 20 + d * (W + GX), y: 20 + i * (H + GY) })));
  const width = 40 + Math.max(...[...cols.keys(), 0]) * (W + GX) + W;
  const height = 40 + Math.max(...[...cols.values()].map((c) => c.length), 1) * (H + GY);
  const info = new Map(services.map((s) => [s.name, s.label]));
  return (
    <div class="graph">
      <svg width={width} height={height} role="img" aria-label={label}>
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse">
            <path d="M 0 0 L 10 5 L 0 10 z" class="arrowhead" />
          </marker>
        </defs>
        {edges.map((e) => {
          const a = pos.get(e.from)!, b = pos.get(e.to)!;
          const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2;
          return (
            <g class="edge">
              <path d={`M ${x1} ${y1} C ${x1 + 50} ${y1}, ${x2 - 50} ${y2}, ${x2} ${y2}`} marker-end="url(#arrow)" />
              <text x={(x1 + x2) / 2} y={(y1 + y2) / 2 - 6} text-anchor="middle">{String(e.count)} calls</text>
            </g>
          );
        })}
        {[...pos].map(([n, p]) => (
          <g class="node">
            <rect x={p.x} y={p.y} width={W} height={H} rx="6" />
            <text x={p.x + W / 2} y={p.y + 18} text-anchor="middle">{n}</text>
            {info.get(n) && <text x={p.x + W / 2} y={p.y + 34} text-anchor="middle" class="sub">{info.get(n)}</text>}
          </g>
        ))}
      </svg>
      <table class="list small" aria-label="Calls between services">
        <thead><tr><th>From</th><th>To</th><th>Calls</th></tr></thead>
        <tbody>
          {edges.map((e) => <tr data-edge={`${e.from}->${e.to}`}><td>{e.from}</td><td>{e.to}</td><td class="num">{String(e.count)}</td></tr>)}
          {edges.length === 0 && <tr><td colSpan={3}>No calls between services.</td></tr>}
        </tbody>
      </table>
    </div>
  );
}
