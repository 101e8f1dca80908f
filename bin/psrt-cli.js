#!/usr/bin/env node
import { missingBuildOrDependency } from './launcher-errors.js';

try {
  await import('../dist/src/cli/main.js');
} catch (err) {
  const why = missingBuildOrDependency(err);
  if (why === null) throw err;
  process.stderr.write(`psrt-cli: ${why}\n`);
  process.exit(1);
}
