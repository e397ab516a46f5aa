// Builds the web console (console/src, Preact + the domain schema) into dist/console with esbuild.
// Skips the bundle when no input changed since the last build (esbuild's metafile lists them).
import fs from 'node:fs';
import process from 'node:process';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';

const root = path.resolve(import.meta.dirname, '..');
const src = path.join(root, 'console');
const out = path.join(root, 'dist', 'console');
const inputsFile = path.join(out, '.inputs.json');
const STATIC = ['index.html', 'console.css'];

function upToDate() {
  if (!fs.existsSync(inputsFile)) return false;
  const builtAt = fs.statSync(inputsFile).mtimeMs;
  const inputs = [
    ...JSON.parse(fs.readFileSync(inputsFile, 'utf8')),
    'scripts/build-console.mjs',
    'console/tsconfig.json',
    ...STATIC.map((f) => `console/${f}`),
  ];
  return inputs.every((file) => {
    const full = path.join(root, file);
    return fs.existsSync(full) && fs.statSync(full).mtimeMs <= builtAt;
  });
}

if (!upToDate() || process.argv.includes('--force')) {
  // esbuild strips types without checking them: check first (the root tsconfig leaves console/ out,
  // its DOM and JSX settings are console/tsconfig.json's).
  try {
    execFileSync(
      process.execPath,
      [
        path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        path.join(src, 'tsconfig.json'),
      ],
      { stdio: 'inherit' },
    );
  } catch {
    process.stderr.write('build-console: console/ has type errors (above)\n');
    process.exit(1);
  }
  fs.mkdirSync(out, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: [path.join(src, 'src', 'main.tsx')],
    outfile: path.join(out, 'console.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: true,
    metafile: true,
    legalComments: 'none',
    tsconfig: path.join(src, 'tsconfig.json'),
    logLevel: 'warning',
  });
  for (const file of STATIC) fs.copyFileSync(path.join(src, file), path.join(out, file));
  const inputs = Object.keys(result.metafile.inputs).filter(
    (f) => !f.includes('node_modules') && !f.startsWith('('),
  );
  // Served pre-compressed (@fastify/static preCompressed): the bundle holds the zod schema.
  for (const file of ['console.js', 'console.css']) {
    const body = fs.readFileSync(path.join(out, file));
    fs.writeFileSync(path.join(out, `${file}.br`), zlib.brotliCompressSync(body));
    fs.writeFileSync(path.join(out, `${file}.gz`), zlib.gzipSync(body, { level: 9 }));
  }
  fs.writeFileSync(inputsFile, JSON.stringify(inputs));
}
