/**
 * Remotes that use remotes: `checkout` (built by the CLI with `remotes: { pricing: 'pricing@…' }`) imports
 * `pricing/prices`; a host configured with `checkout` only gets `pricing` through its own federation — verified with
 * the key `checkout`'s signed manifest pins for it, one instance per host, live updates included — and the host's own
 * configuration of `pricing` wins. A cycle is a clear error, and the host's origin policy still applies.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createHost, RemoteCycleError } from '../src/index.ts';
import { createFerryServer, type FerryServer } from '../src/server/index.ts';
import { runFerry, runProcess } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

async function keygen(project: TempProject): Promise<string> {
  const result = await runFerry(['keygen', '--out', 'signing.pem'], { cwd: project.dir });
  assert.equal(result.code, 0, result.stderr);
  return /Public key: (\S+)/.exec(result.stdout)![1]!;
}

async function build(project: TempProject): Promise<void> {
  const result = await runFerry(['build', '--sign', 'signing.pem'], { cwd: project.dir });
  assert.equal(result.code, 0, result.stdout + result.stderr);
}

/** A signed remote project; `config` is merged into its ferry.config.json. */
async function remoteProject(name: string, files: Record<string, string>, config: object = {}) {
  const project = await createTempProject({
    'package.json': JSON.stringify({ name, version: '1.0.0', type: 'module' }),
    ...files,
  });
  const publicKey = await keygen(project);
  const writeConfig = (more: object = {}) =>
    writeFile(project.path('ferry.config.json'), JSON.stringify({ name, dts: false, ...config, ...more }));
  await writeConfig();
  return { project, publicKey, writeConfig };
}

test('a remote that uses a remote: the host loads it through its own federation, trusting the key the parent pins', async () => {
  const pricing = await remoteProject(
    'pricing',
    { 'src/prices.ts': 'export const price = (sku: string): number => (sku === "book" ? 12 : 1);\n' },
    { exposes: { './prices': './src/prices.ts' } },
  );
  await build(pricing.project);
  const pricingServer = await createFerryServer({ dir: pricing.project.path('dist', 'federation'), port: 0 });
  const checkout = await remoteProject(
    'checkout',
    {
      'src/cart.ts': [
        "import { price } from 'pricing/prices';",
        'export const total = (items: string[]): number => items.reduce((sum, sku) => sum + price(sku), 0);',
      ].join('\n'),
    },
    {
      exposes: { './cart': './src/cart.ts' },
      remotes: {
        pricing: { url: `${pricingServer.url}mf-manifest.json`, versionRange: '^1', publicKey: pricing.publicKey },
      },
    },
  );
  await build(checkout.project);
  const checkoutServer = await createFerryServer({ dir: checkout.project.path('dist', 'federation'), port: 0 });
  const servers: FerryServer[] = [pricingServer, checkoutServer];
  try {
    // A host in its own process, configured with checkout only (and pricing's origin allowed).
    const script = checkout.project.path('host.mjs');
    await writeFile(
      script,
      `import { createHost } from ${JSON.stringify(join(REPO_ROOT, 'src', 'index.ts'))};
const host = createHost({ name: 'shop', requireSignatures: true, onWarning: (w) => console.error(w.code),
  remotes: { checkout: { url: process.env.CHECKOUT, publicKey: process.env.KEY } },
  allowedOrigins: [process.env.PRICING_ORIGIN], cache: { dir: process.env.CACHE } });
const cart = await host.import('checkout/cart');
const direct = await host.import('pricing/prices');
console.log(JSON.stringify({ total: cart.total(['book', 'pen']), direct: direct.price('book'),
  remotes: Object.keys(host.remotes()).sort(), pricing: host.loadedVersion('pricing') }));
await host.close();
`,
    );
    const run = await runProcess(process.execPath, [script], {
      cwd: checkout.project.dir,
      env: {
        ...process.env,
        CHECKOUT: `${checkoutServer.url}mf-manifest.json`,
        KEY: checkout.publicKey,
        PRICING_ORIGIN: new URL(pricingServer.url).origin,
        CACHE: checkout.project.path('host-cache'),
      },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout.trim().split('\n').at(-1)!), {
      total: 13,
      direct: 12,
      remotes: ['checkout', 'pricing'],
      pricing: '1.0.0',
    });
    assert.doesNotMatch(run.stderr, /FERRY_UNSIGNED_REMOTE/, 'pricing is verified with the key checkout pins for it');

    const options = {
      name: 'shop',
      remotes: { checkout: `${checkoutServer.url}mf-manifest.json` } as Record<string, string>,
      cache: { dir: checkout.project.path('cache-2') },
      onWarning: () => {},
    };
    // The host's origin policy applies: without pricing's origin allowed, the import fails and says how to allow it.
    const strict = createHost(options);
    await assert.rejects(strict.import('checkout/cart'), /allowedOrigins/);
    await strict.close();

    // A pricing signed by another key than the one checkout pins is refused.
    const impostor = await remoteProject(
      'pricing',
      { 'src/prices.ts': 'export const price = (): number => 1000;\n' },
      { exposes: { './prices': './src/prices.ts' } },
    );
    await build(impostor.project);
    const impostorServer = await createFerryServer({ dir: impostor.project.path('dist', 'federation'), port: 0 });
    servers.push(impostorServer);

    // The host's own configuration of pricing wins: here it points at the impostor, trusting its key.
    const own = createHost({
      ...options,
      remotes: {
        ...options.remotes,
        pricing: { url: `${impostorServer.url}mf-manifest.json`, publicKey: impostor.publicKey } as never,
      },
      cache: { dir: checkout.project.path('cache-3') },
    });
    assert.equal((await own.import<{ total(items: string[]): number }>('checkout/cart')).total(['book']), 1000);
    await own.close();
  } finally {
    for (const server of servers) await server.close();
    await pricing.project.remove();
    await checkout.project.remove();
  }
});

test('a cycle of remotes is a RemoteCycleError naming the chain; a remote cannot name itself', async () => {
  const a = await remoteProject('alpha', { 'src/a.ts': "import { b } from 'beta/b';\nexport const a = () => b();\n" });
  const b = await remoteProject('beta', { 'src/b.ts': "import { a } from 'alpha/a';\nexport const b = () => a();\n" });
  // Both URLs must exist before either builds: serve the folders first, then build into them.
  const alphaDir = a.project.path('dist', 'federation');
  const betaDir = b.project.path('dist', 'federation');
  await mkdir(alphaDir, { recursive: true });
  await mkdir(betaDir, { recursive: true });
  const alphaServer = await createFerryServer({ dir: alphaDir, port: 0 });
  const betaServer = await createFerryServer({ dir: betaDir, port: 0 });
  try {
    await a.writeConfig({
      exposes: { './a': './src/a.ts' },
      remotes: { beta: `beta@${betaServer.url}mf-manifest.json` },
    });
    await b.writeConfig({
      exposes: { './b': './src/b.ts' },
      remotes: { alpha: `alpha@${alphaServer.url}mf-manifest.json` },
    });
    await build(a.project);
    await build(b.project);
    const host = createHost({
      name: 'h',
      remotes: { alpha: `${alphaServer.url}mf-manifest.json` },
      allowedOrigins: [new URL(betaServer.url).origin],
      cache: { dir: a.project.path('host-cache') },
      onWarning: () => {},
    });
    await assert.rejects(
      host.import('alpha/a'),
      (error: unknown) =>
        error instanceof RemoteCycleError && /alpha → beta → alpha/.test(error.message) && error.chain?.length === 3,
    );
    await host.close();

    await a.writeConfig({
      exposes: { './a': './src/a.ts' },
      remotes: { alpha: `alpha@${alphaServer.url}mf-manifest.json` },
    });
    const self = await runFerry(['build'], { cwd: a.project.dir });
    assert.equal(self.code, 1);
    assert.match(self.stderr, /remotes\.alpha is this remote itself/);
  } finally {
    await alphaServer.close();
    await betaServer.close();
    await a.project.remove();
    await b.project.remove();
  }
});

test('ferry types covers nested remotes: the declarations of the remotes a remote uses, under the key it imports them by', async () => {
  const pricing = await remoteProject(
    'pricing',
    {
      'src/prices.ts': [
        'export interface Price { sku: string; cents: number }',
        'export const price = (sku: string): Price => ({ sku, cents: sku === "book" ? 1200 : 100 });',
      ].join('\n'),
    },
    { exposes: { './prices': './src/prices.ts' }, dts: true },
  );
  await build(pricing.project);
  const pricingServer = await createFerryServer({ dir: pricing.project.path('dist', 'federation'), port: 0 });
  const checkout = await remoteProject(
    'checkout',
    {
      'src/cart.ts': [
        "import { type Price, price } from 'pricing/prices';",
        'export const lines = (items: string[]): Price[] => items.map(price);',
      ].join('\n'),
    },
    {
      exposes: { './cart': './src/cart.ts' },
      dts: true,
      remotes: { pricing: { url: `${pricingServer.url}mf-manifest.json`, publicKey: pricing.publicKey } },
    },
  );
  await build(checkout.project);
  const checkoutServer = await createFerryServer({ dir: checkout.project.path('dist', 'federation'), port: 0 });
  await using host = await createTempProject({
    'host.ts': [
      "import { lines } from 'checkout/cart';",
      "const cents: number = lines(['book'])[0]!.cents;",
      'export { cents };',
    ].join('\n'),
  });
  try {
    const result = await runFerry(
      [
        'types',
        '--remote',
        `checkout=${checkoutServer.url}mf-manifest.json`,
        '--key',
        `checkout=${checkout.publicKey}`,
      ],
      { cwd: host.dir },
    );
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /Wrote types of 2 remote module\(s\)/);
    const index = await readFile(host.path('ferry-types', 'index.d.ts'), 'utf8');
    assert.match(index, /'pricing\/prices'/);

    // The host compiles against both: checkout's declarations import pricing's, which ferry types fetched.
    const tsc = join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const compile = (files: string[]) =>
      runProcess(process.execPath, [tsc, '--noEmit', '--strict', '--skipLibCheck', 'false', '--types', '', ...files], {
        cwd: host.dir,
      });
    const both = await compile(['host.ts', 'ferry-types/checkout.cart.d.ts', 'ferry-types/pricing.prices.d.ts']);
    assert.equal(both.code, 0, both.stdout + both.stderr);
    // The control: without pricing's declarations, checkout's do not resolve.
    const without = await compile(['host.ts', 'ferry-types/checkout.cart.d.ts']);
    assert.notEqual(without.code, 0);
    assert.match(without.stdout, /pricing\/prices/);

    // A pricing signed by another key than the one checkout pins is refused here too.
    const rekeyed = await runFerry(['keygen', '--out', 'signing.pem', '--force'], { cwd: pricing.project.dir });
    assert.equal(rekeyed.code, 0, rekeyed.stderr);
    await build(pricing.project);
    const refused = await runFerry(
      [
        'types',
        '--remote',
        `checkout=${checkoutServer.url}mf-manifest.json`,
        '--key',
        `checkout=${checkout.publicKey}`,
      ],
      { cwd: host.dir },
    );
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /remote "pricing".*ERR_FERRY_SIGNATURE/s);
  } finally {
    await checkoutServer.close();
    await pricingServer.close();
    await pricing.project.remove();
    await checkout.project.remove();
  }
});
