-- reclaim: housekeeping every worker runs every second (docs/redis.md, step 5).
-- 1. Leases past their expiry go back to their target's due queue at now: the worker holding
--    them died or hung. One marked superseded_by while in flight ends superseded instead.
-- 2. P:failed entries older than retention_s are trimmed, with their records and the
--    per-target `failed` counts (failed records are kept a grace period past retention_s by
--    complete.lua so that their target is still known here).
-- 3. Deliveries that waited in P:due:{target} until their record is about to expire (a
--    paused target, an open circuit, longer than retention_s) end `failed` with error_code
--    `expired` instead of expiring silently, which left them counted `pending`/`retrying` in
--    P:stats forever. An id in that part of P:due whose record is already gone is dropped.
-- KEYS: none. ARGV: prefix, max ids per part, retention_s, then the configured target names.
-- Returns {put back, ended superseded, failed trimmed, ended expired}.
local P, limit, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local C = counters()
-- what each part below reads of a record (rec_get)
local LEASED_FIELDS = {'status', 'target', 'superseded_by', 'source', 'content_id'}
local FAILED_FIELDS = {'status', 'target'}
local WAITING_FIELDS = {'status', 'source', 'content_id', 'attempt_count', 'attempt_at',
                        'http_status', 'error_code', 'error_message', 'attempt_ms', 'created_at'}

local ids = redis.call('ZRANGEBYSCORE', P .. ':lease', '-inf', now, 'LIMIT', 0, limit)
local back, superseded = 0, 0
for _, id in ipairs(ids) do
  redis.call('ZREM', P .. ':lease', id)
  local key = P .. ':d:' .. id
  local r = rec_get(P, id, LEASED_FIELDS)
  if r[1] == 'pending' or r[1] == 'retrying' then
    if r[3] and r[3] ~= '' then
      supersede(C, P, id, {target = r[2], source = r[4], content_id = r[5], status = r[1],
                           superseded_by = r[3]}, nil, now, retention)
      superseded = superseded + 1
    else
      -- due again now (one fanout.lua leased at once had no next_retry_at)
      redis.call('HSET', key, 'lease', '', 'updated_at', itoa(now), 'next_retry_at', itoa(now))
      redis.call('ZADD', P .. ':due:' .. r[2], itoa(now), id)
      back = back + 1
    end
  end
end

local trimmed = 0
if retention then
  local old = redis.call('ZRANGEBYSCORE', P .. ':failed', '-inf', now - retention * 1000,
                         'LIMIT', 0, limit)
  for _, id in ipairs(old) do
    local key = P .. ':d:' .. id
    local r = rec_get(P, id, FAILED_FIELDS)
    if r[1] == 'failed' and r[2] then
      stat_move(C, P, r[2], 'failed', nil)
      redis.call('DEL', key, key .. ':attempts')
    end
    trimmed = trimmed + 1
  end
  if #old > 0 then redis.call('ZREM', P .. ':failed', unpack(old)) end
end
-- A waiting record's expiry is at most retention_s after its due time (every writer sets the
-- due time at or after the change that refreshed the expiry), so an id due more than
-- retention_s - margin ago (cutoff) has a record that expires within the margin: 1/64 of
-- retention_s (2.6 h of the default 7 days), at least 2 s (reclaim runs every second), at
-- most half of retention_s.
local function end_expired(target, cutoff)
  local due = P .. ':due:' .. target
  local ids = redis.call('ZRANGEBYSCORE', due, '-inf', itoa(cutoff), 'LIMIT', 0, limit)
  if #ids == 0 then return 0 end
  redis.call('ZREM', due, unpack(ids))
  local n = 0
  local sk = P .. ':stats:' .. target
  for _, id in ipairs(ids) do
    local key = P .. ':d:' .. id
    local r = rec_get(P, id, WAITING_FIELDS)
    local status = r[1]
    if status == 'pending' or status == 'retrying' then
      -- the attempt the record still holds joins the history before its fields are reused
      if r[5] and r[5] ~= '' then
        redis.call('RPUSH', key .. ':attempts', attempt_json({attempt_at = r[5],
          attempt_count = r[4], http_status = r[6], error_code = r[7], error_message = r[8],
          attempt_ms = r[9]}))
      end
      local waited = math.floor((now - (tonumber(r[10]) or now)) / 1000)
      redis.call('HSET', key, 'status', 'failed', 'lease', '', 'next_retry_at', '',
                 'updated_at', itoa(now), 'error_code', 'expired', 'error_message',
                 string.format('not delivered within retention_s (%d s): waited %d s ' ..
                               '(target paused, or its circuit open)', retention, waited),
                 'http_status', '', 'response_snippet', '', 'attempt_at', '', 'attempt_ms', '')
      local attempts = tonumber(r[4]) or 0
      redis.call('EXPIRE', key, failed_note(P, {id = id, target = target, source = r[2],
                                                content_id = r[3], attempts = attempts,
                                                code = 'expired'}, now, retention))
      local tkey = title_key(P, target, r[2] or '', r[3] or '')
      if redis.call('HGET', tkey, 'live') == id then redis.call('HSET', tkey, 'live', '') end
      stat_move(C, P, target, status, 'failed')
      count_outcome(C, P, target, 'failed')
      n = n + 1
    elseif not status then
      -- the record expired before a reclaim saw it (no worker ran for a while): which of the
      -- two counts held it is gone with it; pending first, the common case
      local c = redis.call('HMGET', sk, 'pending', 'retrying')
      if (tonumber(c[1]) or 0) > 0 then
        C.add(sk, 'pending', -1)
      elseif (tonumber(c[2]) or 0) > 0 then
        C.add(sk, 'retrying', -1)
      end
    end
  end
  return n
end

local expired = 0
if retention and retention > 0 then
  local margin = math.min(math.max(retention * 1000 / 64, 2000), retention * 1000 / 2)
  local cutoff = now - retention * 1000 + margin
  for i = 4, #ARGV do expired = expired + end_expired(ARGV[i], cutoff) end
end
C.flush()
return {back, superseded, trimmed, expired}
