'use strict';
/**
 * metaflow_cdk for Node steps: what a step's JavaScript needs from the task contract, without path
 * plumbing. The same helpers as the Python module (../python/metaflow_cdk.py), the same files.
 *
 *   const { parent, inputs, item, params, save, outputPath, caught, ancestor } = require('metaflow_cdk');
 *
 *   const data = parent();            // the single parent's outputs.json (inputs() at a join)
 *   save({ rows: data.x.length });    // merged into this attempt's outputs.json
 *   ancestor('start').rows;           // any step above this one, by name
 *
 * It is on the task's NODE_PATH on every compute layer (locally from the package's task-runtime
 * folder; on AWS Batch and Step Functions from the code package's `_mfcdk/`), so `require` finds
 * it; an ES module reaches it through `createRequire(import.meta.url)('metaflow_cdk')` (Node does
 * not read NODE_PATH for `import`). Node's standard library only.
 *
 * Names: the Python module's, with multi-word ones in camelCase (inputPaths, inputDirs, parentDir,
 * outputPath); `save` takes an object of values.
 */
const fs = require('node:fs');
const path = require('node:path');
const { isDeepStrictEqual } = require('node:util');

/** The file the helpers leave in a task's outputs: the outputs of every step above the task (ancestor()). */
const ANCESTORS_FILE = '.mfcdk-ancestors.json';

function env(name) {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set: metaflow_cdk works inside a task that metaflow-cdk runs`);
  return value;
}

const root = () => env('MF_DATASTORE_ROOT');

function load(file, fallback) {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    if (e.code === 'ENOENT') return fallback;
    throw e;
  }
}

/** A value from the environment: JSON when it reads as a non-string JSON value, else the text. */
function decode(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    return text;
  }
  return typeof value === 'string' ? text : value;
}

/** The parents' task paths (`<flow>/<run>/<step>/<task>`), from MF_INPUT_PATHS or, for a wide join, MF_INPUT_PATHS_FILE. */
function inputPaths() {
  const listing = process.env.MF_INPUT_PATHS_FILE;
  if (listing) {
    return fs.readFileSync(path.join(root(), listing), 'utf8').split('\n').map((l) => l.trim()).filter(Boolean);
  }
  return (process.env.MF_INPUT_PATHS || '').split(',').filter(Boolean);
}

/** The parents' folders: their outputs.json and the files they wrote. */
function inputDirs() {
  return inputPaths().map((p) => path.join(root(), p));
}

/** Every parent's outputs.json, in input order (`{}` for a parent that saved nothing). */
function inputs() {
  return inputDirs().map((d) => load(path.join(d, 'outputs.json'), {}));
}

function single(what) {
  const paths = inputPaths();
  if (paths.length !== 1) {
    throw new Error(`${what}: this task has ${paths.length} inputs (${paths.join(', ') || 'none'}); use inputs() or inputDirs()`);
  }
  return path.join(root(), paths[0]);
}

/** The single parent's folder (its files); an error at a join or in the start step. */
function parentDir() {
  return single('parentDir()');
}

/** The single parent's outputs.json; an error at a join (use inputs()) or in the start step. */
function parent() {
  return load(path.join(single('parent()'), 'outputs.json'), {});
}

/** This foreach task's item, from MF_FOREACH_ITEM or, when long, MF_FOREACH_ITEM_FILE. */
function item() {
  const itemFile = process.env.MF_FOREACH_ITEM_FILE;
  if (itemFile) return load(path.join(root(), itemFile), null);
  if (process.env.MF_FOREACH_ITEM === undefined) throw new Error('item(): this task is not in a foreach (no MF_FOREACH_ITEM)');
  return process.env.MF_FOREACH_ITEM_TEXT === '1' ? process.env.MF_FOREACH_ITEM : decode(process.env.MF_FOREACH_ITEM);
}

/** The flow's parameters by name (lower case, as MF_PARAM_<NAME> carries them upper case). */
function params() {
  const prefix = 'MF_PARAM_';
  // String parameters stay text ("007" is not 7): MF_TEXT_PARAMS names them.
  const text = new Set((process.env.MF_TEXT_PARAMS ?? '').split(',').filter(Boolean).map((n) => n.toLowerCase()));
  const out = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith(prefix) || v === undefined) continue;
    const name = k.slice(prefix.length).toLowerCase();
    out[name] = text.has(name) ? v : decode(v);
  }
  return out;
}

/** Where this attempt writes a file of its outputs (its folder is made). */
function outputPath(name) {
  const file = path.join(env('MF_OUTPUT_DIR'), name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return file;
}

/** Merge values into this attempt's outputs.json (read by the steps after it). Returns them all. */
function save(values) {
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new TypeError(`save(values): expected an object of name: value, got ${Array.isArray(values) ? 'an array' : JSON.stringify(values) ?? String(values)}`);
  }
  for (const [name, value] of Object.entries(values)) {
    if (!isJson(value)) throw new TypeError(`save({${name}: ...}): not JSON-serializable (${describe(value)}); write it as a file at outputPath(${JSON.stringify(name)})`);
  }
  const file = outputPath('outputs.json');
  const merged = { ...load(file, {}), ...values };
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(merged));
  fs.renameSync(tmp, file);
  return merged;
}

/** Whether JSON holds the value as it is (JSON.stringify would drop or mangle the rest silently). */
function isJson(value) {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object':
      if (value === null) return true;
      if (Array.isArray(value)) return value.every(isJson);
      if (Object.getPrototypeOf(value) !== Object.prototype && Object.getPrototypeOf(value) !== null) return false;
      return Object.values(value).every(isJson);
    default:
      return false;
  }
}

function describe(value) {
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'an array holding such a value' : `a ${value.constructor ? value.constructor.name : 'null-prototype'} object or one holding such a value`;
  return `a ${typeof value}`;
}

/** The failures caught earlier (MF_CAUGHT, or MF_CAUGHT_FILE when long): `{var: failure or null}`, or one var's. */
function caught(variable) {
  const caughtFile = process.env.MF_CAUGHT_FILE;
  const values = caughtFile ? load(path.join(root(), caughtFile), {}) : JSON.parse(process.env.MF_CAUGHT || '{}');
  if (variable === undefined) return values;
  return Object.prototype.hasOwnProperty.call(values, variable) ? values[variable] : undefined;
}

const stepOf = (taskPath) => taskPath.split('/').slice(-2)[0];

/** Every step above this task → its outputs (null: several tasks of that step are above it). */
function lineage() {
  const merged = new Map();
  const add = (step, values) => {
    if (!merged.has(step)) merged.set(step, values);
    else if (merged.get(step) !== null && !isDeepStrictEqual(merged.get(step), values)) merged.set(step, null);
  };
  const paths = inputPaths();
  const dirs = inputDirs();
  paths.forEach((p, i) => {
    for (const [step, values] of Object.entries(load(path.join(dirs[i], ANCESTORS_FILE), {}))) add(step, values);
    add(stepOf(p), load(path.join(dirs[i], 'outputs.json'), {}));
  });
  return merged;
}

/**
 * The outputs of the step named `step` above this one (Metaflow's artifacts flowing down the graph).
 * Found through the parents' outputs: each task that loads the helpers (Python or Node) leaves its
 * ancestors' outputs beside its own (ANCESTORS_FILE), so a step above one that does not use them is
 * not found past it.
 */
function ancestor(step) {
  const found = lineage();
  if (!found.has(step)) {
    throw new Error(`ancestor(${JSON.stringify(step)}): no such step above this one (steps above it: ${[...found.keys()].sort().join(', ') || 'none'})`);
  }
  if (found.get(step) === null) {
    throw new Error(`ancestor(${JSON.stringify(step)}): several tasks of that step are above this one (a foreach or a branch); read them with inputs()`);
  }
  return found.get(step);
}

/** At exit, pass the ancestors' outputs on to the steps below (nothing outside a task). */
function leaveLineage() {
  const out = process.env.MF_OUTPUT_DIR;
  if (!out || !process.env.MF_DATASTORE_ROOT || !fs.existsSync(out)) return;
  let found;
  try {
    found = lineage();
  } catch {
    return; // an unreadable input was the step's own problem to report
  }
  if (found.size) fs.writeFileSync(path.join(out, ANCESTORS_FILE), JSON.stringify(Object.fromEntries(found)));
}

process.on('exit', leaveLineage);

module.exports = { ANCESTORS_FILE, inputs, parent, inputPaths, inputDirs, parentDir, item, params, save, outputPath, caught, ancestor, leaveLineage };
