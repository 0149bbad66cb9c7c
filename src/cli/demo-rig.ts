/** Child process of `kiosk demo`: the broker, registry and emulators (see src/demo/rig.ts). */
import { Command } from 'commander';
import { loadDemo } from './demo-loader.js';

const options = new Command('demo-rig')
  .requiredOption('--data-dir <dir>')
  .requiredOption('--broker-port <port>')
  .option('--kiosk-id <id>', 'the demo kiosk whose pickups the registry stages')
  .option('--broker-url <url>', 'join this broker instead of starting the embedded one')
  .parse(process.argv)
  .opts<{ dataDir: string; brokerPort: string; kioskId?: string; brokerUrl?: string }>();

try {
  const demo = await loadDemo();
  await demo.runDemoRigProcess({
    dataDir: options.dataDir,
    brokerPort: Number(options.brokerPort),
    ...(options.kioskId ? { kioskId: options.kioskId } : {}),
    ...(options.brokerUrl ? { brokerUrl: options.brokerUrl } : {}),
  });
} catch (error) {
  process.stderr.write(`demo rig failed: ${(error as Error).message}\n`);
  process.exit(1);
}
