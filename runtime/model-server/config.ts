/**
 * Command-line and environment settings of the simulated model server.
 *
 * Flags win over environment variables so the agent can pass everything on the command
 * line, where it is visible in /proc/<pid>/cmdline (the agent re-adopts replicas by it).
 */
import { parseArgs } from 'node:util';

export interface ModelServerConfig {
  host: string;
  port: number;
  model: string;
  /** How long the simulated weight loading takes before /health turns 200. */
  loadMs: number;
  /** Never finish loading: /health stays 503 (used to exercise rollbacks). */
  failLoad: boolean;
  /** Simulated decode speed: a request takes max_tokens * msPerToken. */
  msPerToken: number;
  /** Sequences decoded at once; further requests wait (vllm:num_requests_waiting). */
  maxNumSeqs: number;
  /** Echoed in the x-replica-id response header so callers can see load balancing. */
  replicaId?: string;
}

export const USAGE =
  'usage: main.js --port N --model ID [--load-ms MS] [--fail-load] [--ms-per-token N] ' +
  '[--max-num-seqs N] [--host H] [--replica-id ID]';

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): ModelServerConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      model: { type: 'string' },
      'load-ms': { type: 'string' },
      'fail-load': { type: 'boolean' },
      'ms-per-token': { type: 'string' },
      'max-num-seqs': { type: 'string' },
      'replica-id': { type: 'string' },
    },
  });
  const model = values.model ?? env.MODEL_SERVER_MODEL;
  if (!model) throw new Error('--model (or MODEL_SERVER_MODEL) is required');
  const port = values.port ?? env.MODEL_SERVER_PORT;
  if (port === undefined) throw new Error('--port (or MODEL_SERVER_PORT) is required');
  return {
    host: values.host ?? env.MODEL_SERVER_HOST ?? '127.0.0.1',
    port: integer('--port', port, 0, 65535),
    model,
    loadMs: integer('--load-ms', values['load-ms'] ?? env.MODEL_SERVER_LOAD_MS ?? '0', 0),
    failLoad: values['fail-load'] ?? env.MODEL_SERVER_FAIL_LOAD === 'true',
    msPerToken: integer(
      '--ms-per-token',
      values['ms-per-token'] ?? env.MODEL_SERVER_MS_PER_TOKEN ?? '2',
      0,
    ),
    maxNumSeqs: integer(
      '--max-num-seqs',
      values['max-num-seqs'] ?? env.MODEL_SERVER_MAX_NUM_SEQS ?? '8',
      1,
    ),
    replicaId: values['replica-id'] ?? env.REPLICA_ID,
  };
}

function integer(name: string, raw: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}
