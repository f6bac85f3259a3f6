-- claim: take due deliveries of one target into P:lease (docs/redis.md, step 3).
-- KEYS: none. ARGV: prefix, target, n, visibility_timeout_ms, rate_per_s (0 = none),
-- retention_s, consumer. Returns one array per delivery taken holding the FIELDS below, in
-- that order (the worker reads them by position: handlers/worker.c, enum claim_field); a
-- delivery found older than what the title already delivered comes back with status
-- superseded (not leased).
local P, target, n, vt = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local rate, retention, consumer = tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7]
-- Only what a worker needs to start an attempt: a whole HGETALL per delivery made claim
-- replies several times larger and cost both Redis and the worker measurable CPU.
local FIELDS = {'id', 'event_id', 'request_id', 'event_type', 'source', 'content_type',
                'content_id', 'show_id', 'lease', 'season_number', 'episode_number',
                'attempt_count', 'status'}
local READ = {unpack(FIELDS)}
for _, f in ipairs({'order_ts', 'order_seq', 'superseded_by', 'after'}) do table.insert(READ, f) end
if redis.call('SISMEMBER', P .. ':paused', target) == 1 then return {} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function sid_parts(x)
  local a, b = string.match(x or '', '^(%d+)-(%d+)$')
  return tonumber(a) or 0, tonumber(b) or 0
end
local function older(ats, aseq, bts, bseq)
  ats, bts = tonumber(ats) or 0, tonumber(bts) or 0
  if ats ~= bts then return ats < bts end
  local a1, a2 = sid_parts(aseq)
  local b1, b2 = sid_parts(bseq)
  if a1 ~= b1 then return a1 < b1 end
  return a2 < b2
end

-- rate_per_s across all workers: a counter per window; windows longer than 1 s for rates
-- below one per second.
local rkey, window
if rate > 0 then
  window = math.max(1000, math.ceil(1000 / rate))
  local limit = math.max(1, math.floor(rate * window / 1000))
  rkey = P .. ':rate:' .. target .. ':' .. math.floor(now / window)
  local used = tonumber(redis.call('GET', rkey) or '0')
  if used >= limit then return {} end
  n = math.min(n, limit - used)
end

local due = P .. ':due:' .. target
local ids = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, n)
if #ids == 0 then return {} end
redis.call('ZREM', due, unpack(ids))
local out, taken, leased = {}, 0, {}
for _, id in ipairs(ids) do
  local key = P .. ':d:' .. id
  -- FIELDS (1-13: what the worker gets) and what the checks below need (14-17), in one read
  local r = redis.call('HMGET', key, unpack(READ))
  local status, source, content_id = r[13], r[5], r[7]
  -- One push per title and target at a time: an older delivery of this title still in flight
  -- (fanout.lua set `after`) is answered first; until then this one waits (back in the queue
  -- at that lease's expiry; the answer brings it forward).
  local wait = r[17] and r[17] ~= '' and redis.call('ZSCORE', P .. ':lease', r[17])
  if wait and not (r[16] and r[16] ~= '') and (status == 'pending' or status == 'retrying') then
    redis.call('ZADD', due, math.max(now + 1, tonumber(wait)), id)
  elseif status == 'pending' or status == 'retrying' then
    local tkey = P .. ':title:' .. target .. ':' .. (source or '') .. ':' .. (content_id or '')
    local d = redis.call('HMGET', tkey, 'done_ts', 'done_seq', 'live')
    if (d[1] and d[1] ~= '' and older(r[14], r[15], d[1], d[2])) or (r[16] and r[16] ~= '') then
      r[13] = 'superseded'
      redis.call('HSET', key, 'status', 'superseded', 'next_retry_at', '', 'updated_at', now)
      redis.call('EXPIRE', key, retention)
      if d[3] == id then redis.call('HSET', tkey, 'live', '') end
      redis.call('HINCRBY', P .. ':stats:' .. target, status, -1)
      redis.call('HINCRBY', P .. ':stats:' .. target, 'superseded', 1)
      redis.call('HINCRBY', P .. ':metrics', 'deliveries_total|' .. target .. '|superseded', 1)
      if r[16] and r[16] ~= '' then
        -- the newer one may be waiting for this one's attempt (fanout.lua): it need not now
        redis.call('ZADD', due, 'XX', 'LT', now, r[16])
      end
    else
      local token = consumer .. ':' .. now .. ':' .. (r[12] or '0')
      redis.call('HSET', key, 'lease', token, 'updated_at', now)
      r[9] = token
      table.insert(leased, now + vt)
      table.insert(leased, id)
      taken = taken + 1
    end
    local rec = {}
    for i = 1, #FIELDS do rec[i] = r[i] end
    table.insert(out, rec)
  end
end
if taken > 0 then redis.call('ZADD', P .. ':lease', unpack(leased)) end
if rkey and taken > 0 then
  redis.call('INCRBY', rkey, taken)
  redis.call('PEXPIRE', rkey, window * 2)
end
return out
