/**
 * An HTTP-level fake for SDK clients: answers each request path with a throttling error for its
 * first `throttles` requests, then with `ok(path, body)`. Because it replaces only the transport,
 * the SDK's real retry middleware runs — aws-sdk-client-mock stubs `send` and would bypass it.
 */
import { Readable } from 'node:stream';
import { HttpRequest, HttpResponse } from '@smithy/core/protocols';

export interface ThrottlingHandler {
  /** Requests seen per path (`/v1/submitjob` …), throttled ones included. */
  readonly requests: Map<string, number>;
  handle(request: HttpRequest): Promise<{ response: HttpResponse }>;
}

export function throttlingHandler(
  throttles: number,
  ok: (path: string, body: Record<string, unknown>) => unknown,
): ThrottlingHandler {
  const requests = new Map<string, number>();
  return {
    requests,
    async handle(request: HttpRequest) {
      const path = request.path;
      const seen = (requests.get(path) ?? 0) + 1;
      requests.set(path, seen);
      if (seen <= throttles) {
        return { response: json(429, { message: 'Too Many Requests' }, { 'x-amzn-errortype': 'TooManyRequestsException' }) };
      }
      const text = typeof request.body === 'string' ? request.body : '';
      return { response: json(200, ok(path, text ? (JSON.parse(text) as Record<string, unknown>) : {})) };
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
