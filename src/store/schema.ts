/** 6 for an IPv6 key (it has a colon), else 4: must read exactly as in the index. */
export const FAMILY_SQL = "(CASE WHEN instr(prefix, ':') > 0 THEN 6 ELSE 4 END)";
/** The length after the slash of a key. */
export const LENGTH_SQL = "CAST(substr(prefix, instr(prefix, '/') + 1) AS INTEGER)";

/**
 * Every ban of one prefix (bound by name, `{ prefix }`), in force or ended, each part by its
 * own partial index: bans_open for the one in force, bans_ended_prefix for
 * the history. One index of every ban's prefix held each ban in force twice,
 * a write more per ban made (a second of a million's import).
 */
export const BANS_OF_PREFIX_SQL =
  "(SELECT * FROM bans WHERE prefix = @prefix AND ended_at IS NULL UNION ALL SELECT * FROM bans WHERE prefix = @prefix AND ended_at IS NOT NULL)";

/**
 * Counts kept by the store's own writes, in the same transaction as each
 * change: `iblock munin` and `stats` read a row or a few where counting a
 * million index entries takes 20-45 ms. Not triggers: a trigger per row made
 * a bulk import four times slower. The daemon recounts the open bans at
 * start, so a write from elsewhere (an admin's sqlite3) leaves that count
 * wrong until the next start at most; a wrong count of bans made leaves the
 * last day's window within a day.
 *
 * ADD_OPEN_SQL adds to the count of open bans (`ended_at IS NULL`). The
 * bans, unbans and hits per minute are kept the same way (src/store/history.ts).
 */
export const ADD_OPEN_SQL = "UPDATE open_ban_count SET n = n + ?";

/**
 * Schema migrations, applied in order; PRAGMA user_version says how many ran.
 * Never edit a released step: add a new one.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE bans (
    id          INTEGER PRIMARY KEY,
    prefix      TEXT    NOT NULL,           -- network address "/" length, e.g. 203.0.113.7/32
    first_seen  INTEGER NOT NULL,           -- ms since the epoch
    last_seen   INTEGER NOT NULL,
    hits        INTEGER NOT NULL DEFAULT 1,
    port        INTEGER,                    -- first trap port hit, when known
    source      TEXT    NOT NULL,           -- trap | kernel | cli | ...
    reason      TEXT,
    expires_at  INTEGER,                    -- NULL: permanent
    ended_at    INTEGER,                    -- NULL: still in force (unless expired)
    end_reason  TEXT
  );
  -- At most one ban in force per prefix; ended ones stay as history.
  CREATE UNIQUE INDEX bans_open ON bans(prefix) WHERE ended_at IS NULL;
  CREATE INDEX bans_first_seen ON bans(first_seen);

  CREATE TABLE events (
    id      INTEGER PRIMARY KEY,
    at      INTEGER NOT NULL,
    prefix  TEXT    NOT NULL,
    kind    TEXT    NOT NULL,               -- hit | ban | unban
    port    INTEGER,
    count   INTEGER NOT NULL DEFAULT 1,
    detail  TEXT
  );
  CREATE INDEX events_at ON events(at);
  CREATE INDEX events_prefix ON events(prefix);
  `,
  `
  -- Expiry sweeps, history per prefix (escalation, iblock show), retention.
  CREATE INDEX bans_expires ON bans(expires_at) WHERE ended_at IS NULL;
  CREATE INDEX bans_prefix ON bans(prefix);
  CREATE INDEX bans_ended ON bans(ended_at);
  `,
  `
  -- The lengths of the bans in force, found by a probe per length instead of
  -- a scan of every row (opening the store must not grow with the bans).
  CREATE INDEX bans_open_length ON bans(${FAMILY_SQL}, ${LENGTH_SQL}) WHERE ended_at IS NULL;
  `,
  `
  -- What the daemon set the firewall up with last time (the lengths its keyed
  -- ban sets hold), so that a change made while it was down is seen at start.
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  `
  -- Published blocklists (src/feeds): what each gave last time, so the next
  -- fetch is applied as a diff, and how its last fetches went.
  CREATE TABLE feeds (
    name          TEXT PRIMARY KEY,
    etag          TEXT,                     -- of the list applied last (file:// feeds: size-mtime)
    last_modified TEXT,
    last_fetch    INTEGER,                  -- ms since the epoch
    last_success  INTEGER,
    status        TEXT,
    entries       INTEGER NOT NULL DEFAULT 0,
    refused       TEXT,                     -- JSON: refused lines by kind, of the last list read
    held_entries  INTEGER,                  -- a list that shrank by more than half, held back
    held_digest   TEXT,
    held_since    INTEGER
  );
  CREATE TABLE feed_entries (
    feed    TEXT NOT NULL,
    prefix  TEXT NOT NULL,                  -- as the bans table writes it
    PRIMARY KEY (feed, prefix)
  ) WITHOUT ROWID;
  CREATE INDEX feed_entries_prefix ON feed_entries(prefix);
  `,
  `
  -- What the dashboard plots, one row a minute (and one per trap port hit in
  -- that minute), written by the daemon: the charts survive a restart.
  CREATE TABLE rollup_minute (
    minute  INTEGER PRIMARY KEY,           -- ms since the epoch, start of the minute
    bans    INTEGER NOT NULL DEFAULT 0,
    unbans  INTEGER NOT NULL DEFAULT 0,
    hits    INTEGER NOT NULL DEFAULT 0,
    active  INTEGER NOT NULL DEFAULT 0     -- bans in force at the end of the minute
  );
  CREATE TABLE rollup_port (
    minute  INTEGER NOT NULL,
    port    INTEGER NOT NULL,
    hits    INTEGER NOT NULL,
    PRIMARY KEY (minute, port)
  ) WITHOUT ROWID;
  `,
  `
  -- The fleet (src/cluster): our bans not yet acknowledged by Redis, in order,
  -- and where we are in the fleet's stream.
  CREATE TABLE cluster_outbox (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    message  TEXT    NOT NULL               -- JSON of the signed fields
  );
  CREATE TABLE cluster_state (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
  );
  `,
  `
  -- Kept counts (see ADD_OPEN_SQL): how many bans are open (one row), and
  -- how many were made each minute (ms since the epoch, start of the minute).
  CREATE TABLE open_ban_count (n INTEGER NOT NULL);
  INSERT INTO open_ban_count SELECT count(*) FROM bans WHERE ended_at IS NULL;
  CREATE TABLE bans_made (minute INTEGER PRIMARY KEY, n INTEGER NOT NULL);
  INSERT INTO bans_made SELECT first_seen / 60000 * 60000, count(*) FROM bans GROUP BY 1;
  `,
  `
  -- Retention reads the ended bans only: an index of every ban's ended_at held
  -- a NULL for each ban in force, one more index write for each ban made (a
  -- fleet's snapshot is a million of them).
  DROP INDEX bans_ended;
  CREATE INDEX bans_ended ON bans(ended_at) WHERE ended_at IS NOT NULL;
  `,
  `
  -- A prefix's history: the ban in force is found by bans_open, the ended
  -- ones by this index (see BANS_OF_PREFIX_SQL), so a ban made is written
  -- to one prefix index, not two.
  DROP INDEX IF EXISTS bans_prefix;
  CREATE INDEX IF NOT EXISTS bans_ended_prefix ON bans(prefix) WHERE ended_at IS NOT NULL;
  `,
  `
  -- The unbans a host heard from the fleet, per prefix and origin: a copy of
  -- a ban they lifted, put back into the snapshot, is refused in a catch-up
  -- (src/cluster/lifted.ts).
  CREATE TABLE IF NOT EXISTS cluster_lifted (
    prefix  TEXT    NOT NULL,               -- as the bans table writes it
    origin  TEXT    NOT NULL,
    seq     INTEGER NOT NULL,               -- the unban's sequence
    heard_at INTEGER NOT NULL,              -- ms since the epoch, by this host's clock
    PRIMARY KEY (prefix, origin)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS cluster_lifted_heard ON cluster_lifted(heard_at);
  `,
  `
  -- One per-minute history for every count shown (dashboard, /api/stats,
  -- stats, top): rollup_minute and rollup_port, written by the store with each
  -- change, whatever [http] says (they were written only while it was on, and
  -- bans_made counted the bans apart). Made again from what the store holds:
  -- bans from bans_made, hits (connections to trap ports only) and unbans from
  -- the events; the bans in force of a past minute stay as they were.
  DELETE FROM rollup_port;
  INSERT INTO rollup_port (minute, port, hits)
    SELECT at / 60000 * 60000, port, sum(count) FROM events
    WHERE kind = 'hit' AND port > 0 AND detail IN ('trap', 'kernel', 'syn', 'inetd') GROUP BY 1, 2;
  INSERT INTO rollup_minute (minute) SELECT minute FROM bans_made WHERE true ON CONFLICT (minute) DO NOTHING;
  INSERT INTO rollup_minute (minute) SELECT DISTINCT at / 60000 * 60000 FROM events WHERE true ON CONFLICT (minute) DO NOTHING;
  UPDATE rollup_minute SET
    bans = coalesce((SELECT n FROM bans_made m WHERE m.minute = rollup_minute.minute), 0),
    hits = coalesce((SELECT sum(count) FROM events WHERE kind = 'hit' AND detail IN ('trap', 'kernel', 'syn', 'inetd')
                     AND at >= rollup_minute.minute AND at < rollup_minute.minute + 60000), 0),
    unbans = (SELECT count(*) FROM events WHERE kind = 'unban' AND at >= rollup_minute.minute AND at < rollup_minute.minute + 60000);
  DROP TABLE bans_made;
  `,
  `
  -- Who made a ban and how it ended, as data: behaviour read them from the
  -- reason texts ("origin: reason" for a peer's ban, "expired", "covered by
  -- ..."). end_reason stays as the text shown. The one parse of the old texts
  -- is here, once: a peer's ban's origin is what its reason had before ": ".
  ALTER TABLE bans ADD COLUMN origin TEXT;    -- a peer's ban: the fleet host that made it
  ALTER TABLE bans ADD COLUMN end_kind TEXT;  -- expired | unban | allowed | covered | peer | feed | refused
  UPDATE bans SET origin = substr(reason, 1, instr(reason, ': ') - 1) WHERE source = 'peer' AND instr(reason, ': ') > 1;
  UPDATE bans SET end_kind = CASE
      WHEN end_reason = 'expired' THEN 'expired'
      WHEN end_reason IN ('cli', 'unban') THEN 'unban'
      WHEN end_reason = 'allowed' THEN 'allowed'
      WHEN end_reason LIKE 'covered by %' THEN 'covered'
      WHEN end_reason LIKE 'peer %' THEN 'peer'
      WHEN end_reason LIKE 'dropped by feed %' OR end_reason LIKE 'feed % removed from the config' THEN 'feed'
      WHEN end_reason LIKE 'not banned: %' THEN 'refused'
      ELSE 'unban' END
    WHERE ended_at IS NOT NULL;
  `,
  `
  -- Abuse reports (src/report): trap bans waiting to be reported, and the
  -- reports sent (the daily budget and the one-per-address-per-15-minutes
  -- rule read them), so a restart loses none and repeats none.
  CREATE TABLE IF NOT EXISTS report_queue (
    prefix     TEXT    PRIMARY KEY,         -- as the bans table writes it
    port       INTEGER,                     -- the trap port, when known
    banned_at  INTEGER NOT NULL,            -- ms since the epoch
    attempts   INTEGER NOT NULL DEFAULT 0,  -- failed sends so far
    next_at    INTEGER NOT NULL             -- not sent before this
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS report_queue_next ON report_queue(next_at);
  CREATE TABLE IF NOT EXISTS report_sent (
    prefix  TEXT    NOT NULL,
    at      INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS report_sent_at ON report_sent(at);
  CREATE INDEX IF NOT EXISTS report_sent_prefix ON report_sent(prefix, at);
  `,
];
