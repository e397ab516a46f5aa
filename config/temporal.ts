/** Connection options for Temporal, shared by the worker and the API. */
import fs from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';
import type { Config } from './index';

/** Options both `Connection` (client) and `NativeConnection` (worker) accept. */
export function temporalConnectionOptions(config: Config): ConnectionOptions & { apiKey?: string } {
  const tlsFromFiles =
    config.TEMPORAL_TLS_CERT && config.TEMPORAL_TLS_KEY
      ? {
          clientCertPair: {
            crt: fs.readFileSync(config.TEMPORAL_TLS_CERT),
            key: fs.readFileSync(config.TEMPORAL_TLS_KEY),
          },
        }
      : undefined;
  const tls = tlsFromFiles ?? (config.TEMPORAL_TLS || config.TEMPORAL_API_KEY ? true : undefined);
  return {
    address: config.TEMPORAL_ADDRESS,
    ...(tls ? { tls } : {}),
    ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}),
  };
}
