import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeProvider } from '../helpers/fake-provider';
import { dedicatedSpec } from '../helpers/catalog';
import { startHarness, waitFor, type Harness } from '../helpers/harness';
import { uniqueName } from '../helpers/temporal';

let h: Harness;
const provider = new FakeProvider();
const ws = 'probe';
beforeAll(async () => { h = await startHarness(); await h.startWorker(provider); });
afterAll(async () => h?.stop());
const h100 = (n: number) => JSON.stringify((awaitq as any)) && n;
let awaitq: unknown;

it('probe rollback leak', async () => {
  const name = uniqueName('p');
  await h.service.create(ws, { name, ...dedicatedSpec({ readinessTimeoutSeconds: 1, cloud: { type: 'dedicated', accelerator: { type: 'H100', count: 1 } } }) });
  await waitFor(() => h.service.get(ws, name), (v) => v.health === 'Healthy', 'Healthy');
  await h.service.edit(ws, name, { spec: { model: 'broken-model', scaling: { maxReplicas: 4 } } });
  const v = await waitFor(() => h.service.get(ws, name), (v) => v.state === 'running', 'running', 20000);
  console.log('ROLLBACK', JSON.stringify(v.spec.scaling), v.revision, JSON.stringify((await h.service.quotas(ws)).find((q) => q.accelerator === 'H100')));
  void h100;
});
it('probe lowered max', async () => {
  const name = uniqueName('p');
  const id = `${ws}/${name}`;
  await h.service.create(ws, { name, ...dedicatedSpec({ scaling: { minReplicas: 2, maxReplicas: 2 }, cloud: { type: 'dedicated', accelerator: { type: 'A10G', count: 1 } } }) });
  await waitFor(() => h.service.get(ws, name), (v) => v.health === 'Healthy', 'Healthy');
  await h.service.edit(ws, name, { spec: { model: 'fast-model-v2', scaling: { minReplicas: 1, maxReplicas: 1 } } });
  const v = await waitFor(() => h.service.get(ws, name), (v) => v.state === 'running' && v.revision === 2, 'running', 20000);
  await new Promise((r) => setTimeout(r, 500));
  console.log('LOWERED', JSON.stringify((await h.service.get(ws, name)).replicas), JSON.stringify(provider.revisions.get(`${id}#2`)?.replicas.length), JSON.stringify((await h.service.quotas(ws)).find((q) => q.accelerator === 'A10G')));
  expect(v).toBeDefined();
});
