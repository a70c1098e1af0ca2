/**
 * The price table a user gives `show --prices <file>`: the runner ships no prices of its own (no
 * network, no AWS Pricing API) and presents every figure computed from it as an estimate. The
 * format is documented in docs/operations.md ("Usage and cost"), with a sample in
 * docs/prices.sample.json. Every problem is one line naming the file and the field.
 */
import * as fs from 'node:fs';
import { describeValue } from '../../core/describe-value';
import { UserInputError } from '../errors';
import { closestName } from '../unknown-fields';
import { Architecture, ARCHITECTURES } from './types';

/** Fargate's rates for one capacity (FARGATE or FARGATE_SPOT), architecture and region. */
export interface FargatePrice {
  readonly capacity: 'FARGATE' | 'FARGATE_SPOT';
  /** @default 'x86_64' */
  readonly architecture: Architecture;
  /** @default - any region (an entry naming the attempt's region wins) */
  readonly region?: string;
  /** Per vCPU per hour. */
  readonly vcpuHour: number;
  /** Per GiB of memory per hour. */
  readonly gibHour: number;
}

/** One EC2 instance type's hourly prices, and its size for the share of a job. */
export interface Ec2Price {
  readonly instanceType: string;
  /** @default - any region (an entry naming the attempt's region wins) */
  readonly region?: string;
  readonly vcpus: number;
  readonly memoryGiB: number;
  /** @default 0 */
  readonly gpus: number;
  /** @default - on-demand attempts of this type are not priced */
  readonly onDemandHour?: number;
  /** @default - spot attempts of this type are not priced */
  readonly spotHour?: number;
  /**
   * Compute environments whose jobs are priced as this instance type when the environment does
   * not name a single type (`optimal`, instance families).
   *
   * @default - none
   */
  readonly computeEnvironments: readonly string[];
}

export interface PriceTable {
  /** The file it was read from. */
  readonly file: string;
  /** ISO currency code of every price (`USD`). */
  readonly currency: string;
  readonly fargate: readonly FargatePrice[];
  readonly ec2: readonly Ec2Price[];
}

type Json = Record<string, unknown>;

class Problem extends Error {}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function fields(where: string, value: Json, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = closestName(key, known);
    throw new Problem(`unknown field ${where ? `${where}.` : ''}${key} (${near ? `did you mean ${near}?` : `expected one of ${known.join(', ')}`})`);
  }
}

function text(where: string, v: unknown, required: boolean): string | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new Problem(`${where} must be a non-empty string, got ${describeValue(v)}`);
  return v;
}

function amount(where: string, v: unknown, required: boolean, positive = false): number | undefined {
  if (v === undefined && !required) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (positive && v === 0)) {
    throw new Problem(`${where} must be a number ${positive ? '> 0' : '≥ 0'}, got ${describeValue(v)}`);
  }
  return v;
}

function oneOf<T extends string>(where: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !allowed.includes(v as T)) throw new Problem(`${where} must be one of ${allowed.join(', ')}, got ${describeValue(v)}`);
  return v as T;
}

function list(where: string, v: unknown): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new Problem(`${where} must be a list, got ${describeValue(v)}`);
  return v;
}

function fargateEntry(where: string, v: unknown): FargatePrice {
  if (!isObject(v)) throw new Problem(`${where} must be an object, got ${describeValue(v)}`);
  fields(where, v, ['capacity', 'architecture', 'region', 'vcpuHour', 'gibHour', 'source', 'note']);
  text(`${where}.source`, v.source, false);
  text(`${where}.note`, v.note, false);
  const region = text(`${where}.region`, v.region, false);
  return {
    capacity: oneOf(`${where}.capacity`, v.capacity, ['FARGATE', 'FARGATE_SPOT'] as const),
    architecture: v.architecture === undefined ? 'x86_64' : oneOf(`${where}.architecture`, v.architecture, ARCHITECTURES),
    ...(region ? { region } : {}),
    vcpuHour: amount(`${where}.vcpuHour`, v.vcpuHour, true)!,
    gibHour: amount(`${where}.gibHour`, v.gibHour, true)!,
  };
}

function ec2Entry(where: string, v: unknown): Ec2Price {
  if (!isObject(v)) throw new Problem(`${where} must be an object, got ${describeValue(v)}`);
  fields(where, v, ['instanceType', 'region', 'vcpus', 'memoryGiB', 'gpus', 'onDemandHour', 'spotHour', 'computeEnvironments', 'source', 'note']);
  text(`${where}.source`, v.source, false);
  text(`${where}.note`, v.note, false);
  const region = text(`${where}.region`, v.region, false);
  const gpus = amount(`${where}.gpus`, v.gpus, false) ?? 0;
  if (!Number.isInteger(gpus)) throw new Problem(`${where}.gpus must be a whole number, got ${describeValue(v.gpus)}`);
  const onDemandHour = amount(`${where}.onDemandHour`, v.onDemandHour, false);
  const spotHour = amount(`${where}.spotHour`, v.spotHour, false);
  if (onDemandHour === undefined && spotHour === undefined) throw new Problem(`${where} needs onDemandHour, spotHour or both`);
  const environments = list(`${where}.computeEnvironments`, v.computeEnvironments).map((ce, i) => text(`${where}.computeEnvironments[${i}]`, ce, true)!);
  return {
    instanceType: text(`${where}.instanceType`, v.instanceType, true)!,
    ...(region ? { region } : {}),
    vcpus: amount(`${where}.vcpus`, v.vcpus, true, true)!,
    memoryGiB: amount(`${where}.memoryGiB`, v.memoryGiB, true, true)!,
    gpus,
    ...(onDemandHour !== undefined ? { onDemandHour } : {}),
    ...(spotHour !== undefined ? { spotHour } : {}),
    computeEnvironments: environments,
  };
}

/** The table in `content` (JSON); throws one UserInputError line naming `file` and the field. */
export function parsePriceTable(content: string, file: string): PriceTable {
  try {
    let json: unknown;
    try {
      json = JSON.parse(content);
    } catch (err) {
      throw new Problem(`not JSON (${(err as Error).message})`);
    }
    if (!isObject(json)) throw new Problem(`must be a JSON object with currency, fargate and ec2, got ${describeValue(json)}`);
    fields('', json, ['currency', 'fargate', 'ec2', 'source', 'asOf', 'note']);
    const currency = text('currency', json.currency, true)!;
    if (!/^[A-Z]{3}$/.test(currency)) throw new Problem(`currency must be a three-letter code such as USD, got ${describeValue(currency)}`);
    for (const k of ['source', 'asOf', 'note'] as const) text(k, json[k], false);
    const fargate = list('fargate', json.fargate).map((e, i) => fargateEntry(`fargate[${i}]`, e));
    const ec2 = list('ec2', json.ec2).map((e, i) => ec2Entry(`ec2[${i}]`, e));
    if (fargate.length + ec2.length === 0) throw new Problem('has no prices: give fargate or ec2 entries');
    return { file, currency, fargate, ec2 };
  } catch (err) {
    if (err instanceof Problem) throw new UserInputError(`price table ${file}: ${err.message}`);
    throw err;
  }
}

/** `show --prices <file>`: the table, or one line saying why the file cannot be used. */
export function readPriceTable(file: string): PriceTable {
  let content: string;
  try {
    content = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserInputError(`price table ${file}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  return parsePriceTable(content, file);
}
