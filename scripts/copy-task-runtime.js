#!/usr/bin/env node
// Part of `npm run build`: the task runtime's Python files (runner/task-runtime/python) and the
// Node task helpers (runner/task-runtime/node) go to dist/ beside the compiled module that reads
// them (runner/task-runtime/index.ts).
'use strict';
const { cpSync } = require('node:fs');
const { join } = require('node:path');
const root = join(__dirname, '..');
for (const folder of ['python', 'node']) {
  cpSync(join(root, 'runner', 'task-runtime', folder), join(root, 'dist', 'runner', 'task-runtime', folder), { recursive: true });
}
