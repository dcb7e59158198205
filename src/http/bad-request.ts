/** A request the API refuses with 400 and this message. */
export class BadRequest extends Error {
  readonly statusCode = 400;
}
