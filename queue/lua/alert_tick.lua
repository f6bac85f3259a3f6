-- alert_tick: one call per alert tick of a worker (handlers/alert.c, docs/redis.md "Alerts").
-- Atomic, so any number of workers share the work without sending anything twice:
--  1. acks: messages this worker has finished with (sent, or given up) leave P:alerts:out;
--  2. conditions (at most once a second across all workers): queue.stalled, feed.not_polled,
--     source.silent, per receiver; a condition alerts when it becomes true, again every
--     min_interval while it stays true, and once with state "resolved" when it clears;
--  3. the outbox P:alerts (alert_emit): each new entry, per receiver, goes out at once unless
--     one of the same type and subject went out less than min_interval ago; those are counted
--     and sent as one grouped message when the interval ends;
--  4. claim: up to `room` ready messages of each receiver are leased to this worker for
--     lease_ms (a worker that dies holding one: another takes it when the lease ends).
-- ARGV: prefix, lease_ms, n_acks, (sink id, message id, outcome sent|failed)..., n_sinks, (sink id,
-- min_interval_ms, queue_oldest_ms, room)..., n_feeds, (target, after_ms)..., n_sources,
-- (source, after_ms)..., n_targets, target names... (every configured target, for the
-- queue's oldest age).
-- Returns {dropped, sink1, id1, msg1, sink2, id2, msg2, ...}: msg is JSON {sink, type, subject, at (ms),
-- summary, details (an object), count, window_s, state}.
local P = ARGV[1]
local lease = tonumber(ARGV[2]) or 60000
local now = now_ms()
local i = 3

-- P:alerts:out:<sink>: the messages waiting for one receiver, scored by when they may be
-- taken (now, or the end of a worker's lease); P:alerts:msg: id -> message.
local MSG = P .. ':alerts:msg'
local function OUT(sid) return P .. ':alerts:out:' .. sid end
local OUT_MAX = 1000          -- messages waiting per receiver, beyond which the oldest go
local STALE_MS = 3600000      -- outbox entries older than this are not alerted (a backlog)
local READ_MAX = 200          -- outbox entries taken per call

local n = tonumber(ARGV[i]); i = i + 1
local M = P .. ':metrics'
-- relay_alerts_total{type,outcome}: sent, failed (given up, or dropped for room) and
-- suppressed (counted into a grouped message instead of sent on its own)
local function count(atype, outcome)
  redis.call('HINCRBY', M, 'alerts_total|' .. atype .. '|' .. outcome, 1)
end
local function msg_type(id)
  local ok, m = pcall(cjson.decode, redis.call('HGET', MSG, id) or '')
  if ok and type(m) == 'table' and type(m.type) == 'string' then return m.type end
  return nil
end
for k = 0, n - 1 do
  local sid, id, outcome = ARGV[i + 3 * k], ARGV[i + 3 * k + 1], ARGV[i + 3 * k + 2]
  local atype = msg_type(id)
  if atype and (outcome == 'sent' or outcome == 'failed') then count(atype, outcome) end
  redis.call('ZREM', OUT(sid), id)
  redis.call('HDEL', MSG, id)
end
i = i + 3 * n

local sinks = {}
n = tonumber(ARGV[i]); i = i + 1
for k = 0, n - 1 do
  sinks[#sinks + 1] = {id = ARGV[i + 4 * k], every = tonumber(ARGV[i + 4 * k + 1]),
                       oldest = tonumber(ARGV[i + 4 * k + 2]), room = tonumber(ARGV[i + 4 * k + 3])}
end
i = i + 4 * n
local feeds = {}
n = tonumber(ARGV[i]); i = i + 1
for k = 0, n - 1 do feeds[#feeds + 1] = {ARGV[i + 2 * k], tonumber(ARGV[i + 2 * k + 1])} end
i = i + 2 * n
local sources = {}
n = tonumber(ARGV[i]); i = i + 1
for k = 0, n - 1 do sources[#sources + 1] = {ARGV[i + 2 * k], tonumber(ARGV[i + 2 * k + 1])} end
i = i + 2 * n
local targets = {}
n = tonumber(ARGV[i]); i = i + 1
for k = 0, n - 1 do targets[#targets + 1] = ARGV[i + k] end

local function secs(ms) return math.floor(ms / 1000) end

local dropped = 0
local function queue_msg(sink, atype, subject, at, summary, details, count, window_ms, state)
  -- the id a receiver may dedupe on (a message is sent again after a lost lease): the ms it
  -- was made, so that ids stay unique even when Redis loses P:alerts:seq
  local id = itoa(now) .. '-' .. tostring(redis.call('INCR', P .. ':alerts:seq'))
  redis.call('HSET', MSG, id, cjson.encode({sink = sink, type = atype, subject = subject,
    at = at, summary = summary, details = details, count = count or 1,
    window_s = secs(window_ms or 0), state = state or ''}))
  redis.call('ZADD', OUT(sink), now, id)
end

-- ---- 2. conditions ------------------------------------------------------------------------

-- The age of the oldest event or delivery ready to be taken: the same reckoning as
-- stats.lua's oldest_ms (relay_queue_oldest_seconds).
local function queue_oldest()
  local nows = string.format('%.0f', now)
  local _, _, first_ms = events_backlog(P)
  local oldest = first_ms or -1
  for _, name in ipairs(targets) do
    local first = redis.call('ZRANGEBYSCORE', P .. ':due:' .. name, '-inf', nows, 'WITHSCORES',
                             'LIMIT', 0, 1)
    if first[2] then
      local ms = tonumber(first[2])
      if oldest < 0 or ms < oldest then oldest = ms end
    end
  end
  if oldest >= 0 and now > oldest then return now - oldest end
  return 0
end

-- What a feed or source was last seen doing, or (never) when the alerting first looked at it:
-- a feed nobody ever polled is as silent as one whose partner stopped.
local function last_or_seen(v, what)
  local t = tonumber(v)
  if t and t > 0 then return t, true end
  redis.call('HSETNX', P .. ':alerts:seen', what, now)
  return tonumber(redis.call('HGET', P .. ':alerts:seen', what)), false
end

-- One condition of one receiver: firing (true/false), and the message texts.
local function condition(s, atype, subject, firing, summary, shared, resolved)
  -- a copy per receiver: firing_for_s differs between them
  local details = {}
  for k, v in pairs(shared) do details[k] = v end
  local key = P .. ':alerts:cond:' .. s.id
  local field = atype .. '|' .. subject
  local st = redis.call('HGET', key, field)
  if firing then
    local since, sent = string.match(st or '', '^(%d+)|(%d+)$')
    since, sent = tonumber(since), tonumber(sent)
    if since == nil then
      queue_msg(s.id, atype, subject, now, summary, details, 1, 0, 'firing')
      redis.call('HSET', key, field, string.format('%.0f|%.0f', now, now))
    elseif now - sent >= s.every then
      details.firing_for_s = secs(now - since)
      queue_msg(s.id, atype, subject, now, summary, details, 1, 0, 'firing')
      redis.call('HSET', key, field, string.format('%.0f|%.0f', since, now))
    end
  elseif st then
    local since = tonumber(string.match(st, '^(%d+)|')) or now
    local r = {}
    for k, v in pairs(resolved) do r[k] = v end
    r.summary = nil
    r.firing_for_s = secs(now - since)
    queue_msg(s.id, atype, subject, now, resolved.summary, r, 1, 0, 'resolved')
    redis.call('HDEL', key, field)
  end
end

if #sinks > 0 and redis.call('SET', P .. ':alerts:eval', '1', 'NX', 'PX', 900) then
  local age = queue_oldest()
  for _, s in ipairs(sinks) do
    condition(s, 'queue.stalled', 'queue', age > s.oldest,
      string.format('queue stalled: the oldest waiting event or delivery is %d s old ' ..
                    '(queue_oldest_s %d)', secs(age), secs(s.oldest)),
      {oldest_s = secs(age), queue_oldest_s = secs(s.oldest)},
      {summary = string.format('queue no longer stalled: oldest waiting %d s', secs(age)),
       oldest_s = secs(age), queue_oldest_s = secs(s.oldest)})
  end
  for _, f in ipairs(feeds) do
    local name, after = f[1], f[2]
    local v = redis.call('HGET', P .. ':cat:' .. name .. ':meta', 'last_poll_at')
    local last, polled = last_or_seen(v, 'feed|' .. name)
    local quiet = now - last
    local d = {target = name, alert_after_s = secs(after), silent_s = secs(quiet),
               last_poll_at = polled and last or cjson.null}
    local summary = polled and
      string.format('feed %s not polled for %d s (alert_after_s %d)', name, secs(quiet), secs(after)) or
      string.format('feed %s never polled in the %d s since alerting began (alert_after_s %d)',
                    name, secs(quiet), secs(after))
    for _, s in ipairs(sinks) do
      condition(s, 'feed.not_polled', name, quiet > after, summary, d,
        {summary = string.format('feed %s polled again', name), target = name,
         last_poll_at = polled and last or cjson.null})
    end
  end
  for _, f in ipairs(sources) do
    local name, after = f[1], f[2]
    local v = redis.call('HGET', P .. ':src:' .. name, 'last_received_at')
    local last, heard = last_or_seen(v, 'source|' .. name)
    local quiet = now - last
    local d = {source = name, alert_after_s = secs(after), silent_s = secs(quiet),
               last_received_at = heard and last or cjson.null}
    local summary = heard and
      string.format('source %s sent nothing verified for %d s (alert_after_s %d)', name,
                    secs(quiet), secs(after)) or
      string.format('source %s sent nothing verified in the %d s since alerting began ' ..
                    '(alert_after_s %d)', name, secs(quiet), secs(after))
    for _, s in ipairs(sinks) do
      condition(s, 'source.silent', name, quiet > after, summary, d,
        {summary = string.format('source %s is sending again', name), source = name,
         last_received_at = heard and last or cjson.null})
    end
  end
end

-- ---- 3. the outbox ------------------------------------------------------------------------

-- Dedupe state per receiver, type and subject: P:alerts:ev:<sink> field "type|subject" ->
-- {w: when the current interval began, n: events counted since, s/d/a: the last one's
-- summary, details and time}; P:alerts:due: "sink|type|subject" scored by its interval's end.
local DUE = P .. ':alerts:due'
local function event_state(s, field)
  local v = redis.call('HGET', P .. ':alerts:ev:' .. s.id, field)
  if v then return cjson.decode(v) end
  return nil
end

local function set_state(s, field, st)
  redis.call('HSET', P .. ':alerts:ev:' .. s.id, field, cjson.encode(st))
  redis.call('ZADD', DUE, st.w + s.every, s.id .. '|' .. field)
end

-- The interval of one (sink, type, subject) ended: a grouped message for what it counted,
-- which opens the next interval; nothing counted: the state goes.
local function flush(s, field)
  local st = event_state(s, field)
  redis.call('ZREM', DUE, s.id .. '|' .. field)
  if not st then return end
  if (st.n or 0) > 0 then
    local atype, subject = string.match(field, '^([^|]*)|(.*)$')
    local ok, d = pcall(cjson.decode, st.d or '{}')
    if not ok or type(d) ~= 'table' then d = {} end
    queue_msg(s.id, atype, subject, st.a or now, st.s or '', d, st.n, now - st.w, 'grouped')
    set_state(s, field, {w = now, n = 0})
  else
    redis.call('HDEL', P .. ':alerts:ev:' .. s.id, field)
  end
end

local by_id = {}
for _, s in ipairs(sinks) do by_id[s.id] = s end

for _, m in ipairs(redis.call('ZRANGEBYSCORE', DUE, '-inf', now, 'LIMIT', 0, 500)) do
  local sid, field = string.match(m, '^([^|]*)|(.*)$')
  if sid and by_id[sid] then
    flush(by_id[sid], field)
  else
    -- a receiver no longer configured: forget it
    redis.call('ZREM', DUE, m)
  end
end

if #sinks > 0 then
  local CUR = P .. ':alerts:cursor'
  local cursor = redis.call('GET', CUR) or '0-0'
  local entries = redis.call('XRANGE', P .. ':alerts', '(' .. cursor, '+', 'COUNT', READ_MAX)
  for _, e in ipairs(entries) do
    cursor = e[1]
    local f = {}
    for k = 1, #e[2], 2 do f[e[2][k]] = e[2][k + 1] end
    local at = tonumber(f.at) or now
    if f.type and f.subject and now - at < STALE_MS then
      local field = f.type .. '|' .. f.subject
      local ok, d = pcall(cjson.decode, f.details or '{}')
      if not ok or type(d) ~= 'table' then d = {} end
      for _, s in ipairs(sinks) do
        local st = event_state(s, field)
        if st and now - st.w >= s.every then
          flush(s, field)
          st = event_state(s, field)
        end
        if not st then
          queue_msg(s.id, f.type, f.subject, at, f.summary or '', d, 1, 0, '')
          set_state(s, field, {w = now, n = 0})
        else
          st.n = (st.n or 0) + 1
          count(f.type, 'suppressed')
          st.s, st.d, st.a = f.summary or '', cjson.encode(d), at
          redis.call('HSET', P .. ':alerts:ev:' .. s.id, field, cjson.encode(st))
        end
      end
    end
  end
  if #entries > 0 then
    redis.call('SET', CUR, cursor)
    -- read entries are done with; MAXLEN in alert_emit bounds the rest
    redis.call('XTRIM', P .. ':alerts', 'MINID', cursor)
  end
end

-- ---- 4. claim -----------------------------------------------------------------------------

local out = {0}
for _, s in ipairs(sinks) do
  local key = OUT(s.id)
  local over = redis.call('ZCARD', key) - OUT_MAX
  if over > 0 then
    -- the oldest by id (creation), whether waiting or leased
    local ids = redis.call('ZRANGE', key, 0, -1)
    table.sort(ids, function(a, b) return tonumber(a) < tonumber(b) end)
    for k = 1, over do
      local atype = msg_type(ids[k])
      if atype then count(atype, 'failed') end
      redis.call('ZREM', key, ids[k])
      redis.call('HDEL', MSG, ids[k])
      dropped = dropped + 1
    end
  end
  if s.room > 0 then
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, s.room)) do
      local m = redis.call('HGET', MSG, id)
      if m then
        redis.call('ZADD', key, now + lease, id)
        out[#out + 1] = s.id
        out[#out + 1] = id
        out[#out + 1] = m
      else
        redis.call('ZREM', key, id)
      end
    end
  end
end
out[1] = dropped
return out
