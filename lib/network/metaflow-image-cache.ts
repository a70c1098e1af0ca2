import { Aws, Stack } from 'aws-cdk-lib';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledge, wildcardResourceFinding } from '../nag/acknowledgements';
import { invalidProp } from '../validation';

/** Repository prefix of the ECR Public cache rule (`<registry>/ecr-public/<repository>`). */
export const ECR_PUBLIC_CACHE_PREFIX = 'ecr-public';
/** Repository prefix of the Docker Hub cache rule (`<registry>/docker-hub/<namespace>/<repository>`). */
export const DOCKER_HUB_CACHE_PREFIX = 'docker-hub';

/**
 * Secrets Manager secret ARN whose name starts with `ecr-pullthroughcache/`, the prefix ECR
 * requires of upstream-registry credentials (Amazon ECR user guide, "Storing your upstream
 * repository credentials in an AWS Secrets Manager secret").
 */
const CACHE_SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:ecr-pullthroughcache\/[A-Za-z0-9/_+=.@-]+$/;

/** Properties of a {@link MetaflowImageCache}. */
export interface MetaflowImageCacheProps {
  /**
   * Cache ECR Public (`public.ecr.aws`) images: no credentials needed.
   *
   * @default true
   */
  readonly ecrPublic?: boolean;

  /**
   * ARN of a Secrets Manager secret with Docker Hub credentials (`username` and `accessToken`)
   * whose name starts with `ecr-pullthroughcache/`; turns on the Docker Hub rule (ECR caches
   * Docker Hub only with credentials).
   *
   * @default - no Docker Hub rule
   */
  readonly dockerHubCredentialArn?: string;
}

/**
 * ECR pull-through cache rules, so compute without a route to the internet pulls public images
 * through ECR (reached through its VPC endpoints): ECR fetches the upstream image on the first
 * pull and keeps it in a repository it creates under the rule's prefix. {@link imageUri} turns
 * an upstream image reference into its cached one; {@link grantPull} gives a role what a pull
 * through the cache needs (Amazon ECR user guide, "IAM permissions required to sync an upstream
 * registry with an Amazon ECR private registry": `ecr:BatchImportUpstreamImage`, and
 * `ecr:CreateRepository` while the cached repository does not exist yet).
 */
export class MetaflowImageCache extends Construct {
  /** The registry host of this account and region (`<account>.dkr.ecr.<region>.<suffix>`). */
  public readonly registry: string;
  /** Whether ECR Public images are cached. */
  public readonly ecrPublic: boolean;
  /** Whether Docker Hub images are cached. */
  public readonly dockerHub: boolean;

  constructor(scope: Construct, id: string, props: MetaflowImageCacheProps = {}) {
    super(scope, id);
    this.ecrPublic = props.ecrPublic ?? true;
    const credentialArn = props.dockerHubCredentialArn;
    if (credentialArn !== undefined && !CACHE_SECRET_ARN.test(credentialArn)) {
      invalidProp(this, 'dockerHubCredentialArn', credentialArn, 'a Secrets Manager secret ARN whose name starts with "ecr-pullthroughcache/" (ECR requires that prefix)');
    }
    this.dockerHub = credentialArn !== undefined;
    if (!this.ecrPublic && !this.dockerHub) {
      invalidProp(this, 'ecrPublic', false, 'true (or a dockerHubCredentialArn): a cache without rules caches nothing');
    }
    this.registry = `${Aws.ACCOUNT_ID}.dkr.ecr.${Aws.REGION}.${Aws.URL_SUFFIX}`;
    if (this.ecrPublic) {
      new ecr.CfnPullThroughCacheRule(this, 'EcrPublicRule', {
        ecrRepositoryPrefix: ECR_PUBLIC_CACHE_PREFIX,
        upstreamRegistry: 'ecr-public',
        upstreamRegistryUrl: 'public.ecr.aws',
      });
    }
    if (this.dockerHub) {
      new ecr.CfnPullThroughCacheRule(this, 'DockerHubRule', {
        ecrRepositoryPrefix: DOCKER_HUB_CACHE_PREFIX,
        upstreamRegistry: 'docker-hub',
        upstreamRegistryUrl: 'registry-1.docker.io',
        credentialArn,
      });
    }
  }

  /**
   * The cached reference of an upstream image, or undefined when no rule covers it:
   * `public.ecr.aws/outerbounds/metaflow_ui:v1` → `<registry>/ecr-public/outerbounds/metaflow_ui:v1`;
   * `netflixoss/metaflow_metadata_service:v2.5.1` → `<registry>/docker-hub/netflixoss/…`;
   * Docker Hub's official images (`python:3.12`) live under `library/`.
   */
  public imageUri(image: string): string | undefined {
    const [first, ...rest] = image.split('/');
    const hasRegistry = rest.length > 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
    if (hasRegistry && first === 'public.ecr.aws') {
      return this.ecrPublic ? `${this.registry}/${ECR_PUBLIC_CACHE_PREFIX}/${rest.join('/')}` : undefined;
    }
    const dockerHubPath = !hasRegistry ? image : first === 'docker.io' || first === 'registry-1.docker.io' ? rest.join('/') : undefined;
    if (dockerHubPath === undefined || !this.dockerHub) return undefined;
    return `${this.registry}/${DOCKER_HUB_CACHE_PREFIX}/${dockerHubPath.includes('/') ? '' : 'library/'}${dockerHubPath}`;
  }

  /** ARNs of the repositories the rules create (one wildcard per rule prefix). */
  public get repositoryArns(): string[] {
    const stack = Stack.of(this);
    return [this.ecrPublic ? ECR_PUBLIC_CACHE_PREFIX : undefined, this.dockerHub ? DOCKER_HUB_CACHE_PREFIX : undefined]
      .filter((prefix): prefix is string => prefix !== undefined)
      .map((prefix) => stack.formatArn({ service: 'ecr', resource: 'repository', resourceName: `${prefix}/*` }));
  }

  /**
   * Let `grantee` pull through the cache: image pulls, the upstream import and the creation of
   * the cached repository on the first pull, on the rules' repositories only (and the registry
   * token, which has no resource-level permissions).
   */
  public grantPull(grantee: iam.IGrantable): iam.Grant {
    const repositories = this.repositoryArns;
    if (Construct.isConstruct(grantee.grantPrincipal)) {
      for (const arn of repositories) {
        acknowledge(grantee.grantPrincipal, [wildcardResourceFinding(this, arn)],
          'ECR names the cached repositories after the upstream images on the first pull; access is limited to the pull-through cache prefixes of this account and region.');
      }
      acknowledge(grantee.grantPrincipal, [wildcardResourceFinding(this, '*')],
        'ecr:GetAuthorizationToken supports no resource-level permissions (it returns a registry token, not repository access).');
    }
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage', 'ecr:BatchImportUpstreamImage', 'ecr:CreateRepository'],
      resourceArns: repositories,
    }).combine(iam.Grant.addToPrincipal({ grantee, actions: ['ecr:GetAuthorizationToken'], resourceArns: ['*'] }));
  }
}
