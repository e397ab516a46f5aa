/**
 * How the processes connect to Temporal (config/temporal.ts): plain on a development machine,
 * mTLS with a private CA to a self-hosted cluster, an API key (TLS with the system's CAs) to
 * Temporal Cloud; and a misconfiguration fails at start, naming the variable.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config';
import { temporalConnectionOptions } from '../../config/temporal';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'md-tls-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text);
  return p;
};
const cert = file('client.pem', 'CERT');
const key = file('client.key', 'KEY');
const ca = file('ca.pem', 'CA');

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const options = (env: Record<string, string>) => temporalConnectionOptions(loadConfig(env));

describe('temporalConnectionOptions', () => {
  it('connects in plain text by default (the embedded dev server)', () => {
    expect(options({})).toEqual({ address: '127.0.0.1:7233' });
  });

  it('mTLS with a private CA: the client pair, the CA and the name the certificate is for', () => {
    const o = options({
      TEMPORAL_ADDRESS: '10.1.2.3:7233',
      TEMPORAL_TLS_CERT: cert,
      TEMPORAL_TLS_KEY: key,
      TEMPORAL_TLS_CA: ca,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.example.internal',
    });
    expect(o.tls).toEqual({
      clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') },
      serverRootCACertificate: Buffer.from('CA'),
      serverNameOverride: 'temporal.example.internal',
    });
    expect(o.apiKey).toBeUndefined();
  });

  it('Temporal Cloud with an API key: TLS on with the system CAs, the key sent', () => {
    const o = options({
      TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233',
      TEMPORAL_API_KEY: 'secret-key',
    });
    expect(o.tls).toEqual({});
    expect(o.apiKey).toBe('secret-key');
  });

  it('TEMPORAL_TLS=true alone: TLS with the system CAs, no client certificate', () => {
    expect(options({ TEMPORAL_TLS: 'true' }).tls).toEqual({});
  });

  it.each([
    [{ TEMPORAL_TLS_CERT: cert }, /TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY: set both/],
    [{ TEMPORAL_TLS_KEY: key }, /TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY: set both/],
    [
      { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: path.join(dir, 'missing.key') },
      /^TEMPORAL_TLS_KEY=.*missing\.key: cannot read it/,
    ],
    [{ TEMPORAL_TLS_CA: path.join(dir, 'missing-ca.pem') }, /^TEMPORAL_TLS_CA=.*: cannot read it/],
  ])('refuses %j, naming the variable', (env, message) => {
    expect(() => options(env)).toThrow(ConfigError);
    expect(() => options(env)).toThrow(message);
  });
});
