import * as fs from 'node:fs';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { describeWithTool } from '../external-tool';
import { ensureRootfs, imageEnvironment, runContainer, standInKind, STAND_IN_KINDS } from './index';

const PYTHON = 'public.ecr.aws/docker/library/python:3.12-slim';
const BUSYBOX = 'busybox:1.36';
const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');

describe('standInKind', () => {
  test.each([
    ['python:3.12-slim', 'python'],
    ['python', 'python'],
    ['docker.io/library/python:3.11', 'python'],
    ['public.ecr.aws/docker/library/python:3.12-slim', 'python'],
    ['123456789012.dkr.ecr.us-east-1.amazonaws.com/python:3.12', 'python'],
    ['localhost:5000/python:3@sha256:0123abcd', 'python'],
    ['busybox', 'busybox'],
    ['busybox:1.36', 'busybox'],
    ['public.ecr.aws/docker/library/busybox:stable', 'busybox'],
    ['node:20-slim', undefined],
    ['public.ecr.aws/amazonlinux/amazonlinux:2023', undefined],
    ['my/python-app:1', undefined],
    ['pythonista:1', undefined],
  ])('%s → %s', (image, kind) => {
    expect(standInKind(image)).toBe(kind);
  });
});

describe('runContainer input', () => {
  test('an image without a stand-in is one line naming it and the known kinds', async () => {
    await expect(runContainer({ image: 'node:20-slim', command: ['node', '-v'], env: {} })).rejects.toThrow(
      "no stand-in root for image 'node:20-slim' (known: python:*, busybox:* and their registry forms)",
    );
  });
  test('an empty command is refused', async () => {
    await expect(runContainer({ image: PYTHON, command: [], env: {} })).rejects.toThrow(
      'container command must be a non-empty array of strings, got []',
    );
  });
  test('an environment name with "=" is refused', async () => {
    await expect(runContainer({ image: PYTHON, command: ['true'], env: { 'A=B': 'x' } })).rejects.toThrow(
      'container environment variable "A=B"="x" is not a valid name=string pair',
    );
  });
});

describeWithTool('bwrap', 'containers in stand-in roots (bwrap)', () => {
  beforeAll(async () => {
    // Cold builds take a few seconds each; CI builds them before the tests (.ci/run).
    for (const kind of STAND_IN_KINDS) await ensureRootfs(kind);
  }, 180_000);

  test('python: python3 with the standard library a task needs, on the image PATH', async () => {
    const modules = 'json hashlib hmac urllib.request http.client tarfile gzip zlib ssl subprocess signal tempfile';
    const script = [
      'import importlib, shutil, sys',
      `mods = "${modules}".split()`,
      'for m in mods: importlib.import_module(m)',
      'import hashlib, gzip, ssl, subprocess',
      'print(shutil.which("python3"), len(mods))',
      'print(hashlib.sha256(gzip.decompress(gzip.compress(b"abc"))).hexdigest()[:8])',
      'print(ssl.create_default_context().verify_mode == ssl.CERT_REQUIRED)',
      'print(subprocess.run(["sh", "-c", "echo from-sh"], capture_output=True, text=True).stdout.strip())',
    ].join('\n');
    const result = await runContainer({ image: PYTHON, command: ['python3', '-c', script], env: {} });
    expect(result).toEqual({
      exitCode: 0,
      lines: ['/usr/local/bin/python3 12', 'ba7816bf', 'True', 'from-sh'],
    });
  });

  test('exit codes and both streams come back', async () => {
    const seen: string[] = [];
    const result = await runContainer({
      image: BUSYBOX,
      command: ['sh', '-c', 'echo out; echo err >&2; exit 3'],
      env: {},
      onLine: (line, stream) => seen.push(`${stream}:${line}`),
    });
    // Two pipes: which one node reads first is not fixed, so compare without order.
    expect(result.exitCode).toBe(3);
    expect([...result.lines].sort()).toEqual(['err', 'out']);
    expect([...seen].sort()).toEqual(['stderr:err', 'stdout:out']);
  });

  test.each([
    ['node', 'exec: "node": executable file not found in $PATH'],
    ['aws', 'exec: "aws": executable file not found in $PATH'],
    ['/usr/bin/node', 'exec: "/usr/bin/node": stat /usr/bin/node: no such file or directory'],
  ])('python stand-in: %s does not exist, reported as a container start failure', async (executable, detail) => {
    const seen: string[] = [];
    const result = await runContainer({
      image: PYTHON,
      command: [executable, '--version'],
      env: {},
      onLine: (line) => seen.push(line),
    });
    const reason =
      'CannotStartContainerError: Error response from daemon: failed to create shim task: OCI runtime create failed: ' +
      `runc create failed: unable to start container process: ${detail}: unknown`;
    expect(result).toEqual({ exitCode: 127, lines: [reason], cannotStart: reason });
    expect(seen).toEqual([reason]);
  });

  test('a file that is not executable is a start failure too', async () => {
    const result = await runContainer({ image: PYTHON, command: ['/etc/passwd'], env: {} });
    expect(result.exitCode).toBe(127);
    expect(result.cannotStart).toContain('exec: "/etc/passwd": permission denied: unknown');
  });

  test('busybox stand-in: sh works, python3 does not exist', async () => {
    const sh = await runContainer({ image: BUSYBOX, command: ['sh', '-c', 'command -v python3 || echo no-python'], env: {} });
    expect(sh).toEqual({ exitCode: 0, lines: ['no-python'] });
    const python = await runContainer({ image: BUSYBOX, command: ['python3', '-c', 'pass'], env: {} });
    expect(python.exitCode).toBe(127);
    expect(python.cannotStart).toContain('exec: "python3": executable file not found in $PATH');
  });

  test("the host's files are invisible; the root is read-only, /tmp is writable", async () => {
    expect(fs.existsSync(REPO_ROOT)).toBe(true);
    const result = await runContainer({
      image: BUSYBOX,
      command: [
        'sh',
        '-c',
        `test -e '${REPO_ROOT}' && echo repo-visible || echo repo-invisible
         cat /etc/hostname 2>/dev/null || echo no-hostname
         touch /etc/x 2>/dev/null && echo root-writable || echo root-read-only
         echo hi >/tmp/x && cat /tmp/x
         cat /etc/metaflow-cdk-stand-in`,
      ],
      env: {},
    });
    expect(result).toEqual({
      exitCode: 0,
      lines: ['repo-invisible', 'no-hostname', 'root-read-only', 'hi', 'busybox'],
    });
  });

  test('the container gets only the image environment and the given one', async () => {
    process.env.ROOTFS_TEST_HOST_ONLY = 'leaked';
    try {
      const result = await runContainer({
        image: PYTHON,
        command: ['python3', '-c', 'import json, os; print(json.dumps(dict(os.environ), sort_keys=True))'],
        env: { METAFLOW_TASK: 'start/1', LANG: 'en_US.UTF-8' },
      });
      expect(result.exitCode).toBe(0);
      // bwrap sets PWD after changing to the working directory (documented on runContainer).
      expect(JSON.parse(result.lines[0])).toEqual({
        ...imageEnvironment('python'),
        METAFLOW_TASK: 'start/1',
        LANG: 'en_US.UTF-8',
        PWD: '/',
      });
    } finally {
      delete process.env.ROOTFS_TEST_HOST_ONLY;
    }
  });

  test('the container reaches a server on 127.0.0.1 (host network, as moto_server is reached)', async () => {
    const server = http.createServer((req, res) => res.end(`hello ${req.url}`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const { port } = server.address() as AddressInfo;
      const result = await runContainer({
        image: PYTHON,
        command: ['python3', '-c', 'import os, urllib.request; print(urllib.request.urlopen(os.environ["URL"]).read().decode())'],
        env: { URL: `http://localhost:${port}/bucket` },
      });
      expect(result).toEqual({ exitCode: 0, lines: ['hello /bucket'] });
    } finally {
      server.close();
    }
  });

  test('kill stops the whole sandbox, background processes included: exit code 137', async () => {
    const marker = String(40000 + Math.floor(Math.random() * 20000));
    let kill: (() => void) | undefined;
    let started = false;
    const running = runContainer({
      image: BUSYBOX,
      command: ['sh', '-c', `sleep ${marker} & echo started; wait`],
      env: {},
      onKill: (k) => (kill = k),
      onLine: (line) => (started ||= line === 'started'),
    });
    // The background sleep must exist before the kill, or its absence after proves nothing.
    await waitFor(() => started && processWithArgs(['sleep', marker]), 10_000, `sleep ${marker} never started`);
    kill!();
    expect(await running).toEqual({ exitCode: 137, lines: ['started'], signal: 'SIGKILL' });
    await waitFor(() => !processWithArgs(['sleep', marker]), 5_000, `sleep ${marker} still running after kill`);
  });

  test('an AbortSignal kills it too', async () => {
    const controller = new AbortController();
    const result = await runContainer({
      image: PYTHON,
      command: ['python3', '-u', '-c', 'import time; print("up"); time.sleep(600)'],
      env: {},
      signal: controller.signal,
      onLine: () => controller.abort(),
    });
    expect(result).toEqual({ exitCode: 137, lines: ['up'], signal: 'SIGKILL' });
  });
});

/** Is there a process on this machine whose argv is exactly `args`? */
function processWithArgs(args: string[]): boolean {
  const wanted = args.join('\0');
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '') === wanted) return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

async function waitFor(condition: () => boolean, timeoutMs: number, message: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((r) => setTimeout(r, 50));
  }
}
