/**
 * Runs inside Redis, atomically: appends a batch of our messages to the
 * stream and updates the snapshot, skipping those Redis already took (a batch
 * resent after a lost answer is not added twice). Also drops a bounded number
 * of expired snapshot entries, so the snapshot holds the bans in force.
 *
 * The snapshot holds one ban per prefix: the one that lasts longest. Another
 * host's shorter ban of the same prefix does not replace it, and a host's
 * unban removes only its own: two hosts may ban one scanner, and the first to
 * let go must not take the other's ban out of what a new host catches up on.
 *
 * KEYS: events, bans, details, published, nodes
 * ARGV: maxlen, origin, storeId, now, n, then 10 per message:
 *       outbox id, kind, prefix, expires, reason, port, at, seq, hmac, snapshot detail
 * Returns how many were added.
 */
export const PUBLISH_SCRIPT = `
local origin, store, now = ARGV[2], ARGV[3], ARGV[4]
-- The host whose ban the snapshot holds for a prefix; '' when unreadable.
local function owner(prefix)
  local detail = redis.call('HGET', KEYS[3], prefix)
  if not detail then return nil end
  -- The HMAC's 64 hex digits, then the JSON array ["fleet","origin",...]:
  -- both names are [A-Za-z0-9_.-] (config.ts), so a pattern reads them.
  return string.match(detail, '^%x+%["[%w_.%-]*","([%w_.%-]+)",') or ''
end
-- The snapshot's ban of prefix ends no sooner than one ending at expires ('' = never).
local function outlasts(prefix, expires)
  local held = redis.call('ZSCORE', KEYS[2], prefix)
  if not held then return false end
  if held == 'inf' then return true end
  if expires == '' then return false end
  return tonumber(held) >= tonumber(expires)
end
local mark = redis.call('HGET', KEYS[4], origin)
local last = 0
if mark then
  local s, q = string.match(mark, '^([^:]*):(%d+)$')
  if s == store then last = tonumber(q) end
end
local n = tonumber(ARGV[5])
local added = 0
for i = 0, n - 1 do
  local b = 6 + i * 10
  local id = tonumber(ARGV[b])
  if id > last then
    local kind, prefix, expires = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
      'origin', origin, 'kind', kind, 'prefix', prefix, 'expires', expires,
      'reason', ARGV[b + 4], 'port', ARGV[b + 5], 'at', ARGV[b + 6], 'seq', ARGV[b + 7], 'hmac', ARGV[b + 8])
    local holder = owner(prefix)
    if kind == 'ban' then
      local score = expires
      if score == '' then score = '+inf' end
      if holder == nil or holder == origin or not outlasts(prefix, expires) then
        redis.call('ZADD', KEYS[2], score, prefix)
        redis.call('HSET', KEYS[3], prefix, ARGV[b + 9])
      end
      redis.call('HSET', KEYS[5], 'ban:' .. origin, ARGV[b + 6])
    elseif holder == nil or holder == origin then
      redis.call('ZREM', KEYS[2], prefix)
      redis.call('HDEL', KEYS[3], prefix)
    end
    last = id
    added = added + 1
  end
end
redis.call('HSET', KEYS[4], origin, store .. ':' .. last)
redis.call('HSET', KEYS[5], 'seen:' .. origin, now)
local old = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
if #old > 0 then
  redis.call('ZREM', KEYS[2], unpack(old))
  redis.call('HDEL', KEYS[3], unpack(old))
end
return added
`;
