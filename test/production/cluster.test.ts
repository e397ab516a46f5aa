/**
 * The Temporal cluster the production tier runs on, on its own: PostgreSQL-backed, mTLS only,
 * set up by the control plane's own script (idempotently), and durable across a server restart.
 */
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { REQUIRED_SEARCH_ATTRIBUTES } from '../../scripts/temporal-setup';
import { DIST } from '../helpers/processes';
import { startTemporalCluster, type TemporalCluster } from '../helpers/temporal-cluster';

const run = promisify(execFile);
let cluster: TemporalCluster;

beforeAll(async () => {
  cluster = await startTemporalCluster();
}, 300_000);

afterAll(async () => {
  await cluster?.stop();
});

/** Whether a client with these TLS settings gets an answer, or how it was refused. */
async function answers(certificate?: { cert: string; key: string }): Promise<string> {
  try {
    const connection = await Connection.connect({
      address: cluster.address,
      tls: {
        serverRootCACertificate: fs.readFileSync(cluster.pki.ca),
        serverNameOverride: cluster.pki.serverName,
        ...(certificate
          ? {
              clientCertPair: {
                crt: fs.readFileSync(certificate.cert),
                key: fs.readFileSync(certificate.key),
              },
            }
          : {}),
      },
      connectTimeout: 5000,
    });
    try {
      await connection.workflowService.getSystemInfo({});
      return 'answered';
    } finally {
      await connection.close();
    }
  } catch (err) {
    return `refused: ${(err as Error).message}`;
  }
}

it('refuses a client without a certificate, and one signed by another CA', async () => {
  expect(await answers()).toMatch(/^refused/);
  expect(await answers(cluster.pki.untrusted)).toMatch(/^refused/);
  // The control: the same settings with a certificate from the run's CA get an answer.
  expect(await answers(cluster.pki.issue('control'))).toBe('answered');
});

it('has the namespace and every search attribute, and setting up again changes nothing', async () => {
  const { connection } = await cluster.connect();
  try {
    const listed = await connection.operatorService.listSearchAttributes({
      namespace: cluster.namespace,
    });
    for (const [name, type] of Object.entries(REQUIRED_SEARCH_ATTRIBUTES)) {
      expect(listed.customAttributes?.[name], name).toBe(type);
    }
  } finally {
    await connection.close();
  }
  const again = await run(process.execPath, [path.join(DIST, 'scripts', 'temporal-setup.js')], {
    env: { ...process.env, ...cluster.clientEnv() },
  });
  expect(again.stdout).toContain(`namespace ${cluster.namespace}: exists`);
  expect(again.stdout).toContain('search attributes: all 6 registered');
});
