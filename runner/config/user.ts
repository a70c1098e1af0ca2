/**
 * Who is running, in one place: METAFLOW_USER as Metaflow reads it, else the OS user, else USER /
 * LOGNAME. The run's `user:<name>` tag, its jobs' `metaflow.user` tag, the user the metadata
 * service records and FlowStateMachine's default registration user all come from here, so they
 * agree.
 */
import * as os from 'node:os';
import { UserInputError } from '../errors';

/** Who is running; one line when METAFLOW_USER is empty or no name is known. */
export function currentUser(env: NodeJS.ProcessEnv): string {
  if (env.METAFLOW_USER !== undefined) {
    if (env.METAFLOW_USER.trim() === '') throw new UserInputError('METAFLOW_USER is set but empty: unset it or give a user name');
    return env.METAFLOW_USER;
  }
  let name: string | undefined;
  try {
    name = os.userInfo().username;
  } catch {
    // No passwd entry (a container with an arbitrary uid): the environment may still name the user.
  }
  name = name || env.USER || env.LOGNAME;
  if (!name) throw new UserInputError('cannot tell who is running (no OS user name, USER or LOGNAME): set METAFLOW_USER');
  return name;
}
