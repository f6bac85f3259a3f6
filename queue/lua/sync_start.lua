-- sync_start: creates a sync run for one source unless one is running (docs/redis.md, Sync).
-- KEYS: none. ARGV: prefix, sync id, source, targets (comma-separated), full (0/1),
-- dry_run (0/1), due_ms (0 = start now; > 0 = the schedule: start only when the last run of
-- the source started at least due_ms ago), retention_s.
-- Returns {1, id} when created, {0, running id} when a run holds the source, {2, ''} when the
-- schedule is not due yet.
local P, id, src = ARGV[1], ARGV[2], ARGV[3]
local due, retention = tonumber(ARGV[7]), tonumber(ARGV[8])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lock = P .. ':sync:lock:' .. src
local held = redis.call('GET', lock)
if held then
  -- A lock whose run record is gone (expired, or Redis lost it) must not block the source.
  local st = redis.call('HGET', P .. ':sync:run:' .. held, 'state')
  if st == 'running' then return {0, held} end
  redis.call('DEL', lock)
end
if due > 0 then
  local last = tonumber(redis.call('GET', P .. ':sync:last:' .. src) or '0')
  if now - last < due then return {2, ''} end
end
local key = P .. ':sync:run:' .. id
redis.call('HSET', key, 'id', id, 'source', src, 'targets', ARGV[4], 'full', ARGV[5],
           'dry_run', ARGV[6], 'state', 'running', 'started_at', now, 'updated_at', now,
           'pages', 0, 'seen', 0, 'queued', 0, 'skipped', 0, 'removed', 0, 'errors', 0,
           'phase', '', 'cursor', '', 'owner', '', 'lease_until', 0,
           'trigger', due > 0 and 'schedule' or 'manual')
redis.call('SET', lock, id)
redis.call('SET', P .. ':sync:last:' .. src, now)
redis.call('SADD', P .. ':sync:active', id)
redis.call('ZADD', P .. ':syncs', now, id)
-- Records are kept retention_s after they end; the index is trimmed to that here.
redis.call('ZREMRANGEBYSCORE', P .. ':syncs', '-inf', now - retention * 1000 - 86400000)
return {1, id}
