/** The gateway's traffic meter: time-weighted concurrency, throughput and latency per replica. */
import { describe, expect, it } from 'vitest';
import { TrafficMeter } from '../../../api/metrics/traffic-meter';

const T0 = 1_000_000; // a whole second, so buckets line up with the arithmetic below

describe('TrafficMeter', () => {
  it('averages in-flight requests over the window (time-weighted)', () => {
    const meter = new TrafficMeter();
    const end = meter.begin('ws/d', 'r1', T0);
    end(T0 + 5000); // one request in flight for 5 s of a 10 s window
    const [r1] = meter.snapshot('ws/d', ['r1'], T0 + 10_000, 10_000);
    expect(r1).toEqual({ replica: 'r1', concurrency: 0.5, throughput: 0.1, latencyMs: 5000 });
  });

  it('counts requests still in flight at the moment of the snapshot', () => {
    const meter = new TrafficMeter();
    meter.begin('ws/d', 'r1', T0);
    meter.begin('ws/d', 'r1', T0);
    const [r1] = meter.snapshot('ws/d', ['r1'], T0 + 4000, 4000);
    expect(r1).toMatchObject({ concurrency: 2, throughput: 0 });
    expect(r1!.latencyMs).toBeUndefined();
  });

  it('reports replicas that saw no traffic as zero, and only the replicas asked for', () => {
    const meter = new TrafficMeter();
    meter.begin('ws/d', 'r1', T0)(T0 + 100);
    expect(meter.snapshot('ws/d', ['r2'], T0 + 1000, 1000)).toEqual([
      { replica: 'r2', concurrency: 0, throughput: 0 },
    ]);
  });

  it('forgets traffic older than the window', () => {
    const meter = new TrafficMeter();
    meter.begin('ws/d', 'r1', T0)(T0 + 1000);
    const [r1] = meter.snapshot('ws/d', ['r1'], T0 + 60_000, 30_000);
    expect(r1).toEqual({ replica: 'r1', concurrency: 0, throughput: 0 });
  });

  it('keeps requests held while waking from zero, and the time of the last request', () => {
    const meter = new TrafficMeter();
    const release = meter.hold('ws/d', T0);
    expect(meter.queuedFor('ws/d')).toBe(1);
    expect(meter.deployments()).toEqual(['ws/d']);
    release();
    expect(meter.queuedFor('ws/d')).toBe(0);
    expect(meter.lastRequestAt('ws/d')).toBe(T0);
  });
});
