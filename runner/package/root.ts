import * as path from 'node:path';
import type { FlowSpec } from '../flow/model';

/**
 * The package root of a flow: its `package.root` relative to the flow file's folder, else that
 * folder. Local tasks run there too, so `python3 train.py` means the same on every layer.
 */
export function packageRootOf(flow: Pick<FlowSpec, 'package'>, flowFile: string): string {
  const dir = path.dirname(path.resolve(flowFile));
  return flow.package?.root !== undefined ? path.resolve(dir, flow.package.root) : dir;
}
