#!/usr/bin/env node
/**
 * `npm run check:dist`: after `npm run build`, checks that dist/ ships no demo and no test PKI
 * (issue 11), and that the built `kiosk` bin still starts and says clearly the demo is not there.
 *
 * How: (1) no file under dist/src/demo, nor any built file named after the demo's modules;
 * (2) no built file contains a marker only the demo or the test PKI has (its exported names and the
 * certificate names it issues); (3) `node dist/src/cli/kiosk.js --version` exits 0 and
 * `kiosk demo` exits 1 with the "runs from source" message, without a stack trace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const dist = process.argv[2] ?? 'dist';
const MARKERS = [
  'createTestPki',
  'Test CSCA (not a real authority)',
  'Test Document Signer',
  'DEMO_CITIZENS',
  'TRAN_THI_MAI',
  'registryCitizenOf',
  'Lê Đức Anh',
];
const FORBIDDEN_FILES = [/(^|\/)src\/demo\//, /test-pki\.js$/, /sample-record\.js$/, /demo-citizens\.js$/];

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else yield path;
  }
}

const problems = [];
if (!existsSync(join(dist, 'src', 'cli', 'kiosk.js'))) problems.push(`${dist}: no build (run npm run build)`);
else {
  for (const path of files(dist)) {
    const name = relative('.', path);
    if (FORBIDDEN_FILES.some((pattern) => pattern.test(name))) problems.push(`${name}: demo file in dist`);
    if (!path.endsWith('.js')) continue;
    const text = readFileSync(path, 'utf8');
    for (const marker of MARKERS) if (text.includes(marker)) problems.push(`${name}: contains "${marker}"`);
  }
  const bin = join(dist, 'src', 'cli', 'kiosk.js');
  const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
  if (version.status !== 0) problems.push(`kiosk --version exited ${version.status}: ${version.stderr}`);
  const demo = spawnSync(process.execPath, [bin, 'demo'], { encoding: 'utf8' });
  if (demo.status !== 1 || !/runs from source/.test(demo.stderr) || /\n\s+at /.test(demo.stderr))
    problems.push(
      `kiosk demo from dist: expected exit 1 and "runs from source", got ${demo.status}: ${demo.stderr}`,
    );
}
for (const problem of problems) process.stderr.write(`check-dist: ${problem}\n`);
if (problems.length > 0) process.exit(1);
process.stdout.write(`check-dist: ${dist} ships no demo or test-PKI code; the built kiosk bin starts\n`);
