/**
 * Secrets of a workspace (api.md "Resource: Secret"): SSH public keys and AWS credentials that
 * deployments and clusters reference by name. Values are write-only for clients: the API answers
 * only what `SecretInfo` holds; the value is read back only by the control plane itself (the SSH
 * server checking a user's key).
 *
 * `FileSecretStore` keeps every workspace's secrets in one JSON file in the data folder, mode
 * 0600, each write to a temporary file renamed over it (a crash leaves the old file or the new
 * one, never half of one; the temporary file is flushed to disk before the rename, and ones a
 * crash left behind are removed when the store opens). Writes of one process are serialized: the
 * file is for one API process per data folder (API processes with separate data folders, e.g.
 * several pods, do not share secrets).
 *
 * Names are plain keys whatever they are ("constructor", "__proto__", "keys"): the maps have no
 * prototype and membership is `Object.hasOwn`.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const SECRET_TYPES = ['ssh-public-key', 'aws-credentials'] as const;
export type SecretType = (typeof SECRET_TYPES)[number];

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export type SecretValue =
  { type: 'ssh-public-key'; value: string } | { type: 'aws-credentials'; value: AwsCredentials };

/** What the API shows of a secret: never its value. */
export interface SecretInfo {
  name: string;
  type: SecretType;
  createdAt: string;
  updatedAt: string;
  /** ssh-public-key only: OpenSSH's SHA256 fingerprint, `SHA256:<base64, no padding>`. */
  fingerprint?: string;
}

export type StoredSecret = SecretInfo & SecretValue;

export interface SecretStore {
  /** Create or replace; `created` is false when it replaced one. */
  put(
    workspace: string,
    name: string,
    secret: SecretValue & { fingerprint?: string },
  ): Promise<{ created: boolean; info: SecretInfo }>;
  /** Sorted by name. */
  list(workspace: string): Promise<SecretInfo[]>;
  /** With its value: for the control plane's own use, never for a response. */
  get(workspace: string, name: string): Promise<StoredSecret | undefined>;
  /** Whether there was one. */
  delete(workspace: string, name: string): Promise<boolean>;
}

/** At most this many secrets in one workspace (a create beyond it is refused). */
export const MAX_SECRETS_PER_WORKSPACE = 100;

/** A create that would put more than MAX_SECRETS_PER_WORKSPACE secrets in a workspace. */
export class SecretLimitError extends Error {}

type Contents = Record<string, Record<string, StoredSecret>>;

/** An empty map without a prototype: no inherited name ("constructor", "__proto__") is in it. */
function emptyMap<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** The contents from their JSON text, every map without a prototype. */
function parseContents(text: string): Contents {
  const raw = JSON.parse(text) as unknown;
  const contents = emptyMap<Record<string, StoredSecret>>();
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return contents;
  for (const [workspace, secrets] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof secrets !== 'object' || secrets === null || Array.isArray(secrets)) continue;
    const map = emptyMap<StoredSecret>();
    for (const [name, secret] of Object.entries(secrets as Record<string, StoredSecret>))
      map[name] = secret;
    contents[workspace] = map;
  }
  return contents;
}

/** The secrets of one workspace, when it has any. */
function secretsOf(
  contents: Contents,
  workspace: string,
): Record<string, StoredSecret> | undefined {
  return Object.hasOwn(contents, workspace) ? contents[workspace] : undefined;
}

/** The info part of a stored secret (what may be shown). */
export function infoOf(secret: StoredSecret): SecretInfo {
  return {
    name: secret.name,
    type: secret.type,
    createdAt: secret.createdAt,
    updatedAt: secret.updatedAt,
    ...(secret.fingerprint !== undefined ? { fingerprint: secret.fingerprint } : {}),
  };
}

/** Shared by both stores: the operations over one in-memory map. */
abstract class MapSecretStore implements SecretStore {
  private queue: Promise<unknown> = Promise.resolve();

  protected abstract load(): Contents;
  protected abstract save(contents: Contents): void;

  /** One change at a time: read, change, write. */
  private change<T>(fn: (contents: Contents) => T): Promise<T> {
    const next = this.queue.then(() => {
      const contents = this.load();
      const result = fn(contents);
      this.save(contents);
      return result;
    });
    this.queue = next.catch(() => undefined);
    return next;
  }

  put(
    workspace: string,
    name: string,
    secret: SecretValue & { fingerprint?: string },
  ): Promise<{ created: boolean; info: SecretInfo }> {
    return this.change((contents) => {
      const secrets = secretsOf(contents, workspace) ?? (contents[workspace] = emptyMap());
      const before = Object.hasOwn(secrets, name) ? secrets[name] : undefined;
      if (!before && Object.keys(secrets).length >= MAX_SECRETS_PER_WORKSPACE)
        throw new SecretLimitError(
          `workspace "${workspace}" already holds ${MAX_SECRETS_PER_WORKSPACE} secrets, the most it may: delete one it no longer needs, or replace one (PUT an existing name)`,
        );
      const now = new Date().toISOString();
      const stored = {
        name,
        createdAt: before?.createdAt ?? now,
        updatedAt: now,
        ...secret,
      } as StoredSecret;
      secrets[name] = stored;
      return { created: !before, info: infoOf(stored) };
    });
  }

  async list(workspace: string): Promise<SecretInfo[]> {
    await this.queue;
    return Object.values(secretsOf(this.load(), workspace) ?? {})
      .map(infoOf)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async get(workspace: string, name: string): Promise<StoredSecret | undefined> {
    await this.queue;
    const secrets = secretsOf(this.load(), workspace);
    return secrets && Object.hasOwn(secrets, name) ? secrets[name] : undefined;
  }

  delete(workspace: string, name: string): Promise<boolean> {
    return this.change((contents) => {
      const secrets = secretsOf(contents, workspace);
      if (!secrets || !Object.hasOwn(secrets, name)) return false;
      delete secrets[name];
      if (Object.keys(secrets).length === 0) delete contents[workspace];
      return true;
    });
  }
}

/** For tests and a stack without a data folder: gone when the process ends. */
export class MemorySecretStore extends MapSecretStore {
  private text = '{}';
  protected load(): Contents {
    return parseContents(this.text);
  }
  protected save(contents: Contents): void {
    this.text = JSON.stringify(contents);
  }
}

/** The file the API keeps secrets in, under the data folder. */
export const SECRETS_FILE = 'workspace-secrets.json';

export class FileSecretStore extends MapSecretStore {
  readonly file: string;

  constructor(dataDir: string) {
    super();
    this.file = path.join(dataDir, SECRETS_FILE);
    this.removeLeftovers();
  }

  /** Temporary files of writes a crash interrupted (`workspace-secrets.json.<pid>.<hex>.tmp`). */
  private removeLeftovers(): void {
    const dir = path.dirname(this.file);
    const prefix = `${path.basename(this.file)}.`;
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names)
      if (name.startsWith(prefix) && name.endsWith('.tmp'))
        fs.rmSync(path.join(dir, name), { force: true });
  }

  protected load(): Contents {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return emptyMap();
      throw err;
    }
    // Never echo the content: it holds the values.
    try {
      return parseContents(text);
    } catch {
      throw new Error(`the secrets file ${this.file} is not JSON; restore it or remove it`);
    }
  }

  protected save(contents: Contents): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
    try {
      const fd = fs.openSync(temp, 'wx', 0o600);
      try {
        fs.writeFileSync(fd, `${JSON.stringify(contents)}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(temp, this.file);
    } catch (err) {
      fs.rmSync(temp, { force: true });
      throw err;
    }
  }
}
