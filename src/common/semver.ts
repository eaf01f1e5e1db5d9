/**
 * The four semver functions ferry uses, each from its own module of the `semver` package. `import semver from
 * 'semver'` loads the whole package (every function, range and class module, ~50 files): ~8 ms of a host's or a
 * build's start-up for nothing used. `npm run build` bundles these four (and what they require) into dist/, so an
 * installed host does not resolve semver's CommonJS files one by one either (scripts/build.ts).
 */
export { default as rsort } from 'semver/functions/rsort.js';
export { default as satisfies } from 'semver/functions/satisfies.js';
export { default as valid } from 'semver/functions/valid.js';
export { default as validRange } from 'semver/ranges/valid.js';
