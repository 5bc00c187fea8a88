import { PlainError } from './plain-error.js';

/**
 * MySQL, Redis or Singer could not be reached or refused us. The message already says
 * where we tried and what to do.
 */
export class ServiceUnreachableError extends PlainError {
  override name = 'ServiceUnreachableError';
}
