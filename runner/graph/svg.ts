import { CHAR_WIDTH, FONT_SIZE, LINE_HEIGHT, Layout, PlacedEdge, PlacedStep } from './layout';
import { Picture, STEP_STATUSES, StepStatus } from './picture';

/** Fill and border of a step's box by its status in a run; `flow` for a flow's picture. */
export const STATUS_COLOURS: Readonly<Record<StepStatus | 'flow', { readonly fill: string; readonly stroke: string }>> = {
  flow: { fill: '#ffffff', stroke: '#37474f' },
  succeeded: { fill: '#e8f5e9', stroke: '#2e7d32' },
  failed: { fill: '#ffebee', stroke: '#d32f2f' },
  caught: { fill: '#fff3e0', stroke: '#ef6c00' },
  running: { fill: '#e3f2fd', stroke: '#1565c0' },
  reused: { fill: '#f3e5f5', stroke: '#7b1fa2' },
  cancelled: { fill: '#eceff1', stroke: '#546e7a' },
  'not run': { fill: '#fafafa', stroke: '#9e9e9e' },
};

const FONT = 'ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace';
const TITLE_HEIGHT = 28;
const LEGEND_HEIGHT = 28;

/** Text for an SVG text node or attribute value. */
function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const num = (n: number) => String(Math.round(n * 10) / 10);

function stepSvg(placed: PlacedStep, dy: number): string {
  const { step, lines, x, width, height } = placed;
  const y = placed.y + dy;
  const colour = STATUS_COLOURS[step.status ?? 'flow'];
  const left = x - width / 2;
  const top = y - height / 2;
  const firstBaseline = top + (height - lines.length * LINE_HEIGHT) / 2 + LINE_HEIGHT * 0.75;
  const text = lines
    .map((line, i) => `<text x="${num(x)}" y="${num(firstBaseline + i * LINE_HEIGHT)}" text-anchor="middle"${i === 0 ? ' font-weight="bold"' : ' fill="#455a64"'}>${esc(line)}</text>`)
    .join('');
  const title = [step.name, step.description, step.status && `status: ${step.status}`, step.tasks !== undefined ? `tasks: ${step.tasks}` : undefined, step.detail].filter(Boolean).join('\n');
  const dashed = step.status === 'not run' ? ' stroke-dasharray="4 3"' : '';
  return (
    `<g class="step" data-step="${esc(step.name)}"${step.status ? ` data-status="${esc(step.status)}"` : ''}>` +
    `<title>${esc(title)}</title>` +
    `<rect x="${num(left)}" y="${num(top)}" width="${num(width)}" height="${num(height)}" rx="6" fill="${colour.fill}" stroke="${colour.stroke}" stroke-width="${step.status === 'failed' ? 2.5 : 1.5}"${dashed}/>` +
    text +
    '</g>'
  );
}

function edgeSvg(placed: PlacedEdge, dy: number): string {
  const { edge, points, labelAt } = placed;
  const d = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${num(p.x)} ${num(p.y + dy)}`).join(' ');
  const label = labelAt && edge.label
    ? `<rect x="${num(labelAt.x - (edge.label.length * CHAR_WIDTH) / 2 - 3)}" y="${num(labelAt.y + dy - LINE_HEIGHT / 2)}" width="${num(edge.label.length * CHAR_WIDTH + 6)}" height="${LINE_HEIGHT}" fill="#ffffff"/>` +
      `<text x="${num(labelAt.x)}" y="${num(labelAt.y + dy + FONT_SIZE * 0.35)}" text-anchor="middle" fill="#37474f">${esc(edge.label)}</text>`
    : '';
  return (
    `<g class="edge" data-from="${esc(edge.from)}" data-to="${esc(edge.to)}"${edge.fanOut ? ' data-fan-out="true"' : ''}>` +
    `<path d="${d}" fill="none" stroke="#607d8b" stroke-width="${edge.fanOut ? 2.5 : 1.5}"${edge.fanOut ? ' stroke-dasharray="7 3"' : ''} marker-end="url(#arrow)"/>` +
    label +
    '</g>'
  );
}

/** The legend of a run's picture: a swatch per status its steps have. */
function legendSvg(picture: Picture, top: number): { svg: string; width: number } {
  const present = STEP_STATUSES.filter((s) => picture.steps.some((step) => step.status === s));
  let x = 16;
  const items = present.map((status) => {
    const c = STATUS_COLOURS[status];
    const item = `<rect x="${x}" y="${top + 6}" width="14" height="14" rx="3" fill="${c.fill}" stroke="${c.stroke}"/><text x="${x + 20}" y="${top + 17}">${esc(status)}</text>`;
    x += 20 + status.length * CHAR_WIDTH + 18;
    return item;
  });
  return { svg: `<g class="legend">${items.join('')}</g>`, width: x };
}

/** The picture as a standalone SVG document (its layout from {@link layoutPicture}). */
export function renderSvg(picture: Picture, layout: Layout): string {
  const legend = picture.run ? legendSvg(picture, TITLE_HEIGHT + layout.height) : undefined;
  const width = Math.max(layout.width, picture.title.length * CHAR_WIDTH + 32, legend?.width ?? 0);
  const height = TITLE_HEIGHT + layout.height + (legend ? LEGEND_HEIGHT : 0);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${num(width)}" height="${num(height)}" viewBox="0 0 ${num(width)} ${num(height)}" font-family='${FONT}' font-size="${FONT_SIZE}">`,
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0 0 L10 5 L0 10 z" fill="#607d8b"/></marker></defs>`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text class="title" x="16" y="20" font-weight="bold">${esc(picture.title)}</text>`,
    ...layout.edges.map((e) => edgeSvg(e, TITLE_HEIGHT)),
    ...layout.steps.map((s) => stepSvg(s, TITLE_HEIGHT)),
    ...(legend ? [legend.svg] : []),
    '</svg>',
    '',
  ].join('\n');
}
