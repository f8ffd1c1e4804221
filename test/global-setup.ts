// Build dist/ once before any test file runs: the CLI and child-process tests run the built
// proxy exactly as users do (`node dist/src/cli/main.js`), and parallel files must not race tsc.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json'], { stdio: 'inherit' });
}
