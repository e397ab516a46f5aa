import { describe, expect, it } from 'vitest';
import type { Weekday } from '../../../workflows/domain/spec';
import {
  describeCron,
  describeWindow,
  windowCrons,
  type WindowTiming,
} from '../../../workflows/schedule';

describe('describeCron', () => {
  it.each<[sentence: string, expression: string, text: string]>([
    ['weekdays listed by number', '0 9 * * 1,2,3,4,5', '09:00 on Mon, Tue, Wed, Thu, Fri'],
    ['weekdays as a range', '0 9 * * 1-5', '09:00 on Mon, Tue, Wed, Thu, Fri'],
    ['weekdays by name', '0 9 * * MON-FRI', '09:00 on Mon, Tue, Wed, Thu, Fri'],
    ['every day', '0 18 * * *', 'every day at 18:00'],
    ['the weekend, Monday first as in the day picker', '30 9 * * 0,6', '09:30 on Sat, Sun'],
    ['Sunday written as 7', '0 9 * * 7', '09:00 on Sun'],
    ['all seven days listed', '0 9 * * 0-6', 'every day at 09:00'],
    ['"?" for the day of month', '0 9 ? * 1', '09:00 on Mon'],
    ['two times a day', '0 9,18 * * *', 'every day at 09:00, 18:00'],
    ['every minute', '* * * * *', 'every minute'],
    ['every 15 minutes', '*/15 * * * *', 'every 15 minutes'],
    ['every hour on the hour', '0 * * * *', 'every hour'],
    ['every hour at half past', '30 * * * *', 'every hour at :30'],
    ['every hour on weekdays', '0 * * * 1-5', 'every hour on Mon, Tue, Wed, Thu, Fri'],
    ['every 2 hours', '0 */2 * * *', 'every 2 hours'],
    ['one day of the month', '0 8 1 * *', '08:00 on day 1 of the month'],
    ['two days of the month', '0 8 1,15 * *', '08:00 on days 1, 15 of the month'],
    ['some months', '0 8 * 1,7 *', 'every day at 08:00 in Jan, Jul'],
    ['surrounding spaces', '  0 9 * * *  ', 'every day at 09:00'],
  ])('%s: "%s" reads "%s"', (_sentence, expression, text) => {
    expect(describeCron(expression)).toBe(text);
  });

  it.each<[sentence: string, expression: string]>([
    ['the last day of the month', '0 9 L * *'],
    ['the last Friday of the month', '0 9 * * 5L'],
    ['the second Monday of the month', '0 9 * * 1#2'],
    ['both day of month and day of week (cron ORs them)', '0 9 1 * 1'],
    ['a step within some hours', '*/15 9-17 * * 1-5'],
    ['more than six times a day', '5,10,15 9,12,15 * * *'],
    ['not a cron expression', 'tomorrow at nine'],
    ['four fields', '0 9 * *'],
    ['the hashed "H" extension', 'H 9 * * *'],
  ])('%s falls back to the expression itself', (_sentence, expression) => {
    expect(describeCron(expression)).toBe(expression);
  });
});

const guided = (days: Weekday[], wakeAt: string, coolDownAt: string, timezone = 'UTC') =>
  ({ timezone, days, wakeAt, coolDownAt }) satisfies WindowTiming;

describe('describeWindow', () => {
  it.each<[sentence: string, window: WindowTiming, text: string]>([
    [
      'weekday office hours',
      guided(['mon', 'tue', 'wed', 'thu', 'fri'], '09:00', '18:00', 'Asia/Kolkata'),
      'Mon-Fri 09:00-18:00 Asia/Kolkata',
    ],
    [
      'a night crossing midnight',
      guided(['fri'], '22:00', '02:00', 'Europe/London'),
      'Fri 22:00-02:00 (next day) Europe/London',
    ],
    [
      'all seven days',
      guided(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], '00:00', '23:59'),
      'every day 00:00-23:59 UTC',
    ],
    ['the weekend', guided(['sun', 'sat'], '10:00', '16:00'), 'Sat, Sun 10:00-16:00 UTC'],
    [
      'a run of three or more days as a range',
      guided(['fri', 'mon', 'thu', 'wed'], '08:00', '12:00'),
      'Mon, Wed-Fri 08:00-12:00 UTC',
    ],
    [
      'a custom window of the guided shape reads the same',
      { timezone: 'Asia/Kolkata', startCron: '0 9 * * 1-5', endCron: '0 18 * * mon-fri' },
      'Mon-Fri 09:00-18:00 Asia/Kolkata',
    ],
    [
      'a custom overnight window of the guided shape reads the same',
      { timezone: 'UTC', startCron: '0 22 * * 5', endCron: '0 2 * * 6' },
      'Fri 22:00-02:00 (next day) UTC',
    ],
    [
      'any other custom window names its start and end',
      { timezone: 'UTC', startCron: '0 9 * * 1-5', endCron: '0 18 * * *' },
      'starts 09:00 on Mon, Tue, Wed, Thu, Fri; ends every day at 18:00; UTC',
    ],
    [
      'an exotic custom window shows its expressions',
      { timezone: 'UTC', startCron: '0 9 L * *', endCron: '0 18 L * *' },
      'starts 0 9 L * *; ends 0 18 L * *; UTC',
    ],
  ])('%s: "%s"', (_sentence, window, text) => {
    expect(describeWindow(window)).toBe(text);
  });

  it.each<[sentence: string, window: WindowTiming]>([
    ['weekday office hours', guided(['mon', 'tue', 'wed', 'thu', 'fri'], '09:30', '17:45')],
    ['a Sunday night into Monday', guided(['sun'], '23:00', '01:00', 'Pacific/Auckland')],
    ['every night', guided(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], '20:00', '06:00')],
  ])('%s reads the same once converted to cron', (_sentence, window) => {
    const { startCron, endCron, timezone } = windowCrons(window);
    expect(describeWindow({ startCron, endCron, timezone })).toBe(describeWindow(window));
  });
});
