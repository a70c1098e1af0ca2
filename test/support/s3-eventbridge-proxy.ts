/**
 * A pass-through HTTP proxy in front of moto_server that fills one gap: moto stores a bucket's
 * `EventBridgeConfiguration` (PutBucketNotificationConfiguration) but leaves it out of
 * GetBucketNotificationConfiguration's answer (moto/s3/responses.py `get_bucket_notification`
 * builds Topic, Queue and LambdaFunction configurations only). The proxy remembers the buckets
 * whose PUT carried it and adds `<EventBridgeConfiguration/>` to their GET answer, as S3 returns
 * it (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetBucketNotificationConfiguration.html).
 * Everything else is forwarded unchanged. Path-style S3 requests only (what the SDK sends to an
 * IP endpoint).
 */
import { createServer, IncomingMessage, request, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Buckets named so answer GetBucketNotificationConfiguration with 403 AccessDenied. */
export const DENIED_PREFIX = 'denied-';

export interface S3EventBridgeProxy {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  stop(): Promise<void>;
}

const body = (req: IncomingMessage): Promise<Buffer> => new Promise((resolve, reject) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
});

export async function startS3EventBridgeProxy(upstream: string): Promise<S3EventBridgeProxy> {
  const target = new URL(upstream);
  const withEventBridge = new Set<string>();
  const server: Server = createServer(async (req, res) => {
    const sent = await body(req);
    const url = new URL(req.url!, 'http://x');
    const bucket = url.pathname.split('/')[1];
    const notification = url.searchParams.has('notification') && bucket !== '';
    if (notification && req.method === 'GET' && bucket.startsWith(DENIED_PREFIX)) {
      // A bucket the caller may not read the configuration of (no s3:GetBucketNotification), as S3 answers it.
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      return;
    }
    if (notification && req.method === 'PUT') {
      if (sent.toString('utf8').includes('<EventBridgeConfiguration')) withEventBridge.add(bucket);
      else withEventBridge.delete(bucket);
    }
    const forwarded = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, async (answer) => {
      let received = await body(answer);
      const headers = { ...answer.headers };
      if (notification && req.method === 'GET' && answer.statusCode === 200 && withEventBridge.has(bucket)) {
        const xml = received.toString('utf8');
        const patched = xml.includes('</NotificationConfiguration>')
          ? xml.replace('</NotificationConfiguration>', '<EventBridgeConfiguration></EventBridgeConfiguration></NotificationConfiguration>')
          : '<?xml version="1.0" encoding="UTF-8"?><NotificationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><EventBridgeConfiguration></EventBridgeConfiguration></NotificationConfiguration>';
        received = Buffer.from(patched, 'utf8');
        headers['content-length'] = String(received.length);
        headers['content-type'] = 'application/xml';
      }
      res.writeHead(answer.statusCode ?? 502, headers);
      res.end(received);
    });
    forwarded.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    forwarded.end(sent);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
