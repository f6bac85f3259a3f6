-- claim: take due deliveries of every target into P:lease in one call (docs/redis.md, step 3).
-- KEYS: none. ARGV: prefix, visibility_timeout_ms, retention_s, consumer, max (deliveries
-- taken at most in all), first (the group to start with, 0-based: the worker rotates it so
-- that no target starves the others), nt, then nt groups of 5: target, n (at most for this
-- target from this worker, 0 = none), rate_per_s (0 = no limit), probe_ms (the breaker's
-- probe_s in ms; 0 = no breaker: its circuit is ignored), max_in_flight (leases of this
-- target across all workers, 0 = no bound). Returns one array per group, in
-- order, holding one string per delivery taken: the FIELDS below, then the title's
-- first_seen and the event's order_ts, joined by NUL bytes in that order (none holds a NUL;
-- decoded by queue/delivery.c, enum claim_field: one string where an array of 15 cost Redis
-- a reply per value); a delivery found older than what the title already delivered comes
-- back with status superseded (not leased).
local P, vt, retention, consumer = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local max, first, nt = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
-- Only what a worker needs to start an attempt: a whole HGETALL per delivery made claim
-- replies several times larger and cost both Redis and the worker measurable CPU.
local FIELDS = {'id', 'event_id', 'request_id', 'event_type', 'source', 'content_type',
                'content_id', 'show_id', 'lease', 'season_number', 'episode_number',
                'attempt_count', 'status'}
local NF = #FIELDS
local READ = {unpack(FIELDS)}
for _, f in ipairs({'order_ts', 'order_seq', 'superseded_by', 'after'}) do table.insert(READ, f) end
local now = now_ms()
local nows, lease_until = itoa(now), itoa(now + vt)
local C = counters()
local leased = {}

-- The circuit breaker (P:circuit:{target}; complete.lua opens and closes it): while it is
-- open nothing is taken but one probe, the oldest due delivery, once probe_at has passed and
-- no earlier probe still holds a lease. Deciding here, in the one claim script every worker
-- runs, is what makes it one probe across all workers. Returns how many may be taken now,
-- and the circuit's key when that one is a probe.
local function circuit_room(target, n, probe_ms)
  if probe_ms <= 0 then return n end
  local ckey = P .. ':circuit:' .. target
  local c = redis.call('HMGET', ckey, 'state', 'probe_at', 'probe')
  if c[1] ~= 'open' then return n end
  if now < (tonumber(c[2]) or 0) then return 0 end
  if c[3] and c[3] ~= '' and redis.call('ZSCORE', P .. ':lease', c[3]) then return 0 end
  return 1, ckey
end

local function claim_target(target, n, rate, probe_ms, mif)
  if n <= 0 or redis.call('SISMEMBER', P .. ':paused', target) == 1 then return {}, 0 end
  local ckey, fkey
  n, ckey = circuit_room(target, n, probe_ms)
  if n <= 0 then return {}, 0 end
  -- max_in_flight and rate_per_s across all workers: the prelude's rules, which fanout.lua's
  -- lease applies too
  n, fkey = target_flight_room(P, target, n, mif, now)
  if n <= 0 then return {}, 0 end
  local rkey, window
  n, rkey, window = target_rate_room(P, target, n, rate, now)
  if n <= 0 then return {}, 0 end
  local due = P .. ':due:' .. target
  local ids = redis.call('ZRANGEBYSCORE', due, '-inf', nows, 'LIMIT', 0, n)
  if #ids == 0 then return {}, 0 end
  redis.call('ZREM', due, unpack(ids))
  local out, taken, probe, flying = {}, 0, nil, {}
  for _, id in ipairs(ids) do
    local key = P .. ':d:' .. id
    -- FIELDS (1-13: what the worker gets) and what the checks below need (14-17), in one read
    local r = rec_get(P, id, READ)
    local status, sup = r[13], r[16]
    local pending = status == 'pending' or status == 'retrying'
    if sup == false then sup = '' end
    -- One push per title and target at a time: an older delivery of this title still in
    -- flight (fanout.lua set `after`) is answered first; until then this one waits (back in
    -- the queue at that lease's expiry; the answer brings it forward).
    local wait = r[17] and r[17] ~= '' and redis.call('ZSCORE', P .. ':lease', r[17])
    if wait and sup == '' and pending then
      redis.call('ZADD', due, math.max(now + 1, tonumber(wait)), id)
    elseif pending then
      local tkey = title_key(P, target, r[5], r[7])
      local d = redis.call('HMGET', tkey, 'done_ts', 'done_seq', 'first_seen')
      if (d[1] and d[1] ~= '' and older(r[14], r[15], d[1], d[2])) or sup ~= '' then
        r[13] = 'superseded'
        supersede(C, P, id, {target = target, source = r[5], content_id = r[7], status = status,
                             superseded_by = sup}, nil, now, retention)
      else
        local token = consumer .. ':' .. nows .. ':' .. (r[12] or '0')
        redis.call('HSET', key, 'lease', token, 'updated_at', nows)
        r[9] = token
        leased[#leased + 1] = lease_until
        leased[#leased + 1] = id
        flying[#flying + 1] = lease_until
        flying[#flying + 1] = id
        taken = taken + 1
        probe = id
      end
      local rec = {}
      for i = 1, NF do rec[i] = r[i] or '' end
      rec[NF + 1] = d[3] or ''
      rec[NF + 2] = r[14] or ''
      out[#out + 1] = table.concat(rec, '\0')
    end
  end
  if fkey and taken > 0 then redis.call('ZADD', fkey, unpack(flying)) end
  if ckey and probe then
    -- the next probe waits probe_s from this one even if this one's answer is lost
    redis.call('HSET', ckey, 'probe', probe, 'probe_at', now + probe_ms)
  end
  if rkey and taken > 0 then
    redis.call('INCRBY', rkey, taken)
    redis.call('PEXPIRE', rkey, window * 2)
  end
  return out, taken
end

local out, left = {}, max
for k = 1, nt do out[k] = {} end
for j = 0, nt - 1 do
  if left <= 0 then break end
  local k = (first + j) % nt
  local b = 7 + 5 * k
  local n = math.min(tonumber(ARGV[b + 2]) or 0, left)
  local taken
  out[k + 1], taken = claim_target(ARGV[b + 1], n, tonumber(ARGV[b + 3]) or 0,
                                   tonumber(ARGV[b + 4]) or 0, tonumber(ARGV[b + 5]) or 0)
  left = left - taken
end
if #leased > 0 then redis.call('ZADD', P .. ':lease', unpack(leased)) end
C.flush()
return out
