import { describe, expect, it } from 'vitest';
import type { Weekday } from '../../../workflows/domain/spec';
import { windowCrons } from '../../../workflows/schedule';

describe('windowCrons', () => {
  type Row = [
    sentence: string,
    days: Weekday[],
    wakeAt: string,
    coolDownAt: string,
    startCron: string,
    endCron: string,
  ];
  it.each<Row>([
    [
      'office hours on weekdays start and end on the same days',
      ['mon', 'tue', 'wed', 'thu', 'fri'],
      '09:30',
      '18:00',
      '30 9 * * 1,2,3,4,5',
      '0 18 * * 1,2,3,4,5',
    ],
    [
      'Sunday is day-of-week 0 and Saturday 6',
      ['sun', 'sat'],
      '10:00',
      '16:45',
      '0 10 * * 0,6',
      '45 16 * * 0,6',
    ],
    [
      'days are sorted whatever order they were picked in',
      ['fri', 'mon', 'wed'],
      '07:05',
      '08:00',
      '5 7 * * 1,3,5',
      '0 8 * * 1,3,5',
    ],
    [
      'all seven days become every day',
      ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      '00:00',
      '23:59',
      '0 0 * * *',
      '59 23 * * *',
    ],
    [
      'a Friday night window crossing midnight ends on Saturday',
      ['fri'],
      '22:00',
      '02:00',
      '0 22 * * 5',
      '0 2 * * 6',
    ],
    [
      'a Saturday night window crossing midnight ends on Sunday (day 0)',
      ['sat'],
      '23:30',
      '00:30',
      '30 23 * * 6',
      '30 0 * * 0',
    ],
    [
      'a Sunday night window crossing midnight ends on Monday (the week wraps)',
      ['sun'],
      '22:00',
      '06:00',
      '0 22 * * 0',
      '0 6 * * 1',
    ],
    [
      'weekday nights end on the following mornings, Tuesday to Saturday',
      ['mon', 'tue', 'wed', 'thu', 'fri'],
      '20:00',
      '04:00',
      '0 20 * * 1,2,3,4,5',
      '0 4 * * 2,3,4,5,6',
    ],
    [
      'an every-night window crossing midnight is every day at both ends',
      ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
      '22:00',
      '02:00',
      '0 22 * * *',
      '0 2 * * *',
    ],
    [
      'a cool-down one minute before the wake-up crosses midnight (a 23h59 window)',
      ['wed'],
      '12:00',
      '11:59',
      '0 12 * * 3',
      '59 11 * * 4',
    ],
  ])('%s', (_sentence, days, wakeAt, coolDownAt, startCron, endCron) => {
    expect(windowCrons({ timezone: 'Asia/Kolkata', days, wakeAt, coolDownAt })).toEqual({
      startCron,
      endCron,
      timezone: 'Asia/Kolkata',
    });
  });

  it('returns a custom window’s crons and time zone as they are', () => {
    expect(
      windowCrons({ timezone: 'Europe/London', startCron: '0 9 * * 1-5', endCron: '0 18 * * 1-5' }),
    ).toEqual({ startCron: '0 9 * * 1-5', endCron: '0 18 * * 1-5', timezone: 'Europe/London' });
  });

  it('refuses a window that is neither guided nor custom (the schema never lets one through)', () => {
    expect(() => windowCrons({ timezone: 'UTC', days: ['mon'], wakeAt: '09:00' })).toThrow(
      /startCron and endCron, or days, wakeAt and coolDownAt/,
    );
  });
});
