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
];
