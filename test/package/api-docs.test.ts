import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkApiDocs } from '../../scripts/api-docs/check';
import { ExtractedEntryPoint, extractApi, extractDocModel } from '../../scripts/api-docs/extract';
import { renderApiMarkdown } from '../../scripts/api-docs/render';

/**
 * The public API's documentation, on API Extractor's doc model of both entry points: API.md is
 * what `npm run api-docs` generates now, and every export, member and optional prop is
 * documented (scripts/api-docs/check.ts), except the gaps listed in known-gaps.txt, a list that
 * may only shrink.
 */
const REPO = join(__dirname, '..', '..');
let entryPoints: ExtractedEntryPoint[];

beforeAll(() => {
  entryPoints = extractApi();
}, 120_000);

test('API.md is current (regenerate it with `npm run api-docs`)', () => {
  const checkedIn = readFileSync(join(REPO, 'API.md'), 'utf8');
  expect(renderApiMarkdown(entryPoints)).toBe(checkedIn);
});

test('every export, member and optional prop is documented, @default included', () => {
  const knownGaps = new Set(readFileSync(join(REPO, 'scripts', 'api-docs', 'known-gaps.txt'), 'utf8')
    .split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')));
  const found = checkApiDocs(entryPoints).map((p) => `${p.entryPoint}: ${p.item}: ${p.problem}`);
  expect(found.filter((p) => !knownGaps.has(p))).toEqual([]);
  // A documented gap leaves the list, so the list only ever shrinks.
  expect([...knownGaps].filter((gap) => !found.includes(gap))).toEqual([]);
});

test('the check reports a missing summary on exports and members, and a missing @default on optional struct props', () => {
  const fixture = join(__dirname, 'fixtures', 'api-docs');
  const work = mkdtempSync(join(tmpdir(), 'api-docs-fixture-'));
  try {
    const apiPackage = extractDocModel(fixture, join(fixture, 'index.d.ts'), join(work, 'fixture.api.json'));
    const problems = checkApiDocs([{ importPath: 'fixture', title: 'Fixture', declarationFile: 'index.d.ts', apiPackage }]);
    expect(problems.map((p) => `${p.item}: ${p.problem}`).sort()).toEqual([
      'Widget.paint(): no summary',
      'WidgetProps.colour: no @default',
      'WidgetProps.label: no @default',
      'WidgetProps.label: no summary',
      'undocumented(): no summary',
    ]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
