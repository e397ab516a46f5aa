/**
 * Whether a write that got no answer from Temporal can have reached it.
 *
 * gRPC only ever writes a request to a READY transport. So if the connection to Temporal was not
 * READY at any moment while a write was in flight (from its first attempt to its last retry),
 * nothing was sent and the write was certainly not applied; otherwise its outcome is unknown.
 * One watcher per connection follows the channel's connectivity state (no timers, nothing per
 * call), and each write compares the count of READY periods before and after.
 */
import { connectivityState, type Channel } from '@grpc/grpc-js';

export interface WriteWindow {
  /** True unless the transport was never READY since the window opened. */
  mayHaveBeenSent(): boolean;
}

export class TransportWatch {
  private readyPeriods = 0;
  private readonly channel: Channel | undefined;

  constructor(connection: object) {
    // The SDK keeps its gRPC client out of its typed surface; if that ever changes, every
    // outcome is reported as unknown (never wrongly as not applied).
    const client = (connection as unknown as { client?: { getChannel?: () => Channel } }).client;
    this.channel = typeof client?.getChannel === 'function' ? client.getChannel() : undefined;
    if (this.channel) this.follow(this.channel.getConnectivityState(false));
  }

  private follow(state: connectivityState): void {
    if (state === connectivityState.READY) this.readyPeriods++;
    if (state === connectivityState.SHUTDOWN || !this.channel) return;
    // Called synchronously on every change, so no transition is missed between two watches.
    this.channel.watchConnectivityState(state, Infinity, (err) => {
      if (!err && this.channel) this.follow(this.channel.getConnectivityState(false));
    });
  }

  /** Opens a window at the start of a write; ask it once the write has settled. */
  open(): WriteWindow {
    const channel = this.channel;
    if (!channel) return { mayHaveBeenSent: () => true };
    const readyAtStart = channel.getConnectivityState(false) === connectivityState.READY;
    const periodsAtStart = this.readyPeriods;
    return {
      mayHaveBeenSent: () =>
        readyAtStart ||
        this.readyPeriods > periodsAtStart ||
        channel.getConnectivityState(false) === connectivityState.READY,
    };
  }
}
