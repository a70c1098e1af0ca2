import type { Layout, PlacedStep } from './layout';
import type { Picture } from './picture';

/**
 * The picture for a terminal: the layers of the layout top to bottom (steps of one layer, side by
 * side in the SVG, are listed together under one number, in flow order), each step with its role (branch,
 * foreach, join) and, for a run, its status and task count; under each step its edges: `→` to the
 * next step, `⇉` for a foreach's fan-out with its width.
 *
 *   FanoutFlow: 4 steps, 3 edges
 *
 *    1  start   foreach
 *         └─⇉ square  ×output "items"
 *    2  square
 *         └─→ join
 */
export function renderText(picture: Picture, layout: Layout): string {
  const index = new Map(picture.steps.map((s, i) => [s.name, i]));
  const placed = [...layout.steps].sort((a, b) => a.layer - b.layer || index.get(a.step.name)! - index.get(b.step.name)!);
  const layers = Math.max(0, ...placed.map((p) => p.layer + 1));
  const layerWidth = String(layers).length;
  const nameWidth = Math.max(...placed.map((p) => p.step.name.length));
  const statusOf = (p: PlacedStep) => (p.step.status ? `${p.step.status}${p.step.tasks !== undefined && p.step.tasks > 1 ? ` (${p.step.tasks} tasks${p.step.detail ? `: ${p.step.detail}` : ''})` : ''}` : '');
  const statusWidth = Math.max(...placed.map((p) => statusOf(p).length));
  const lines = [picture.title, ''];
  let layer = -1;
  for (const p of placed) {
    const number = p.layer === layer ? ''.padStart(layerWidth) : String(p.layer + 1).padStart(layerWidth);
    layer = p.layer;
    const about = [p.step.role, p.step.description].filter(Boolean).join(' — ');
    const columns = [number, p.step.name.padEnd(nameWidth), ...(picture.run ? [statusOf(p).padEnd(statusWidth)] : []), about];
    lines.push(` ${columns.join('  ')}`.trimEnd());
    const out = picture.edges.filter((e) => e.from === p.step.name);
    out.forEach((e, i) => {
      const branch = i === out.length - 1 ? '└─' : '├─';
      lines.push(`${''.padStart(layerWidth + 5)}${branch}${e.fanOut ? '⇉' : '→'} ${e.to}${e.label ? `  ${e.label}` : ''}`);
    });
  }
  return lines.join('\n') + '\n';
}
