/**
 * `kiosk-ops serve` wired: the MQTT feed into the fleet model, the signing actions, the rollout
 * engine, and the HTTP server. Started in that order and stopped in reverse.
 */
import type { KeyObject } from 'node:crypto';
import type { Logger } from '../../util/log.js';
import { OpsActions } from './actions.js';
import { ActivityLog } from './activity.js';
import { parsePasswordFile } from './auth.js';
import { type BrokerConnection, FleetFeed } from './feed.js';
import { FleetModel } from './fleet-model.js';
import type { DashboardRollouts } from './rollouts.js';
import { DashboardServer } from './server.js';

export { BadPasswordFile, hashPassword, isOperatorName, parsePasswordFile } from './auth.js';
export { type BrokerConnection, BrokerUnreachable } from './feed.js';

export interface DashboardOptions {
  broker: BrokerConnection;
  /** the operations signing key every action is signed with */
  key: KeyObject;
  /** contents of the operators' password file */
  passwords: string;
  host: string;
  port: number;
  log: Logger;
  batchMs?: number;
  hostNames?: readonly string[];
  /** the rollout engine, given the feed's publish and the fleet model */
  rollouts?: (parts: {
    feed: FleetFeed;
    model: FleetModel;
    operatorKey: KeyObject;
  }) => Promise<DashboardRollouts>;
}

export interface RunningDashboard {
  url: string;
  model: FleetModel;
  stop(): Promise<void>;
}

export async function startDashboard(options: DashboardOptions): Promise<RunningDashboard> {
  const operators = parsePasswordFile(options.passwords);
  const model = new FleetModel();
  const activity = new ActivityLog();
  const log = options.log.child({ room: 'ops-dashboard' });
  const feed = new FleetFeed(options.broker, model, activity, log);
  await feed.start();
  let rollouts: DashboardRollouts | undefined;
  let server: DashboardServer | undefined;
  try {
    rollouts = await options.rollouts?.({ feed, model, operatorKey: options.key });
    const actions = new OpsActions({
      key: options.key,
      model,
      activity,
      log,
      publish: (topic, payload, retain) => feed.publish(topic, payload, retain),
    });
    server = new DashboardServer({
      host: options.host,
      port: options.port,
      operators,
      model,
      activity,
      actions,
      log,
      brokerConnected: () => feed.connected,
      ...(rollouts ? { rollouts } : {}),
      ...(options.batchMs ? { batchMs: options.batchMs } : {}),
      ...(options.hostNames ? { hostNames: options.hostNames } : {}),
    });
    await server.start();
  } catch (error) {
    await rollouts?.stop();
    await feed.stop();
    throw error;
  }
  const started = server;
  return {
    url: started.url,
    model,
    async stop() {
      await started.stop();
      await rollouts?.stop();
      await feed.stop();
    },
  };
}
