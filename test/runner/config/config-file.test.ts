import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXIT_CODES } from '../../../runner/errors';
import {
  configFileName,
  metaflowHome,
  renderConfigFile,
  renderMaskedConfigFile,
  writeConfigFile,
} from '../../../runner/config/config-file';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('Metaflow config file', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mf-config-file-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('METAFLOW_HOME, else ~/.metaflowconfig', () => {
    expect(metaflowHome({ METAFLOW_HOME: '/opt/mf' })).toBe('/opt/mf');
    expect(metaflowHome({ METAFLOW_HOME: '~/mf', HOME: '/home/u' })).toBe('/home/u/mf');
    expect(metaflowHome({ HOME: '/home/u' })).toBe('/home/u/.metaflowconfig');
  });

  test('config.json, or config_<profile>.json for a safe profile name', () => {
    expect(configFileName()).toBe('config.json');
    expect(configFileName('')).toBe('config.json');
    expect(configFileName('team-a_1.x')).toBe('config_team-a_1.x.json');
    for (const bad of ['../x', 'a/b', '.hidden', 'sp ace']) {
      expect(() => configFileName(bad)).toThrow(expect.objectContaining({ exitCode: EXIT_CODES.BAD_INPUT }));
    }
  });

  test('renders METAFLOW_ keys indented like Metaflow, and masks the API key for printing', () => {
    const profile = { BATCH_JOB_QUEUE: 'q', SERVICE_AUTH_KEY: 'secret' };
    expect(renderConfigFile(profile)).toBe('{\n    "METAFLOW_SERVICE_AUTH_KEY": "secret",\n    "METAFLOW_BATCH_JOB_QUEUE": "q"\n}\n');
    expect(renderMaskedConfigFile(profile)).toBe('{\n    "METAFLOW_SERVICE_AUTH_KEY": "********",\n    "METAFLOW_BATCH_JOB_QUEUE": "q"\n}\n');
  });

  test('creates the folder 0700 and the file 0600', () => {
    const path = join(dir, 'home', 'config.json');
    const result = writeConfigFile(path, '{}\n', { force: false });
    expect(result).toEqual({ path, backupPath: undefined });
    expect(readFileSync(path, 'utf8')).toBe('{}\n');
    expect(mode(path)).toBe(0o600);
    expect(mode(join(dir, 'home'))).toBe(0o700);
  });

  test('an existing folder keeps its mode', () => {
    const home = join(dir, 'existing');
    mkdirSync(home, { mode: 0o755 });
    writeConfigFile(join(home, 'config.json'), '{}', { force: false });
    expect(mode(home)).toBe(0o755);
  });

  test('never replaces an existing file without force, naming the path', () => {
    const path = join(dir, 'config.json');
    writeFileSync(path, 'mine');
    expect(() => writeConfigFile(path, 'new', { force: false })).toThrow(
      expect.objectContaining({ exitCode: EXIT_CODES.BAD_INPUT, message: expect.stringContaining(`${path} already exists; pass --force`) }),
    );
    expect(readFileSync(path, 'utf8')).toBe('mine');
  });

  test('with force, backs the old file up (timestamped, 0600) and replaces it; a second backup in the same second gets a suffix', () => {
    const path = join(dir, 'config.json');
    writeFileSync(path, 'first', { mode: 0o644 });
    const now = () => new Date('2026-11-21T10:14:05.123Z');
    const one = writeConfigFile(path, 'second', { force: true, now });
    expect(one.backupPath).toBe(`${path}.bak-20261121T101405Z`);
    expect(readFileSync(one.backupPath!, 'utf8')).toBe('first');
    expect(mode(one.backupPath!)).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe('second');
    expect(mode(path)).toBe(0o600);

    const two = writeConfigFile(path, 'third', { force: true, now });
    expect(two.backupPath).toBe(`${path}.bak-20261121T101405Z-1`);
    expect(readFileSync(two.backupPath!, 'utf8')).toBe('second');
    expect(readdirSync(dir).sort()).toEqual(['config.json', 'config.json.bak-20261121T101405Z', 'config.json.bak-20261121T101405Z-1']);
  });

  test('a folder that cannot be written to is a failure naming the path (exit 1)', () => {
    const blocked = join(dir, 'file-not-dir');
    writeFileSync(blocked, '');
    const path = join(blocked, 'config.json');
    expect(() => writeConfigFile(path, '{}', { force: false })).toThrow(
      expect.objectContaining({ exitCode: EXIT_CODES.FAILED, message: expect.stringContaining(`cannot write ${path}`) }),
    );
  });
});
