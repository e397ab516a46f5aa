/**
 * A simulated OpenAI-compatible inference server (vLLM-like), one process per replica.
 *
 * It listens at once and pretends to load weights for --load-ms, so the control plane sees
 * the same "started but not ready" phase a real GPU server has. Only Node built-ins are
 * imported: hundreds of these may start at once on a laptop.
 */
import { USAGE, parseConfig, type ModelServerConfig } from './config';
import { SimulatedEngine } from './engine';
import { createModelServer } from './server';

function main(): void {
  let config: ModelServerConfig;
  try {
    config = parseConfig(process.argv.slice(2), process.env);
  } catch (err) {
    console.error(`model-server: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exit(2);
  }

  const engine = new SimulatedEngine(config);
  const { server, drain, inFlight } = createModelServer(config, engine);
  const name = config.replicaId ?? config.model;

  server.on('error', (err) => {
    console.error(
      `model-server ${name}: cannot listen on ${config.host}:${config.port}: ${err.message}`,
    );
    process.exit(1);
  });
  server.listen(config.port, config.host, () => {
    console.log(
      `model-server ${name}: serving ${config.model} on http://${config.host}:${config.port}, ` +
        `loading weights for ${config.loadMs} ms`,
    );
  });
  setTimeout(() => {
    console.log(
      config.failLoad
        ? `model-server ${name}: failed to load weights: simulated`
        : `model-server ${name}: weights loaded, ready`,
    );
  }, config.loadMs).unref();

  // The agent stops a replica with SIGTERM once it no longer routes to it: stop accepting
  // connections, finish the requests in flight, then exit. The agent bounds this with its drain
  // grace (SIGKILL after it), as Kubernetes does with terminationGracePeriodSeconds.
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    const pending = inFlight();
    console.log(
      `model-server ${name}: ${signal}: draining, ${pending} request(s) in flight; exiting once they are answered`,
    );
    const started = Date.now();
    void drain().then(() => {
      console.log(`model-server ${name}: drained in ${Date.now() - started} ms; exiting`);
      server.closeAllConnections();
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
