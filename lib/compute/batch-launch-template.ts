import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Construct } from 'constructs';
import { checkIntegerInRange } from '../validation';

/** Properties of a {@link BatchLaunchTemplate}. */
export interface BatchLaunchTemplateProps {
  /**
   * Size of the encrypted gp3 root volume, in GiB. Docker images and task scratch space live
   * here; the ECS AMIs need at least 30 GiB.
   *
   * @default 100
   */
  readonly rootVolumeSizeGiB?: number;

  /**
   * Hop limit for IMDSv2 responses. 2 lets containers on the instance reach the instance
   * metadata service (Batch containers run one network hop away from the host).
   *
   * @default 2
   */
  readonly metadataHopLimit?: number;
}

/** The root device of the ECS-optimized Amazon Linux 2 and 2023 AMIs (CPU and NVIDIA). */
export const ECS_AMI_ROOT_DEVICE = '/dev/xvda';

/**
 * The EC2 launch template Batch EC2 compute environments start instances from: an encrypted
 * gp3 root volume (100 GiB by default instead of the AMI's 30) and IMDSv2 required.
 */
export class BatchLaunchTemplate extends Construct {
  /** The launch template. */
  public readonly launchTemplate: ec2.LaunchTemplate;
  /** The root volume size in GiB. */
  public readonly rootVolumeSizeGiB: number;

  constructor(scope: Construct, id: string, props: BatchLaunchTemplateProps = {}) {
    super(scope, id);
    this.rootVolumeSizeGiB = props.rootVolumeSizeGiB ?? 100;
    checkIntegerInRange(this, 'rootVolumeSizeGiB', this.rootVolumeSizeGiB, 30, 16384);
    const hopLimit = props.metadataHopLimit ?? 2;
    checkIntegerInRange(this, 'metadataHopLimit', hopLimit, 1, 64);

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      blockDevices: [{
        deviceName: ECS_AMI_ROOT_DEVICE,
        volume: ec2.BlockDeviceVolume.ebs(this.rootVolumeSizeGiB, {
          volumeType: ec2.EbsDeviceVolumeType.GP3,
          encrypted: true,
          deleteOnTermination: true,
        }),
      }],
      httpEndpoint: true,
      httpTokens: ec2.LaunchTemplateHttpTokens.REQUIRED,
      httpPutResponseHopLimit: hopLimit,
    });
  }
}
