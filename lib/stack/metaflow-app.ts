import { App, AppProps, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { MetaflowStack } from './metaflow-stack';
import { explainInContextTerms, metaflowSettingsFromContext } from './stack-context';

/** The CDK app `cdk synth` / `cdk deploy` runs, built from its context. */
export interface MetaflowApp {
  readonly app: App;
  readonly stack: MetaflowStack;
  /** True when cdk-nag's AwsSolutions checks are registered (synth fails on unacknowledged findings). */
  readonly nag: boolean;
}

/**
 * Build the app: read `-c` context (throws MetaflowValidationError on a bad value), create the
 * stack, and register cdk-nag unless `-c nag=false`.
 */
export function buildMetaflowApp(props: AppProps = {}): MetaflowApp {
  const app = new App(props);
  const settings = metaflowSettingsFromContext(app);
  let stack: MetaflowStack;
  try {
    stack = new MetaflowStack(app, settings.stackName, settings.props);
  } catch (err) {
    // A value a construct rejected is reported under the -c key that set it.
    throw explainInContextTerms(err, app, settings.stackName);
  }
  if (settings.nag) {
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  }
  return { app, stack, nag: settings.nag };
}
