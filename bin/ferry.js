#!/usr/bin/env node
// The `ferry` command. The CLI is compiled to dist/ by `npm run build` (done before publishing).
import module from 'node:module';
import { fileURLToPath } from 'node:url';

// Node's compile cache for the modules the command loads (the TypeScript compiler API of the build's contract check
// is 9 MB of JavaScript: ~250 ms to compile, ~100 ms from the cache). Kept inside ferry's own package folder, so only
// someone who can already change ferry's code can change it; never the shared temporary folder (SECURITY.md).
module.enableCompileCache?.(fileURLToPath(new URL('../node_modules/.cache/ferry-compile-cache', import.meta.url)));
const { main } = await import('../dist/cli/main.js');

process.exitCode = await main(process.argv.slice(2));
