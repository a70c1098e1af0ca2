// `tsc` writes dist/ files with mode 0644, so after `npm run build` the package's bin could not
// be run from the repository (`npx metaflow-cdk`: "Permission denied"); npm sets the bit only
// when it installs the package. Give every bin of package.json its execute bits.
const { chmodSync, statSync } = require('node:fs');
const { join } = require('node:path');

const root = join(__dirname, '..');
const pkg = require(join(root, 'package.json'));
for (const file of Object.values(pkg.bin ?? {})) {
  const path = join(root, file);
  chmodSync(path, statSync(path).mode | 0o111);
}
