import type { Checked } from "../message.js";

/**
 * A snapshot entry, checked: what the catch-up hands on, one at a time and
 * in field order. `field` is its name in the snapshot's hash (the prefix, as
 * a host writes it: the name is unchecked, only the message is acted on).
 */
export type SnapshotEntry = Checked & { field: string };
