import { createHash } from 'node:crypto';
import { Stack, Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';

/**
 * What every stand-in holds: this marker, then 12 letters a–p (a hash, letters only so it fits
 * wherever the compiler checks a name: bucket names, role names, partitions like `aws-…`).
 */
const MARKER = 'mfcdkstandin';
const STAND_IN_ID = new RegExp(`${MARKER}[a-p]{12}`, 'g');

/**
 * Stand-ins for CDK tokens while a flow is compiled.
 *
 * The Step Functions compiler works on plain strings (it checks ARNs and names, and names job
 * definitions after a hash of their content), but a queue ARN, a role ARN or a bucket name of a
 * CDK app is a token until CloudFormation deploys it, rendered as `${Token[…]}` with a number
 * that depends on everything else in the app. Each token is replaced here by a stand-in of the
 * right shape (an ARN, a bucket name) derived from what the token resolves to in the template —
 * the same for the same resource in every synth — and put back into the compiled output
 * afterwards. Job definition names thus follow their resources, and nothing else in the app.
 * Literal values (imported ARNs) are passed to the compiler unchanged.
 */
export class CompileStandIns {
  private readonly values = new Map<string, string>();

  constructor(private readonly scope: IConstruct) {}

  /** A job queue ARN (or name) for the compiler. */
  jobQueue(value: string): string {
    return this.standIn(value, (id) => `arn:aws:batch:us-east-1:123456789012:job-queue/${id}`);
  }

  /** An IAM role ARN for the compiler. */
  roleArn(value: string): string {
    return this.standIn(value, (id) => `arn:aws:iam::123456789012:role/${id}`);
  }

  /** An S3 bucket name for the compiler. */
  bucketName(value: string): string {
    return this.standIn(value, (id) => id);
  }

  /** An http(s) URL for the compiler (the metadata service's internal URL). */
  url(value: string): string {
    return this.standIn(value, (id) => `http://${id}/`);
  }

  /** An AWS partition for the compiler. */
  partition(value: string): string {
    return this.standIn(value, (id) => `aws-${id}`);
  }

  /** `value` (an object, array or string from the compiler) with every stand-in put back. */
  restore<T>(value: T): T {
    return this.map(value) as T;
  }

  /**
   * The stand-ins still present in `value` after {@link restore}: the compiler derived something
   * from a stand-in (a name cut out of an ARN, say) that cannot be put back. Empty when all is well.
   */
  leftovers(value: unknown): string[] {
    return [...new Set(JSON.stringify(value).match(STAND_IN_ID) ?? [])];
  }

  private standIn(value: string, shape: (id: string) => string): string {
    if (!Token.isUnresolved(value)) return value;
    const resolved = JSON.stringify(Stack.of(this.scope).resolve(value));
    const hash = createHash('sha256').update(resolved).digest('hex').slice(0, 12);
    const standIn = shape(`${MARKER}${[...hash].map((h) => String.fromCharCode(97 + parseInt(h, 16))).join('')}`);
    this.values.set(standIn, value);
    return standIn;
  }

  private map(value: unknown): unknown {
    if (typeof value === 'string') {
      let out = value;
      // Longest first: a bucket stand-in is a substring of nothing else, but keep it robust.
      for (const standIn of [...this.values.keys()].sort((a, b) => b.length - a.length)) {
        if (out.includes(standIn)) out = out.split(standIn).join(this.values.get(standIn)!);
      }
      return out;
    }
    if (Array.isArray(value)) return value.map((v) => this.map(v));
    if (typeof value === 'object' && value !== null) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.map(v)]));
    }
    return value;
  }
}
