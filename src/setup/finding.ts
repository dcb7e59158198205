/** One line of `iblock doctor`: what was checked, and whether it is fine. */
export interface Finding {
  ok: boolean;
  what: string;
}
