/**
 * The secrets API (api.md "Resource: Secret") over HTTP, on the real app with a file-backed store
 * in a temporary data folder and the API's own request logging at its most verbose: create and
 * replace, the list with OpenSSH's fingerprint, validation by type (400 invalid_secret naming the
 * field), 409 while a deployment or a cluster names the secret, keys per workspace, the file's
 * mode, and that a value never comes back in a response nor appears in a log line.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EksClusters } from '../../activities/providers/byoc';
import { buildApp } from '../../api/app';
import type { DeploymentService } from '../../api/deployment-service';
import {
  FileSecretStore,
  MAX_SECRETS_PER_WORKSPACE,
  MemorySecretStore,
  SECRETS_FILE,
} from '../../api/secrets/store';
import { apiLoggerOptions } from '../../config/logging';
import { TrafficMeter } from '../../api/metrics/traffic-meter';
import type { DeploymentView } from '../../workflows/domain/deployment';
import { TEST_CATALOG } from '../helpers/catalog';

const WS = 'team-a';
const KEY = 'secrets-test-key';
const OTHER_KEY = 'secrets-test-other';

let dir: string;
let app: FastifyInstance;
let base: string;
const logLines: string[] = [];
let publicKey: string;
let fingerprint: string;
let privateKeyText: string;
const AWS = {
  accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
};

/** One deployment of WS names "alice-key" for user alice. */
const deployments: Partial<DeploymentView>[] = [
  {
    name: 'llama',
    workspace: WS,
    spec: {
      ssh: {
        enabled: true,
        runtime: 'main',
        users: [{ username: 'alice', keySecret: 'alice-key' }],
      },
    } as DeploymentView['spec'],
  },
];
const service = {
  list: async (workspace: string) => ({
    items: deployments.filter((d) => d.workspace === workspace),
  }),
  get: async () => {
    throw new Error('not used');
  },
} as unknown as DeploymentService;
const clusters = {
  linked: (workspace: string) =>
    workspace === WS
      ? [{ name: 'team-eks', credentialsSecret: 'eks-creds', region: 'us-east-1' }]
      : [],
} as unknown as EksClusters;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-secrets-'));
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'alice@test',
    '-f',
    path.join(dir, 'id'),
  ]);
  publicKey = fs.readFileSync(path.join(dir, 'id.pub'), 'utf8').trim();
  privateKeyText = fs.readFileSync(path.join(dir, 'id'), 'utf8');
  fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'id.pub')])
    .toString()
    .split(' ')[1]!;
  app = await buildApp({
    service,
    replicas: { endpoints: async () => ({ revision: null, urls: [] }) },
    meter: new TrafficMeter(),
    wake: () => undefined,
    catalog: TEST_CATALOG,
    clusters,
    apiKeys: new Map([
      [KEY, WS],
      [OTHER_KEY, 'team-b'],
    ]),
    publicUrl: 'http://127.0.0.1',
    // Every request logged, at the most verbose level the API has.
    logger: apiLoggerOptions('trace', { write: (line) => logLines.push(line) }),
    secrets: new FileSecretStore(dir),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/v1/workspaces/${WS}/secrets`;
});
afterAll(async () => {
  await app?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** What these routes answer: a secret, a list of them, or an error. */
interface Answer {
  error: { code: string; message: string; details: { path: string; message: string }[] };
  items: Record<string, unknown>[];
  fingerprint?: string;
  createdAt?: string;
  [key: string]: unknown;
}

async function call(method: string, url: string, body?: unknown, key = KEY) {
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, text, body: (text ? JSON.parse(text) : {}) as Answer };
}

describe('secrets API', () => {
  it('creates (201), replaces (200) and lists an SSH key with its fingerprint, never the value', async () => {
    const created = await call('PUT', `${base}/alice-key`, {
      type: 'ssh-public-key',
      value: publicKey,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'alice-key', type: 'ssh-public-key', fingerprint });
    expect(fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);

    const replaced = await call('PUT', `${base}/alice-key`, {
      type: 'ssh-public-key',
      value: `${publicKey}\n`,
    });
    expect(replaced.status).toBe(200);
    expect(replaced.body.createdAt).toBe(created.body.createdAt);

    const aws = await call('PUT', `${base}/eks-creds`, { type: 'aws-credentials', value: AWS });
    expect(aws.status).toBe(201);
    expect(aws.body).not.toHaveProperty('fingerprint');

    const list = await call('GET', base);
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([
      expect.objectContaining({
        name: 'alice-key',
        type: 'ssh-public-key',
        fingerprint,
        createdAt: expect.any(String),
      }),
      expect.objectContaining({ name: 'eks-creds', type: 'aws-credentials' }),
    ]);
    const one = await call('GET', `${base}/alice-key`);
    expect(one.status).toBe(200);
    expect(one.body.fingerprint).toBe(fingerprint);

    const keyBody = publicKey.split(' ')[1]!;
    for (const text of [created.text, replaced.text, aws.text, list.text, one.text]) {
      expect(text).not.toContain(keyBody);
      expect(text).not.toContain(AWS.secretAccessKey);
      expect(text).not.toContain(AWS.accessKeyId);
    }
  });

  it('keeps them in a 0600 file in the data folder', () => {
    const file = path.join(dir, SECRETS_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('answers 400 invalid_secret naming the field and the rule, never echoing the value', async () => {
    const garbage = await call('PUT', `${base}/bad`, {
      type: 'ssh-public-key',
      value: 'ssh-ed25519 not-base64!',
    });
    expect(garbage.status).toBe(400);
    expect(garbage.body.error.code).toBe('invalid_secret');
    expect(garbage.body.error.details).toEqual([
      { path: 'value', message: expect.stringContaining('is not an OpenSSH public key') },
    ]);
    expect(garbage.text).not.toContain('not-base64!');

    const priv = await call('PUT', `${base}/bad`, {
      type: 'ssh-public-key',
      value: privateKeyText,
    });
    expect(priv.status).toBe(400);
    expect(priv.body.error.code).toBe('invalid_secret');
    expect(priv.text).not.toContain(privateKeyText.split('\n')[1]!);

    const shape = await call('PUT', `${base}/bad`, {
      type: 'aws-credentials',
      value: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE' },
    });
    expect(shape.status).toBe(400);
    expect(shape.body.error.code).toBe('invalid_secret');
    expect(shape.body.error.details[0]?.path).toBe('value.secretAccessKey');

    const awsRule = await call('PUT', `${base}/bad`, {
      type: 'aws-credentials',
      value: { accessKeyId: 'lower-case', secretAccessKey: AWS.secretAccessKey },
    });
    expect(awsRule.status).toBe(400);
    expect(awsRule.body.error.details).toEqual([
      {
        path: 'value.accessKeyId',
        message: expect.stringContaining('upper-case letters and digits'),
      },
    ]);
    expect(awsRule.text).not.toContain(AWS.secretAccessKey);

    const type = await call('PUT', `${base}/bad`, { type: 'password', value: 'x' });
    expect(type.status).toBe(400);
    expect(type.body.error.code).toBe('invalid_secret');

    const name = await call('PUT', `${base}/Not_A_Name`, {
      type: 'ssh-public-key',
      value: publicKey,
    });
    expect(name.status).toBe(400);
    expect(name.body.error.code).toBe('invalid_request');
    expect((await call('GET', base)).body.items).toHaveLength(2);
  });

  it('refuses to delete a secret a deployment or a cluster names (409), deletes one nobody does (204)', async () => {
    const byDeployment = await call('DELETE', `${base}/alice-key`);
    expect(byDeployment.status).toBe(409);
    expect(byDeployment.body.error.code).toBe('conflict');
    expect(byDeployment.body.error.message).toContain(
      'deployment "llama" (spec.ssh.users[0].keySecret)',
    );
    const byCluster = await call('DELETE', `${base}/eks-creds`);
    expect(byCluster.status).toBe(409);
    expect(byCluster.body.error.message).toContain('cluster "team-eks" (credentialsSecret)');

    expect(
      (await call('PUT', `${base}/spare`, { type: 'ssh-public-key', value: publicKey })).status,
    ).toBe(201);
    const deleted = await call('DELETE', `${base}/spare`);
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
    expect((await call('DELETE', `${base}/spare`)).status).toBe(404);
    expect((await call('GET', `${base}/spare`)).status).toBe(404);
  });

  it('keeps workspaces apart: another workspace key gets 403, and its own list is empty', async () => {
    expect((await call('GET', base, undefined, OTHER_KEY)).status).toBe(403);
    expect(
      (await call('PUT', `${base}/x`, { type: 'ssh-public-key', value: publicKey }, OTHER_KEY))
        .status,
    ).toBe(403);
    const own = await call('GET', base.replace(`/${WS}/`, '/team-b/'), undefined, OTHER_KEY);
    expect(own.status).toBe(200);
    expect(own.body.items).toEqual([]);
  });

  it('documents the operations in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    };
    expect(Object.keys(doc.paths['/v1/workspaces/{workspace}/secrets/{name}']!).sort()).toEqual([
      'delete',
      'get',
      'put',
    ]);
    expect(
      Object.keys(doc.paths['/v1/workspaces/{workspace}/secrets/{name}']!.put!.responses),
    ).toEqual(expect.arrayContaining(['200', '201', '400']));
    expect(doc.paths['/v1/workspaces/{workspace}/deployments/{name}/ssh']).toBeDefined();
  });

  it('names no unknown field it was sent, and refuses an ssh-public-key value over 8 KiB', async () => {
    const extra = await call('PUT', `${base}/bad`, {
      type: 'ssh-public-key',
      value: publicKey,
      'AKIA-secret-looking-field': 'x',
    });
    expect(extra.status).toBe(400);
    expect(extra.body.error.code).toBe('invalid_secret');
    expect(extra.body.error.details).toEqual([{ path: '', message: 'unknown field' }]);
    expect(extra.text).not.toContain('AKIA-secret-looking-field');
    const nested = await call('PUT', `${base}/bad`, {
      type: 'aws-credentials',
      value: { ...AWS, 'extra-name': 'x' },
    });
    expect(nested.status).toBe(400);
    expect(nested.body.error.details).toEqual([{ path: 'value', message: 'unknown field' }]);
    expect(nested.text).not.toContain('extra-name');

    const long = await call('PUT', `${base}/bad`, {
      type: 'ssh-public-key',
      value: `ssh-ed25519 ${'A'.repeat(8200)}`,
    });
    expect(long.status).toBe(400);
    expect(long.body.error.details).toEqual([
      { path: 'value', message: expect.stringContaining('at most 8192 bytes (8 KiB)') },
    ]);
    expect((await call('GET', `${base}/bad`)).status).toBe(404);
  });

  it('takes names Object.prototype has as plain names', async () => {
    for (const name of ['constructor', 'keys', 'hasownproperty', 'tostring']) {
      const value = { type: 'ssh-public-key', value: publicKey };
      expect((await call('PUT', `${base}/${name}`, value)).status, name).toBe(201);
      expect((await call('PUT', `${base}/${name}`, value)).status, name).toBe(200);
      expect((await call('GET', `${base}/${name}`)).body.name).toBe(name);
    }
    // "__proto__" is not a secret name (DNS-1123): refused by the name rule.
    const proto = await call('PUT', `${base}/__proto__`, {
      type: 'ssh-public-key',
      value: publicKey,
    });
    expect(proto.status).toBe(400);
    expect(proto.body.error.code).toBe('invalid_request');
    for (const name of ['constructor', 'keys', 'hasownproperty', 'tostring'])
      expect((await call('DELETE', `${base}/${name}`)).status).toBe(204);
    expect((await call('GET', `${base}/constructor`)).status).toBe(404);

    // The store itself, under any name (the file's and the memory's), across a reopen.
    const storeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-secrets-proto-'));
    try {
      for (const open of [() => new FileSecretStore(storeDir), () => new MemorySecretStore()]) {
        const store = open();
        const secret = { type: 'ssh-public-key', value: publicKey } as const;
        for (const workspace of ['constructor', '__proto__', 'toString'])
          for (const name of ['__proto__', 'constructor', 'keys', 'valueOf']) {
            expect((await store.put(workspace, name, secret)).created).toBe(true);
            expect((await store.put(workspace, name, secret)).created).toBe(false);
          }
        expect(await store.get('hasOwnProperty', 'x')).toBeUndefined();
        expect(await store.get('constructor', 'toString')).toBeUndefined();
        expect(await store.list('valueOf')).toEqual([]);
        const again = store instanceof FileSecretStore ? open() : store;
        expect((await again.list('__proto__')).map((s) => s.name)).toEqual([
          '__proto__',
          'constructor',
          'keys',
          'valueOf',
        ]);
        expect((await again.get('constructor', '__proto__'))?.value).toBe(publicKey);
        expect(await again.delete('constructor', '__proto__')).toBe(true);
        expect(await again.get('constructor', '__proto__')).toBeUndefined();
        expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
      }
    } finally {
      fs.rmSync(storeDir, { recursive: true, force: true });
    }
  });

  it(`holds at most ${MAX_SECRETS_PER_WORKSPACE} secrets per workspace: 409 quota_exceeded beyond`, async () => {
    const teamB = base.replace(`/${WS}/`, '/team-b/');
    const value = { type: 'ssh-public-key', value: publicKey };
    for (let i = 0; i < MAX_SECRETS_PER_WORKSPACE; i += 1)
      expect((await call('PUT', `${teamB}/k${i}`, value, OTHER_KEY)).status).toBe(201);
    const over = await call('PUT', `${teamB}/one-more`, value, OTHER_KEY);
    expect(over.status).toBe(409);
    expect(over.body.error.code).toBe('quota_exceeded');
    expect(over.body.error.message).toContain(`already holds ${MAX_SECRETS_PER_WORKSPACE} secrets`);
    // Replacing one is not a new one; after a delete there is room again.
    expect((await call('PUT', `${teamB}/k0`, value, OTHER_KEY)).status).toBe(200);
    expect((await call('DELETE', `${teamB}/k0`, undefined, OTHER_KEY)).status).toBe(204);
    expect((await call('PUT', `${teamB}/one-more`, value, OTHER_KEY)).status).toBe(201);
    // Other workspaces are not counted against it.
    expect((await call('PUT', `${base}/spare2`, value)).status).toBe(201);
    expect((await call('DELETE', `${base}/spare2`)).status).toBe(204);
  });

  it('removes temporary files a crash left behind when the store opens', () => {
    const leftover = path.join(dir, `${SECRETS_FILE}.4242.deadbeef.tmp`);
    const unrelated = path.join(dir, 'other.tmp');
    fs.writeFileSync(leftover, '{}');
    fs.writeFileSync(unrelated, '');
    new FileSecretStore(dir);
    expect(fs.existsSync(leftover)).toBe(false);
    expect(fs.existsSync(unrelated)).toBe(true);
    fs.rmSync(unrelated);
  });

  it('never wrote a value into a log line', () => {
    // The requests above were logged (fastify logs each request and its answer)...
    expect(logLines.some((l) => l.includes('/secrets/alice-key'))).toBe(true);
    // ...but no body: no key, no credential, not even the rejected ones.
    const all = logLines.join('\n');
    expect(all).not.toContain(publicKey.split(' ')[1]!);
    expect(all).not.toContain(AWS.secretAccessKey);
    expect(all).not.toContain(AWS.accessKeyId);
    expect(all).not.toContain(privateKeyText.split('\n')[1]!);
    expect(all).not.toContain('not-base64!');
  });
});
