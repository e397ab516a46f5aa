import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  MAX_TRACE_REQUESTS,
  parseAzureCsv,
  parseRequests,
  sliceTrace,
  TraceError,
} from '../../../simulator/trace';

const SHIPPED = path.join(__dirname, '../../../simulator/traces/azure-llm-2023-code.csv');

describe('parseAzureCsv', () => {
  it('reads the shipped trace: 8,819 requests, first and last as the data README says', () => {
    const trace = parseAzureCsv(readFileSync(SHIPPED, 'utf8'));
    expect(trace.at.length).toBe(8819);
    expect(new Date(trace.at[0]!).toISOString()).toBe('2023-11-16T18:17:03.979Z');
    expect(trace.promptTokens[0]).toBe(4808);
    expect(trace.outputTokens[0]).toBe(10);
    expect(trace.at[8818]! - trace.at[0]!).toBeCloseTo(3435948, -1);
    expect(trace.outputTokens[8818]).toBe(173);
  });

  it('takes LF and CRLF, with or without a final newline, and fractions of any length', () => {
    const rows = [
      'TIMESTAMP,ContextTokens,GeneratedTokens',
      '2024-01-01 00:00:00.5,10,2',
      '2024-01-01 00:00:01,20,3',
    ];
    for (const text of [rows.join('\n'), `${rows.join('\r\n')}\r\n`]) {
      const trace = parseAzureCsv(text);
      expect(Array.from(trace.at)).toEqual([
        Date.UTC(2024, 0, 1) + 500,
        Date.UTC(2024, 0, 1) + 1000,
      ]);
      expect(Array.from(trace.promptTokens)).toEqual([10, 20]);
    }
  });

  it.each([
    ['a wrong header', 'time,prompt,output\n2024-01-01 00:00:00,1,1', /line 1: the header must be/],
    [
      'a bad time',
      'TIMESTAMP,ContextTokens,GeneratedTokens\n2024-01-01 00:00:00,1,1\nyesterday,1,1',
      /line 3: TIMESTAMP "yesterday"/,
    ],
    [
      'a date that does not exist',
      'TIMESTAMP,ContextTokens,GeneratedTokens\n2024-02-30 00:00:00,1,1',
      /line 2: .* not a real date/,
    ],
    [
      'negative tokens',
      'TIMESTAMP,ContextTokens,GeneratedTokens\n2024-01-01 00:00:00,-1,1',
      /line 2: ContextTokens "-1"/,
    ],
    [
      'a fourth column',
      'TIMESTAMP,ContextTokens,GeneratedTokens\n2024-01-01 00:00:00,1,1,1',
      /line 2: expected 3 columns/,
    ],
    [
      'rows out of order',
      'TIMESTAMP,ContextTokens,GeneratedTokens\n2024-01-01 00:00:02,1,1\n2024-01-01 00:00:01,1,1',
      /line 3: arrives before/,
    ],
    ['no rows', 'TIMESTAMP,ContextTokens,GeneratedTokens\n', /no requests/],
  ])('refuses %s, naming the line', (_what, text, message) => {
    expect(() => parseAzureCsv(text)).toThrow(TraceError);
    expect(() => parseAzureCsv(text)).toThrow(message);
  });
});

describe('parseRequests', () => {
  it('reads JSON requests and names the first bad one', () => {
    const trace = parseRequests([
      { at: '2026-01-01T00:00:00Z', promptTokens: 100, outputTokens: 10 },
      { at: '2026-01-01T00:00:01Z', promptTokens: 200, outputTokens: 20 },
    ]);
    expect(trace.at.length).toBe(2);
    expect(() =>
      parseRequests([{ at: '2026-01-01T00:00:00Z', promptTokens: 1.5, outputTokens: 1 }]),
    ).toThrow('requests[0].promptTokens: 1.5 is not a whole number of tokens');
    expect(() =>
      parseRequests([
        { at: '2026-01-01T00:00:01Z', promptTokens: 1, outputTokens: 1 },
        { at: '2026-01-01T00:00:00Z', promptTokens: 1, outputTokens: 1 },
      ]),
    ).toThrow('requests[1]: arrives before');
  });

  it.each([
    ['not an array', { at: 'x' }, /requests must be an array/],
    ['a null request', [null], /requests\[0\]: must be an object/],
    [
      'a time without a zone (it would be read as local time)',
      [{ at: '2026-01-01T09:00:00', promptTokens: 1, outputTokens: 1 }],
      /requests\[0\].at: .* not an RFC 3339 time with a zone/,
    ],
    [
      'a time Date.parse would guess at',
      [{ at: '1', promptTokens: 1, outputTokens: 1 }],
      /requests\[0\].at/,
    ],
    [
      'tokens as a string',
      [{ at: '2026-01-01T09:00:00Z', promptTokens: '5', outputTokens: 1 }],
      /requests\[0\].promptTokens: "5"/,
    ],
    [
      'a span over 7 days',
      [
        { at: '2026-01-01T00:00:00Z', promptTokens: 1, outputTokens: 1 },
        { at: '2100-01-01T00:00:00Z', promptTokens: 1, outputTokens: 1 },
      ],
      /spans 27028.0 days; at most 7/,
    ],
  ])('refuses %s, naming it', (_what, requests, message) => {
    expect(() => parseRequests(requests)).toThrow(TraceError);
    expect(() => parseRequests(requests)).toThrow(message);
  });

  it('takes offsets and reads years below 100 as written', () => {
    const trace = parseRequests([
      { at: '2026-01-01T10:00:00+01:00', promptTokens: 1, outputTokens: 1 },
    ]);
    expect(trace.at[0]).toBe(Date.UTC(2026, 0, 1, 9));
    const old = parseAzureCsv('TIMESTAMP,ContextTokens,GeneratedTokens\n0050-03-01 00:00:00,1,1');
    expect(new Date(old.at[0]!).getUTCFullYear()).toBe(50);
  });

  it(`refuses more than ${MAX_TRACE_REQUESTS} requests`, () => {
    const many = new Array<never>(MAX_TRACE_REQUESTS + 1); // sparse: refused before it is read
    expect(() => parseRequests(many)).toThrow(/at most 1,000,000/);
  });
});

it('sliceTrace keeps the requests in [from, to)', () => {
  const trace = parseRequests(
    [0, 1, 2, 3].map((s) => ({
      at: new Date(s * 1000).toISOString(),
      promptTokens: s,
      outputTokens: 1,
    })),
  );
  const slice = sliceTrace(trace, 1000, 3000);
  expect(Array.from(slice.promptTokens)).toEqual([1, 2]);
});
