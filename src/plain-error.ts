/**
 * An error whose message is the whole story for the person at the terminal: where it
 * happened and what to do. The CLI prints it without a stack trace; every other error
 * keeps its stack, because it is a bug.
 */
export class PlainError extends Error {
  override name = 'PlainError';
}

/** A command used the wrong way (missing argument, conflicting options). */
export class UsageError extends PlainError {
  override name = 'UsageError';
}
