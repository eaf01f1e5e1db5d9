/**
 * The four semver functions ferry uses, each from its own module of the `semver` package. `import semver from
 * 'semver'` loads the whole package (every function, range and class module, ~50 files): ~8 ms of a host's or a
 * build's start-up for nothing used.
 */
export { default as rsort } from 'semver/functions/rsort.js';
export { default as satisfies } from 'semver/functions/satisfies.js';
export { default as valid } from 'semver/functions/valid.js';
export { default as validRange } from 'semver/ranges/valid.js';
