/**
 * The web console in a real browser (Debian's Chromium driven by playwright-core) against a real
 * stack (Temporal dev server, worker, local runtime agent, the API serving the console at /):
 * sign in, create with a bad field first (its error shown next to it), watch it turn Healthy,
 * edit, pause, resume, delete. Screenshots of each page go to docs/screenshots/console-*.png.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, startStack, type Stack } from '../helpers/stack';

const ROOT = path.resolve(__dirname, '..', '..');
const SCREENSHOTS = path.join(ROOT, 'docs', 'screenshots');
/** Generous: a slow shared machine may take a while; nothing here asserts how long things take. */
const LONG = 180_000;

let stack: Stack;
let browser: Browser;
let page: Page;

function chromiumPath(): string {
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // try the next name
    }
  }
  throw new Error(
    "chromium is not installed: the console test drives Debian's Chromium. Run `apt-get install chromium` (or `bash scripts/setup.sh --for-tests`).",
  );
}

beforeAll(async () => {
  // The console the API serves is dist/console: build it if its sources changed (fast otherwise).
  execFileSync(process.execPath, [path.join(ROOT, 'scripts', 'build-console.mjs')], {
    stdio: 'inherit',
  });
  stack = await startStack();
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    // Root (CI containers) cannot use Chromium's sandbox.
    args: process.getuid?.() === 0 ? ['--no-sandbox', '--disable-dev-shm-usage'] : [],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(LONG);
  // What the page itself reports, for a failure's log.
  page.on('pageerror', (err) => console.error(`[browser] page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') console.error(`[browser] ${msg.text()}`);
  });
}, LONG);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

it('serves the console at / without a key, and keeps the API behind one', async () => {
  const home = await fetch(`${stack.baseUrl}/`);
  expect(home.status).toBe(200);
  expect(home.headers.get('content-type')).toContain('text/html');
  expect(home.headers.get('content-security-policy')).toContain("default-src 'self'");
  const script = await fetch(`${stack.baseUrl}/console/console.js`, {
    headers: { 'accept-encoding': 'br' },
  });
  expect(script.status).toBe(200);
  expect(script.headers.get('content-encoding')).toBe('br');
  expect((await fetch(`${stack.baseUrl}/console/config.json`)).status).toBe(200);
  expect(
    (await fetch(`${stack.baseUrl}/v1/workspaces/${stack.workspace}/deployments`)).status,
  ).toBe(401);
  expect((await fetch(`${stack.baseUrl}/v1/no-such-route`)).status).toBe(401);
  expect((await fetch(`${stack.baseUrl}/console/no-such-file.js`)).status).toBe(404);
});

it(
  'signs in, creates (a bad field first), follows it to Healthy, edits, pauses, resumes and deletes',
  async () => {
    const call = apiClient(stack);
    const name = 'console-demo';
    const view = async () =>
      (await call('GET', `/v1/workspaces/${stack.workspace}/deployments/${name}`)) as unknown as {
        status: number;
        body: { spec: { scaling: { maxReplicas: number } } };
      };

    // Sign in: a wrong key is refused with the API's message, the stack's key works.
    await page.goto(`${stack.baseUrl}/`);
    await page.getByLabel('API key').fill('not-a-key');
    await page.getByLabel('Workspace').fill(stack.workspace);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('401 unauthorized').waitFor();
    await page.getByLabel('API key').fill(stack.key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Deployments' }).waitFor();

    // Create: a name the schema refuses, shown next to the name field; then fixed.
    await page.getByRole('link', { name: 'Create deployment' }).click();
    await page.getByRole('heading', { name: 'Create a deployment' }).waitFor();
    await page.locator('#f-model option[value="fast-model"]').waitFor({ state: 'attached' });
    await page.getByLabel('Deployment name').fill('Bad_Name');
    await page.getByLabel('Model').selectOption('fast-model');
    await page.getByLabel('Accelerator type').selectOption('L4');
    await page.getByLabel('Maximum replicas').fill('2');
    await page.getByRole('button', { name: '+ Add tag' }).click();
    await page.getByLabel('Tag 1 key').fill('env');
    await page.getByLabel('Tag 1 value').fill('console');
    // A schedule window in cron, with the summary under each expression; a scale-up policy.
    await page.getByLabel('Enable schedule-based scaling').check();
    await page.getByLabel('Custom (cron)').check();
    await page.getByLabel('Start (cron)').fill('0 9 * * 1-5');
    await page.getByLabel('End (cron)').fill('0 18 * * 1-5');
    await page.getByText('18:00 on').waitFor();
    await page.getByLabel('Configure an autoscaling policy').check();
    await page.getByRole('button', { name: '+ Add policy' }).first().click();
    await page.getByRole('button', { name: 'Deploy model' }).click();
    const nameError = page.locator('#err-f-name');
    await nameError.waitFor();
    expect(await nameError.textContent()).toContain('DNS-1123');
    expect(await page.getByLabel('Deployment name').getAttribute('aria-invalid')).toBe('true');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'console-create.png'), fullPage: true });
    expect((await view()).status).toBe(404); // nothing was sent

    await page.getByLabel('Deployment name').fill(name);
    await nameError.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: 'Deploy model' }).click();

    // The deployment page follows it live to Healthy.
    await page.getByRole('heading', { name, exact: true }).waitFor();
    await page.getByTestId('health').getByText('Healthy').waitFor();
    await page.getByTestId('replicas').getByText('1 ready of 1 desired').waitFor();
    expect(await page.getByTestId('endpoint').textContent()).toBe(
      `${stack.baseUrl}/v1/endpoints/${stack.workspace}/${name}`,
    );
    expect(
      await page
        .getByRole('link', { name: `workflow deployment:${stack.workspace}:${name}` })
        .getAttribute('href'),
    ).toContain(encodeURIComponent(`deployment:${stack.workspace}:${name}`));

    // Edit: the same form, filled from the spec; a merge patch with If-Match.
    await page.getByRole('link', { name: 'Edit', exact: true }).click();
    await page.getByRole('heading', { name: `Edit ${name}` }).waitFor();
    expect(await page.getByLabel('Maximum replicas').inputValue()).toBe('2');
    await page.getByLabel('Maximum replicas').fill('3');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('heading', { name, exact: true }).waitFor();
    await page.getByText('1–3 replicas').waitFor();
    // The configuration, the schedule window in the product's words.
    await page
      .getByRole('region', { name: 'Configuration' })
      .getByText('09:00-18:00', { exact: false })
      .waitFor();
    expect((await view()).body.spec.scaling.maxReplicas).toBe(3);
    await page.getByTestId('health').getByText('Healthy').waitFor();
    await page.screenshot({
      path: path.join(SCREENSHOTS, 'console-deployment.png'),
      fullPage: true,
    });

    // A confirmation closes on Escape, focus back on its button.
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Yes, pause' }).waitFor();
    await page.keyboard.press('Escape');
    await page.locator('button:focus', { hasText: 'Pause' }).waitFor();

    // Pause, then resume, each confirmed first.
    await page.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Yes, pause' }).click();
    await page.getByTestId('state').getByText('paused').waitFor();
    await page.getByTestId('health').getByText('NotPresent').waitFor();
    await page.getByRole('button', { name: 'Resume' }).click();
    await page.getByRole('button', { name: 'Yes, resume' }).click();
    await page.getByTestId('health').getByText('Healthy').waitFor();

    // Clone: the create form, filled from this one's spec under "<name>-copy", focused on the
    // name; nothing is created until it is submitted (a plain create of the whole spec).
    const copy = `${name}-copy`;
    await page.getByRole('link', { name: 'Clone', exact: true }).click();
    await page.getByRole('heading', { name: `Copy of ${name}` }).waitFor();
    await page.locator('#f-name:focus').waitFor();
    expect(await page.getByLabel('Deployment name').inputValue()).toBe(copy);
    expect(await page.getByLabel('Maximum replicas').inputValue()).toBe('3');
    expect(
      (await call('GET', `/v1/workspaces/${stack.workspace}/deployments/${copy}`)).status,
    ).toBe(404);
    await page.getByRole('button', { name: 'Deploy model' }).click();
    await page.getByRole('heading', { name: copy, exact: true }).waitFor();
    await page.getByTestId('health').getByText('Healthy').waitFor();

    // The list: filters are the API's query parameters.
    await page.getByRole('link', { name: 'Deployments', exact: true }).click();
    const row = page.locator(`tr[data-deployment="${name}"]`);
    const copyRow = page.locator(`tr[data-deployment="${copy}"]`);
    await copyRow.getByText('Healthy').waitFor();
    await row.getByText('Healthy').waitFor();
    await page.getByLabel('Health', { exact: true }).selectOption('Healthy');
    await row.waitFor();
    await page.getByLabel('Tags (key:value, comma-separated)').fill('env:other');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No deployment matches these filters').waitFor();
    await page.getByLabel('Tags (key:value, comma-separated)').fill('env:console');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await row.waitFor();
    await copyRow.waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'console-list.png'), fullPage: true });

    // Delete the copy from the list, confirmed.
    await copyRow.getByRole('button', { name: 'Delete' }).click();
    await copyRow.getByRole('button', { name: 'Yes, delete' }).click();
    await copyRow.waitFor({ state: 'detached' });

    // Delete from the deployment page, confirmed; the page says when it is gone.
    await row.getByRole('link', { name, exact: true }).click();
    await page.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByText(`${name} is gone`).waitFor();
    expect((await view()).status).toBe(404);
  },
  10 * 60_000,
);
