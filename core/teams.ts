/**
 * Teams sharing one stack (issue 17): names, where a team's runs live, and the tag naming it.
 * Used by the constructs (lib/teams) and the runner (`--team`).
 */

/**
 * A team name: lowercase letters and digits, starting with a letter, at most 32. It is a Batch
 * share identifier ("limited to 255 alphanumeric characters", AWS Batch API reference,
 * ShareAttributes), an S3 folder and part of construct ids.
 */
export const TEAM_NAME_PATTERN = /^[a-z][a-z0-9]{0,31}$/;

/** The tag naming a job's (and a team compute environment's) team, for cost allocation. */
export const TEAM_TAG_KEY = 'metaflow.team';

/**
 * The folder under each datastore root that holds the teams' folders. It starts with a dot, as
 * the run index (`.index`) does: a flow name is letters, digits, `_` and `-`, so no flow's runs
 * can ever land in it, and no team folder can be a flow's.
 */
export const TEAMS_FOLDER = '.teams';

/**
 * A team's folder under a datastore root prefix: `<prefix>/.teams/<team>`. A team's runs use
 * `s3://<bucket>/<sysroot>/.teams/<team>` as their datastore root, so everything a run writes —
 * its artifacts, its code package (`<flow>/data/…`) and its entry in the run index — is in it.
 */
export function teamRootPrefix(prefix: string, team: string): string {
  return `${prefix}/${TEAMS_FOLDER}/${team}`;
}

/** One line when `team` is not a team name, else undefined. */
export function teamNameProblem(what: string, team: unknown): string | undefined {
  if (typeof team === 'string' && TEAM_NAME_PATTERN.test(team)) return undefined;
  return `${what}: expected a team name (lowercase letters and digits, starting with a letter, at most 32), got ${JSON.stringify(team)}`;
}

/**
 * One line for jobs bound for fair-share queues without a team: AWS Batch refuses them (AWS Batch
 * API reference, SubmitJob `shareIdentifier`: required on a queue with a fair-share scheduling
 * policy, to be left out on one without), so this is said before anything is submitted or
 * deployed. `howToName` says where a team comes from for the caller.
 */
export function fairShareWithoutTeamProblem(
  queues: readonly string[],
  howToName = "name one with --team <name>, METAFLOW_TEAM in the Metaflow config or the flow's team field",
): string {
  const many = queues.length > 1;
  return `job queue${many ? 's' : ''} ${queues.map((q) => JSON.stringify(q)).join(', ')} ${many ? 'have' : 'has'} a fair-share scheduling policy and takes only jobs with a team: ${howToName}`;
}
