/**
 * The production topology (docker-compose.yml and the Dockerfile) checked against the code,
 * statically: there is no Docker engine in CI. What it catches is drift: a compose variable the
 * code no longer reads, an entry point that moved, a search attribute added in code but not
 * registered on the server, the worker and the API disagreeing on a task queue.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../config';
import { REQUIRED_SEARCH_ATTRIBUTES } from '../../scripts/temporal-setup';
import { SA } from '../../workflows/domain/search-attributes';

const ROOT = path.resolve(__dirname, '..', '..');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');
const exists = (file: string): boolean => fs.existsSync(path.join(ROOT, file));

/** The processes built from this repository's Dockerfile, and the one-shot that sets Temporal up. */
const PROJECT_SERVICES = ['agent', 'worker', 'observer', 'api', 'temporal-setup'] as const;
const CONTROL_PLANE = ['worker', 'observer', 'api', 'temporal-setup'] as const;
const SETUP_SERVICE = 'temporal-setup';

// ---- compose file, normalised ----------------------------------------------------------------

interface Service {
  image?: string;
  build?: string | { context?: string };
  command?: string | string[];
  entrypoint?: string | string[];
  environment?: Record<string, unknown> | string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  ports?: (string | number | { published?: string | number; target?: number })[];
  healthcheck?: { test?: string | string[] };
}

interface Compose {
  services: Record<string, Service>;
}

function parseCompose(): { compose: Compose; errors: string[] } {
  // Merge keys (`<<: *anchor`) are YAML 1.1; compose supports them, so the parser must too.
  const doc = parseDocument(read('docker-compose.yml'), { merge: true });
  return { compose: doc.toJS() as Compose, errors: doc.errors.map((e) => e.message) };
}

const { compose } = parseCompose();
const services: Record<string, Service> = compose?.services ?? {};

function service(name: string): Service {
  const found = services[name];
  if (!found) throw new Error(`docker-compose.yml has no service "${name}"`);
  return found;
}

/** `environment:` as a map, from either the mapping or the list ("K=V") form. */
function envOf(name: string): Record<string, string> {
  const env = service(name).environment ?? {};
  const entries = Array.isArray(env)
    ? env.map((line): [string, string] => {
        const [key = '', ...rest] = line.split('=');
        return [key, rest.join('=')];
      })
    : Object.entries(env).map(([k, v]): [string, string] => [k, v == null ? '' : String(v)]);
  return Object.fromEntries(entries);
}

function argv(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : value.split(/\s+/).filter(Boolean);
}

function dependsOn(name: string): Record<string, string> {
  const deps = service(name).depends_on ?? {};
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [d, 'service_started']));
  return Object.fromEntries(
    Object.entries(deps).map(([d, v]) => [d, v?.condition ?? 'service_started']),
  );
}

/** Published ports as { host, container }, from the short ("[ip:]host:container") or long form. */
function publishedPorts(name: string): { host: number; container: number }[] {
  return (service(name).ports ?? []).map((port) => {
    if (typeof port === 'object') {
      return { host: Number(port.published), container: Number(port.target) };
    }
    const parts = String(port)
      .replace(/\/(tcp|udp)$/, '')
      .split(':');
    const container = Number(parts.at(-1));
    return { host: parts.length >= 2 ? Number(parts.at(-2)) : container, container };
  });
}

function usesProjectImage(svc: Service): boolean {
  const context = typeof svc.build === 'string' ? svc.build : svc.build?.context;
  return context === '.' || context === './';
}

// ---- what the code knows ---------------------------------------------------------------------

/** The folders tsconfig.build.json compiles into dist/. */
const BUILD_INCLUDE: string[] = (JSON.parse(read('tsconfig.build.json')) as { include: string[] })
  .include;

/** `node dist/X.js` -> `X.ts`, if the build produces it (the source exists and is compiled). */
function sourceOfBuiltFile(distFile: string | undefined): string | undefined {
  const match = /^(?:\.\/)?dist\/(.+)\.js$/.exec(distFile ?? '');
  if (!match) return undefined;
  const source = `${match[1]}.ts`;
  const topFolder = source.split('/')[0] ?? '';
  return exists(source) && BUILD_INCLUDE.includes(topFolder) ? source : undefined;
}

/**
 * The variables config/index.ts parses: the keys of its zod `envSchema` object. The schema is
 * not exported, so they are read from the source text.
 */
function configEnvKeys(): string[] {
  const body = /const envSchema = z\.object\(\{([\s\S]*?)\n\}\);/.exec(read('config/index.ts'));
  if (!body?.[1]) return [];
  return [...body[1].matchAll(/^ {2}([A-Z][A-Z0-9_]*)\s*:/gm)].map((m) => m[1] as string);
}
const CONFIG_KEYS = configEnvKeys();

/**
 * The variables a process reads: the config keys when its entry point calls loadConfig, plus
 * whatever the entry reads from process.env itself (the agent has its own few).
 */
function variablesReadBy(source: string): Set<string> {
  const text = read(source);
  const own = [
    ...text.matchAll(/process\.env(?:\.([A-Z][A-Z0-9_]*)|\[['"]([A-Z][A-Z0-9_]*)['"]\])/g),
  ];
  return new Set([
    ...(text.includes('loadConfig(') ? CONFIG_KEYS : []),
    ...own.map((m) => (m[1] ?? m[2]) as string),
  ]);
}

/** What a control-plane process ends up with: its compose value, else the config default. */
const DEFAULTS = loadConfig({});
function effective(name: string, key: 'TASK_QUEUE' | 'TEMPORAL_NAMESPACE'): string {
  return envOf(name)[key] ?? DEFAULTS[key];
}

// ---- Dockerfile, in stages -------------------------------------------------------------------

interface Stage {
  from: string;
  name?: string;
  body: string;
}

function dockerfileStages(): Stage[] {
  if (!exists('Dockerfile')) return [];
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  return text
    .split(/^(?=FROM\s)/m)
    .filter((chunk) => /^FROM\s/.test(chunk))
    .map((chunk) => {
      const head = /^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(chunk);
      return { from: head?.[1] ?? '', name: head?.[2], body: chunk };
    });
}

/** The last value of an instruction in a stage (USER, CMD ...), comments ignored. */
function lastInstruction(stage: Stage | undefined, instruction: string): string | undefined {
  const lines = (stage?.body ?? '').split('\n').filter((l) => !l.trimStart().startsWith('#'));
  const matches = lines
    .map((l) => new RegExp(`^${instruction}\\s+(.+)$`, 'i').exec(l.trim())?.[1])
    .filter((v): v is string => v !== undefined);
  return matches.at(-1)?.trim();
}

// ---- tests -----------------------------------------------------------------------------------

describe('docker-compose.yml', () => {
  it('parses as YAML (with merge keys) into a map of services', () => {
    const { errors } = parseCompose();
    expect(errors).toEqual([]);
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining([
        'postgresql',
        'temporal',
        SETUP_SERVICE,
        'temporal-ui',
        ...PROJECT_SERVICES,
      ]),
    );
  });

  it('builds the project image for exactly the agent, the worker, the observer, the API and the setup', () => {
    const built = Object.entries(services)
      .filter(([, svc]) => usesProjectImage(svc))
      .map(([name]) => name);
    expect(built.sort()).toEqual([...PROJECT_SERVICES].sort());
  });

  it.each(PROJECT_SERVICES)('%s runs node on a file the build produces', (name) => {
    const [program, file] = argv(service(name).command);
    expect(program).toBe('node');
    expect(sourceOfBuiltFile(file), `${file} has no compiled source`).toBeDefined();
  });

  it('the config env schema was found (the next checks compare against it)', () => {
    expect(CONFIG_KEYS).toEqual(
      expect.arrayContaining(['TEMPORAL_ADDRESS', 'TASK_QUEUE', 'LOCAL_AGENT_URL', 'API_KEYS']),
    );
  });

  it.each(PROJECT_SERVICES)('%s sets only variables its process reads', (name) => {
    const [, file] = argv(service(name).command);
    const source = sourceOfBuiltFile(file);
    const known = source ? variablesReadBy(source) : new Set<string>();
    const unknown = Object.keys(envOf(name)).filter((key) => !known.has(key));
    expect(unknown, `${name} (${source ?? file}) does not read these`).toEqual([]);
  });

  describe.each(CONTROL_PLANE)('%s', (name) => {
    it('dials the temporal service, not the loopback default', () => {
      const [host, port] = (envOf(name).TEMPORAL_ADDRESS ?? '').split(':');
      expect(host).toBe('temporal');
      expect(services[host ?? '']).toBeDefined();
      expect(Number(port)).toBe(7233);
    });

    it('reaches the agent service on the port the agent listens on', () => {
      const url = new URL(envOf(name).LOCAL_AGENT_URL ?? 'http://127.0.0.1:7070');
      expect(url.hostname).toBe('agent');
      expect(url.port).toBe(envOf('agent').AGENT_PORT ?? '7070');
    });
  });

  it.each(['TASK_QUEUE', 'TEMPORAL_NAMESPACE'] as const)(
    'the worker and the API use the same %s',
    (key) => {
      expect(effective('api', key)).toBe(effective('worker', key));
    },
  );

  it('the API refuses to start without API_KEYS (`:?` interpolation)', () => {
    expect(envOf('api').API_KEYS).toMatch(/^\$\{API_KEYS:\?[^}]*\}$/);
  });

  it('the API listens on all interfaces, on the port compose publishes and health-checks', () => {
    const env = envOf('api');
    expect(env.API_HOST).toBe('0.0.0.0');
    expect(publishedPorts('api').map((p) => p.container)).toContain(Number(env.API_PORT));
    expect(argv(service('api').healthcheck?.test).join(' ')).toContain(`:${env.API_PORT}/healthz`);
  });

  it('the agent listens on all interfaces and keeps DATA_DIR on a volume', () => {
    const env = envOf('agent');
    expect(env.AGENT_HOST).toBe('0.0.0.0');
    const volumes = (service('agent') as { volumes?: string[] }).volumes ?? [];
    expect(volumes.map((v) => v.split(':')[1])).toContain(env.DATA_DIR);
  });

  describe('the Temporal cluster and its set-up: what the production tier tests', () => {
    it('runs the Temporal server release the tests build (TEMPORAL_SERVER_VERSION)', () => {
      const version = /^TEMPORAL_SERVER_VERSION=v?(\S+)$/m.exec(read('scripts/toolchain.env'))?.[1];
      expect(version).toBeDefined();
      expect(service('temporal').image).toBe(`temporalio/auto-setup:${version}`);
    });

    it("registers the search attributes with the control plane's own script, on the worker's namespace", () => {
      expect(argv(service(SETUP_SERVICE).command)).toEqual([
        'node',
        'dist/scripts/temporal-setup.js',
      ]);
      expect(effective(SETUP_SERVICE, 'TEMPORAL_NAMESPACE')).toBe(
        effective('worker', 'TEMPORAL_NAMESPACE'),
      );
      expect(envOf(SETUP_SERVICE).TEMPORAL_ADDRESS).toBe(envOf('worker').TEMPORAL_ADDRESS);
    });

    it('that script registers every search attribute the code defines, with its type', () => {
      expect(Object.keys(REQUIRED_SEARCH_ATTRIBUTES).sort()).toEqual(
        Object.values(SA)
          .map((key) => key.name)
          .sort(),
      );
    });

    it('the observer runs as its own service and the worker does not run one', () => {
      expect(argv(service('observer').command)).toEqual(['node', 'dist/observer/main.js']);
      expect(loadConfig(envOf('worker')).OBSERVER).toBe('off');
    });
  });

  it.each([
    {
      sentence: 'the worker waits for the search attributes',
      from: 'worker',
      to: SETUP_SERVICE,
      condition: 'service_completed_successfully',
    },
    {
      sentence: 'the API waits for the search attributes',
      from: 'api',
      to: SETUP_SERVICE,
      condition: 'service_completed_successfully',
    },
    {
      sentence: 'temporal waits for a database that accepts connections',
      from: 'temporal',
      to: 'postgresql',
      condition: 'service_healthy',
    },
    {
      sentence: 'the worker provisions only once the agent answers',
      from: 'worker',
      to: 'agent',
      condition: 'service_healthy',
    },
  ])('$sentence', ({ from, to, condition }) => {
    expect(dependsOn(from)[to]).toBe(condition);
  });

  it('every dependency names a service, and a healthy-condition one has a healthcheck', () => {
    const problems: string[] = [];
    for (const name of Object.keys(services)) {
      for (const [dep, condition] of Object.entries(dependsOn(name))) {
        if (!services[dep]) problems.push(`${name} -> ${dep}: no such service`);
        else if (condition === 'service_healthy' && !services[dep].healthcheck) {
          problems.push(`${name} -> ${dep}: service_healthy without a healthcheck`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it.each([
    { service: 'temporal', host: 7233, container: 7233 },
    { service: 'temporal-ui', host: 8233, container: 8080 },
    { service: 'api', host: 8080, container: 8080 },
  ])('$service publishes $host -> $container', ({ service: name, host, container }) => {
    expect(publishedPorts(name)).toContainEqual({ host, container });
  });

  it('no two services publish the same host port', () => {
    const hostPorts = Object.keys(services).flatMap((name) =>
      publishedPorts(name).map((p) => p.host),
    );
    expect(hostPorts.length).toBeGreaterThan(0);
    expect(hostPorts.filter((port, i) => hostPorts.indexOf(port) !== i)).toEqual([]);
  });
});

describe('Dockerfile', () => {
  const stages = dockerfileStages();
  const build = stages.find((s) => /\bnpm run build\b/.test(s.body));
  const final = stages.at(-1);

  it('exists, with a build stage and a separate runtime stage', () => {
    expect(exists('Dockerfile')).toBe(true);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(build, 'no stage runs `npm run build`').toBeDefined();
    expect(build).not.toBe(final);
  });

  // The image runs the Node that `npm start` and `npm test` run on (scripts/with-node.sh).
  const nodeMajor = /^NODE_DEFAULT_MAJOR=(\d+)$/m.exec(read('scripts/toolchain.env'))?.[1];
  it.each(stages.map((s, i) => ({ stage: s.name ?? `#${i}`, from: s.from })))(
    `stage $stage is based on node:${nodeMajor}-bookworm-slim (NODE_DEFAULT_MAJOR)`,
    ({ from }) => {
      expect(nodeMajor).toBeDefined();
      expect(from).toBe(`node:${nodeMajor}-bookworm-slim`);
    },
  );

  it('the build stage installs all dependencies before building', () => {
    const body = build?.body ?? '';
    expect(body).toMatch(/\bnpm ci\b/);
    expect(body.indexOf('npm ci')).toBeLessThan(body.indexOf('npm run build'));
  });

  it('the runtime stage has production dependencies and the compiled dist/ only', () => {
    const body = final?.body ?? '';
    expect(body).toMatch(/\bnpm ci\b[^\n]*--omit=dev/);
    expect(body).toMatch(new RegExp(`COPY\\s+--from=${build?.name ?? '\\S+'}\\s+\\S*dist\\S*`));
    expect(body).not.toMatch(/\bnpm run build\b/);
  });

  it('the runtime stage runs as a non-root user', () => {
    const user = lastInstruction(final, 'USER');
    expect(user, 'no USER in the final stage').toBeDefined();
    expect(user?.split(':')[0]).not.toMatch(/^(root|0)$/);
  });

  it('the default command runs the worker from the build output', () => {
    const cmd = lastInstruction(final, 'CMD') ?? '';
    const words = cmd.startsWith('[') ? (JSON.parse(cmd) as string[]) : argv(cmd);
    expect(words[0]).toBe('node');
    expect(sourceOfBuiltFile(words[1])).toBe('worker/main.ts');
  });

  it.each(['node_modules', 'dist', 'data', '.git'])('.dockerignore keeps out %s', (entry) => {
    const lines = exists('.dockerignore') ? read('.dockerignore').split('\n') : [];
    expect(lines.map((l) => l.trim().replace(/^\/|\/$/g, ''))).toContain(entry);
  });
});
