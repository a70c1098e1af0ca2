/**
 * The Step Functions compiler: a validated flow graph → an ASL definition driving AWS Batch
 * (docs/step-functions.md "Compiler"). Pure: no AWS calls.
 */
import { UserInputError } from '../../errors';
import { SFN_DEFINITION_MAX_LENGTH } from '../deploy';
import { Compilation } from './compilation';
import { applyWidthLimits } from './history-budget';
import { addParameterStates, compiledParameterValues } from './parameter-states';
import { addRunStart, addRunSteps } from './run-record';
import { Scope } from './scope';
import { TOP } from './task-state';
import type { CompileFlow, CompiledFlow } from './types';
import { Walker } from './walk';

export type { CompileFlow, CompileOptions, CompiledFlow, QueuePlatform } from './types';

export const compileFlow: CompileFlow = (graph, options): CompiledFlow => {
  const c = new Compilation(graph, options);
  const values = compiledParameterValues(c);
  const scope = new Scope(c.names);
  addParameterStates(scope, c, values);
  addRunStart(scope, c);
  const steps = new Scope(c.names);
  new Walker(c, values).walk(steps, 'start', undefined, TOP);
  addRunSteps(scope, c, steps.finish());
  const definition = {
    Comment: `metaflow-cdk: flow ${c.flow} on AWS Batch (compiled by metaflow-cdk sfn compile)`,
    ...scope.finish(),
  };
  const staticWidths = new Map([...graph.steps].flatMap(([name, spec]) => (spec.foreach && 'items' in spec.foreach ? [[name, spec.foreach.items.length] as const] : [])));
  applyWidthLimits(definition, c.flow, staticWidths);
  const size = JSON.stringify(definition).length;
  if (size > SFN_DEFINITION_MAX_LENGTH) {
    throw new UserInputError(`flow "${c.flow}" compiles to a ${size}-character definition; Step Functions allows ${SFN_DEFINITION_MAX_LENGTH}`);
  }
  return { flow: c.flow, definition, jobDefinitions: [...c.jobDefinitions.values()] };
};
