import {
  handleMigrationEvent,
  handler,
  MIGRATION_DATA,
  MIGRATION_PROPERTIES,
  MigrationError,
  runMigrations,
} from '../../lib/metadata/migration-handler';
import type { HandlerOptions } from '../../lib/metadata/migration-handler';
import {
  FakeBehaviour,
  FakeMigrationService,
  LATEST_VERSION,
  schemaStatus,
  startFakeMigrationService,
  unusedLoopbackUrl,
} from './fake-migration-service';

/** Options that record the waits instead of waiting. */
function noWait(): HandlerOptions & { delays: number[] } {
  const delays: number[] = [];
  return {
    delays,
    sleep: async (ms) => {
      delays.push(ms);
    },
    log: () => undefined,
  };
}

const OLD_VERSION = '20200603104139';

describe('migration custom resource handler', () => {
  let service: FakeMigrationService | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });

  async function start(behaviour: FakeBehaviour): Promise<FakeMigrationService> {
    service = await startFakeMigrationService(behaviour);
    return service;
  }

  function createEvent(url: string, extra: Record<string, unknown> = {}) {
    return { RequestType: 'Create', ResourceProperties: { [MIGRATION_PROPERTIES.SERVICE_URL]: url, ...extra } };
  }

  test('up to date: reads the status and sends no PATCH', async () => {
    const svc = await start({ status: [schemaStatus(LATEST_VERSION)] });
    const res = await handleMigrationEvent(createEvent(svc.url), undefined, noWait());
    expect(svc.requests).toEqual(['GET /db_schema_status']);
    expect(res.PhysicalResourceId).toBe(`metaflow-db-migrations@${svc.url}`);
    expect(res.Data).toEqual({
      [MIGRATION_DATA.UPGRADE_RAN]: 'false',
      [MIGRATION_DATA.VERSION_BEFORE]: LATEST_VERSION,
      [MIGRATION_DATA.VERSION_AFTER]: LATEST_VERSION,
      [MIGRATION_DATA.APPLIED_MIGRATIONS]: '',
    });
  });

  test('upgrade needed: PATCH /upgrade, then the status is checked again', async () => {
    const svc = await start({
      status: [schemaStatus(OLD_VERSION)],
      upgrade: { status: 200, body: 'upgrade success' },
      statusAfterUpgrade: [schemaStatus(LATEST_VERSION)],
    });
    const res = await handleMigrationEvent(createEvent(`${svc.url}/`), undefined, noWait());
    expect(svc.requests).toEqual(['GET /db_schema_status', 'PATCH /upgrade', 'GET /db_schema_status']);
    expect(res.Data).toEqual({
      [MIGRATION_DATA.UPGRADE_RAN]: 'true',
      [MIGRATION_DATA.VERSION_BEFORE]: OLD_VERSION,
      [MIGRATION_DATA.VERSION_AFTER]: LATEST_VERSION,
      [MIGRATION_DATA.APPLIED_MIGRATIONS]: '20201002000616,20210202145952',
    });
  });

  test('update keeps the physical id and is idempotent (no PATCH when already up to date)', async () => {
    const svc = await start({ status: [schemaStatus(LATEST_VERSION)] });
    const res = await handleMigrationEvent(
      { ...createEvent(svc.url, { ImageTag: 'v2.4.13' }), RequestType: 'Update', PhysicalResourceId: 'existing-id' },
      undefined,
      noWait(),
    );
    expect(res.PhysicalResourceId).toBe('existing-id');
    expect(svc.requests).toEqual(['GET /db_schema_status']);
  });

  test('upgrade fails: the error carries the HTTP status and the service message', async () => {
    const svc = await start({ status: [schemaStatus(OLD_VERSION)], upgrade: { status: 500, body: 'upgrade failed' } });
    const run = handleMigrationEvent(createEvent(svc.url), undefined, noWait());
    await expect(run).rejects.toThrow(`schema upgrade failed: PATCH ${svc.url}/upgrade answered HTTP 500: upgrade failed`);
    await expect(run).rejects.toMatchObject({ httpStatus: 500 });
    expect(svc.requests).toEqual(['GET /db_schema_status', 'PATCH /upgrade']);
  });

  test('upgrade endpoint switched off (404): the error says why', async () => {
    const svc = await start({ status: [schemaStatus(OLD_VERSION)] });
    await expect(handleMigrationEvent(createEvent(svc.url), undefined, noWait())).rejects.toThrow(
      /answered HTTP 404: 404: Not Found \(the upgrade endpoint is off when the service runs with MF_MIGRATION_ENDPOINTS_ENABLED=0\)/,
    );
  });

  test('upgrade answers success but migrations remain unapplied: fails naming them', async () => {
    const svc = await start({
      status: [schemaStatus(OLD_VERSION)],
      upgrade: { status: 200, body: 'upgrade success' },
      statusAfterUpgrade: [schemaStatus('20201002000616')],
    });
    await expect(runMigrations(svc.url, noWait())).rejects.toThrow(
      /still not up to date: version 20201002000616, unapplied migrations: 20210202145952/,
    );
  });

  test('unreachable: bounded retries with backoff, then a failure naming the URL and the attempts', async () => {
    const url = await unusedLoopbackUrl();
    const options = noWait();
    const run = runMigrations(url, { ...options, maxAttempts: 5, initialDelayMs: 100, maxDelayMs: 500 });
    await expect(run).rejects.toThrow(MigrationError);
    await expect(run).rejects.toThrow(
      new RegExp(`migration service at ${url} did not answer GET /db_schema_status after 5 attempts .*last error: unreachable: ECONNREFUSED`),
    );
    expect(options.delays).toEqual([100, 200, 400, 500]);
  });

  test('the total time bound stops the retries before the attempt limit', async () => {
    const url = await unusedLoopbackUrl();
    let clock = 0;
    const options = { ...noWait(), now: () => clock };
    const sleep = async (ms: number) => {
      options.delays.push(ms);
      clock += ms;
    };
    await expect(
      runMigrations(url, { ...options, sleep, timeLimitMs: 10_000, initialDelayMs: 1_000, maxDelayMs: 30_000 }),
    ).rejects.toThrow(/after 4 attempts \(time limit 10 s reached\) over 7 s/);
    expect(options.delays).toEqual([1_000, 2_000, 4_000]);
  });

  test('a service that starts late: resets and 5xx are retried, then the run goes on', async () => {
    const svc = await start({
      status: ['reset', 'reset', { status: 500, body: JSON.stringify({ detail: "Exception('db not up')" }) }, schemaStatus(LATEST_VERSION)],
    });
    const options = noWait();
    const lines: string[] = [];
    const res = await runMigrations(svc.url, { ...options, log: (l) => lines.push(l), initialDelayMs: 10 });
    expect(res.upgradeRan).toBe(false);
    expect(options.delays).toEqual([10, 20, 40]);
    expect(svc.requests).toHaveLength(4);
    expect(lines.some((l) => l.includes(`HTTP 500: Exception('db not up')`))).toBe(true);
  });

  test('a 5xx that never clears: the failure quotes the service detail', async () => {
    const svc = await start({ status: [{ status: 500, body: JSON.stringify({ detail: 'unable to get db version via goose' }) }] });
    await expect(runMigrations(svc.url, { ...noWait(), maxAttempts: 3 })).rejects.toThrow(
      /after 3 attempts .*last error: HTTP 500: unable to get db version via goose/,
    );
  });

  test('a 4xx on the status is not retried (wrong service or port)', async () => {
    const svc = await start({ status: [{ status: 404, body: 'nope' }] });
    await expect(runMigrations(svc.url, noWait())).rejects.toThrow(/answered HTTP 404: nope \(is this the Metaflow migration service, port 8082\?\)/);
    expect(svc.requests).toHaveLength(1);
  });

  test('a status body that is not the expected JSON is a clear failure', async () => {
    const svc = await start({ status: [{ status: 200, body: '<html>' }] });
    await expect(runMigrations(svc.url, noWait())).rejects.toThrow(/answered 200 with a body that is not JSON: <html>/);
    await service?.close();
    const svc2 = await start({ status: [{ status: 200, body: '{"ok":true}' }] });
    await expect(runMigrations(svc2.url, noWait())).rejects.toThrow(/without the expected fields .*\{"ok":true\}/);
  });

  test('Delete is a no-op that keeps the physical id', async () => {
    const svc = await start({ status: [schemaStatus(OLD_VERSION)] });
    const res = await handler({
      RequestType: 'Delete',
      PhysicalResourceId: 'metaflow-db-migrations@x',
      ResourceProperties: { [MIGRATION_PROPERTIES.SERVICE_URL]: svc.url },
    });
    expect(res).toEqual({ PhysicalResourceId: 'metaflow-db-migrations@x' });
    expect(svc.requests).toEqual([]);
  });

  test.each([
    [{}, /ResourceProperties\.MigrationServiceUrl is required/],
    [{ MigrationServiceUrl: 42 }, /ResourceProperties\.MigrationServiceUrl must be a string URL, got 42/],
    [{ MigrationServiceUrl: 'not a url' }, /ResourceProperties\.MigrationServiceUrl is not a valid URL: "not a url"/],
    [{ MigrationServiceUrl: 'ftp://host:8082' }, /must be an http\(s\) URL with a host.*got "ftp:\/\/host:8082"/],
    [{ MigrationServiceUrl: 'http://h:8082?x=1' }, /without query or fragment; got "http:\/\/h:8082\?x=1"/],
    [{ MigrationServiceUrl: 'http://h:8082', TimeLimitSeconds: 'soon' }, /ResourceProperties\.TimeLimitSeconds must be a number of seconds in \(0, 900\]; got "soon"/],
  ])('bad properties %j are rejected by name and value', async (props, message) => {
    await expect(handler({ RequestType: 'Create', ResourceProperties: props })).rejects.toThrow(message);
  });

  test('an unknown RequestType is rejected', async () => {
    await expect(handler({ RequestType: 'Frobnicate' })).rejects.toThrow(/unsupported RequestType "Frobnicate"/);
  });

  test('the time bound follows the Lambda remaining time', async () => {
    const url = await unusedLoopbackUrl();
    let clock = 0;
    const options: HandlerOptions = {
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
      initialDelayMs: 1_000,
    };
    // 25 s left in the Lambda, 15 s kept back: a 10 s bound, as in the time-limit test above.
    await expect(
      handleMigrationEvent(createEvent(url), { getRemainingTimeInMillis: () => 25_000 }, options),
    ).rejects.toThrow(/time limit 10 s reached/);
  });
});
