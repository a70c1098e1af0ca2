#!/usr/bin/env node
/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy` with `-c key=value` options (see README).
 * Environment-agnostic, so synth works offline with no AWS account.
 */
import { buildMetaflowApp } from '../lib/stack/metaflow-app';
import { MetaflowValidationError } from '../lib/validation';

try {
  buildMetaflowApp().app.synth();
} catch (err) {
  if (err instanceof MetaflowValidationError) {
    process.stderr.write(`metaflow-cdk: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof Error && /^(Unscoped)?ValidationError$/.test(err.name)) {
    // aws-cdk-lib rejected a value while building a construct: its message names it.
    process.stderr.write(`metaflow-cdk: ${err.message}\n`);
    process.exit(2);
  }
  if (err instanceof Error && err.name === 'ValidationFailed') {
    // cdk-nag (or CloudFormation) findings: the report above lists each one; no stack trace.
    process.stderr.write(`metaflow-cdk: synth refused: ${err.message.split('\n')[0]}\n`);
    process.exit(1);
  }
  throw err;
}
