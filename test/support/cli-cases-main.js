/**
 * Runs many `metaflow-cdk` invocations in ONE Node process (test/support/cli-cases.ts): the real
 * CLI's main() from source through tsx, as bin/metaflow-cdk.js runs it, each case with its own
 * environment, working directory and captured output. Reads the cases (JSON) from stdin, writes
 * the results (JSON) to the file named by argv[2]. Process-level behaviour (the bin script, exit
 * codes reaching the shell, signals) stays with the tests that spawn the CLI.
 */
'use strict';
const fs = require('node:fs');
require('tsx/cjs/api').register();
const { main } = require('../../runner/cli/main.ts');

async function runAll() {
  const cases = JSON.parse(fs.readFileSync(0, 'utf8'));
  const base = { ...process.env };
  const home = process.cwd();
  const results = [];
  for (const c of cases) {
    for (const key of Object.keys(process.env)) delete process.env[key];
    for (const [key, value] of Object.entries({ ...(c.replaceEnv ? {} : base), ...c.env })) if (value !== undefined && value !== null) process.env[key] = value;
    process.chdir(c.cwd || home);
    let stdout = '';
    let stderr = '';
    // Whatever reaches the process's own streams belongs to the case too (a write that bypassed the command's context).
    const realOut = process.stdout.write;
    const realErr = process.stderr.write;
    process.stdout.write = (chunk) => ((stdout += String(chunk)), true);
    process.stderr.write = (chunk) => ((stderr += String(chunk)), true);
    let code;
    try {
      code = await main(['node', 'metaflow-cdk', ...c.args], {
        stdout: { write: (chunk) => ((stdout += String(chunk)), true) },
        stderr: { write: (chunk) => ((stderr += String(chunk)), true) },
        env: process.env,
      });
    } catch (err) {
      code = 70;
      stderr += `metaflow-cdk: internal error: ${err && err.stack ? err.stack : String(err)}\n`;
    } finally {
      process.stdout.write = realOut;
      process.stderr.write = realErr;
    }
    results.push({ code, stdout, stderr });
  }
  fs.writeFileSync(process.argv[2], JSON.stringify(results));
}

runAll().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`cli-cases-main: ${err && err.stack ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
