/**
 * Runs once before the suites: fails fast, with the fix, when a tool the tests need is missing
 * (no silent skips).
 */
import fs from 'node:fs';
import path from 'node:path';
import { javaTestServerPath, kubernetesToolsPath, temporalCliPath } from '../scripts/toolchain';

export default function setup(): void {
  // Each throws with how to get the tool.
  temporalCliPath();
  javaTestServerPath();
  kubernetesToolsPath();
  const agent = path.join(__dirname, '..', 'dist', 'runtime', 'agent', 'main.js');
  if (!fs.existsSync(agent)) {
    throw new Error(
      `${agent} is missing: the tests run the compiled local runtime; run \`npm test\` (it builds first) or \`npm run build\``,
    );
  }
}
