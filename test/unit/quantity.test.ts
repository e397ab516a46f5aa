import { describe, expect, it } from 'vitest';
import { parseCpuQuantity, parseMemoryQuantity } from '../../workflows/domain/quantity';

const Ki = 2 ** 10;
const Mi = 2 ** 20;
const Gi = 2 ** 30;

describe('parseCpuQuantity', () => {
  it.each([
    { sentence: 'a whole number of cores is that many cores', input: '4', cores: 4 },
    { sentence: 'a decimal number of cores is kept as a fraction', input: '0.5', cores: 0.5 },
    { sentence: 'millicores divide by a thousand', input: '500m', cores: 0.5 },
    { sentence: 'millicores above one core are fractional cores', input: '1500m', cores: 1.5 },
    { sentence: 'one hundred millicores is a tenth of a core', input: '100m', cores: 0.1 },
    { sentence: 'zero parses (positivity is the schema’s rule)', input: '0', cores: 0 },
    { sentence: 'surrounding whitespace is ignored', input: ' 2 ', cores: 2 },
  ])('$sentence: "$input" is $cores', ({ input, cores }) => {
    expect(parseCpuQuantity(input)).toBe(cores);
  });

  it.each([
    { sentence: 'an empty string is not a quantity', input: '' },
    { sentence: 'words are not a quantity', input: 'four' },
    { sentence: 'a negative number is not a quantity', input: '-1' },
    { sentence: 'a memory suffix is not a CPU quantity', input: '4Gi' },
    { sentence: 'a decimal SI suffix is not a CPU quantity', input: '2k' },
    { sentence: 'two decimal points are not a number', input: '1.5.2' },
    { sentence: 'a space between number and suffix is not allowed', input: '5 m' },
    { sentence: 'a suffix alone is not a quantity', input: 'm' },
  ])('$sentence: "$input" is null', ({ input }) => {
    expect(parseCpuQuantity(input)).toBeNull();
  });
});

describe('parseMemoryQuantity', () => {
  it.each([
    { sentence: 'gibibytes are powers of 1024', input: '64Gi', bytes: 64 * Gi },
    { sentence: 'mebibytes are powers of 1024', input: '512Mi', bytes: 512 * Mi },
    { sentence: 'kibibytes are 1024 bytes', input: '1Ki', bytes: Ki },
    { sentence: 'tebibytes are 2^40 bytes', input: '1Ti', bytes: 2 ** 40 },
    { sentence: 'pebibytes are 2^50 bytes', input: '1Pi', bytes: 2 ** 50 },
    { sentence: 'exbibytes are 2^60 bytes', input: '1Ei', bytes: 2 ** 60 },
    { sentence: 'a fractional binary quantity is allowed', input: '1.5Gi', bytes: 1.5 * Gi },
    { sentence: 'kilobytes are 1000 bytes', input: '1k', bytes: 1e3 },
    { sentence: 'megabytes are a million bytes', input: '1M', bytes: 1e6 },
    { sentence: 'gigabytes are a billion bytes', input: '1G', bytes: 1e9 },
    { sentence: 'terabytes are 10^12 bytes', input: '1T', bytes: 1e12 },
    { sentence: 'petabytes are 10^15 bytes', input: '1P', bytes: 1e15 },
    { sentence: 'exabytes are 10^18 bytes', input: '1E', bytes: 1e18 },
    { sentence: 'a plain number is bytes', input: '1048576', bytes: Mi },
    { sentence: 'surrounding whitespace is ignored', input: ' 32Gi ', bytes: 32 * Gi },
  ])('$sentence: "$input" is $bytes bytes', ({ input, bytes }) => {
    expect(parseMemoryQuantity(input)).toBe(bytes);
  });

  it('a gibibyte is more than a gigabyte', () => {
    expect(parseMemoryQuantity('1Gi')!).toBeGreaterThan(parseMemoryQuantity('1G')!);
  });

  it.each([
    { sentence: 'milli-bytes are never meant for memory', input: '500m' },
    { sentence: 'a lower-case binary suffix is not a quantity', input: '1gi' },
    { sentence: 'a "GB" suffix is not a Kubernetes quantity', input: '1GB' },
    { sentence: 'an empty string is not a quantity', input: '' },
    { sentence: 'a negative number is not a quantity', input: '-1Gi' },
    { sentence: 'a suffix alone is not a quantity', input: 'Gi' },
    { sentence: 'words are not a quantity', input: 'lots' },
  ])('$sentence: "$input" is null', ({ input }) => {
    expect(parseMemoryQuantity(input)).toBeNull();
  });
});
