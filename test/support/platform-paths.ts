import { Endpoint, Reachability } from './reachability';

type Json = any;

/** The port an API Gateway integration URI (`http://<nlb>[:port]/…`) targets. */
function integrationPort(uri: Json): number {
  const parts: unknown[] = uri?.['Fn::Join']?.[1] ?? [uri];
  const text = parts.map((p) => (typeof p === 'string' ? p : 'HOST')).join('');
  const match = /^(https?):\/\/HOST(?::(\d+))?(\/|$)/.exec(text);
  if (!match) throw new Error(`integration URI not understood: ${JSON.stringify(uri)}`);
  return match[2] ? Number(match[2]) : match[1] === 'https' ? 443 : 80;
}

/**
 * Every network path the platform needs, checked on a synthesized template; returns one line
 * per path that is refused (or open where it must not be). Empty means all is well.
 *
 * - Batch job ENIs → the metadata NLB's port 80 (SERVICE_INTERNAL_URL) → the service's 8080
 * - API Gateway VPC link → the NLB on the port its integrations use → the service's 8080
 * - NLB health checks → the service's 8080 and 8082
 * - migration function → the NLB's 8082 → the service's 8082, and nothing else reaches 8082
 * - metadata service (and UI backend) → the database port; nothing else reaches the database
 * - UI load balancer → the UI containers (traffic and health checks)
 */
export function platformPathProblems(template: Json): string[] {
  const r = new Reachability(template);
  const problems: string[] = [];
  const resources = template.Resources as Record<string, { Type: string; Properties: Json }>;
  const nlbs = r.ofKind('nlb');
  const services = r.ofKind('ecs-service');
  const metadataService = services.find((s) => s.id.startsWith('MetadataService'));

  if (metadataService) {
    const nlb = nlbs.find((n) => n.id.startsWith('MetadataServiceLoadBalancer'));
    if (!nlb) return ['the metadata service has no internal NLB'];
    const reachesApi = (targets: Array<{ endpoint: Endpoint; port: number }>) =>
      targets.some((t) => t.endpoint.id === metadataService.id && t.port === 8080);

    const batch = r.ofKind('batch');
    if (batch.length === 0) problems.push('no Batch compute environment found');
    for (const env of batch) {
      if (!reachesApi(r.throughLoadBalancer(env, nlb, 80))) problems.push(`Batch ${env.id} → NLB:80 → service:8080 refused`);
    }

    const ports = new Set(Object.values(resources).filter((res) => res.Type === 'AWS::ApiGateway::Method' && res.Properties.Integration?.ConnectionType === 'VPC_LINK')
      .map((res) => integrationPort(res.Properties.Integration.Uri)));
    if (ports.size === 0) problems.push('no API Gateway VPC link integration found');
    for (const port of ports) {
      if (port !== 80) problems.push(`API Gateway integration targets NLB port ${port}, not 80`);
      if (!reachesApi(r.throughVpcLink(nlb, port))) problems.push(`API Gateway VPC link → NLB:${port} → service:8080 refused`);
    }

    const health = r.healthChecks(nlb);
    for (const port of [8080, 8082]) {
      const check = health.find((h) => h.target === metadataService.id && h.port === port);
      if (!check?.ok) problems.push(`NLB health check → service:${port} refused`);
    }

    const migration = r.ofKind('lambda').find((f) => f.id.startsWith('MetadataServiceMigrations'));
    if (migration && !r.throughLoadBalancer(migration, nlb, 8082).some((t) => t.endpoint.id === metadataService.id && t.port === 8082)) {
      problems.push('migration function → NLB:8082 → service:8082 refused');
    }
    const allowed8082 = new Set([nlb.id, migration?.id]);
    for (const reacher of r.reachersOf(metadataService, 8082)) {
      if (!allowed8082.has(reacher.id)) problems.push(`${reacher.id} reaches the migration API (service:8082)`);
    }
  }

  for (const db of r.ofKind('rds')) {
    const port = Number(resources[db.id].Properties.Port ?? 5432);
    const clients = services.filter((s) => s.id === metadataService?.id || s.id.startsWith('UiBackend'));
    for (const client of clients) {
      if (!r.connects(client, db, port)) problems.push(`${client.id} → database:${port} refused`);
    }
    const allowed = new Set(clients.map((c) => c.id));
    for (const reacher of r.reachersOf(db, port)) {
      if (!allowed.has(reacher.id)) problems.push(`${reacher.id} reaches the database:${port}`);
    }
  }

  for (const alb of r.ofKind('alb')) {
    const paths = r.listeners(alb);
    if (paths.length === 0) problems.push(`${alb.id} forwards to no target group`);
    for (const path of paths) {
      for (const target of path.targets) {
        if (!r.connects(alb, target.endpoint, target.port)) problems.push(`${alb.id}:${path.port} → ${target.endpoint.id}:${target.port} refused`);
      }
    }
    for (const check of r.healthChecks(alb)) {
      if (!check.ok) problems.push(`${alb.id} health check → ${check.target}:${check.port} refused`);
    }
  }
  return problems;
}

/** A template value with its intrinsics flattened (`Ref`/`GetAtt`/pseudo parameters → upper-case names). */
function flat(value: Json): string {
  if (typeof value === 'string') return value;
  if (value?.['Fn::Join']) return value['Fn::Join'][1].map(flat).join(value['Fn::Join'][0]);
  if (value?.Ref === 'AWS::AccountId') return 'ACCOUNT';
  if (value?.Ref === 'AWS::Region') return 'REGION';
  if (value?.Ref === 'AWS::URLSuffix') return 'URLSUFFIX';
  return 'TOKEN';
}

/** The ECS agent's endpoints: without them EC2 hosts never join their cluster (Amazon ECS developer guide, interface VPC endpoints). */
const ECS_AGENT_SERVICES = ['ecs', 'ecs-agent', 'ecs-telemetry'];

/**
 * What every compute placement needs from AWS, checked on a synthesized template: a route to S3
 * (image layers, the datastore), to the image registry and to CloudWatch Logs — through the
 * internet (a NAT route, or an internet-gateway route with a public IP), or through VPC endpoints
 * (S3: a gateway endpoint on the subnet's route table; ECR api and dkr, logs: interface
 * endpoints its groups reach on 443). EC2 Batch hosts also need the three ECS agent endpoints,
 * tasks with ECS secrets Secrets Manager, and a placement without internet pulls its images from
 * this account's ECR (the pull-through cache) only. Returns one line per missing path.
 *
 * Placements: every Batch compute environment (EC2, Fargate) and every ECS service. A Batch
 * Fargate job gets a public IP only from its job definition, which the stack does not create: it
 * counts as having one when the stack publishes `METAFLOW_BATCH_ASSIGN_PUBLIC_IP=true`.
 */
export function awsServicePathProblems(template: Json): string[] {
  const r = new Reachability(template);
  const resources = template.Resources as Record<string, { Type: string; Properties: Json }>;
  const problems: string[] = [];
  const fargateJobsPublicIp = template.Outputs?.MetaflowBatchAssignPublicIp?.Value === 'true';
  const placements = [...r.ofKind('batch'), ...r.ofKind('ecs-service')];
  if (placements.length === 0) return ['no compute placement found'];
  for (const placement of placements) {
    const props = resources[placement.id].Properties;
    const batchType = placement.kind === 'batch' ? props.ComputeResources?.Type : undefined;
    const ec2Host = batchType === 'EC2' || batchType === 'SPOT';
    let publicIp: boolean;
    let images: string[] = [];
    let secrets = false;
    if (placement.kind === 'ecs-service') {
      publicIp = props.NetworkConfiguration.AwsvpcConfiguration.AssignPublicIp === 'ENABLED';
      const task = resources[(props.TaskDefinition?.Ref as string) ?? ''].Properties;
      images = task.ContainerDefinitions.map((c: Json) => flat(c.Image));
      secrets = task.ContainerDefinitions.some((c: Json) => (c.Secrets ?? []).length > 0);
    } else if (ec2Host) {
      publicIp = (placement.subnets ?? []).every((s) => resources[s]?.Properties?.MapPublicIpOnLaunch === true);
    } else {
      publicIp = fargateJobsPublicIp;
    }
    const internet = r.egressToInternet(placement) && (placement.subnets ?? []).length > 0 && (placement.subnets ?? []).every((subnet) => {
      const route = r.internetRoute(subnet);
      return route === 'nat' || (route === 'igw' && publicIp);
    });
    const name = `${placement.kind === 'batch' ? `Batch ${ec2Host ? 'EC2' : 'Fargate'}` : 'ECS service'} ${placement.id}`;
    const viaInterface = (service: string) => internet || r.reachesInterfaceEndpoint(placement, service);
    const s3 = internet || (placement.subnets ?? []).every((subnet) => r.gatewayEndpointsFrom(subnet).includes('s3'));
    if (!s3) problems.push(`${name}: no route to S3`);
    if (!viaInterface('ecr.api') || !viaInterface('ecr.dkr')) problems.push(`${name}: no route to the image registry (ECR api and dkr)`);
    if (!viaInterface('logs')) problems.push(`${name}: no route to CloudWatch Logs`);
    if (ec2Host) {
      for (const service of ECS_AGENT_SERVICES) if (!viaInterface(service)) problems.push(`${name}: no route to ${service} (the ECS agent)`);
    }
    if (secrets && !viaInterface('secretsmanager')) problems.push(`${name}: no route to Secrets Manager (its ECS secrets)`);
    if (!internet) {
      for (const image of images) {
        if (!image.startsWith('ACCOUNT.dkr.ecr.REGION.')) problems.push(`${name}: image ${image} is not in this account's ECR and the placement has no internet route`);
      }
    }
  }
  return problems;
}
