#!/usr/bin/env node
// Part of `npm run build`: the task runtime's Python files (runner/task-runtime/python) go to
// dist/ beside the compiled module that reads them (runner/task-runtime/index.ts).
'use strict';
const { cpSync } = require('node:fs');
const { join } = require('node:path');
const root = join(__dirname, '..');
cpSync(join(root, 'runner', 'task-runtime', 'python'), join(root, 'dist', 'runner', 'task-runtime', 'python'), { recursive: true });
