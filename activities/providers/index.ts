/** Picks the runtime provider the configuration names. */
import type { Config } from '../../config';
import { LocalRuntimeProvider } from './local';
import type { RuntimeProvider } from './provider';

export function createProvider(
  config: Pick<Config, 'RUNTIME_PROVIDER' | 'LOCAL_AGENT_URL'>,
): RuntimeProvider {
  switch (config.RUNTIME_PROVIDER) {
    case 'local':
      return new LocalRuntimeProvider(config.LOCAL_AGENT_URL);
  }
}
