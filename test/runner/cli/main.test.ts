import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(__dirname, '..', '..', '..', 'bin', 'metaflow-cdk.js');

describe('metaflow-cdk binary', () => {
  test('--help lists the program and exits 0', () => {
    const res = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    expect(res.status).toBe(0);
    expect(res.stdout).toContain('Usage: metaflow-cdk');
  });

  test('an unknown command is bad input (exit 2) with a clear message', () => {
    const res = spawnSync(process.execPath, [BIN, 'frobnicate'], { encoding: 'utf8' });
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/unknown command 'frobnicate'|too many arguments/);
  });
});
