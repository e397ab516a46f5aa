/** Connection options for Temporal, shared by the worker and the API. */
import fs from 'node:fs';
import type { ConnectionOptions } from '@temporalio/client';
import type { Config } from './index';
import { ConfigError } from './index';

type TemporalConnectionConfig = Pick<
  Config,
  | 'TEMPORAL_ADDRESS'
  | 'TEMPORAL_API_KEY'
  | 'TEMPORAL_TLS'
  | 'TEMPORAL_TLS_CERT'
  | 'TEMPORAL_TLS_KEY'
  | 'TEMPORAL_TLS_CA'
  | 'TEMPORAL_TLS_SERVER_NAME'
>;

/**
 * Options both `Connection` (client) and `NativeConnection` (worker) accept:
 *  - a self-hosted cluster with mTLS: TEMPORAL_TLS_CERT + TEMPORAL_TLS_KEY (this process's
 *    certificate), TEMPORAL_TLS_CA and TEMPORAL_TLS_SERVER_NAME when the server's certificate is
 *    from a private CA or for another name than the address;
 *  - Temporal Cloud: TEMPORAL_API_KEY (TLS with the system's CAs), or its mTLS certificates;
 *  - plain TLS: TEMPORAL_TLS=true.
 * Any of them turns TLS on. A file that cannot be read fails at start, naming the variable.
 */
export function temporalConnectionOptions(
  config: TemporalConnectionConfig,
): ConnectionOptions & { apiKey?: string } {
  if (Boolean(config.TEMPORAL_TLS_CERT) !== Boolean(config.TEMPORAL_TLS_KEY)) {
    throw new ConfigError(
      'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY: set both (a client certificate and its key) or neither',
    );
  }
  const clientCertPair =
    config.TEMPORAL_TLS_CERT && config.TEMPORAL_TLS_KEY
      ? {
          crt: readPem('TEMPORAL_TLS_CERT', config.TEMPORAL_TLS_CERT),
          key: readPem('TEMPORAL_TLS_KEY', config.TEMPORAL_TLS_KEY),
        }
      : undefined;
  const serverRootCACertificate = config.TEMPORAL_TLS_CA
    ? readPem('TEMPORAL_TLS_CA', config.TEMPORAL_TLS_CA)
    : undefined;
  const serverNameOverride = config.TEMPORAL_TLS_SERVER_NAME || undefined;
  const tlsOn =
    clientCertPair ||
    serverRootCACertificate ||
    serverNameOverride ||
    config.TEMPORAL_TLS ||
    config.TEMPORAL_API_KEY;
  const tls = tlsOn
    ? {
        ...(clientCertPair ? { clientCertPair } : {}),
        ...(serverRootCACertificate ? { serverRootCACertificate } : {}),
        ...(serverNameOverride ? { serverNameOverride } : {}),
      }
    : undefined;
  return {
    address: config.TEMPORAL_ADDRESS,
    ...(tls ? { tls } : {}),
    ...(config.TEMPORAL_API_KEY ? { apiKey: config.TEMPORAL_API_KEY } : {}),
  };
}

function readPem(variable: string, file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${variable}=${file}: cannot read it: ${(err as Error).message}`);
  }
}
