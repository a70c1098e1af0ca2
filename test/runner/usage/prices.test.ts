/**
 * The price table `show --prices` reads: the sample in docs parses, and every bad file or field is
 * one line naming the file and the field (a UserInputError: exit 2, no stack).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserInputError } from '../../../runner/errors';
import { parsePriceTable, readPriceTable } from '../../../runner/usage/prices';

const SAMPLE = path.join(__dirname, '../../../docs/prices.sample.json');
const ok = { currency: 'USD', fargate: [{ capacity: 'FARGATE', vcpuHour: 0.04, gibHour: 0.004 }] };
const parse = (v: unknown) => parsePriceTable(JSON.stringify(v), 'p.json');
const problem = (v: unknown) => {
  try {
    parse(v);
  } catch (err) {
    expect(err).toBeInstanceOf(UserInputError);
    return (err as Error).message;
  }
  throw new Error('no problem reported');
};

test('the sample table in docs parses: Fargate on-demand rates from the AWS page, example EC2 rows', () => {
  const table = readPriceTable(SAMPLE);
  expect(table.currency).toBe('USD');
  expect(table.fargate).toContainEqual({ capacity: 'FARGATE', architecture: 'x86_64', region: 'us-east-1', vcpuHour: 0.04048, gibHour: 0.004445 });
  expect(table.fargate).toContainEqual({ capacity: 'FARGATE', architecture: 'arm64', region: 'us-east-1', vcpuHour: 0.03238, gibHour: 0.00356 });
  expect(table.ec2.length).toBeGreaterThan(0);
  // the sample says it is an estimate and where its figures come from
  const raw = JSON.parse(fs.readFileSync(SAMPLE, 'utf8'));
  expect(raw.note).toMatch(/estimate/i);
  expect(raw.source).toContain('https://aws.amazon.com/fargate/pricing/');
  expect(raw.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
});

test('defaults: architecture x86_64, gpus 0, no region means any region', () => {
  const t = parse({ ...ok, ec2: [{ instanceType: 'm5.large', vcpus: 2, memoryGiB: 8, spotHour: 0.04, computeEnvironments: ['spot'] }] });
  expect(t.fargate[0]).toEqual({ capacity: 'FARGATE', architecture: 'x86_64', vcpuHour: 0.04, gibHour: 0.004 });
  expect(t.ec2[0]).toEqual({ instanceType: 'm5.large', vcpus: 2, memoryGiB: 8, gpus: 0, spotHour: 0.04, computeEnvironments: ['spot'] });
});

test.each([
  ['not JSON', '{ nope', /^price table p\.json: not JSON \(.+\)$/],
  ['not an object', '[1]', 'price table p.json: must be a JSON object with currency, fargate and ec2, got [1]'],
])('%s: one line naming the file', (_name, text, message) => {
  expect(() => parsePriceTable(text, 'p.json')).toThrow(message);
});

test.each<[string, unknown, string]>([
  ['missing currency', { fargate: ok.fargate }, 'price table p.json: currency must be a non-empty string, got undefined'],
  ['bad currency', { ...ok, currency: 'dollars' }, 'price table p.json: currency must be a three-letter code such as USD, got "dollars"'],
  ['no prices', { currency: 'USD' }, 'price table p.json: has no prices: give fargate or ec2 entries'],
  ['unknown top field, with the near name', { ...ok, fargat: [] }, 'price table p.json: unknown field fargat (did you mean fargate?)'],
  ['fargate not a list', { ...ok, fargate: {} }, 'price table p.json: fargate must be a list, got {}'],
  ['price as a string', { ...ok, fargate: [{ capacity: 'FARGATE', vcpuHour: '0.04', gibHour: 0.004 }] }, 'price table p.json: fargate[0].vcpuHour must be a number ≥ 0, got "0.04"'],
  ['negative price', { ...ok, fargate: [{ capacity: 'FARGATE', vcpuHour: 0.04, gibHour: -1 }] }, 'price table p.json: fargate[0].gibHour must be a number ≥ 0, got -1'],
  ['bad capacity', { ...ok, fargate: [{ capacity: 'SPOT', vcpuHour: 0.04, gibHour: 0.004 }] }, 'price table p.json: fargate[0].capacity must be one of FARGATE, FARGATE_SPOT, got "SPOT"'],
  ['bad architecture', { ...ok, fargate: [{ capacity: 'FARGATE', architecture: 'ARM64', vcpuHour: 0.04, gibHour: 0.004 }] }, 'price table p.json: fargate[0].architecture must be one of x86_64, arm64, got "ARM64"'],
  ['typo in an entry', { ...ok, fargate: [{ capacity: 'FARGATE', vcpuHours: 0.04, gibHour: 0.004 }] }, 'price table p.json: unknown field fargate[0].vcpuHours (did you mean vcpuHour?)'],
  ['ec2 without a price', { ...ok, ec2: [{ instanceType: 'm5.large', vcpus: 2, memoryGiB: 8 }] }, 'price table p.json: ec2[0] needs onDemandHour, spotHour or both'],
  ['ec2 with 0 vCPUs', { ...ok, ec2: [{ instanceType: 'm5.large', vcpus: 0, memoryGiB: 8, onDemandHour: 0.1 }] }, 'price table p.json: ec2[0].vcpus must be a number > 0, got 0'],
  ['ec2 fractional GPUs', { ...ok, ec2: [{ instanceType: 'g5.xlarge', vcpus: 4, memoryGiB: 16, gpus: 0.5, onDemandHour: 1 }] }, 'price table p.json: ec2[0].gpus must be a whole number, got 0.5'],
  ['ec2 environments not a list', { ...ok, ec2: [{ instanceType: 'm5.large', vcpus: 2, memoryGiB: 8, onDemandHour: 0.1, computeEnvironments: 'spot' }] }, 'price table p.json: ec2[0].computeEnvironments must be a list, got "spot"'],
  ['ec2 without instance type', { ...ok, ec2: [{ vcpus: 2, memoryGiB: 8, onDemandHour: 0.1 }] }, 'price table p.json: ec2[0].instanceType must be a non-empty string, got undefined'],
])('%s: one line naming the file and the field', (_name, value, message) => {
  expect(problem(value)).toBe(message);
});

test('a missing file is one line naming it', () => {
  const file = path.join(os.tmpdir(), 'no-such-prices.json');
  expect(() => readPriceTable(file)).toThrow(new UserInputError(`price table ${file}: no such file`));
});
