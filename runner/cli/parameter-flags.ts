/**
 * Flow parameters as flags: `run flow.ts --lr 0.1 --rates 0.1,0.01 --verbose --no-cache`, beside
 * `--param name=value`; a boolean takes no value (`--no-<name>` is false), `--name=value` works
 * for every type, and `batch_size` is also `--batch-size`. The command declares a variadic
 * `[parameters...]` argument and allows unknown options, so commander hands over every token it
 * does not know; they are read here against the flow's parameters and become `name=value` items,
 * checked like `--param` ones.
 * A parameter named like one of the command's own options (`--region`, `--json`, …) is given
 * with `--param name=value` only: the command's option wins, and `<flow-file> --help` says so.
 */
import { Command } from 'commander';
import { describeValue } from '../../core/describe-value';
import { UserInputError } from '../errors';
import { FlowSpec } from '../flow/model';
import { listItemType, parameterType } from '../flow/parameters';
import { closestName } from '../unknown-fields';

/** The long option names of a command (`--param`, `--json`, …), its help included. */
function optionNames(cmd: Command): string[] {
  return [...cmd.options.map((o) => o.long).filter((l): l is string => !!l), '--help'];
}

/** `run`, `sfn trigger`: the command as typed after `metaflow-cdk`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Make `cmd` take flow parameters as flags after its first argument (the flow file). */
export function acceptParameterFlags(cmd: Command): Command {
  return cmd
    .argument('[parameters...]', 'flow parameters as --<name> <value> (`<flow-file> --help` lists them)')
    .allowUnknownOption()
    .addHelpText('after', ({ command }) => parametersHelp(command));
}

/**
 * The tokens after the flow file → `name=value` items; every problem (unknown name, with the
 * closest parameter or option; a missing value; a stray argument) is collected, none thrown.
 */
export function parameterFlagItems(tokens: readonly string[], flow: FlowSpec, cmd: Command): { items: string[]; problems: string[] } {
  const declared = flow.parameters ?? {};
  const names = Object.keys(declared);
  const own = optionNames(cmd);
  const items: string[] = [];
  const problems: string[] = [];
  // `--batch-size` names `batch_size` too (Metaflow's flags are written either way).
  const parameterNamed = (flag: string) => [flag, flag.replace(/-/g, '_')].find((n) => Object.hasOwn(declared, n));
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(token);
    if (!m) {
      problems.push(`unexpected argument ${describeValue(token)} (flow parameters are given as --<name> <value>)`);
      continue;
    }
    const [, flag, inline] = m;
    const bare = flag.startsWith('no-') ? parameterNamed(flag.slice(3)) : undefined;
    const negated = bare !== undefined && parameterType(declared[bare]) === 'boolean';
    const name = (negated ? bare : parameterNamed(flag)) ?? flag;
    if (!Object.hasOwn(declared, name)) {
      const near = closestName(flag, [...names, ...own.map((o) => o.slice(2))]);
      const hint = near ? `did you mean --${near}?` : `parameters: ${names.length ? names.join(', ') : 'none'}`;
      problems.push(`unknown option --${flag}: not an option of ${commandPath(cmd)} nor a parameter of flow "${flow.name}" (${hint})`);
      // Its value, if it has one, is not a stray argument of its own.
      if (inline === undefined && i + 1 < tokens.length && !tokens[i + 1].startsWith('--')) i++;
      continue;
    }
    if (negated) {
      if (inline !== undefined) problems.push(`--${flag} takes no value, got ${describeValue(inline)}`);
      else items.push(`${name}=false`);
    } else if (inline !== undefined) {
      items.push(`${name}=${inline}`);
    } else if (parameterType(declared[name]) === 'boolean') {
      items.push(`${name}=true`);
    } else if (i + 1 < tokens.length) {
      items.push(`${name}=${tokens[++i]}`);
    } else {
      problems.push(`--${flag} needs a value (${parameterType(declared[name])})`);
    }
  }
  return { items, problems };
}

/** The flow file argument: parameter flags before it would be taken for it, so they are refused (one line). */
export function flowFileArgument(file: string): string {
  if (file.startsWith('-')) {
    throw new UserInputError(`${describeValue(file)} comes before the flow file: give flow parameters after it (<flow-file> --<name> <value>)`);
  }
  return file;
}

/**
 * What `<command> <flow-file> --help` prints after the options: the flow's parameters with their
 * types, defaults and help; without a flow file, how to list them.
 */
function parametersHelp(cmd: Command): string {
  const file = cmd.args.find((a) => !a.startsWith('-'));
  if (file === undefined) return `\nFlow parameters: give them after the flow file as --<name> <value> or --param <name>=<value>; \`${commandPath(cmd)} <flow-file> --help\` lists them.`;
  // Loaded only for this help: the flow file is read and validated as the command would.
  const { prepareFlow } = require('./run-support') as typeof import('./run-support');
  let flow: FlowSpec;
  try {
    flow = prepareFlow(file).graph.flow;
  } catch (err) {
    return `\nFlow parameters: cannot list them: ${(err as Error).message.split('\n')[0]}`;
  }
  const entries = Object.entries(flow.parameters ?? {});
  if (entries.length === 0) return `\nFlow "${flow.name}" has no parameters.`;
  const own = new Set(optionNames(cmd));
  const rows = entries.map(([name, spec]) => {
    const type = parameterType(spec);
    const shape = type === 'boolean' ? `--${name}, --no-${name}` : `--${name} <${type === 'list' ? `${listItemType(spec)},…` : type}>`;
    const notes = [
      spec.help,
      spec.default === undefined ? 'required' : `default: ${shortJson(spec.default)}`,
      own.has(`--${name}`) ? `only as --param ${name}=<value>: --${name} is an option of ${commandPath(cmd)}` : undefined,
    ].filter((n): n is string => !!n);
    return [shape, notes.join('; ')] as const;
  });
  const width = Math.max(...rows.map(([shape]) => shape.length));
  return `\nParameters of flow "${flow.name}" (${file}):\n${rows.map(([shape, notes]) => `  ${shape.padEnd(width)}  ${notes}`).join('\n')}`;
}

/** A default as JSON, cut to one short line (`[0.001,0.002,…]`). */
function shortJson(value: unknown): string {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}
