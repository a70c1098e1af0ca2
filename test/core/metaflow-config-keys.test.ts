import {
  ALL_METAFLOW_CONFIG_KEYS,
  metaflowEnvName,
  metaflowOutputId,
  parseMetaflowConfigKey,
  toMetaflowConfigFile,
} from '../../core/metaflow-config-keys';

describe('Metaflow config keys', () => {
  test('env names carry the METAFLOW_ prefix', () => {
    expect(metaflowEnvName('BATCH_JOB_QUEUE')).toBe('METAFLOW_BATCH_JOB_QUEUE');
  });

  test('output ids are unique, alphanumeric PascalCase', () => {
    const ids = ALL_METAFLOW_CONFIG_KEYS.map(metaflowOutputId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^Metaflow[A-Z][A-Za-z0-9]+$/);
    expect(metaflowOutputId('DATASTORE_SYSROOT_S3')).toBe('MetaflowDatastoreSysrootS3');
  });

  test('parses keys with or without the prefix and rejects unknown ones', () => {
    expect(parseMetaflowConfigKey('METAFLOW_SFN_IAM_ROLE')).toBe('SFN_IAM_ROLE');
    expect(parseMetaflowConfigKey('SFN_IAM_ROLE')).toBe('SFN_IAM_ROLE');
    expect(parseMetaflowConfigKey('DATATOOLS_SYSROOT_S3')).toBeUndefined();
  });

  test('config file keeps the canonical order and drops empty values', () => {
    const file = toMetaflowConfigFile({ BATCH_JOB_QUEUE: 'q', DEFAULT_DATASTORE: 's3', SERVICE_URL: '' });
    expect(Object.entries(file)).toEqual([
      ['METAFLOW_DEFAULT_DATASTORE', 's3'],
      ['METAFLOW_BATCH_JOB_QUEUE', 'q'],
    ]);
  });
});
