/**
 * The metadata service's REST API (Netflix/metaflow-service), as Metaflow's own client calls it
 * (metaflow/plugins/metadata_providers/service.py): JSON bodies, `x-api-key`, a 409 on a create
 * means the object exists (a retried POST whose answer was lost), transient errors are retried
 * with backoff. Answers that can only mean a wrong configuration (403, HTML) are
 * ServiceConfigError; a service that does not answer is ServiceUnavailableError.
 */
import type { ServiceSettings } from './config';

/** The service answered in a way only a wrong URL or key explains: one line for people. */
export class ServiceConfigError extends Error {}

/** The service did not answer usefully after the retries (down, overloaded, unreachable). */
export class ServiceUnavailableError extends Error {}

/** The service refused a request for a reason other than configuration (a 400, a 404 on a create). */
export class ServiceRequestError extends Error {
  constructor(
    message: string,
    /** The HTTP status. */
    readonly status: number,
  ) {
    super(message);
  }
}

/** What the client does about transient errors. */
export interface RetryPolicy {
  /** Tries per request, the first included. @default 4 */
  readonly attempts?: number;
  /** The first wait; doubled after each try. @default 250 */
  readonly baseDelayMs?: number;
  /** How long one request may take. @default 10000 */
  readonly timeoutMs?: number;
}

/** A service answer: its status and parsed JSON body (undefined for an empty or non-JSON body). */
export interface ServiceAnswer {
  readonly status: number;
  readonly body: unknown;
}

const TRANSIENT = new Set([429, 500, 502, 503, 504]);

/** A tiny HTTP client for the service; counts the requests it makes by route kind. */
export class MetadataServiceClient {
  /** Requests made, by `METHOD kind` (`POST task`, `POST metadata`, …), retries included. */
  readonly calls: Record<string, number> = {};
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly timeoutMs: number;

  constructor(
    readonly settings: ServiceSettings,
    retry: RetryPolicy = {},
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.attempts = retry.attempts ?? 4;
    this.baseDelayMs = retry.baseDelayMs ?? 250;
    this.timeoutMs = retry.timeoutMs ?? 10_000;
  }

  get totalCalls(): number {
    return Object.values(this.calls).reduce((a, b) => a + b, 0);
  }

  /** POST a create: resolves `created` or `exists` (409). */
  async create(path: string, body: unknown, options: { attempts?: number } = {}): Promise<'created' | 'exists'> {
    const answer = await this.request('POST', path, body, options);
    if (answer.status === 409) return 'exists';
    if (answer.status >= 300) throw this.refused('POST', path, answer);
    return 'created';
  }

  /** POST a list (metadata, artifacts) or a heartbeat; resolves the answer (a heartbeat may 404 by design). */
  async post(path: string, body: unknown, options: { attempts?: number; allow?: readonly number[] } = {}): Promise<ServiceAnswer> {
    const answer = await this.request('POST', path, body, options);
    if (answer.status >= 300 && answer.status !== 409 && !options.allow?.includes(answer.status)) throw this.refused('POST', path, answer);
    return answer;
  }

  /** GET: the body, or undefined on 404. */
  async get(path: string, options: { attempts?: number } = {}): Promise<unknown> {
    const answer = await this.request('GET', path, undefined, options);
    if (answer.status === 404) return undefined;
    if (answer.status >= 300) throw this.refused('GET', path, answer);
    return answer.body;
  }

  private refused(method: string, path: string, answer: ServiceAnswer): ServiceRequestError {
    const detail = typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? '');
    return new ServiceRequestError(`metadata service refused ${method} ${path} (${answer.status}): ${detail.slice(0, 200)}`, answer.status);
  }

  private async request(method: 'GET' | 'POST', path: string, body: unknown, options: { attempts?: number }): Promise<ServiceAnswer> {
    const url = `${this.settings.url}${path}`;
    const kind = routeKind(method, path);
    const attempts = options.attempts ?? this.attempts;
    let last = '';
    for (let i = 0; i < attempts; i++) {
      if (i > 0) await this.sleep(this.baseDelayMs * 2 ** (i - 1));
      this.calls[kind] = (this.calls[kind] ?? 0) + 1;
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: {
            'content-type': 'application/json',
            ...(this.settings.authKey ? { 'x-api-key': this.settings.authKey } : {}),
          },
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        last = cause?.code ?? cause?.message ?? (err as Error).message;
        continue;
      }
      const text = await res.text().catch(() => '');
      if (res.status === 403) {
        throw new ServiceConfigError(
          `the metadata service at ${this.settings.url} refused the API key (403): check METAFLOW_SERVICE_AUTH_KEY ` +
            `(metaflow-cdk configure writes it from the stack)`,
        );
      }
      if (/^\s*</.test(text) || /text\/html/.test(res.headers.get('content-type') ?? '')) {
        throw new ServiceConfigError(
          `${this.settings.url} answered ${method} ${path} with HTML (${res.status}), not the metadata service's JSON: ` +
            `is METAFLOW_SERVICE_URL the service's API URL?`,
        );
      }
      if (TRANSIENT.has(res.status)) {
        last = `HTTP ${res.status}`;
        continue;
      }
      let parsed: unknown;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        parsed = text;
      }
      return { status: res.status, body: parsed };
    }
    throw new ServiceUnavailableError(`the metadata service at ${this.settings.url} did not answer ${method} ${path} (${last}, ${attempts} tr${attempts === 1 ? 'y' : 'ies'})`);
  }
}

/** `POST /flows/F/runs/R/steps/S/tasks/T/metadata` → `POST metadata`: the counters' key. */
function routeKind(method: string, path: string): string {
  const parts = path.split('?')[0].split('/').filter(Boolean);
  const last = parts[parts.length - 1] ?? '';
  const kind = ['metadata', 'artifact', 'heartbeat', 'task', 'step', 'run'].includes(last) ? last : parts.length <= 2 ? 'flow' : last === 'ping' ? 'ping' : 'read';
  return `${method} ${kind}`;
}
