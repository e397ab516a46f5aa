/**
 * A private CA and certificates signed by it, made with openssl for one test run: the Temporal
 * server's (for a DNS name and 127.0.0.1) and the clients' (the control plane's processes).
 * Keys are EC P-256: quick to make, and accepted by Go's TLS and by Node's.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface CertificatePair {
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: string;
  /** Certificate for `serverName` and 127.0.0.1; also usable as a client (server internode). */
  server: CertificatePair;
  serverName: string;
  /** Signs another certificate with the CA (e.g. one per control-plane process). */
  issue(name: string, options?: { server?: boolean }): CertificatePair;
  /** A certificate signed by a CA the server does not trust. */
  untrusted: CertificatePair;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        'openssl is missing: run `npm run setup -- --for-tests` (installs it with apt-get)',
      );
    }
    throw new Error(`openssl ${args[0]} failed: ${stderr || (err as Error).message}`);
  }
}

function makeCa(dir: string, name: string): { cert: string; key: string } {
  const key = path.join(dir, `${name}.key`);
  const cert = path.join(dir, `${name}.pem`);
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  openssl(
    [
      ...['req', '-x509', '-new', '-key', key, '-sha256', '-days', '2', '-out', cert],
      ...['-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE'],
      ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ],
    dir,
  );
  return { cert, key };
}

function sign(
  dir: string,
  ca: { cert: string; key: string },
  name: string,
  altNames: string[],
  usage: string,
): CertificatePair {
  const key = path.join(dir, `${name}.key`);
  const csr = path.join(dir, `${name}.csr`);
  const cert = path.join(dir, `${name}.pem`);
  const ext = path.join(dir, `${name}.ext`);
  fs.writeFileSync(
    ext,
    [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${usage}`,
      ...(altNames.length ? [`subjectAltName=${altNames.join(',')}`] : []),
    ].join('\n'),
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', csr], dir);
  openssl(
    [
      ...['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial'],
      ...['-days', '2', '-sha256', '-extfile', ext, '-out', cert],
    ],
    dir,
  );
  return { cert, key };
}

export function makeTestPki(dir: string, serverName = 'temporal.test'): TestPki {
  fs.mkdirSync(dir, { recursive: true });
  const ca = makeCa(dir, 'ca');
  const otherCa = makeCa(dir, 'other-ca');
  // The server's certificate also authenticates it to its own services (internode mTLS).
  const server = sign(
    dir,
    ca,
    'server',
    [`DNS:${serverName}`, 'DNS:localhost', 'IP:127.0.0.1'],
    'serverAuth,clientAuth',
  );
  return {
    dir,
    ca: ca.cert,
    server,
    serverName,
    issue: (name, options = {}) =>
      sign(dir, ca, name, [], options.server ? 'serverAuth,clientAuth' : 'clientAuth'),
    untrusted: sign(dir, otherCa, 'untrusted-client', [], 'clientAuth'),
  };
}
