import * as fs from 'node:fs';
import { describeValue } from '../../core/describe-value';
import type { CommandContext } from '../cli/commands';
import { prepareFlow } from '../cli/run-support';
import { findRun } from '../cli/run-lookup';
import type { Datastore, RunRecord } from '../datastore/types';
import { UserInputError } from '../errors';
import { layoutPicture } from './layout';
import { Picture, pictureOfFlow, pictureOfRunTasks, withRunStatus } from './picture';
import { renderSvg } from './svg';
import { renderText } from './text';

/** What a picture is printed as (the choices of `graph --format`). */
export type PictureFormat = 'text' | 'svg';

/** Where a picture goes: `svg` set writes the SVG there; otherwise stdout gets `format`. */
export interface PictureOutput {
  /** What stdout gets. @default 'text' */
  readonly format?: PictureFormat;
  /** A file the SVG is written to instead. @default - none: the picture goes to stdout */
  readonly svg?: string;
}

/** Draw the picture as asked: the SVG to a file (and one line on stderr saying so), or text or SVG on stdout. */
export function writePicture(picture: Picture, output: PictureOutput, context: Pick<CommandContext, 'stdout' | 'stderr'>): void {
  const layout = layoutPicture(picture);
  if (output.svg !== undefined) {
    if (output.svg.trim() === '') throw new UserInputError(`--svg needs a file path, got ${describeValue(output.svg)}`);
    try {
      fs.writeFileSync(output.svg, renderSvg(picture, layout));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = e.code === 'ENOENT' ? 'its folder does not exist' : e.code === 'EISDIR' ? 'it is a folder' : e.code === 'EACCES' ? 'permission denied' : e.message.split('\n')[0];
      throw new UserInputError(`cannot write --svg ${describeValue(output.svg)}: ${why}`);
    }
    context.stderr.write(`wrote ${output.svg}: ${picture.title}\n`);
    return;
  }
  context.stdout.write(output.format === 'svg' ? renderSvg(picture, layout) : renderText(picture, layout));
}

/** `metaflow-cdk graph <flow-file>`: the flow file loaded and validated as `run` does, drawn. */
export function drawFlowFile(file: string, output: PictureOutput, context: Pick<CommandContext, 'stdout' | 'stderr'>): void {
  writePicture(pictureOfFlow(prepareFlow(file).graph), output, context);
}

/**
 * The picture of a run: its flow (from the flow file the run was started from) coloured by the
 * run's task records. When that file is gone, no longer loads, or no longer has the run's steps,
 * the picture is read from the task records alone (steps that never ran are then missing), and
 * `notice` says why.
 */
export function runPicture(run: RunRecord, notice: (line: string) => void): Picture {
  let why: string;
  if (run.flowFile === undefined) why = 'the run records no flow file';
  else {
    try {
      const { graph } = prepareFlow(run.flowFile);
      const { picture, unknownSteps } = withRunStatus(pictureOfFlow(graph), run);
      if (graph.flow.name !== run.flow) why = `flow file ${run.flowFile} now holds flow "${graph.flow.name}", not "${run.flow}"`;
      else if (unknownSteps.length) why = `flow file ${run.flowFile} no longer has step${unknownSteps.length > 1 ? 's' : ''} ${unknownSteps.join(', ')}`;
      else return picture;
    } catch (err) {
      why = (err as Error).message.split('\n')[0];
    }
  }
  notice(`drawing run ${run.runId} from its task records (${why}): steps that did not run are not shown`);
  return pictureOfRunTasks(run);
}

/** The flags of `show` that ask for a run's picture. */
export interface RunPictureFlags {
  /** `--graph`: the picture as text. */
  readonly graph?: boolean;
  /** `--svg <file>`: the picture as SVG in this file. */
  readonly svg?: string;
  /** `--json`, which a picture does not go with. */
  readonly json?: boolean;
}

/** `metaflow-cdk show <run-id> --graph` / `--svg <file>`: the run's picture, each step by its status. */
export async function drawRun(spec: string, flags: RunPictureFlags, datastore: Datastore, context: Pick<CommandContext, 'stdout' | 'stderr'>): Promise<void> {
  const asked = flags.svg !== undefined ? '--svg' : '--graph';
  if (spec.includes('/')) throw new UserInputError(`${asked} draws a whole run: give a run id, not ${describeValue(spec)}`);
  if (flags.json) throw new UserInputError(`${asked} and --json cannot be used together (--json prints the run record)`);
  const recorded = await findRun(datastore, spec);
  // A Step Functions run still `running` in its record may have been stopped or timed out (as `show` reads it).
  const { reconcileForDisplay } = require('../sfn/reconcile') as typeof import('../sfn/reconcile');
  const notice = (line: string) => void context.stderr.write(`metaflow-cdk: ${line}\n`);
  const [run] = await reconcileForDisplay([recorded], notice);
  writePicture(runPicture(run, notice), { svg: flags.svg }, context);
}
