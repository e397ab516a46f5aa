/**
 * API fuzzing: schemathesis (PyPI, pinned in scripts/toolchain.env, installed by
 * `npm run setup -- --for-tests`) against the live OpenAPI document of the real stack, every
 * API operation (the inference endpoints aside, see below), a bounded number of examples each. No answer may be a 5xx, and every answer must be
 * documented: its status, its content type and its body's schema.
 *
 * Excluded, on purpose: the inference endpoints (/v1/endpoints/..., 7 operations). Once a
 * deployment has a replica (and the fuzzer creates some), they answer what the replica answers:
 * the model server's statuses and bodies (an OpenAI-style `{ error: { message, type } }` 404, a
 * 500 of its own), documented as `default`, not this API's to check; and a deployment the fuzzer
 * paused answers the documented 503. Their own answers (401, 403, 404, 503) and the path they
 * pass on are tested in contract.test.ts and api.test.ts.
 * Set FUZZ_SEED to replay a run (each run prints its seed), FUZZ_EXAMPLES to go deeper,
 * FUZZ_REPORT_DIR to keep schemathesis' event stream (events.ndjson) after the run.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dedicatedSpec } from '../helpers/catalog';
import { apiClient, startStack, type Stack } from '../helpers/stack';

const CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_schema_conformance',
];
/**
 * Examples per operation and phase: about 2,700 requests, half a minute on 2 cores (500 made
 * 7,800 requests in under two minutes, also clean).
 */
const MAX_EXAMPLES = Number(process.env.FUZZ_EXAMPLES ?? 100);
/** The version scripts/setup.sh installs: flags and config format change between versions. */
const PINNED = /^SCHEMATHESIS_VERSION=(.+)$/m.exec(
  fs.readFileSync(path.join(__dirname, '..', '..', 'scripts', 'toolchain.env'), 'utf8'),
)?.[1];
/** Every operation of the document but the 7 inference endpoint methods. */
const OPERATIONS = 20;
/** A deployment that exists, for the operations that need one (see schemathesis.toml). */
const TARGET = 'fuzz-target';

let stack: Stack;
let reportDir: string;

beforeAll(async () => {
  // Creates the fuzzer gets right run for real: a small L4 quota bounds how many replicas start.
  stack = await startStack({ limits: { L4: 4 } });
  reportDir =
    process.env.FUZZ_REPORT_DIR ?? fs.mkdtempSync(path.join(stack.dataDir, 'schemathesis-'));
  const created = await apiClient(stack)('POST', `/v1/workspaces/${stack.workspace}/deployments`, {
    name: TARGET,
    ...dedicatedSpec({
      cloud: { type: 'dedicated', accelerator: { type: 'L4', count: 1 } },
      scaling: { minReplicas: 0, maxReplicas: 1, scaleToZero: { enabled: true } },
    }),
  });
  expect(created.status).toBe(202);
});
afterAll(async () => stack?.stop());

interface Figures {
  operations: number;
  requests: number;
  statuses: Record<string, number>;
  serverErrors: number;
  failures: { check: string; request: string; status: number | undefined }[];
}

/** The figures of a run, from schemathesis' NDJSON event stream. */
function figures(ndjson: string): Figures {
  const operations = new Set<string>();
  const statuses: Record<string, number> = {};
  const failures: Figures['failures'] = [];
  let requests = 0;
  let serverErrors = 0;
  for (const line of ndjson.split('\n').filter(Boolean)) {
    const event = JSON.parse(line) as {
      ScenarioFinished?: {
        recorder: {
          label: string;
          interactions?: Record<
            string,
            { request: { method: string; uri: string }; response?: { status_code: number } }
          >;
          checks?: Record<string, { name: string; status: string }[]>;
        };
      };
    };
    const recorder = event.ScenarioFinished?.recorder;
    if (!recorder) continue;
    if (recorder.label !== 'Stateful tests') operations.add(recorder.label);
    const interactions = recorder.interactions ?? {};
    for (const interaction of Object.values(interactions)) {
      requests++;
      const status = interaction.response?.status_code;
      statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
      if (status !== undefined && status >= 500) serverErrors++;
    }
    for (const [id, checks] of Object.entries(recorder.checks ?? {})) {
      for (const check of checks.filter((c) => c.status === 'failure')) {
        const interaction = interactions[id];
        failures.push({
          check: check.name,
          request: interaction
            ? `${interaction.request.method} ${interaction.request.uri}`
            : recorder.label,
          status: interaction?.response?.status_code,
        });
      }
    }
  }
  return { operations: operations.size, requests, statuses, serverErrors, failures };
}

function schemathesis(
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd?: string,
): Promise<{ code: number | null; output: string }> {
  // Run where its cache (.schemathesis/) may go: the report folder, not the repository.
  const child = spawn('schemathesis', args, { env: { ...process.env, ...env }, cwd });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', (err) =>
      reject(
        new Error(
          `schemathesis could not start (${err.message}): run \`npm run setup -- --for-tests\`, which installs it with pip`,
        ),
      ),
    );
    child.once('exit', (code) => resolve({ code, output }));
  });
}

it('fuzzes every API operation of the live OpenAPI document: no 5xx, no answer outside the documented schema', async () => {
  const version = await schemathesis(['--version'], {}, reportDir);
  expect(version.output.trim(), 'run `npm run setup -- --for-tests`').toBe(
    `schemathesis, version ${PINNED}`,
  );
  const ndjsonPath = path.join(reportDir, 'events.ndjson');
  const { code, output } = await schemathesis(
    [
      '--config-file',
      path.join(__dirname, 'schemathesis.toml'),
      'run',
      `${stack.baseUrl}/openapi.json`,
      '--exclude-path-regex',
      '^/v1/endpoints/',
      '--header',
      `Authorization: Bearer ${stack.key}`,
      '--checks',
      CHECKS.join(','),
      '--max-examples',
      String(MAX_EXAMPLES),
      '--workers',
      '1',
      '--request-timeout',
      '30',
      '--generation-database',
      'none',
      '--no-color',
      '--report',
      'ndjson',
      '--report-ndjson-path',
      ndjsonPath,
      ...(process.env.FUZZ_SEED ? ['--seed', process.env.FUZZ_SEED] : []),
    ],
    { MD_FUZZ_WORKSPACE: stack.workspace },
    reportDir,
  );
  const seed = /Seed: (\d+)/.exec(output)?.[1];
  const result = fs.existsSync(ndjsonPath)
    ? figures(fs.readFileSync(ndjsonPath, 'utf8'))
    : undefined;
  console.log(
    [
      `schemathesis: ${result?.operations ?? '?'} operations, ${result?.requests ?? '?'} requests, ` +
        `${result?.serverErrors ?? '?'} 5xx, ${result?.failures.length ?? '?'} failed checks ` +
        `(seed ${seed ?? '?'}, ${MAX_EXAMPLES} examples per operation and phase)`,
      `statuses: ${JSON.stringify(result?.statuses ?? {})}`,
      ...(result?.failures ?? [])
        .slice(0, 20)
        .map((f) => `  ${f.check}: ${f.request} -> ${f.status}`),
    ].join('\n'),
  );
  if (code !== 0) console.log(output);

  expect(result).toBeDefined();
  expect(result!.operations).toBe(OPERATIONS);
  expect(result!.serverErrors).toBe(0);
  expect(result!.failures).toEqual([]);
  expect(code).toBe(0);
}, 600_000);
