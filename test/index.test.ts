import * as api from '../lib';

test('the package entry point exports the constructs and the config-keys module', () => {
  for (const name of ['MetaflowNetwork', 'MetaflowDatastore', 'MetaflowBatchCompute', 'MetaflowJobQueue', 'MetaflowStack', 'MetaflowConfigOutputs', 'metaflowOutputId', 'CONTEXT_KEYS']) {
    expect(api).toHaveProperty(name);
  }
});
