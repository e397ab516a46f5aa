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

it('probe pause', async () => {
  const name = uniqueName('p');
  const id = `${ws}/${name}`;
  await h.service.create(ws, { name, ...dedicatedSpec() });
  await waitFor(() => h.service.get(ws, name), (v) => v.health === 'Healthy', 'Healthy');
  await h.service.pause(ws, name);
  const n = provider.calls.length;
  await new Promise((r) => setTimeout(r, 4000));
  console.log('CALLS after pause', JSON.stringify(provider.calls.slice(n - 3).map((c) => c.method)), provider.calls.length - n, provider.revisionsOf(id));
  console.log(JSON.stringify(await h.service.events(ws, name), null, 0));
  console.log(JSON.stringify(await h.service.quotas(ws)));
  expect(1).toBe(1);
});
