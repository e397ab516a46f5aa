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

it('refuses a client without a certificate, and one signed by another CA', async () => {
  const plain = await Connection.connect({
    address: cluster.address,
    tls: {
      serverRootCACertificate: fs.readFileSync(cluster.pki.ca),
      serverNameOverride: cluster.pki.serverName,
    },
    connectTimeout: 5000,
  })
    .then(
      async (c) => {
        try {
          await c.workflowService.getSystemInfo({});
          return 'answered';
        } finally {
          await c.close();
        }
      },
      (err: Error) => `refused: ${err.message}`,
    )
    .catch((err: Error) => `refused: ${err.message}`);
  expect(plain).toMatch(/^refused/);

  const stranger = await Connection.connect({
    address: cluster.address,
    tls: {
      clientCertPair: {
        crt: fs.readFileSync(cluster.pki.untrusted.cert),
        key: fs.readFileSync(cluster.pki.untrusted.key),
      },
      serverRootCACertificate: fs.readFileSync(cluster.pki.ca),
      serverNameOverride: cluster.pki.serverName,
    },
    connectTimeout: 5000,
  })
    .then(
      async (c) => {
        try {
          await c.workflowService.getSystemInfo({});
          return 'answered';
        } finally {
          await c.close();
        }
      },
      (err: Error) => `refused: ${err.message}`,
    )
    .catch((err: Error) => `refused: ${err.message}`);
  expect(stranger).toMatch(/^refused/);
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
