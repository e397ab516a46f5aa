/** moto_server (AWS EKS, EC2, STS over real HTTP) for tests; `npm run setup` installs it if missing. */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './processes';

export interface Moto {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const failed = new Promise<Error>((resolve) => child.once('error', (err) => resolve(err)));
  const endpoint = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const error = await Promise.race([failed, sleep(100).then(() => undefined)]);
    if (error)
      throw new Error(
        `moto_server could not start (${error.message}): run \`npm run setup -- --for-tests\`, which installs it with pip`,
      );
    if (
      await fetch(`${endpoint}/moto-api/`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`moto_server did not start:\n${output}`);
  }
  return {
    endpoint,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    },
  };
}

export const MOTO_ACCESS = (endpoint: string) => ({
  region: 'us-east-1',
  credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  endpoint,
});
