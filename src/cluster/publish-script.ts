/**
 * Runs inside Redis, atomically: appends a batch of our messages to the
 * stream and updates the snapshot, skipping those Redis already took (a batch
 * resent after a lost answer is not added twice). Also drops a bounded number
 * of expired snapshot entries, so the snapshot holds the bans in force.
 *
 * KEYS: events, bans, details, published, nodes
 * ARGV: maxlen, origin, storeId, now, n, then 9 per message:
 *       seq, kind, prefix, expires, reason, port, at, hmac, detail JSON
 * Returns how many were added.
 */
export const PUBLISH_SCRIPT = `
local origin, store, now = ARGV[2], ARGV[3], ARGV[4]
local mark = redis.call('HGET', KEYS[4], origin)
local last = 0
if mark then
  local s, q = string.match(mark, '^([^:]*):(%d+)$')
  if s == store then last = tonumber(q) end
end
local n = tonumber(ARGV[5])
local added = 0
for i = 0, n - 1 do
  local b = 6 + i * 9
  local seq = tonumber(ARGV[b])
  if seq > last then
    local kind, prefix, expires = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
      'origin', origin, 'kind', kind, 'prefix', prefix, 'expires', expires,
      'reason', ARGV[b + 4], 'port', ARGV[b + 5], 'at', ARGV[b + 6], 'hmac', ARGV[b + 7])
    if kind == 'ban' then
      local score = expires
      if score == '' then score = '+inf' end
      redis.call('ZADD', KEYS[2], score, prefix)
      redis.call('HSET', KEYS[3], prefix, ARGV[b + 8])
      redis.call('HSET', KEYS[5], 'ban:' .. origin, ARGV[b + 6])
    else
      redis.call('ZREM', KEYS[2], prefix)
      redis.call('HDEL', KEYS[3], prefix)
    end
    last = seq
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
