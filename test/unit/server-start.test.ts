import { describe, expect, it, vi } from 'vitest';
import { startWithRetry } from '../helpers/server-start';

describe('startWithRetry (test servers that were only slow to start)', () => {
  const slow = new Error('ephemeral server at 127.0.0.1:1 did not start within 5s');

  it('starts again after a startup timeout, and returns what started', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const start = vi
      .fn<() => Promise<string>>()
      .mockRejectedValueOnce(slow)
      .mockResolvedValueOnce('env');
    await expect(startWithRetry('server', start)).resolves.toBe('env');
    expect(start).toHaveBeenCalledTimes(2);
    expect(warn).toHaveBeenCalledOnce();
    warn.mockRestore();
  });

  it('gives up after three slow starts', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    const start = vi.fn<() => Promise<string>>().mockRejectedValue(slow);
    await expect(startWithRetry('server', start)).rejects.toBe(slow);
    expect(start).toHaveBeenCalledTimes(3);
    warn.mockRestore();
  });

  it('reports any other failure at once', async () => {
    const missing = new Error('ephemeral server executable does not exist: /x');
    const start = vi.fn<() => Promise<string>>().mockRejectedValue(missing);
    await expect(startWithRetry('server', start)).rejects.toBe(missing);
    expect(start).toHaveBeenCalledOnce();
  });
});
