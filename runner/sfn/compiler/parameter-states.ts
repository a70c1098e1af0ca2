/**
 * The first states: the flow's parameters. The execution input's `Parameters` object is merged
 * over the compiled values (the flow's defaults, replaced by `--param` at compile time) with
 * `States.JsonMerge`; a parameter with no value at all must come in the input, else the execution
 * stops at once with `metaflow.MissingParameter` naming it. The state also gets its `caught`
 * (every catch var, null) and `ctx` ({}) — see state-shape.ts.
 */
import { foreachParameterProblems, parameterDefaults, parseGivenParameters } from '../../flow/parameters';
import { UserInputError } from '../../errors';
import type { Compilation } from './compilation';
import { nextTail, type Scope } from './scope';
import { member } from './state-shape';

/** The state holding the compiled parameter values (its `Result`). */
export const COMPILED_PARAMETERS_STATE = 'Parameters.compiled';

/**
 * The compiled parameter values of a deployed definition (DescribeStateMachine's `definition`),
 * or undefined when the definition is not one this compiler made.
 */
export function deployedParameterValues(definition: string | undefined): Record<string, unknown> | undefined {
  try {
    const result = (JSON.parse(definition ?? '') as { States?: Record<string, { Result?: unknown }> }).States?.[COMPILED_PARAMETERS_STATE]?.Result;
    return result !== null && typeof result === 'object' && !Array.isArray(result) ? (result as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The compiled parameter values: defaults, then `--param` values (checked like `run` does). A
 * parameter without any value is fine here: the execution input gives it.
 */
export function compiledParameterValues(c: Compilation): Record<string, unknown> {
  const given = Object.entries(c.options.params ?? {}).map(([k, v]) => `${k}=${v}`);
  const parsed = parseGivenParameters(c.graph.flow, given);
  const values = { ...parameterDefaults(c.graph.flow), ...parsed.values };
  const problems = [...parsed.problems, ...foreachParameterProblems(c.graph.flow, values)];
  if (problems.length) throw new UserInputError(problems.join('; '));
  return values;
}

export function addParameterStates(scope: Scope, c: Compilation, values: Readonly<Record<string, unknown>>): void {
  const caught = Object.fromEntries([...c.catchVars.keys()].sort().map((v) => [v, null]));
  const ptext = c.jsonParams.length ? { ptext: {} } : {};
  const start = (params: string) => ({ Type: 'Pass', Parameters: { 'params.$': params, caught, ctx: {}, ...ptext } });
  // Every state name of the compiler's own has a dot, so none can be a step's (an identifier).
  scope.add(COMPILED_PARAMETERS_STATE, { Type: 'Pass', Comment: 'the compiled parameter values', Result: values, ResultPath: '$.compiledParameters' });
  const merge = scope.addDetached('Parameters.merge', start('States.JsonMerge($.compiledParameters, $.Parameters, false)'));
  const defaults = scope.addDetached('Parameters.defaults', start('$.compiledParameters'));
  scope.add(
    'Parameters.given',
    { Type: 'Choice', Choices: [{ Variable: '$.Parameters', IsPresent: true, Next: merge }], Default: defaults },
    [],
  );
  const states = scope.states;
  const required = Object.keys(c.graph.flow.parameters ?? {}).filter((n) => !Object.hasOwn(values, n));
  const tails = [merge, defaults].map((name) => (next: string | undefined) => {
    if (next === undefined) states[name].End = true;
    else states[name].Next = next;
  });
  scope.setTails(tails);
  if (required.length > 0) addRequiredCheck(scope, c, required);
  for (const name of c.jsonParams) addJsonText(scope, name);
}

/**
 * `$.ptext.<name>.v`: the json parameter as a task gets it, like the runner's `envValue` — a
 * string as it is (`IsString`), anything else as JSON text (state-shape.ts).
 */
function addJsonText(scope: Scope, name: string): void {
  const value = member('$.params', name);
  const pass = (suffix: string, v: string) => {
    const state: Record<string, unknown> = { Type: 'Pass', Parameters: { 'v.$': v }, ResultPath: member('$.ptext', name) };
    return { name: scope.addDetached(`Parameters.${name}.${suffix}`, state), tail: nextTail(state) };
  };
  const asIs = pass('string', value);
  const asJson = pass('json', `States.JsonToString(${value})`);
  scope.add(`Parameters.${name}.text`, { Type: 'Choice', Choices: [{ Variable: value, IsString: true, Next: asIs.name }], Default: asJson.name }, []);
  scope.setTails([asIs.tail, asJson.tail]);
}

function addRequiredCheck(scope: Scope, c: Compilation, required: readonly string[]): void {
  const fail = scope.addDetached('Parameters.missing', {
    Type: 'Fail',
    Error: 'metaflow.MissingParameter',
    Cause: `flow "${c.flow}" needs ${required.map((r) => `"${r}"`).join(', ')} in the execution input: {"Parameters": {${required.map((r) => `"${r}": …`).join(', ')}}}`,
  });
  const check: Record<string, unknown> = {
    Type: 'Choice',
    Choices: required.map((r) => ({ Not: { Variable: member('$.params', r), IsPresent: true }, Next: fail })),
  };
  scope.add('Parameters.check', check, [(next) => (check.Default = next)]);
}
