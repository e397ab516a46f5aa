import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { useZodSchemas } from '../../../api/app';
import { errorHandler } from '../../../api/errors';
import { sshRoutes, type SshAccessOptions } from '../../../api/routes/ssh';
import type { DeploymentView } from '../../../workflows/domain/deployment';

const view = {
  name: 'llm',
  workspace: 'default',
  spec: {
    cloud: { type: 'dedicated' },
    ssh: { enabled: true, runtime: 'main', users: [{ username: 'alice', keySecret: 'k' }] },
  },
} as unknown as DeploymentView;

async function get(ssh: SshAccessOptions) {
  const app = Fastify();
  useZodSchemas(app);
  app.setErrorHandler(errorHandler);
  await app.register(sshRoutes, { service: { get: async () => view }, ssh });
  const res = await app.inject({
    method: 'GET',
    url: '/v1/workspaces/default/deployments/llm/ssh',
  });
  await app.close();
  return { status: res.statusCode, body: res.json() as Record<string, unknown> };
}

describe('GET .../ssh', () => {
  const shells = { ready: async () => ({ revision: 1, replicas: ['r1-0'] }) };

  it('answers how to connect', async () => {
    expect(await get({ host: '127.0.0.1', port: 2222, shells })).toEqual({
      status: 200,
      body: {
        host: '127.0.0.1',
        port: 2222,
        users: ['alice'],
        replicas: ['r1-0'],
        command: 'ssh -p 2222 alice+default+llm@127.0.0.1',
      },
    });
  });

  it('says sessions are refused here before anyone connects (a shared local runtime)', async () => {
    const refused = 'sessions are refused: this API serves more than one workspace';
    expect(await get({ host: '127.0.0.1', port: 2222, shells, refused })).toEqual({
      status: 503,
      body: { error: { code: 'unavailable', message: refused } },
    });
  });
});
