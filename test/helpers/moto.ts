/** moto_server (AWS EKS, EC2, STS over real HTTP) for tests; `npm run setup` installs it if missing. */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './processes';

export interface Moto {
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * `refuseCredentials`: moto checks every request's credentials against its own IAM (none exist),
 * so AWS answers as it does to bad keys (InvalidClientTokenId, AuthFailure).
 */
export async function startMoto(options: { refuseCredentials?: boolean } = {}): Promise<Moto> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      ...(options.refuseCredentials ? { INITIAL_NO_AUTH_ACTION_COUNT: '0' } : {}),
    },
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
        // with IAM checks on, moto's own API answers 403 too: it is up
        (r) => r.ok || r.status === 403,
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
