/**
 * Traffic traces: requests with an arrival time and token counts, parsed from the formats the
 * simulations API takes (api.md, "Simulations"). Pure; errors name the first bad line.
 */

/** Struct of arrays: a million requests without a million objects. Times are epoch ms, ascending. */
export interface Trace {
  at: Float64Array;
  promptTokens: Uint32Array;
  outputTokens: Uint32Array;
}

export const MAX_TRACE_REQUESTS = 1_000_000;
/** The longest span simulated: the simulation scrapes every second of it, traffic or not. */
export const MAX_TRACE_SPAN_MS = 7 * 24 * 3600_000;
/** RFC 3339 with a time zone (`Z` or an offset): a time without one would be read as local. */
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/i;

export class TraceError extends Error {
  constructor(
    message: string,
    /** 1-based line (CSV) or index (requests), when one is to blame. */
    readonly line?: number,
  ) {
    super(message);
  }
}

export const AZURE_CSV_HEADER = 'TIMESTAMP,ContextTokens,GeneratedTokens';
/** `2023-11-16 18:17:03.9799600`: no time zone (read as UTC), up to 9 fractional digits. */
const TIMESTAMP = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?$/;

/**
 * The Azure LLM inference trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens; CRLF or LF; a
 * trailing newline or not). Rows must be in time order (equal times allowed).
 */
export function parseAzureCsv(text: string): Trace {
  const lines = text.split('\n');
  if (lines.at(-1)?.trim() === '') lines.pop();
  const header = stripCr(lines[0] ?? '').trim();
  if (header !== AZURE_CSV_HEADER) {
    throw new TraceError(`line 1: the header must be "${AZURE_CSV_HEADER}", not "${header}"`, 1);
  }
  const n = lines.length - 1;
  checkCount(n);
  const trace = allocate(n);
  for (let i = 0; i < n; i++) {
    const lineNo = i + 2;
    const line = stripCr(lines[i + 1]!);
    const [timestamp = '', prompt = '', output = '', ...extra] = line.split(',');
    if (extra.length > 0) {
      throw new TraceError(`line ${lineNo}: expected 3 columns, found ${3 + extra.length}`, lineNo);
    }
    trace.at[i] = parseTimestamp(timestamp, lineNo);
    trace.promptTokens[i] = parseTokens(prompt, 'ContextTokens', lineNo);
    trace.outputTokens[i] = parseTokens(output, 'GeneratedTokens', lineNo);
    checkOrder(trace, i, lineNo);
  }
  return checkSpan(trace);
}

export interface TraceRequest {
  at: string;
  promptTokens: number;
  outputTokens: number;
}

/** The JSON form: `[{ at: RFC 3339 time, promptTokens, outputTokens }]`, in time order. */
export function parseRequests(requests: unknown): Trace {
  if (!Array.isArray(requests)) throw new TraceError('requests must be an array of requests');
  checkCount(requests.length);
  const trace = allocate(requests.length);
  requests.forEach((item: unknown, i) => {
    const where = `requests[${i}]`;
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new TraceError(`${where}: must be an object { at, promptTokens, outputTokens }`, i + 1);
    }
    const r = item as Partial<TraceRequest>;
    const at = typeof r.at === 'string' && RFC3339.test(r.at) ? Date.parse(r.at) : NaN;
    if (!Number.isFinite(at)) {
      throw new TraceError(
        `${where}.at: ${JSON.stringify(r.at)} is not an RFC 3339 time with a zone, e.g. "2026-12-01T09:00:00.250Z"`,
        i + 1,
      );
    }
    trace.at[i] = at;
    trace.promptTokens[i] = checkTokens(r.promptTokens, `${where}.promptTokens`, i + 1);
    trace.outputTokens[i] = checkTokens(r.outputTokens, `${where}.outputTokens`, i + 1);
    checkOrder(trace, i, i + 1, where);
  });
  return checkSpan(trace);
}

/** The requests of `trace` with from <= at < to (epoch ms). */
export function sliceTrace(trace: Trace, from: number, to: number): Trace {
  let start = 0;
  while (start < trace.at.length && trace.at[start]! < from) start++;
  let end = start;
  while (end < trace.at.length && trace.at[end]! < to) end++;
  return {
    at: trace.at.slice(start, end),
    promptTokens: trace.promptTokens.slice(start, end),
    outputTokens: trace.outputTokens.slice(start, end),
  };
}

function allocate(n: number): Trace {
  return {
    at: new Float64Array(n),
    promptTokens: new Uint32Array(n),
    outputTokens: new Uint32Array(n),
  };
}

function checkCount(n: number): void {
  if (n === 0) throw new TraceError('the trace has no requests');
  if (n > MAX_TRACE_REQUESTS) {
    throw new TraceError(
      `the trace has ${n} requests; at most ${MAX_TRACE_REQUESTS.toLocaleString('en')} are simulated`,
    );
  }
}

function checkSpan(trace: Trace): Trace {
  const span = trace.at[trace.at.length - 1]! - trace.at[0]!;
  if (span > MAX_TRACE_SPAN_MS) {
    throw new TraceError(
      `the trace spans ${(span / 86_400_000).toFixed(1)} days; at most ${MAX_TRACE_SPAN_MS / 86_400_000} are simulated (cut it into slices)`,
    );
  }
  return trace;
}

function checkOrder(trace: Trace, i: number, line: number, where = `line ${line}`): void {
  if (i > 0 && trace.at[i]! < trace.at[i - 1]!) {
    throw new TraceError(
      `${where}: arrives before the request above it; sort the trace by time`,
      line,
    );
  }
}

function stripCr(line: string): string {
  return line.endsWith('\r') ? line.slice(0, -1) : line;
}

function parseTimestamp(text: string, line: number): number {
  const m = TIMESTAMP.exec(text);
  if (!m) {
    throw new TraceError(
      `line ${line}: TIMESTAMP "${text}" is not YYYY-MM-DD HH:MM:SS[.fraction]`,
      line,
    );
  }
  const [, y, mo, d, h, mi, s, fraction = ''] = m;
  // Date.UTC reads years 0-99 as 1900-1999; set the year apart.
  const date = new Date(Date.UTC(2000, +mo! - 1, +d!, +h!, +mi!, +s!));
  date.setUTCFullYear(+y!, +mo! - 1, +d!);
  const ms = date.getTime();
  if (!Number.isFinite(ms) || date.getUTCDate() !== +d! || date.getUTCMonth() !== +mo! - 1) {
    throw new TraceError(`line ${line}: TIMESTAMP "${text}" is not a real date`, line);
  }
  return ms + (fraction === '' ? 0 : Number(`0.${fraction}`) * 1000);
}

function parseTokens(text: string, column: string, line: number): number {
  if (!/^\d{1,9}$/.test(text)) {
    throw new TraceError(`line ${line}: ${column} "${text}" is not a whole number of tokens`, line);
  }
  return Number(text);
}

function checkTokens(value: unknown, where: string, line: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1e9) {
    throw new TraceError(
      `${where}: ${JSON.stringify(value)} is not a whole number of tokens`,
      line,
    );
  }
  return value;
}
