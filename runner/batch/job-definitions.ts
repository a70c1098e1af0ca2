/**
 * Job definitions, registered at most once per distinct content per run: one
 * DescribeJobDefinitions (by name, ACTIVE) and, when none exists, one RegisterJobDefinition.
 * Names carry a hash of the content (runner/policy/batch.ts), so an ACTIVE definition with the
 * name IS the definition; concurrent callers share one lookup.
 */
import {
  BatchClient,
  DescribeJobDefinitionsCommand,
  DescribeJobDefinitionsCommandOutput,
  RegisterJobDefinitionCommand,
  RegisterJobDefinitionCommandInput,
  RegisterJobDefinitionCommandOutput,
} from '@aws-sdk/client-batch';
import { ApiCallCounter } from './api-calls';
import { OncePerKey } from './once-per-key';

export class JobDefinitionRegistry {
  private readonly byName = new OncePerKey<string>();

  constructor(
    private readonly batch: BatchClient,
    private readonly calls: ApiCallCounter = new ApiCallCounter(),
  ) {}

  /** The ARN (`…:job-definition/<name>:<revision>`) of an ACTIVE definition with this content. */
  ensure(definition: RegisterJobDefinitionCommandInput): Promise<string> {
    const name = definition.jobDefinitionName;
    if (!name) throw new Error('job definition without a name');
    return this.byName.get(name, () => this.lookupOrRegister(definition));
  }

  private async lookupOrRegister(definition: RegisterJobDefinitionCommandInput): Promise<string> {
    const found = await this.calls.send<DescribeJobDefinitionsCommandOutput>(
      this.batch,
      new DescribeJobDefinitionsCommand({ jobDefinitionName: definition.jobDefinitionName, status: 'ACTIVE' }),
    );
    const latest = (found.jobDefinitions ?? [])
      .filter((d) => d.status === undefined || d.status === 'ACTIVE')
      .sort((a, b) => (b.revision ?? 0) - (a.revision ?? 0))[0];
    if (latest?.jobDefinitionArn) return latest.jobDefinitionArn;
    const registered = await this.calls.send<RegisterJobDefinitionCommandOutput>(this.batch, new RegisterJobDefinitionCommand(definition));
    if (!registered.jobDefinitionArn) throw new Error(`RegisterJobDefinition returned no ARN for ${definition.jobDefinitionName}`);
    return registered.jobDefinitionArn;
  }
}
