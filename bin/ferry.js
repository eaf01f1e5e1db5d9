#!/usr/bin/env node
// The `ferry` command. The CLI is compiled to dist/ by `npm run build` (done before publishing).
import module from 'node:module';

// Node's on-disk compile cache (keyed by each file's content, in the OS temp folder) for the modules the command
// loads: the TypeScript compiler API the build's contract check loads is 9 MB of JavaScript (~250 ms to compile).
module.enableCompileCache?.();
const { main } = await import('../dist/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
