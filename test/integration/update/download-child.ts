/**
 * A kiosk updater in its own process, for the SIGKILL-during-download test: stages one update with
 * a bandwidth cap (so the parent can kill it mid-download) and prints the result.
 * argv[2]: JSON { root, baseUrl, caFile, version, hostVersion, target, nodeAbi, maxBytesPerSecond }
 */
import { readFileSync } from 'node:fs';
import { stageUpdate } from '../../../src/update/updater.js';
import type { BundleTarget } from '../../../src/update/manifest.js';

interface ChildArgs {
  root: string;
  baseUrl: string;
  caFile: string;
  version: string;
  hostVersion: string;
  target: BundleTarget;
  nodeAbi: string;
  maxBytesPerSecond: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as ChildArgs;
const staged = await stageUpdate({
  root: args.root,
  source: { kind: 'https', baseUrl: args.baseUrl, ca: readFileSync(args.caFile) },
  host: { target: args.target, nodeAbi: args.nodeAbi, version: args.hostVersion, configSchema: 1 },
  version: args.version,
  maxBytesPerSecond: args.maxBytesPerSecond,
});
console.log(JSON.stringify(staged));
