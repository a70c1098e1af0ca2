import dagre from '@dagrejs/dagre';
import type { EdgeLabel, GraphLabel, NodeLabel } from '@dagrejs/dagre';
import type { Picture, PictureEdge, PictureStep } from './picture';

/** The size of the SVG's text: every width below is counted in characters of this monospace font. */
export const FONT_SIZE = 12;
/** Width of one character of the monospace font at {@link FONT_SIZE} (0.6 em, as Menlo, Consolas and DejaVu Sans Mono). */
export const CHAR_WIDTH = FONT_SIZE * 0.6;
/** Height of one line of a step's box. */
export const LINE_HEIGHT = 16;
const PADDING_X = 12;
const PADDING_Y = 8;

export interface Point {
  readonly x: number;
  readonly y: number;
}

export interface PlacedStep {
  readonly step: PictureStep;
  /** The lines of the step's box: its name first. */
  readonly lines: readonly string[];
  /** The box's centre. */
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
  /** The step's layer, 0 for `start`: steps of one layer are side by side. */
  readonly layer: number;
  /** The step's place in its layer, from the left. */
  readonly order: number;
}

export interface PlacedEdge {
  readonly edge: PictureEdge;
  /** The edge's route, from its source's border to its target's. */
  readonly points: readonly Point[];
  /** Where its label goes (the label's centre). @default - none: the edge has no label */
  readonly labelAt?: Point;
}

export interface Layout {
  readonly width: number;
  readonly height: number;
  readonly steps: readonly PlacedStep[];
  readonly edges: readonly PlacedEdge[];
}

/** The lines of a step's box: its name, what it is in the graph, and its status in a run. */
export function stepLines(step: PictureStep): string[] {
  const lines = [step.name];
  if (step.role) lines.push(step.role);
  if (step.status) lines.push(step.tasks !== undefined && step.tasks > 1 ? `${step.status} (${step.tasks} tasks)` : step.status);
  if (step.detail) lines.push(step.detail);
  return lines;
}

/**
 * Lay the picture out top to bottom with dagre (layered, Sugiyama-style: ranks, crossing
 * reduction, coordinates and edge routes); box sizes follow their text.
 */
export function layoutPicture(picture: Picture): Layout {
  const g = new dagre.graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 28, ranksep: 36, edgesep: 12, marginx: 16, marginy: 16 });
  const lines = new Map(picture.steps.map((s) => [s.name, stepLines(s)]));
  for (const step of picture.steps) {
    const text = lines.get(step.name)!;
    g.setNode(step.name, {
      width: Math.max(...text.map((l) => l.length)) * CHAR_WIDTH + 2 * PADDING_X,
      height: text.length * LINE_HEIGHT + 2 * PADDING_Y,
    });
  }
  picture.edges.forEach((edge, i) => {
    const label = edge.label ? { label: edge.label, width: edge.label.length * CHAR_WIDTH + 8, height: LINE_HEIGHT, labelpos: 'c' as const } : {};
    g.setEdge(edge.from, edge.to, label, String(i));
  });
  dagre.layout(g);
  // dagre's published types resolve to `any` under this project's module resolution: what is read back is typed here.
  const nodes = picture.steps.map((step) => ({ step, node: g.node(step.name) as NodeLabel & { x: number; y: number } }));
  // dagre counts ranks with room for edge labels (0, 2, 4…): layers are the ranks in order.
  const ranks = [...new Set(nodes.map(({ node }) => node.rank ?? 0))].sort((a, b) => a - b);
  const steps = nodes.map(({ step, node }) => ({
    step,
    lines: lines.get(step.name)!,
    x: node.x,
    y: node.y,
    width: node.width,
    height: node.height,
    layer: ranks.indexOf(node.rank ?? 0),
    order: node.order ?? 0,
  }));
  const edges = picture.edges.map((edge, i) => {
    const placed: EdgeLabel = g.edge({ v: edge.from, w: edge.to, name: String(i) });
    const points: Point[] = (placed.points ?? []).map((p: Point) => ({ x: p.x, y: p.y }));
    return edge.label && placed.x !== undefined && placed.y !== undefined ? { edge, points, labelAt: { x: placed.x, y: placed.y } } : { edge, points };
  });
  const size: GraphLabel = g.graph();
  return { width: size.width ?? 0, height: size.height ?? 0, steps, edges };
}
