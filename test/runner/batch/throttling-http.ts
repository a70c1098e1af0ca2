/**
 * An HTTP-level fake for SDK clients: answers each request path with a throttling error for its
 * first `throttles` requests, then with `ok(path, body)`. Because it replaces only the transport,
 * the SDK's real retry middleware runs — aws-sdk-client-mock stubs `send` and would bypass it.
 */
import { Readable } from 'node:stream';
import { HttpRequest, HttpResponse } from '@smithy/core/protocols';

export interface ThrottlingHandler {
  /**
   * Requests seen per operation, throttled ones included: the path for REST services
   * (`/v1/submitjob` …), the `X-Amz-Target` header for JSON-protocol services
   * (`AWSStepFunctions.StartExecution` …), which send every operation to `/`.
   */
  readonly requests: Map<string, number>;
  handle(request: HttpRequest): Promise<{ response: HttpResponse }>;
}

/** Batch (REST-JSON) throttles with 429 + x-amzn-errortype; JSON 1.0/1.1 services (Step Functions, CloudWatch Logs) with 400 + __type. */
export type ThrottleStyle = 'rest-json' | 'json-1.1';

/** What an `ok` answer returns to make the call fail with an AWS error of this name (e.g. ResourceNotFoundException). */
export class AwsFailure {
  constructor(readonly type: string) {}
}

export function throttlingHandler(
  throttles: number,
  ok: (operation: string, body: Record<string, unknown>) => unknown,
  style: ThrottleStyle = 'rest-json',
): ThrottlingHandler {
  const requests = new Map<string, number>();
  return {
    requests,
    async handle(request: HttpRequest) {
      const target = Object.entries(request.headers).find(([name]) => name.toLowerCase() === 'x-amz-target')?.[1];
      const path = target ?? request.path;
      const seen = (requests.get(path) ?? 0) + 1;
      requests.set(path, seen);
      if (seen <= throttles) {
        return style === 'rest-json'
          ? { response: json(429, { message: 'Too Many Requests' }, { 'x-amzn-errortype': 'TooManyRequestsException' }) }
          : { response: json(400, { __type: 'ThrottlingException', message: 'Rate exceeded' }) };
      }
      const body: unknown = request.body;
      const text = typeof body === 'string' ? body : body instanceof Uint8Array ? new TextDecoder().decode(body) : '';
      const answer = ok(path, text ? (JSON.parse(text) as Record<string, unknown>) : {});
      if (answer instanceof AwsFailure) return { response: json(400, { __type: answer.type, message: answer.type }) };
      return { response: json(200, answer) };
    },
  };
}

function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  return new HttpResponse({
    statusCode,
    headers: { 'content-type': 'application/json', ...headers },
    body: Readable.from([Buffer.from(JSON.stringify(body))]),
  });
}
