import { appFromContext, resourcesOf, templateFromContext } from '../support/synth';

/**
 * The synthesized `-c teams=...` stack: the fair-share policy, team queues beside the FIFO ones,
 * and IAM that keeps each team in its own datastore folder.
 */
const template = templateFromContext({ teams: 'ml:3,research,vision:1:16' });
const resources = template.toJSON().Resources as Record<string, { Type: string; Properties: any }>;

/** Every S3 object ARN pattern a policy statement allows (Effect Allow), joined to text. */
function arnText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(arnText).join('');
  if (value && typeof value === 'object') {
    const [key, arg] = Object.entries(value)[0];
    if (key === 'Fn::Join') return (arg as [string, unknown[]])[1].map(arnText).join((arg as [string])[0]);
    if (key === 'Fn::GetAtt') return `<${(arg as string[])[0]}.Arn>`;
    if (key === 'Ref') return `<${arg as string}>`;
  }
  return JSON.stringify(value);
}

interface Statement { Effect: string; Action: string | string[]; Resource: unknown; Condition?: any }

/** Statements of every policy attached to a role (inline AWS::IAM::Policy resources). */
function statementsOfRole(roleId: string): Statement[] {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::IAM::Policy' && r.Properties.Roles.some((ref: any) => ref.Ref === roleId))
    .flatMap((r) => r.Properties.PolicyDocument.Statement as Statement[]);
}

function roleOfTeam(team: string): string {
  const ids = Object.keys(resources).filter((id) => resources[id].Type === 'AWS::IAM::Role' && id.startsWith(`TeamsTeam${team}JobRole`));
  expect(ids).toHaveLength(1);
  return ids[0];
}

/** The S3 object patterns a list of statements allows, as text like `<bucket.Arn>/metaflow/.teams/ml/*`. */
function allowedObjects(statements: Statement[]): string[] {
  return statements
    .filter((s) => s.Effect === 'Allow' && [s.Action].flat().some((a) => a.startsWith('s3:') && a !== 's3:ListBucket' && a !== 's3:GetBucketLocation'))
    .flatMap((s) => [s.Resource].flat().map(arnText));
}

/** Would an IAM resource pattern (only `*` wildcards) match this key? */
function matches(pattern: string, arn: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return re.test(arn);
}

describe('teams stack', () => {
  it('has one fair-share policy whose weight factors are the inverse of the weights', () => {
    const policies = resourcesOf(template, 'AWS::Batch::SchedulingPolicy');
    expect(policies).toHaveLength(1);
    const policy = policies[0][1].Properties.FairsharePolicy;
    expect(policy.ShareDistribution).toEqual([
      { ShareIdentifier: 'ml', WeightFactor: 0.3333 },
      { ShareIdentifier: 'research', WeightFactor: 1 },
      { ShareIdentifier: 'vision', WeightFactor: 1 },
    ]);
    expect(policy.ComputeReservation).toBe(10);
    expect(policy.ShareDecaySeconds).toBe(3600);
  });

  it('puts the policy on team queues only: the queue the Metaflow config names stays FIFO', () => {
    const queues = resourcesOf(template, 'AWS::Batch::JobQueue');
    const withPolicy = queues.filter(([, q]) => q.Properties.SchedulingPolicyArn !== undefined).map(([id]) => id);
    expect(withPolicy.sort()).toEqual([expect.stringMatching(/^TeamsSharedGpuQueue/), expect.stringMatching(/^TeamsSharedQueue/), expect.stringMatching(/^TeamsTeamvisionQueue/)]);
    const defaultQueue = queues.find(([id]) => id.startsWith('ComputeDefaultQueue'))!;
    expect(defaultQueue[1].Properties.SchedulingPolicyArn).toBeUndefined();
    const gpuQueue = queues.find(([id]) => id.startsWith('ComputeGpuQueue'))!;
    expect(gpuQueue[1].Properties.SchedulingPolicyArn).toBeUndefined();
  });

  it('gives the teams a fair-share GPU queue: the same policy over the stack\'s GPU environments, beside the FIFO GPU queue', () => {
    const queues = resourcesOf(template, 'AWS::Batch::JobQueue');
    const [teamGpu, fifoGpu, shared] = [/^TeamsSharedGpuQueue/, /^ComputeGpuQueue/, /^TeamsSharedQueue/].map((re) => {
      const found = queues.filter(([id]) => re.test(id));
      expect(found).toHaveLength(1);
      return found[0][1].Properties;
    });
    expect(teamGpu.SchedulingPolicyArn).toEqual(shared.SchedulingPolicyArn);
    const environments = (q: any) => q.ComputeEnvironmentOrder.map((o: any) => [o.Order, JSON.stringify(o.ComputeEnvironment)]);
    expect(environments(teamGpu)).toEqual(environments(fifoGpu));
    expect(JSON.stringify(environments(teamGpu))).toMatch(/ComputeGpu/);
    // configure --team reads each team's GPU queue from the teams output (BATCH_TEAM_JOB_QUEUE_GPU)
    const teamsJson = JSON.stringify(template.toJSON().Outputs.MetaflowTeamsJson.Value);
    expect(teamsJson.match(/\\"gpuJobQueue\\"/g)).toHaveLength(3);
    expect(teamsJson).toMatch(/TeamsSharedGpuQueue/);
  });

  it('gives a team with maxvCpus its own tagged on-demand environment with that cap', () => {
    const own = resourcesOf(template, 'AWS::Batch::ComputeEnvironment').filter(([id]) => id.startsWith('TeamsTeamvision'));
    expect(own).toHaveLength(1);
    const props = own[0][1].Properties;
    expect(props.ComputeResources.MaxvCpus).toBe(16);
    expect(props.ComputeResources.Type).toBe('EC2');
    expect(props.ComputeResources.Tags).toEqual({ 'metaflow.team': 'vision' });
    expect(props.Tags).toEqual(expect.objectContaining({ 'metaflow.team': 'vision' }));
  });

  it('scopes each team role to its own folders; no team role reaches another team\'s folder', () => {
    const teams = ['ml', 'research', 'vision'];
    for (const team of teams) {
      const allowed = allowedObjects(statementsOfRole(roleOfTeam(team)));
      expect(allowed.sort()).toEqual([`<DatastoreBucket.Arn>/data/.teams/${team}/*`, `<DatastoreBucket.Arn>/metaflow/.teams/${team}/*`]
        .map((s) => expect.stringMatching(new RegExp(`^<DatastoreBucket[A-Z0-9]*\\.Arn>${s.slice('<DatastoreBucket.Arn>'.length).replace(/[.*]/g, '\\$&')}$`))));
      for (const other of teams.filter((t) => t !== team)) {
        for (const key of [`metaflow/.teams/${other}/Flow/1/run.json`, `data/.teams/${other}/x`, `metaflow/Flow/1/run.json`, `metaflow/.index/runs/1.json`]) {
          const arn = `${allowed[0].split('>')[0]}>/${key}`;
          expect(allowed.filter((p) => matches(p, arn))).toEqual([]);
        }
      }
      const listing = statementsOfRole(roleOfTeam(team)).filter((s) => [s.Action].flat().includes('s3:ListBucket'));
      expect(listing.map((s) => s.Condition)).toEqual([{ StringLike: { 's3:prefix': [`metaflow/.teams/${team}`, `metaflow/.teams/${team}/*`, `data/.teams/${team}`, `data/.teams/${team}/*`] } }]);
    }
  });

  it('denies the shared job role and the stack user policy every team folder', () => {
    const sharedRole = Object.keys(resources).find((id) => resources[id].Type === 'AWS::IAM::Role' && id.startsWith('ComputeRolesJobRole'))!;
    const userPolicy = Object.values(resources).find((r) => r.Type === 'AWS::IAM::ManagedPolicy' && /Run Metaflow flows on/.test(JSON.stringify(r.Properties.Description)) && !JSON.stringify(r).includes('.teams/'.concat('ml')))!;
    for (const statements of [statementsOfRole(sharedRole), userPolicy.Properties.PolicyDocument.Statement as Statement[]]) {
      const denied = statements.filter((s) => s.Effect === 'Deny').flatMap((s) => [s.Resource].flat().map(arnText));
      expect(denied.some((p) => p.endsWith('/metaflow/.teams/*'))).toBe(true);
      expect(denied.some((p) => p.endsWith('/data/.teams/*'))).toBe(true);
    }
  });

  it('gives each team an access policy that submits to its queue and passes only its role', () => {
    const policies = Object.values(resources).filter((r) => r.Type === 'AWS::IAM::ManagedPolicy' && JSON.stringify(r.Properties.PolicyDocument).includes('.teams/ml/'));
    expect(policies).toHaveLength(1);
    const statements = policies[0].Properties.PolicyDocument.Statement as Statement[];
    const passRole = statements.find((s) => [s.Action].flat().includes('iam:PassRole'))!;
    expect(JSON.stringify(passRole.Resource)).toContain(roleOfTeam('ml'));
    expect(JSON.stringify(passRole.Resource)).not.toContain('ComputeRolesJobRole');
    expect(JSON.stringify(passRole.Resource)).not.toContain(roleOfTeam('research'));
    const submit = JSON.stringify(statements.filter((s) => [s.Action].flat().includes('batch:SubmitJob')).map((s) => s.Resource));
    expect(submit).toContain('TeamsSharedQueue');
    expect(submit).toContain('TeamsSharedGpuQueue');
    // The FIFO queues of the team profile's BATCH_JOB_QUEUE (Metaflow's own @batch) and GPU steps.
    expect(submit).toContain('ComputeDefaultQueue');
    expect(submit).toContain('ComputeGpuQueue');
    // Never another team's own queue.
    expect(submit).not.toContain('TeamsTeamvisionQueue');
    // On the team queues only with its own share identifier.
    const denied = statements.filter((s) => s.Effect === 'Deny' && [s.Action].flat().includes('batch:SubmitJob'));
    expect(denied).toHaveLength(1);
    expect(denied[0].Condition).toEqual({ StringNotEquals: { 'batch:ShareIdentifier': 'ml' } });
    expect(JSON.stringify(denied[0].Resource)).toMatch(/TeamsSharedQueue.*TeamsSharedGpuQueue|TeamsSharedGpuQueue.*TeamsSharedQueue/);
    expect(JSON.stringify(denied[0].Resource)).not.toContain('ComputeDefaultQueue');
    expect(allowedObjects(statements).every((p) => p.includes('/.teams/ml/'))).toBe(true);
  });

  it('lets the stack\'s state machine role submit to every team queue (sfn deploy --team runs as it), with no share condition', () => {
    const roles = Object.keys(resources).filter((id) => resources[id].Type === 'AWS::IAM::Role' && id.startsWith('StepFunctionsStateMachineRole'));
    expect(roles).toHaveLength(1);
    const submit = statementsOfRole(roles[0]).filter((st) => st.Effect === 'Allow' && [st.Action].flat().includes('batch:SubmitJob'));
    const queues = JSON.stringify(submit.map((st) => st.Resource));
    for (const queue of ['ComputeDefaultQueue', 'TeamsSharedQueue', 'TeamsSharedGpuQueue', 'TeamsTeamvisionQueue']) expect(queues).toContain(queue);
    expect(submit.every((st) => st.Condition === undefined)).toBe(true);
  });

  it('creates a job log group with a retention, never /aws/batch/job', () => {
    const groups = resourcesOf(template, 'AWS::Logs::LogGroup').filter(([id]) => id.startsWith('TeamsJobLogs'));
    expect(groups).toHaveLength(1);
    expect(groups[0][1].Properties.RetentionInDays).toBe(90);
    expect(groups[0][1].Properties.LogGroupName).toBe('/metaflow/Metaflow/jobs');
    template.hasOutput('MetaflowJobLogGroupName', {});
    template.hasOutput('MetaflowTeamsJson', {});
  });

  it('EC2 hosts (instance role: awslogs writes with it) and Fargate tasks (execution role) may write into that group', () => {
    const roleIds = Object.keys(resources).filter((id) => resources[id].Type === 'AWS::IAM::Role' && /^Compute.*(InstanceRole|ExecutionRole)/.test(id));
    expect(roleIds.some((id) => id.includes('InstanceRole'))).toBe(true);
    for (const id of roleIds) {
      const writes = statementsOfRole(id).filter((st) => st.Effect === 'Allow' && [st.Action].flat().includes('logs:PutLogEvents')).map((st) => arnText(st.Resource));
      expect({ id, writesTeamGroup: writes.some((r) => r.includes('/metaflow/Metaflow/jobs:log-stream:*')) }).toEqual({ id, writesTeamGroup: true });
    }
  });
});

describe('-c teams', () => {
  it.each([
    ['ML:3', 'ML:3'], ['ml:0', 'ml:0'], ['ml:x', 'ml:x'], ['ml:3:0', 'ml:3:0'], ['a-b', 'a-b'], ['ml,ml', 'ml'], ['ml:20000', 'ml:20000'],
  ])('%s is one line naming the key and the entry', (value, entry) => {
    expect(() => appFromContext({ nag: 'false', teams: value })).toThrow(
      new RegExp(`^context key teams: expected name\\[:weight\\[:maxvCpus\\]\\] per team .*got "${entry}" \\(set it with -c teams=`),
    );
  });

  it('without GPU environments (-c gpu=false) there is no GPU team queue and no gpuJobQueue in the teams output', () => {
    const noGpu = templateFromContext({ nag: 'false', teams: 'ml', gpu: 'false' });
    expect(resourcesOf(noGpu, 'AWS::Batch::JobQueue').map(([id]) => id).filter((id) => /Gpu/.test(id))).toEqual([]);
    const teamsJson = JSON.stringify(noGpu.toJSON().Outputs.MetaflowTeamsJson.Value);
    expect(teamsJson).toContain('jobQueue');
    expect(teamsJson).not.toContain('gpuJobQueue');
  });
});
