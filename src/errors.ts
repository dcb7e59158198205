// Exit codes follow sysexits(3), so scripts and service managers can tell
// a typo in a command from a broken config from a missing firewall.
export const EX_OK = 0;
export const EX_USAGE = 64;
export const EX_DATAERR = 65;
/** A file or directory to read does not exist (a state dir no daemon made, or a typo). */
export const EX_NOINPUT = 66;
export const EX_UNAVAILABLE = 69;
export const EX_SOFTWARE = 70;
/** Another daemon holds the state dir: try again later. */
export const EX_TEMPFAIL = 75;
/** Not allowed to read or change it: more privileges would help. */
export const EX_NOPERM = 77;
export const EX_CONFIG = 78;

/** An error a person can act on; `exitCode` says which kind it is. */
export class IblockError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "IblockError";
  }
}

export const configError = (msg: string): IblockError => new IblockError(msg, EX_CONFIG);
export const dataError = (msg: string): IblockError => new IblockError(msg, EX_DATAERR);
export const usageError = (msg: string): IblockError => new IblockError(msg, EX_USAGE);
export const unavailableError = (msg: string): IblockError => new IblockError(msg, EX_UNAVAILABLE);
export const noInputError = (msg: string): IblockError => new IblockError(msg, EX_NOINPUT);
export const noPermError = (msg: string): IblockError => new IblockError(msg, EX_NOPERM);
