import { isIPv4, isIPv6 } from 'node:net';
import { Token } from 'aws-cdk-lib';
import { IConstruct } from 'constructs';
import { invalidProp } from '../validation';

/** Options of {@link MetaflowUiAuth.cognito}. */
export interface MetaflowUiCognitoOptions {
  /** ARN of the ACM certificate of `domainName`, in the stack's region (HTTPS listener). */
  readonly certificateArn: string;

  /**
   * The UI's DNS name (e.g. `metaflow.example.com`). Point it (CNAME/alias) at the load balancer;
   * Cognito redirects back to `https://<domainName>/oauth2/idpresponse`.
   */
  readonly domainName: string;

  /**
   * Prefix of the Cognito hosted domain (`<prefix>.auth.<region>.amazoncognito.com`): lowercase
   * letters, digits and hyphens, unique in the region, without "aws", "amazon" or "cognito".
   *
   * @default - `metaflow-ui-<hash of the construct path>-<account id>`
   */
  readonly cognitoDomainPrefix?: string;

  /**
   * Source CIDRs allowed to reach the load balancer (IPv4 or IPv6). Cognito still authenticates
   * every request.
   *
   * @default - anywhere (0.0.0.0/0): every request must log in through Cognito
   */
  readonly allowedCidrs?: string[];
}

/** Options of {@link MetaflowUiAuth.internal}. */
export interface MetaflowUiInternalOptions {
  /**
   * Source CIDRs (IPv4 `a.b.c.d/n` or IPv6) allowed to reach the internal load balancer. Not
   * empty; open ranges (`0.0.0.0/0`, `::/0`, any `/0`) are rejected.
   */
  readonly allowedCidrs: string[];

  /**
   * Port of the HTTP listener.
   *
   * @default 80
   */
  readonly port?: number;
}

/** How the UI's load balancer is protected. */
export enum MetaflowUiAuthMode {
  /** Internet-facing ALB, HTTPS, Cognito login in front of every request. */
  COGNITO = 'COGNITO',
  /** Internal ALB, HTTP, reachable only from CIDR allow-lists. */
  INTERNAL = 'INTERNAL',
}

/**
 * How the Metaflow UI is protected: Cognito login on an internet-facing HTTPS load balancer, or
 * an internal load balancer reachable only from CIDR allow-lists. There is no open listener
 * without authentication.
 */
export class MetaflowUiAuth {
  /** Cognito login (user pool, app client and hosted domain are created) on an HTTPS listener. */
  public static cognito(options: MetaflowUiCognitoOptions): MetaflowUiAuth {
    return new MetaflowUiAuth(MetaflowUiAuthMode.COGNITO, options, undefined);
  }

  /** An internal load balancer (private subnets), HTTP, reachable only from `allowedCidrs`. */
  public static internal(options: MetaflowUiInternalOptions): MetaflowUiAuth {
    return new MetaflowUiAuth(MetaflowUiAuthMode.INTERNAL, undefined, options);
  }

  private constructor(
    /** The mode. */
    public readonly mode: MetaflowUiAuthMode,
    /** Cognito options, in COGNITO mode. */
    public readonly cognitoOptions: MetaflowUiCognitoOptions | undefined,
    /** Internal options, in INTERNAL mode. */
    public readonly internalOptions: MetaflowUiInternalOptions | undefined,
  ) {}
}

const CERTIFICATE_ARN = /^arn:aws[a-z-]*:acm:[a-z]{2}(-[a-z]+)+-\d:\d{12}:certificate\/[A-Za-z0-9-]+$/;
const DOMAIN_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const COGNITO_PREFIX = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Check an ACM certificate ARN (tokens pass through). */
export function checkCertificateArn(scope: IConstruct, prop: string, arn: string | undefined): void {
  if (typeof arn === 'string' && Token.isUnresolved(arn)) return;
  if (typeof arn !== 'string' || !CERTIFICATE_ARN.test(arn)) {
    invalidProp(scope, prop, arn,
      'an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)');
  }
}

/** Check a fully qualified DNS name (tokens pass through). */
export function checkDomainName(scope: IConstruct, prop: string, name: string | undefined): void {
  if (typeof name === 'string' && Token.isUnresolved(name)) return;
  const labels = typeof name === 'string' ? name.split('.') : [];
  const valid = typeof name === 'string' && name.length <= 253 && labels.length >= 2
    && labels.every((label) => DOMAIN_LABEL.test(label)) && !/^\d+$/.test(labels[labels.length - 1]);
  if (!valid) {
    invalidProp(scope, prop, name, 'a lowercase DNS name with at least two labels, e.g. "metaflow.example.com"');
  }
}

/** Check a Cognito hosted-domain prefix. */
export function checkCognitoDomainPrefix(scope: IConstruct, prop: string, prefix: string): void {
  if (Token.isUnresolved(prefix)) return;
  if (!COGNITO_PREFIX.test(prefix) || /aws|amazon|cognito/.test(prefix)) {
    invalidProp(scope, prop, prefix,
      'lowercase letters, digits and hyphens (1–63, no leading/trailing hyphen) without "aws", "amazon" or "cognito"');
  }
}

/** Is `cidr` an IPv6 CIDR (as opposed to IPv4)? Assumes it passed {@link checkCidrs}. */
export function isIpv6Cidr(cidr: string): boolean {
  return cidr.includes(':');
}

function validCidr(cidr: unknown): boolean {
  if (typeof cidr !== 'string') return false;
  const match = /^([^/]+)\/(\d{1,3})$/.exec(cidr);
  if (!match) return false;
  const [, address, bits] = match;
  const prefix = Number(bits);
  if (isIPv4(address)) return prefix <= 32;
  if (isIPv6(address)) return prefix <= 128;
  return false;
}

/**
 * Check an allow-list: not empty, each a CIDR, none open to everyone (a `/0` range) — there must
 * be no open listener without authentication.
 */
export function checkCidrs(scope: IConstruct, prop: string, cidrs: readonly string[] | undefined): void {
  if (!Array.isArray(cidrs) || cidrs.length === 0) {
    invalidProp(scope, prop, cidrs, 'a non-empty list of CIDRs (e.g. ["10.0.0.0/8"])');
  }
  for (const cidr of cidrs) {
    if (typeof cidr === 'string' && Token.isUnresolved(cidr)) continue;
    if (!validCidr(cidr)) {
      invalidProp(scope, prop, cidr, 'a list of IPv4 or IPv6 CIDRs (e.g. "10.0.0.0/8", "2001:db8::/32"); this entry is not one');
    }
    if (cidr.endsWith('/0')) {
      invalidProp(scope, prop, cidr,
        'a list of restricted CIDRs: an open range would be a listener without authentication (use MetaflowUiAuth.cognito for internet access)');
    }
  }
  if (new Set(cidrs).size !== cidrs.length) invalidProp(scope, prop, cidrs, 'a list of distinct CIDRs');
}
