/** Schedule-based autoscaling: pure maths over `spec.schedule`, safe in the workflow sandbox. */
export { windowCrons, type WindowCrons, type WindowTiming } from './cron';
export { describeCron, describeWindow } from './describe';
export {
  isWindowActive,
  nextScheduleChange,
  scheduleFloor,
  secondsUntilNextWindow,
  windowState,
  type ScheduleAt,
  type ScheduleFloor,
  type ScheduleFloorReason,
  type WindowState,
} from './windows';
