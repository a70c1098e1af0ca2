/**
 * Task identities: one name per concept, used by the orchestrator, every compute layer and the
 * datastore.
 *
 * - a **TaskRef** names one task of one run: flow, run id, step, task id;
 * - an **AttemptRef** names one attempt of a task (attempts are numbered from 0);
 * - a **pathspec** is a task's short name inside its run, `<step>/<taskId>` (what `inputs` lists);
 * - a **task path** is where a task lives in the datastore, `<flow>/<run>/<step>/<taskId>`,
 *   relative to the datastore root (what MF_INPUT_PATHS lists).
 *
 * A task id is `0` outside a foreach, else the foreach index path (`3`, `3_1` when nested).
 */
export interface TaskRef {
  /** The flow's name (its `name` in defineFlow). */
  readonly flow: string;
  /** The run's id, as the datastore's `newRunId` made it (or as given in RunOptions.runId). */
  readonly runId: string;
  /** The step's name. */
  readonly step: string;
  /** `0` outside a foreach, else the foreach index path (`3`, `3_1` when nested). */
  readonly taskId: string;
}

/** One attempt of one task: a TaskRef plus the attempt's number. */
export interface AttemptRef extends TaskRef {
  /** The attempt's number, from 0 (the first try); it is MF_RETRY_COUNT in the task's environment. */
  readonly attempt: number;
}

/** `<step>/<taskId>`: a task's name inside its run. */
export const pathspec = (t: { readonly step: string; readonly taskId: string }): string => `${t.step}/${t.taskId}`;

/** `<flow>/<run>/<step>/<taskId>`: where a task lives, relative to the datastore root. */
export const taskPath = (t: TaskRef): string => `${t.flow}/${t.runId}/${t.step}/${t.taskId}`;

/** `<step>/<taskId>#<attempt>`: an attempt's name inside its run (log prefixes, messages). */
export const attemptName = (a: { readonly step: string; readonly taskId: string; readonly attempt: number }): string =>
  `${a.step}/${a.taskId}#${a.attempt}`;
