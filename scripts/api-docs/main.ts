/**
 * `npm run api-docs`: regenerate API.md from the TSDoc of the public API and report every
 * undocumented export, member or `@default`-less optional prop (exit 1 when there is one).
 * test/package/api-docs.test.ts runs the same steps and fails when API.md is out of date.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkApiDocs } from './check';
import { extractApi, REPO_ROOT } from './extract';
import { renderApiMarkdown } from './render';

const entryPoints = extractApi();
writeFileSync(join(REPO_ROOT, 'API.md'), renderApiMarkdown(entryPoints));
const problems = checkApiDocs(entryPoints);
for (const p of problems) process.stderr.write(`${p.entryPoint}: ${p.item}: ${p.problem}\n`);
process.stdout.write(`Wrote API.md; ${problems.length} documentation problem(s).\n`);
process.exitCode = problems.length ? 1 : 0;
