/**
 * Code packages in an S3 datastore on moto_server: uploaded once per content (HeadObject first,
 * no second PutObject), sent with its SHA-1 for S3 to check, fetched back and checked; a
 * corrupt or missing object is one line. And the same in a local datastore.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { S3ObjectStore } from '../../../runner/aws/s3-object-store';
import { LocalDatastore } from '../../../runner/datastore/local';
import { S3Datastore } from '../../../runner/datastore/s3';
import { CommandFailedError } from '../../../runner/errors';
import { buildCodePackage, BuiltCodePackage } from '../../../runner/package/build';
import { fetchCodePackage, storeCodePackage } from '../../../runner/package/store';
import { describeWithTool } from '../../support/external-tool';
import { useMotoBucket } from '../../support/moto-bucket';
import { tempDir } from '../support/harness';

async function built(content: string): Promise<BuiltCodePackage> {
  const root = tempDir('mfcdk-store-');
  fs.writeFileSync(path.join(root, 'train.py'), content);
  return buildCodePackage({ root, runtimeFiles: {} });
}

describeWithTool('moto_server', 'code packages in the S3 datastore (moto_server)', () => {
  const bucket = useMotoBucket('mf-code', 'metaflow');

  test('uploaded once per content: the second store only looks (HeadObject); fetched back with its sha1 checked', async () => {
    const store = new S3Datastore(new S3ObjectStore(bucket.s3, 'mf-code', 'metaflow'));
    const sent: string[] = [];
    const send = bucket.s3.send.bind(bucket.s3);
    const spy = jest.spyOn(bucket.s3, 'send').mockImplementation(((command: { constructor: { name: string } }) => {
      sent.push(command.constructor.name);
      return send(command as never);
    }) as never);
    const pkg = await built('print(1)\n');
    try {
      const first = await storeCodePackage(store, 'MyFlow', pkg);
      const second = await storeCodePackage(store, 'MyFlow', pkg);
      expect(first).toEqual({ uploaded: true, ref: { url: `s3://mf-code/metaflow/MyFlow/data/${pkg.sha1.slice(0, 2)}/${pkg.sha1}`, sha1: pkg.sha1, files: 1, bytes: pkg.bytes } });
      expect(second).toEqual({ ...first, uploaded: false });
      expect(sent).toEqual(['HeadObjectCommand', 'PutObjectCommand', 'HeadObjectCommand']);
    } finally {
      spy.mockRestore();
    }
    expect(await bucket.keys('MyFlow/')).toEqual([`MyFlow/data/${pkg.sha1.slice(0, 2)}/${pkg.sha1}`]);
    const back = path.join(tempDir('mfcdk-fetch-'), 'p.tgz');
    await fetchCodePackage(store, (await storeCodePackage(store, 'MyFlow', pkg)).ref, back);
    expect(fs.readFileSync(back).equals(fs.readFileSync(pkg.file))).toBe(true);
    await pkg.dispose();
  });

  test('the upload carries the SHA-1 of the package (x-amz-checksum-sha1), for S3 to check', async () => {
    // AWS S3 user guide, "Checking object integrity for data uploads": a PUT whose body does not
    // match the checksum given is rejected. moto does not check it: the test reads what was sent.
    const store = new S3Datastore(new S3ObjectStore(bucket.s3, 'mf-code', 'metaflow'));
    const sent: (string | undefined)[] = [];
    const name = 'record-checksum-header';
    bucket.s3.middlewareStack.add(
      (next) => async (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
        if ((args.input as { Body?: unknown }).Body !== undefined) sent.push(headers['x-amz-checksum-sha1']);
        return next(args);
      },
      { step: 'finalizeRequest', name },
    );
    try {
      const pkg = await built('print(4)\n');
      await storeCodePackage(store, 'Sums', pkg);
      await pkg.dispose();
      expect(sent).toEqual([Buffer.from(pkg.sha1, 'hex').toString('base64')]);
    } finally {
      bucket.s3.middlewareStack.remove(name);
    }
  });

  test('a corrupt or missing package is one line, exit 1', async () => {
    const store = new S3Datastore(new S3ObjectStore(bucket.s3, 'mf-code', 'metaflow'));
    const pkg = await built('print(2)\n');
    const { ref } = await storeCodePackage(store, 'Other', pkg);
    await pkg.dispose();
    await bucket.s3.send(new PutObjectCommand({ Bucket: 'mf-code', Key: `metaflow/Other/data/${ref.sha1.slice(0, 2)}/${ref.sha1}`, Body: 'not a package' }));
    const file = path.join(tempDir('mfcdk-fetch-'), 'p.tgz');
    const corrupt = await fetchCodePackage(store, ref, file).catch((e: unknown) => e);
    expect(corrupt).toBeInstanceOf(CommandFailedError);
    expect((corrupt as Error).message).toMatch(new RegExp(`^the code package ${ref.url} is corrupt: its sha1 is [0-9a-f]{40}, the run recorded ${ref.sha1}$`));
    const missing = { ...ref, url: ref.url.replace('/Other/', '/Gone/') };
    await expect(fetchCodePackage(store, missing, file)).rejects.toThrow(`the code package ${missing.url} is missing from the datastore`);
  });
}, ['-h']);

test('a local datastore keeps packages at the same keys, once per content', async () => {
  const store = new LocalDatastore(tempDir('mfcdk-localstore-'));
  const pkg = await built('print(3)\n');
  const first = await storeCodePackage(store, 'MyFlow', pkg);
  expect(first.ref.url).toBe(path.join(store.root, 'MyFlow', 'data', pkg.sha1.slice(0, 2), pkg.sha1));
  expect(first.uploaded).toBe(true);
  expect((await storeCodePackage(store, 'MyFlow', pkg)).uploaded).toBe(false);
  const back = path.join(tempDir('mfcdk-fetch-'), 'p.tgz');
  await fetchCodePackage(store, first.ref, back);
  expect(fs.readFileSync(back).equals(fs.readFileSync(pkg.file))).toBe(true);
  await expect(fetchCodePackage(new LocalDatastore(tempDir('mfcdk-other-')), first.ref, back)).rejects.toThrow(/^the code package .* is not in the datastore .*; give that datastore's root$/);
  await pkg.dispose();
});
