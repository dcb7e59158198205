import { resolve } from "node:path";

/**
 * The iblock that is running, as an absolute path: the program the generated
 * files (systemd unit, inetd.conf, rc.d script) start. The path as it was
 * called, not its link target: /usr/bin/iblock stays right across an upgrade
 * that moves the files it points to.
 */
export function runningProgram(argv1: string | undefined = process.argv[1]): string {
  if (argv1 === undefined || argv1 === "") throw new Error("cannot tell which iblock is running (no script path in argv)");
  return resolve(argv1);
}
