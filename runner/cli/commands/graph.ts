import { Command, Option } from 'commander';
import type { CommandRegistrar } from './index';
import type { PictureFormat } from '../../graph/draw';

/**
 * `metaflow-cdk graph <flow-file>`: a picture of the flow's DAG (runner/graph), as text, or as
 * SVG on stdout (`--format svg`) or in a file (`--svg <file>`).
 */
export const registerGraph: CommandRegistrar = (program, context) => {
  const cmd = new Command('graph')
    .description("draw a flow's graph: its steps, branches, foreach fan-outs with their width, and joins (text, or SVG)")
    .argument('<flow-file>', 'the flow, a .ts or .js module whose default export is defineFlow(...)')
    .addOption(new Option('--format <format>', 'what to print: text, or an SVG document').choices(['text', 'svg']).default('text'))
    .addOption(new Option('--svg <file>', 'write the picture as SVG to this file instead of printing it').conflicts('format'))
    .action((file: string, flags: { format: PictureFormat; svg?: string }) => {
      // Loaded only for this command: the layout library stays out of the CLI's start-up.
      const { drawFlowFile } = require('../../graph/draw') as typeof import('../../graph/draw');
      drawFlowFile(file, flags, context);
    });
  program.addCommand(cmd);
};
