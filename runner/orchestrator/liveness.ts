import * as os from 'node:os';
import { RunSummary } from '../datastore/types';

/** How often a running runner rewrites its heartbeat in the run summary. */
export const HEARTBEAT_MS = 5_000;
/** A run on another host whose heartbeat is older than this has lost its runner. */
export const STALE_AFTER_MS = 60_000;

/** Is a process with this pid alive on this host (EPERM: alive, owned by someone else)? */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface RunnerCheck {
  /** Is `now` past `heartbeatAt + STALE_AFTER_MS`, or is the owner pid gone from this host? */
  readonly dead: boolean;
  readonly reason?: string;
}

/**
 * Whether a run that says `running` still has its runner: on this host, the owner pid must be
 * alive; elsewhere, the heartbeat must be recent. A run that is not `running` is never dead.
 */
export function checkRunner(run: RunSummary, now = Date.now(), host = os.hostname(), alive: (pid: number) => boolean = pidAlive): RunnerCheck {
  if (run.status !== 'running' || !run.owner) return { dead: false };
  const { pid, host: ownerHost, heartbeatAt } = run.owner;
  if (ownerHost === host) {
    return alive(pid) ? { dead: false } : { dead: true, reason: `its runner (pid ${pid} on ${ownerHost}) is gone; last heartbeat ${heartbeatAt}` };
  }
  const age = now - Date.parse(heartbeatAt);
  return age > STALE_AFTER_MS ? { dead: true, reason: `no heartbeat from its runner (pid ${pid} on ${ownerHost}) since ${heartbeatAt}` } : { dead: false };
}

/** The status to show: `dead` for a `running` run whose runner is gone. */
export function shownStatus(run: RunSummary, now = Date.now()): string {
  return checkRunner(run, now).dead ? 'dead' : run.status;
}
