/**
 * Run tags and the user namespace, as Metaflow has them: every run is tagged `user:<name>` — the
 * name from METAFLOW_USER, else the OS user — plus the `--tag`s given; `runs` lists the current
 * user's runs unless `--all`, `--user` or `--tag` say otherwise. Tag rules from Metaflow's
 * metaflow/tagging_util.py (Netflix/metaflow): a tag is a non-empty string of at most 500
 * characters, at most 50 user tags on a run; `user:` is a system tag, so a `--tag` may not start
 * with it.
 */
import { describeValue } from '../../core/describe-value';
import { RunSummary } from '../datastore/types';
import { UserInputError } from '../errors';
import { currentUser } from '../config/user';

export { currentUser };

/** Metaflow's MAX_TAG_SIZE. */
export const MAX_TAG_LENGTH = 500;
/** Metaflow's MAX_USER_TAG_SET_SIZE. */
export const MAX_USER_TAGS = 50;
const USER_PREFIX = 'user:';

/** Check `--tag` values: one line per bad tag. */
export function checkTags(tags: readonly string[]): string[] {
  const problems: string[] = [];
  for (const tag of tags) {
    if (tag.trim() === '') problems.push(`--tag ${describeValue(tag)}: a tag must not be empty`);
    else if (tag.length > MAX_TAG_LENGTH) problems.push(`--tag ${describeValue(tag)}: a tag is at most ${MAX_TAG_LENGTH} characters, this one has ${tag.length}`);
    else if (tag.startsWith(USER_PREFIX)) problems.push(`--tag ${describeValue(tag)}: "user:" tags are set from METAFLOW_USER (or the OS user), not given`);
  }
  const distinct = new Set(tags).size;
  if (distinct > MAX_USER_TAGS) problems.push(`--tag is given ${distinct} times: a run takes at most ${MAX_USER_TAGS} tags`);
  return problems;
}

/** A new run's tags: `user:<name>` first, then the given ones, each once. Throws the problems of checkTags. */
export function runTags(given: readonly string[], env: NodeJS.ProcessEnv): string[] {
  const problems = checkTags(given);
  if (problems.length) throw new UserInputError(problems.join('\nmetaflow-cdk: '));
  return [...new Set([`${USER_PREFIX}${currentUser(env)}`, ...given])];
}

/** Which runs `runs` lists: every run, or those carrying every one of `tags`. */
export type RunFilter = { readonly all: true } | { readonly all: false; readonly tags: readonly string[] };

/** `runs` flags → the filter: `--all`, else `--user` (default: the current user) and every `--tag`. */
export function runFilter(flags: { all?: boolean; user?: string; tag?: readonly string[] }, env: NodeJS.ProcessEnv): RunFilter {
  if (flags.all) {
    if (flags.user !== undefined || flags.tag?.length) throw new UserInputError('--all lists every run: give it without --user or --tag');
    return { all: true };
  }
  if (flags.user !== undefined && flags.user.trim() === '') throw new UserInputError('--user must name a user, got ""');
  return { all: false, tags: [`${USER_PREFIX}${flags.user ?? currentUser(env)}`, ...(flags.tag ?? [])] };
}

/** Does the run pass the filter? */
export function matchesFilter(run: Pick<RunSummary, 'tags'>, filter: RunFilter): boolean {
  return filter.all || filter.tags.every((t) => run.tags?.includes(t));
}
