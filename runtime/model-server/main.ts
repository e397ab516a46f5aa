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
  const server = createModelServer(config, engine);
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

  // The agent stops replicas with SIGTERM; in-flight requests are simply dropped, as a
  // killed GPU server would drop them.
  const stop = (): void => {
    server.close();
    server.closeAllConnections();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
