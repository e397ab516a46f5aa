/** What the gateway counts itself: held requests and the last request's time, per deployment. */
import { describe, expect, it } from 'vitest';
import { TrafficMeter } from '../../../api/metrics/traffic-meter';

const T0 = 1_000_000;

describe('TrafficMeter', () => {
  it('counts requests held while waking from zero, each released once', () => {
    const meter = new TrafficMeter();
    const first = meter.hold('ws/d', T0);
    const second = meter.hold('ws/d', T0 + 10);
    expect(meter.queuedFor('ws/d')).toBe(2);
    first();
    first(); // a second release of the same request changes nothing
    expect(meter.queuedFor('ws/d')).toBe(1);
    second();
    expect(meter.queuedFor('ws/d')).toBe(0);
    expect(meter.queuedFor('ws/other')).toBe(0);
  });

  it('keeps the time of the last request, held or proxied, per deployment', () => {
    const meter = new TrafficMeter();
    expect(meter.lastRequestAt('ws/d')).toBeUndefined();
    meter.hold('ws/d', T0)();
    expect(meter.lastRequestAt('ws/d')).toBe(T0);
    meter.begin('ws/d', 'http://127.0.0.1:1', T0 + 500)(T0 + 700);
    expect(meter.lastRequestAt('ws/d')).toBe(T0 + 500);
    expect(meter.lastRequestAt('ws/other')).toBeUndefined();
  });
});
