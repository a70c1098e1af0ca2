import { Template } from 'aws-cdk-lib/assertions';
import { appFromContext } from './synth';
const ctx = JSON.parse(process.argv[2] ?? '{}');
const t = Template.fromStack(appFromContext({ nag: 'false', ...ctx }).stack).toJSON();
console.log(JSON.stringify(t, null, 1));
