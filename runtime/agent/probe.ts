/**
 * Readiness probe: GET <replica>/health. Uses node:http with keep-alive rather than fetch,
 * because the agent may probe hundreds of replicas ten times a second.
 */
import http from 'node:http';

const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 1 });

export interface ProbeResult {
  ok: boolean;
  /** Why not ready: the server's own status (e.g. "loading") or the connection error. */
  detail?: string;
}

export function probeHealth(url: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: keepAlive, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', (err) => resolve({ ok: false, detail: err.message }));
      res.on('end', () => {
        if (res.statusCode === 200) return resolve({ ok: true });
        resolve({
          ok: false,
          detail: healthStatus(Buffer.concat(chunks).toString('utf8'), res.statusCode),
        });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => resolve({ ok: false, detail: err.message }));
  });
}

function healthStatus(body: string, statusCode: number | undefined): string {
  try {
    const status = (JSON.parse(body) as { status?: unknown }).status;
    if (typeof status === 'string') return status;
  } catch {
    // Not our model server's JSON; fall through to the HTTP status.
  }
  return `health check answered HTTP ${statusCode ?? '?'}`;
}
