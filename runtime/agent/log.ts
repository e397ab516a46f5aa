/** One timestamped line per event, on stdout, so `npm start` shows what the agent does. */
export function log(message: string): void {
  console.log(`${new Date().toISOString()} agent: ${message}`);
}
