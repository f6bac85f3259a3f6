-- complete: record one attempt's outcome (docs/redis.md, step 4).
-- KEYS: none. ARGV: prefix, id, lease token, outcome (delivered|retry|failed|superseded|
-- release), http_status, error_code, error_message, response_snippet, retry delay ms,
-- max_attempts, push duration ms ('' = no push made), attempt duration ms, retention_s,
-- count_attempt ('1' = this was an attempt). Returns {status, attempt_count}, or {'stale'}
-- when the lease moved on (reclaimed by another worker, or Redis lost the record).
local P, id, token, outcome = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local http_status, code, message, snippet = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local delay, max_attempts = tonumber(ARGV[9]) or 0, tonumber(ARGV[10]) or 1
local push_ms, attempt_ms, retention, count = ARGV[11], ARGV[12], tonumber(ARGV[13]), ARGV[14]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local key = P .. ':d:' .. id
local r = redis.call('HMGET', key, 'lease', 'status', 'target', 'source', 'content_id',
                     'attempt_count', 'superseded_by', 'order_ts', 'order_seq', 'received_at')
if token == '' or r[1] ~= token then return {'stale'} end
local prev, target = r[2], r[3]
redis.call('ZREM', P .. ':lease', id)

if outcome == 'release' then
  -- handed back on shutdown: no attempt spent
  redis.call('HSET', key, 'lease', '', 'updated_at', now)
  redis.call('ZADD', P .. ':due:' .. target, now, id)
  return {prev, tonumber(r[6]) or 0}
end

local M = P .. ':metrics'
local BOUNDS = {'0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10',
                '30', '60', '300'}
local function observe(name, label, secs)
  local sfx = label and ('|' .. label) or ''
  for _, b in ipairs(BOUNDS) do
    if secs <= tonumber(b) then redis.call('HINCRBY', M, name .. '_bucket' .. sfx .. '|' .. b, 1) end
  end
  redis.call('HINCRBY', M, name .. '_bucket' .. sfx .. '|+Inf', 1)
  redis.call('HINCRBYFLOAT', M, name .. '_sum' .. sfx, secs)
  redis.call('HINCRBY', M, name .. '_count' .. sfx, 1)
end

local attempts = tonumber(r[6]) or 0
if count == '1' then
  attempts = attempts + 1
  local err = cjson.null
  if code ~= '' then err = {code = code, message = message} end
  local a = {at = now, attempt = attempts, http_status = tonumber(http_status) or cjson.null,
             error = err, duration_ms = tonumber(attempt_ms) or 0}
  redis.call('RPUSH', key .. ':attempts', cjson.encode(a))
  redis.call('EXPIRE', key .. ':attempts', retention)
end

local sup = r[7] and r[7] ~= ''
local final
if outcome == 'delivered' then
  final = 'delivered'
elseif sup then
  final = 'superseded'
elseif outcome == 'retry' then
  if attempts >= max_attempts then final = 'failed' else final = 'retrying' end
elseif outcome == 'failed' then
  final = 'failed'
else
  final = 'superseded'
end

local tkey = P .. ':title:' .. target .. ':' .. r[4] .. ':' .. r[5]
local fields = {'status', final, 'lease', '', 'attempt_count', attempts, 'updated_at', now,
                'http_status', http_status, 'error_code', code, 'error_message', message,
                'response_snippet', snippet, 'next_retry_at', ''}
if final == 'retrying' then
  local at = now + delay
  fields[18] = at
  redis.call('ZADD', P .. ':due:' .. target, at, id)
else
  local ti = redis.call('HMGET', tkey, 'live', 'done_ts', 'done_seq')
  if ti[1] == id then redis.call('HSET', tkey, 'live', '') end
  if final == 'delivered' then
    table.insert(fields, 'delivered_at')
    table.insert(fields, now)
    local newer = true
    local dts, ots = tonumber(ti[2]), tonumber(r[8]) or 0
    if dts then
      if ots < dts then newer = false
      elseif ots == dts then
        local a1, a2 = string.match(r[9] or '', '^(%d+)-(%d+)$')
        local b1, b2 = string.match(ti[3] or '', '^(%d+)-(%d+)$')
        a1, a2, b1, b2 = tonumber(a1) or 0, tonumber(a2) or 0, tonumber(b1) or 0, tonumber(b2) or 0
        newer = a1 > b1 or (a1 == b1 and a2 > b2)
      end
    end
    if newer then redis.call('HSET', tkey, 'done_ts', r[8], 'done_seq', r[9]) end
    redis.call('EXPIRE', tkey, retention)
  elseif final == 'failed' then
    redis.call('ZADD', P .. ':failed', now, id)
  end
end
redis.call('HSET', key, unpack(fields))
redis.call('EXPIRE', key, retention)

local S = P .. ':stats:' .. target
if prev == 'pending' or prev == 'retrying' or prev == 'failed' then redis.call('HINCRBY', S, prev, -1) end
redis.call('HINCRBY', S, final, 1)
local outcome_metric = final == 'retrying' and 'retried' or final
redis.call('HINCRBY', M, 'deliveries_total|' .. target .. '|' .. outcome_metric, 1)
if push_ms ~= '' then observe('delivery_duration_seconds', target, (tonumber(push_ms) or 0) / 1000) end
if final == 'delivered' then
  local recv = tonumber(r[10])
  if recv then observe('event_to_delivery_seconds', nil, math.max(0, now - recv) / 1000) end
end
return {final, attempts}
