-- prelude: prepended to the scripts of queue/lua at build time (queue/embed_lua.cmake), so
-- each rule the scripts share has one definition: the clock, the title key, the event order,
-- batched counters and the "superseded" transition (docs/redis.md). A script gets only the
-- units it uses: a unit is what lies between two blank lines, a comment and one
-- `local function NAME(` or `local NAME =` (keep it so: no blank line inside a unit).

-- Redis's clock in ms: every worker and relay agrees on due times and leases through it.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- An integer (a time in ms, a count) as the text Redis stores. Redis 7.0 turns a Lua number
-- passed to redis.call into text with snprintf("%.17g"), a visible share of the hot
-- scripts' time: they pass text made once (integer formatting is far cheaper) instead.
local function itoa(n)
  return string.format('%d', n)
end

-- The latest attempt of a record is kept in its own fields (attempt_at set, attempt_count,
-- http_status, error_code, error_message, attempt_ms) until a later attempt or a redelivery
-- moves it to P:d:{id}:attempts, so that a delivery done at its first attempt writes no list.
-- r: those fields by name. Returns the attempt's JSON text, as the list holds it.
local function attempt_json(r)
  local err = cjson.null
  if r.error_code and r.error_code ~= '' then
    err = {code = r.error_code, message = r.error_message or ''}
  end
  return cjson.encode({at = tonumber(r.attempt_at) or 0, attempt = tonumber(r.attempt_count) or 0,
                       http_status = tonumber(r.http_status) or cjson.null, error = err,
                       duration_ms = tonumber(r.attempt_ms) or 0})
end

-- P:title:{target}:{source}:{content_id}: the newest-wins state of one title at one target.
local function title_key(P, target, source, content_id)
  return P .. ':title:' .. target .. ':' .. (source or '') .. ':' .. (content_id or '')
end

-- A hash as a table of field -> value (an absent key gives {}).
local function hash_table(key)
  local flat = redis.call('HGETALL', key)
  local r = {}
  for i = 1, #flat, 2 do r[flat[i]] = flat[i + 1] end
  return r
end

-- Joined fields: values a hash keeps in one field, joined by NUL bytes in a fixed order (values
-- are only ever appended, never reordered). Each field of a hash costs Redis its own write,
-- AOF text and a lookup on every later read and write of the hash (bench/scripts
-- --instructions), so values written together and never changed one by one go together.
-- Hashes written before such a field existed hold the values as named fields: joined_get()
-- and joined_expand() read both. L: joined(field, names, opt); opt: names whose empty value
-- reads as missing (false), as the named layout left them out when empty.
local function joined(field, names, opt)
  local L = {field = field, names = names, pos = {}, opt = opt or {}, pats = {}, plans = {}}
  for i, name in ipairs(names) do L.pos[name] = i end
  return L
end

-- The joined field's value; v: name -> value (missing = empty).
local function joined_value(L, v)
  local out = {}
  for i, name in ipairs(L.names) do out[i] = v[name] or '' end
  return table.concat(out, '\0')
end

-- The first n values of joined text s (all when n is nil), by position, in one pattern match
-- (a find and a sub per value cost more than the fields it saves). A shorter s (an older
-- layout) leaves the positions after it nil; a longer one (a later layout) ends at n.
local function joined_values(L, s, n)
  n = n or #L.names
  local pat = L.pats[n]
  if not pat then
    pat = '^' .. string.rep('([^%z]*)%z', n - 1) .. '([^%z]*)'
    L.pats[n] = pat
  end
  local v = {string.match(s, pat)}
  if #v == 0 then
    local i, k = 1, 1
    while k <= n do
      local j = string.find(s, '\0', i, true)
      v[k] = string.sub(s, i, (j or 0) - 1)
      if not j then break end
      i, k = j + 1, k + 1
    end
  end
  return v
end

-- How joined_get reads `names`: per name, its position in the joined field (pos) or in the
-- HMGET answer (at), made once per list and script call: callers pass lists made once, not a
-- new table per call.
local function joined_plan(L, names)
  local plan = L.plans[names]
  if plan then return plan end
  plan = {ask = {L.field}, at = {}, pos = {}, old = {}, n = 0}
  for i, name in ipairs(names) do
    if L.pos[name] then
      plan.pos[i] = L.pos[name]
      plan.n = math.max(plan.n, L.pos[name])
      plan.old[#plan.old + 1] = name
    elseif name ~= 'id' then
      plan.ask[#plan.ask + 1] = name
      plan.at[i] = #plan.ask
    end
  end
  L.plans[names] = plan
  return plan
end

-- HMGET of key's fields `names` (a list; 'id' gives id while the hash exists), in order, as
-- HMGET answers them (false = missing), whichever way the hash was written.
local function joined_get(L, key, names, id)
  local plan = joined_plan(L, names)
  local r = redis.call('HMGET', key, unpack(plan.ask))
  local out, exists = {}, r[1] ~= false
  local pos, at = plan.pos, plan.at
  if r[1] then
    local v = joined_values(L, r[1], plan.n)
    for i, name in ipairs(names) do
      local p = pos[i]
      if p then
        local x = v[p]
        if x == nil or (x == '' and L.opt[name]) then x = false end
        out[i] = x
      elseif at[i] then
        out[i] = r[at[i]]
      else
        out[i] = id
      end
    end
    return out
  end
  -- written before the joined field, or not there at all (none of the other fields asked is
  -- there either: a record that expired is read once)
  for k = 2, #r do exists = exists or r[k] ~= false end
  local o = {}
  if #plan.old > 0 and (exists or #r == 1) then
    o = redis.call('HMGET', key, unpack(plan.old))
    for _, x in ipairs(o) do exists = exists or x ~= false end
  end
  local k = 0
  for i in ipairs(names) do
    if pos[i] then
      k = k + 1
      out[i] = o[k] or false
    elseif at[i] then
      out[i] = r[at[i]]
    else
      out[i] = exists and id or false
    end
  end
  return out
end

-- h (a hash as name -> value) with its joined field split into named ones.
local function joined_expand(L, h)
  local s = h[L.field]
  if s then
    local v = joined_values(L, s)
    for i, name in ipairs(L.names) do
      local x = v[i]
      if x ~= nil and (x ~= '' or not L.opt[name]) then h[name] = x end
    end
    h[L.field] = nil
  end
  return h
end

-- A delivery record (P:d:{id}) keeps what never changes after fan-out in `e` (docs/redis.md,
-- "Deliveries"). complete.lua and reclaim.lua need only the first seven values, so those
-- come first: a reader splits no further than it needs.
local REC = joined('e', {'target', 'source', 'content_id', 'order_ts', 'order_seq',
                         'received_at', 'created_at', 'event_id', 'event_type', 'content_type',
                         'request_id', 'show_id', 'season_number', 'episode_number'},
                   {show_id = true, season_number = true, episode_number = true})

local function rec_get(P, id, names)
  return joined_get(REC, P .. ':d:' .. id, names, id)
end

-- The whole record as name -> value (HGETALL, `e` split, the id added; {} when it is gone).
local function rec_table(P, id)
  local r = joined_expand(REC, hash_table(P .. ':d:' .. id))
  if next(r) ~= nil then
    r.id = r.id or id
    r.updated_at = r.updated_at or r.created_at -- a fresh record has not changed yet
  end
  return r
end

local function sid_parts(x)
  local a, b = string.match(x or '', '^(%d+)-(%d+)$')
  return tonumber(a) or 0, tonumber(b) or 0
end

-- True when event a orders strictly before event b: the event's time (order_ts), then its
-- stream id (order_seq, "ms-seq") as the tie-break.
local function older(ats, aseq, bts, bseq)
  ats, bts = tonumber(ats) or 0, tonumber(bts) or 0
  if ats ~= bts then return ats < bts end
  local a1, a2 = sid_parts(aseq)
  local b1, b2 = sid_parts(bseq)
  if a1 ~= b1 then return a1 < b1 end
  return a2 < b2
end

-- Counter increments summed over a call and written once per field at the end (nothing in
-- between reads them): C.add(key, field, n), C.flush().
local function counters()
  local C, incr, keys = {}, {}, {}
  function C.add(key, field, by)
    local h = incr[key]
    if not h then h = {}; incr[key] = h; table.insert(keys, key) end
    h[field] = (h[field] or 0) + by
  end
  function C.flush()
    for _, key in ipairs(keys) do
      for field, by in pairs(incr[key]) do
        if by ~= 0 then redis.call('HINCRBY', key, field, itoa(by)) end
      end
    end
  end
  return C
end

-- What the operator views show per target: P:stats:{target}'s counts by status (never
-- negative) and whether the target is in P:paused.
local function target_counts(P, name)
  local fields = {'pending', 'retrying', 'delivered', 'failed', 'superseded'}
  local counts = redis.call('HMGET', P .. ':stats:' .. name, unpack(fields))
  local e = {}
  for j, f in ipairs(fields) do
    local n = tonumber(counts[j]) or 0
    if n < 0 then n = 0 end
    e[f] = n
  end
  e.paused = redis.call('SISMEMBER', P .. ':paused', name) == 1
  return e
end

-- P:stats:{target} holds pending/retrying/failed as current counts and delivered/superseded
-- as totals: a record moving from one status to another.
local function stat_move(C, P, target, from, to)
  local k = P .. ':stats:' .. target
  if from == 'pending' or from == 'retrying' or from == 'failed' then C.add(k, from, -1) end
  if to then C.add(k, to, 1) end
end

local function count_outcome(C, P, target, outcome)
  C.add(P .. ':metrics', 'deliveries_total|' .. target .. '|' .. outcome, 1)
end

-- The one "superseded" transition: delivery id (record d: target, source, content_id, status
-- it leaves, superseded_by) ends superseded, not leased and not due. by: the newer delivery
-- that replaces it, when that is new information. extra: more field/value pairs to write
-- with it. The title stops pointing at it, and a newer delivery that was waiting for its
-- attempt's answer (fanout.lua's `after`) is due at once. The caller takes it out of
-- P:due/P:lease.
local function supersede(C, P, id, d, by, now, retention, extra)
  local key = P .. ':d:' .. id
  local f = {'status', 'superseded', 'lease', '', 'next_retry_at', '', 'updated_at', itoa(now)}
  if by and by ~= '' then table.insert(f, 'superseded_by'); table.insert(f, by) end
  for _, v in ipairs(extra or {}) do table.insert(f, v) end
  redis.call('HSET', key, unpack(f))
  redis.call('EXPIRE', key, retention)
  local tkey = title_key(P, d.target, d.source, d.content_id)
  if redis.call('HGET', tkey, 'live') == id then redis.call('HSET', tkey, 'live', '') end
  stat_move(C, P, d.target, d.status, 'superseded')
  count_outcome(C, P, d.target, 'superseded')
  local waiter = by or d.superseded_by
  if waiter and waiter ~= '' then
    redis.call('ZADD', P .. ':due:' .. d.target, 'XX', 'LT', itoa(now), waiter)
  end
end

-- Whether fanout.lua may lease deliveries of target at all (besides room and rate): not while
-- it is paused, nor while its circuit is open (probe_ms > 0: it has a breaker), whose single
-- probe claim.lua sends. claim.lua makes the same checks itself (pause, circuit_room).
local function target_leasable(P, target, probe_ms)
  if redis.call('SISMEMBER', P .. ':paused', target) == 1 then return false end
  return probe_ms <= 0 or redis.call('HGET', P .. ':circuit:' .. target, 'state') ~= 'open'
end

-- targets.*.max_in_flight across all workers, for claim.lua and fanout.lua's lease:
-- P:inflight:{target} holds the target's leases (id -> lease expiry; complete.lua takes them
-- out). A lease past its expiry no longer counts: its worker died or hung, and reclaim.lua
-- puts the delivery back. Of n wanted, how many may be leased, and the set to add them to.
local function target_flight_room(P, target, n, mif, now)
  if mif <= 0 then return n end
  local fkey = P .. ':inflight:' .. target
  redis.call('ZREMRANGEBYSCORE', fkey, '-inf', itoa(now))
  return math.max(0, math.min(n, mif - redis.call('ZCARD', fkey))), fkey
end

-- targets.*.rate_per_s across all workers: a counter per window (P:rate:{target}:{window});
-- windows longer than 1 s for rates below one per second. Of n wanted, how many may start
-- now, and the counter and window to charge them to (nil without a rate). Used where
-- deliveries are leased: claim.lua and fanout.lua.
local function target_rate_room(P, target, n, rate, now)
  if not rate or rate <= 0 then return n end
  local window = math.max(1000, math.ceil(1000 / rate))
  local limit = math.max(1, math.floor(rate * window / 1000))
  local rkey = P .. ':rate:' .. target .. ':' .. math.floor(now / window)
  local used = tonumber(redis.call('GET', rkey) or '0')
  if used >= limit then return 0, rkey, window end
  return math.min(n, limit - used), rkey, window
end

-- P:alerts: the alert outbox, a stream the workers' alert sender reads (handlers/alert.c).
-- atype: e.g. 'target.circuit_opened'; subject: the target, source or feed it is about;
-- details: a table of extra fields (never a secret).
local function alert_emit(P, atype, subject, now, summary, details)
  redis.call('XADD', P .. ':alerts', 'MAXLEN', '~', 10000, '*', 'type', atype,
    'subject', subject, 'at', tostring(now), 'summary', summary,
    'details', cjson.encode(details or {}))
end

-- A failed record outlives retention_s by this much so that reclaim.lua, which trims P:failed
-- at retention_s, still finds its target to take it off the counts (then deletes it).
local FAILED_GRACE_S = 86400

-- The one "ended failed" bookkeeping of complete.lua and reclaim.lua (besides the record's own
-- fields and counts, which each writes with the rest of its change): the id joins P:failed,
-- its attempts list is kept the grace period longer, and the alert outbox gets a
-- delivery.failed (handlers/alert.c groups these per target): codes only, never the
-- partner's error text, which may echo a credential. d: id, target, source, content_id,
-- attempts, http_status, code. Returns the record's expiry in seconds.
local function failed_note(P, d, now, retention)
  local ttl = retention + FAILED_GRACE_S
  redis.call('ZADD', P .. ':failed', itoa(now), d.id)
  redis.call('EXPIRE', P .. ':d:' .. d.id .. ':attempts', ttl)
  local code = d.code or ''
  alert_emit(P, 'delivery.failed', d.target, now,
             string.format('delivery %s to %s failed after %d attempt(s)%s', d.id, d.target,
                           d.attempts, code ~= '' and (': ' .. code) or ''),
             {delivery_id = d.id, target = d.target, source = d.source,
              content_id = d.content_id, attempts = d.attempts,
              http_status = tonumber(d.http_status), error_code = code ~= '' and code or nil})
  return ttl
end

-- P:events, the ingest stream, as the "workers" group sees it: how many entries it has read
-- but not acked (pending), how many it has not read yet (unread), and the time in ms of the
-- oldest unread one (nil when none). stats.lua (relay_queue_oldest_seconds) and
-- alert_tick.lua (queue.oldest) both reckon from here, so the metric and the alert agree.
local function events_backlog(P)
  local stream = P .. ':events'
  if redis.call('EXISTS', stream) == 0 then return 0, 0, nil end
  local pending, unread, last_id = 0, nil, '0-0'
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local f = {}
    for k = 1, #g, 2 do f[g[k]] = g[k + 1] end
    if f['name'] == 'workers' then
      pending = tonumber(f['pending']) or 0
      last_id = f['last-delivered-id'] or '0-0'
      if f['lag'] then unread = tonumber(f['lag']) end
    end
  end
  -- lag is unknown after XDEL; acked entries are deleted, so what is left in the stream is
  -- either pending or unread.
  if unread == nil then unread = math.max(0, redis.call('XLEN', stream) - pending) end
  local oldest = nil
  if unread > 0 then
    local first = redis.call('XRANGE', stream, '(' .. last_id, '+', 'COUNT', 1)
    if first[1] then oldest = tonumber(string.match(first[1][1], '^(%d+)')) end
  end
  return pending, unread, oldest
end
