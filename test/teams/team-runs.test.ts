/**
 * A run's team in its record (issue 17): `runs --team` lists only that team's runs (paging on
 * through the index until it has enough), and `resume` keeps the origin's team. Local runs on the
 * real binary; the team comes from the flow's `team` field (on Batch also --team / METAFLOW_TEAM,
 * see BatchComputeLayer.teamOf).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from '../runner/support/harness';

const REPO = path.join(__dirname, '..', '..');
const BIN = path.join(REPO, 'bin', 'metaflow-cdk.js');
const RUNNER = path.join(REPO, 'runner');

function cli(args: string[], root: string) {
  const res = spawnSync(process.execPath, [BIN, ...args, '--root', root], { cwd: root, encoding: 'utf8', env: { ...process.env, CI: 'true' }, timeout: 30_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

function flowFile(dir: string, name: string, team: string | undefined, fail = false): string {
  const file = path.join(dir, `${name}.ts`);
  const command = fail ? `['/bin/sh', '-c', 'test -e ${dir}/fixed']` : `['true']`;
  fs.writeFileSync(file, `import { defineFlow } from ${JSON.stringify(RUNNER)};
export default defineFlow({ name: ${JSON.stringify(name)}, ${team ? `team: ${JSON.stringify(team)}, ` : ''}steps: [{ name: 'start', command: ['true'], next: 'end' }, { name: 'end', command: ${command} }] });
`);
  return file;
}

const runIdOf = (stdout: string) => /run (\d{8}-\d{6}-[0-9a-f]{6})/.exec(stdout)![1];

describe('runs --team and resume', () => {
  const root = tempDir('mfcdk-team-runs-');
  const ids: Record<string, string> = {};

  beforeAll(() => {
    // Oldest first: ml's run, then three newer runs of others.
    for (const [name, team] of [['MlFlow', 'ml'], ['ResearchFlow', 'research'], ['PlainFlow', undefined], ['ResearchFlow2', 'research']] as const) {
      const r = cli(['run', flowFile(root, name, team)], root);
      expect(r.code).toBe(0);
      ids[name] = runIdOf(r.stdout);
    }
  });

  test('the run record holds the team, and none without one', () => {
    expect(JSON.parse(cli(['show', ids.MlFlow, '--json'], root).stdout).team).toBe('ml');
    expect(JSON.parse(cli(['show', ids.PlainFlow, '--json'], root).stdout)).not.toHaveProperty('team');
  });

  test('runs --team lists only that team\'s runs, with a team column', () => {
    const r = cli(['runs', '--team', 'research'], root);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0].split(/\s+/).slice(0, 4)).toEqual(['run', 'flow', 'team', 'status']);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      [ids.ResearchFlow2, 'ResearchFlow2', 'research'],
      [ids.ResearchFlow, 'ResearchFlow', 'research'],
    ]);
  });

  test('--limit 1 --team ml pages on past the newer runs of others', () => {
    const r = cli(['runs', '--team', 'ml', '--limit', '1'], root);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0])).toEqual([ids.MlFlow]);
  });

  test('a team without runs says so; a bad team name is one line, exit 2', () => {
    expect(cli(['runs', '--team', 'vision', '--all'], root).stdout).toBe(`no runs of team vision in ${root}\n`);
    const bad = cli(['runs', '--team', 'ML'], root);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('metaflow-cdk: --team: expected a team name (lowercase letters and digits, starting with a letter, at most 32), got "ML"\n');
  });

  test('resume keeps the team; --team on a local run is refused as on run', () => {
    const dir = tempDir('mfcdk-team-resume-');
    const failed = cli(['run', flowFile(dir, 'Fragile', 'ml', true)], dir);
    expect(failed.code).toBe(1);
    const id = runIdOf(failed.stdout);
    const refused = cli(['resume', id, '--team', 'research'], dir);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toBe('metaflow-cdk: --team only applies to --compute batch\n');
    fs.writeFileSync(path.join(dir, 'fixed'), '');
    const resumed = cli(['resume', id], dir);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(cli(['show', runIdOf(resumed.stdout), '--json'], dir).stdout)).toMatchObject({ team: 'ml', originRunId: id });
  });
});
