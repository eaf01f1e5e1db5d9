/**
 * The README's Quick start, run as written, in fresh `npm init -y` projects (`"type": "commonjs"`) with ferry
 * installed from an `npm pack` tarball. The steps are read from the README, so the test follows its changes:
 *
 * - in each of the subsections "The remote…" and "The host…", a fenced block whose first line is a comment naming a
 *   file (`// host.mts`, `# .gitignore`) is that file of the project; every line of a `sh` block is a command, run in
 *   order with `FERRY_TGZ` set, and a trailing `# prints …` comment is what its output must contain;
 * - two things are the test's own, as they are on any machine: the port (`ferry serve` gets `PORT=0`, and the
 *   host's files get its URL for `http://127.0.0.1:3001/`) and the public key `ferry keygen` printed (for `ed25519:…`).
 *
 * It also checks that every file `ferry build` wrote is named in the Quick start, and that the `.gitignore` shown
 * ignores the signing key, the build output, the cache folder and the fetched types, and nothing the project needs.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { runProcess } from './helpers/build-fixture.ts';
import { createTempProject, REPO_ROOT, type TempProject } from './helpers/temp-project.ts';

interface Step {
  file?: { name: string; text: string };
  command?: { line: string; prints?: string };
}

/** The Quick start section of the README, split into its subsections' steps. */
function quickStartSteps(readme: string): { remote: Step[]; host: Step[]; text: string } {
  const start = readme.indexOf('\n## Quick start\n');
  assert.ok(start !== -1, 'the README has a "## Quick start" section');
  const end = readme.indexOf('\n## ', start + 1);
  const text = readme.slice(start, end === -1 ? undefined : end);
  const sections = text.split('\n### ');
  const stepsOf = (title: string): Step[] => {
    const section = sections.find((part) => part.startsWith(title));
    assert.ok(section, `the Quick start has a subsection "### ${title}…"`);
    const steps: Step[] = [];
    for (const match of section.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)) {
      const [, lang, body] = match as unknown as [string, string, string];
      if (lang === 'sh') {
        for (const raw of body.split('\n')) {
          if (raw.trim() === '' || raw.trim().startsWith('#')) continue;
          const hash = raw.search(/\s#\s/);
          const line = (hash === -1 ? raw : raw.slice(0, hash)).trim();
          const prints = hash === -1 ? undefined : /#\s+prints (.*)$/.exec(raw.slice(hash))?.[1]?.trim();
          steps.push({ command: { line, ...(prints !== undefined ? { prints } : {}) } });
        }
        continue;
      }
      const name = /^(?:\/\/|#) ([\w./-]+\.?[\w]+)$/.exec(body.split('\n', 1)[0]!)?.[1];
      if (name !== undefined) steps.push({ file: { name, text: body } });
    }
    return steps;
  };
  return { remote: stepsOf('The remote'), host: stepsOf('The host'), text };
}

/** The Node 24 this suite runs on, first on the PATH, so `npx ferry` and `node` in the commands are that Node. */
const PATH = `${dirname(process.execPath)}:${process.env.PATH}`;

interface Context {
  tgz: string;
  url?: string;
  publicKey?: string;
  server?: ChildProcess;
}

function serve(project: TempProject, line: string, context: Context): Promise<void> {
  // Its own process group: npx starts the server as a child, and stopping the group stops both.
  const child = spawn('sh', ['-c', line], {
    cwd: project.dir,
    env: { ...process.env, PATH, PORT: '0' },
    detached: true,
  });
  context.server = child;
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`\`${line}\` did not start:\n${output}`)), 30_000);
    const read = (chunk: Buffer) => {
      output += chunk;
      const url = /serving \S+ at (http:\/\/\S+)/.exec(output)?.[1];
      if (url !== undefined) {
        clearTimeout(timer);
        context.url = url.endsWith('/') ? url : `${url}/`;
        resolve();
      }
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`\`${line}\` exited with ${code}:\n${output}`));
    });
  });
}

async function runSteps(project: TempProject, steps: Step[], context: Context): Promise<Map<string, string>> {
  const outputs = new Map<string, string>();
  for (const step of steps) {
    if (step.file) {
      let text = step.file.text;
      if (context.url !== undefined) text = text.replaceAll('http://127.0.0.1:3001/', context.url);
      if (context.publicKey !== undefined) text = text.replaceAll('ed25519:…', context.publicKey);
      await project.write(step.file.name, text);
      continue;
    }
    const { line, prints } = step.command!;
    if (/^npx ferry serve\b/.test(line)) {
      await serve(project, line, context);
      continue;
    }
    const result = await runProcess('sh', ['-c', line], {
      cwd: project.dir,
      env: { ...process.env, PATH, FERRY_TGZ: context.tgz, NODE_NO_WARNINGS: '1' },
    });
    assert.equal(result.code, 0, `\`${line}\` failed in ${project.dir}:\n${result.stdout}${result.stderr}`);
    if (prints !== undefined) {
      assert.ok(result.stdout.includes(prints), `\`${line}\` should print ${prints}, printed:\n${result.stdout}`);
    }
    const key = /Public key: (ed25519:\S+)/.exec(result.stdout)?.[1];
    if (key !== undefined) context.publicKey = key;
    outputs.set(line, result.stdout);
  }
  return outputs;
}

test("the README's Quick start runs as written in fresh npm init -y projects", async () => {
  assert.ok(existsSync(join(REPO_ROOT, 'dist', 'index.js')), 'dist/ is missing: run `npm run build` (npm test does)');
  const readme = await readFile(join(REPO_ROOT, 'README.md'), 'utf8');
  const { remote: remoteSteps, host: hostSteps, text } = quickStartSteps(readme);
  assert.ok(
    remoteSteps.some((step) => step.command?.line.startsWith('npm init -y')) &&
      hostSteps.some((step) => step.command?.line.startsWith('npm init -y')),
    'both projects start with npm init -y',
  );

  await using packed = await createTempProject({});
  const pack = await runProcess('npm', ['pack', '--ignore-scripts', '--pack-destination', packed.dir], {
    cwd: REPO_ROOT,
  });
  assert.equal(pack.code, 0, pack.stderr);
  const context: Context = { tgz: packed.path(pack.stdout.trim().split('\n').at(-1)!) };

  await using remote = await createTempProject({});
  await using host = await createTempProject({});
  try {
    await runSteps(remote, remoteSteps, context);
    const manifest = JSON.parse(await readFile(remote.path('package.json'), 'utf8'));
    assert.equal(manifest.type, 'commonjs', 'npm init -y wrote "type": "commonjs"');
    assert.ok(context.url, 'the remote is served');
    assert.ok(context.publicKey, 'ferry keygen printed a public key');

    // Every file and folder the build wrote is named in the Quick start (a hash as <hash>, a folder with its /):
    // content hashes of 10 hex (ferry's), 32 hex (the signature copy) and esbuild's 8 characters.
    const written = await readdir(remote.path('dist', 'federation'), { withFileTypes: true });
    const unnamed = written
      .map((entry) =>
        entry.isDirectory()
          ? `${entry.name}/`
          : entry.name.replace(/\.(?:[0-9a-f]{10}|[0-9a-f]{32}|[A-Z0-9]{8})\./, '.<hash>.'),
      )
      .filter((file) => !text.includes(`\`${file}\``));
    assert.deepEqual(unnamed, [], 'files ferry build writes that the Quick start does not name');

    await runSteps(host, hostSteps, context);
    assert.ok(existsSync(host.path('ferry-types', 'index.d.ts')), 'ferry types wrote ferry-types/');

    // The .gitignore shown keeps secrets and generated folders out, and nothing the project needs.
    const gitignore = [...remoteSteps, ...hostSteps].find((step) => step.file?.name === '.gitignore');
    assert.ok(gitignore?.file, 'the Quick start shows a .gitignore');
    for (const project of [remote, host]) {
      await project.write('.gitignore', gitignore.file.text);
      const init = await runProcess('git', ['init', '-q'], { cwd: project.dir });
      assert.equal(init.code, 0, init.stderr);
    }
    const ignored = async (project: TempProject, files: string[]) => {
      const result = await runProcess('git', ['check-ignore', '--no-index', ...files], { cwd: project.dir });
      return result.stdout.split('\n').filter(Boolean);
    };
    const remoteSecrets = ['ferry-signing-key.pem', 'dist/federation/mf-manifest.json', 'node_modules/ferry'];
    assert.deepEqual(await ignored(remote, remoteSecrets), remoteSecrets);
    const hostGenerated = ['.ferry-cache/releases.json', 'ferry-types/index.d.ts', 'node_modules/ferry'];
    assert.deepEqual(await ignored(host, hostGenerated), hostGenerated);
    const sources = ['ferry.config.ts', 'src/tokenValidator.ts', 'package.json', 'package-lock.json'];
    assert.deepEqual(await ignored(remote, sources), []);
    assert.deepEqual(await ignored(host, ['host.mts', 'app.js', 'ferry.config.ts', 'package.json']), []);
  } finally {
    const server = context.server;
    if (server?.pid !== undefined && server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      process.kill(-server.pid, 'SIGTERM');
      await exited;
    }
  }
});
