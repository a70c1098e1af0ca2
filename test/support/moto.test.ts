import { describeWithTool } from './external-tool';
import { MotoServer, startMoto, workerMoto } from './moto';

describeWithTool('moto_server', 'moto_server test harness', () => {
  let moto: MotoServer;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  test('answers on loopback and accepts the Docker-less Batch config', async () => {
    expect(moto.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await moto.configure({ batch: { use_docker: false } });
    const res = await fetch(`${moto.endpoint}/moto-api/config`);
    const config = (await res.json()) as { batch?: { use_docker?: boolean } };
    expect(config.batch?.use_docker).toBe(false);
  });
}, ['--help']);

describeWithTool('moto_server', "the jest worker's moto_server", () => {
  test('one server for the worker: a later file gets the same endpoint, with the state wiped and the config back to defaults', async () => {
    const first = await workerMoto();
    await first.configure({ batch: { use_docker: false } });
    await fetch(`${first.endpoint}/mf-left-over`, { method: 'PUT' }); // an S3 bucket (path style)
    const listBuckets = async (endpoint: string) => (await (await fetch(`${endpoint}/`)).text()).includes('mf-left-over');
    expect(await listBuckets(first.endpoint)).toBe(true);
    await first.stop(); // the worker's server stays up

    const second = await workerMoto(); // what the worker's next file gets
    expect(second.endpoint).toBe(first.endpoint);
    expect(await listBuckets(second.endpoint)).toBe(false);
    const config = (await (await fetch(`${second.endpoint}/moto-api/config`)).json()) as { batch?: { use_docker?: boolean } };
    expect(config.batch?.use_docker).toBe(true);
  }, 240_000);
});
