/**
 * An HTTP pass-through on 127.0.0.1 that records every request and forwards it unchanged to a
 * moto_server: the exact payloads a CLI process sends (e.g. SubmitJob's `shareIdentifier`, which
 * moto accepts and drops) while moto still answers every call. Point the process's
 * AWS_ENDPOINT_URL at {@link RecordingProxy.endpoint}.
 */
import { createServer, request as httpRequest, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly method: string;
  /** The request path, e.g. `/v1/submitjob` (Batch's REST-JSON operations). */
  readonly path: string;
  /** The `X-Amz-Target` header of JSON-protocol services (`AWSStepFunctions.CreateStateMachine` …). */
  readonly target?: string;
  readonly body: string;
}

export interface RecordingProxy {
  readonly endpoint: string;
  /** Every request so far, in arrival order. */
  readonly requests: RecordedRequest[];
  /** The JSON bodies of the requests to `path` (Batch: `/v1/submitjob`, `/v1/registerjobdefinition` …). */
  bodiesOf(path: string): Record<string, unknown>[];
  stop(): Promise<void>;
}

export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const targetHeader = req.headers['x-amz-target'];
      requests.push({ method: req.method ?? 'GET', path: (req.url ?? '/').split('?')[0], target: typeof targetHeader === 'string' ? targetHeader : undefined, body: body.toString('utf8') });
      const forward = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', (err) => res.writeHead(502).end(String(err)));
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    bodiesOf: (path) => requests.filter((r) => r.path === path).map((r) => JSON.parse(r.body) as Record<string, unknown>),
    stop: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
