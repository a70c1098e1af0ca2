import { describeWithTool } from './external-tool';
import { MotoServer, startMoto } from './moto';

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
