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
