-- fanout: stream entries -> one delivery per matching target (docs/redis.md, step 2), many
-- entries per call. KEYS: none. ARGV: prefix, retention_s, m, then m groups: stream id, nt,
-- nf, nt pairs (target, delivery id), nf strings (the entry's field/value pairs); then,
-- optionally, the lease: consumer, visibility_timeout_ms, max, nt, nt groups of 5 (target,
-- room, rate_per_s, probe_ms, max_in_flight), as claim.lua takes them. For each entry: creates missing deliveries,
-- applies newest-wins, schedules them, then XACK + XDEL the entry. With the lease, the new
-- deliveries due now are leased to the caller right away (as claim.lua would, within each
-- target's room, rate and max_in_flight across workers, not for a paused target or one whose
-- circuit is open: claim.lua sends its probes), so that the worker which read an event
-- fetches its title once for all its targets. Returns the number of deliveries created per
-- entry, in order, then (with the lease) one array per lease target holding claim.lua's record
-- of each delivery leased, then per lease target the room its max_in_flight across workers
-- left (-1 = not known: no lease was possible there, or no bound).
local P, retention, m = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local retention_s = ARGV[2]
local now = now_ms()
local nows = itoa(now)
local function s(v) return v or '' end
local Z = '\0'
-- what fan-out reads of a title's live delivery (rec_get)
local LIVE_FIELDS = {'status', 'after', 'order_ts', 'order_seq'}
-- appends name, v to the field list rec unless v is empty
local function opt(rec, name, v)
  if v and v ~= '' then table.insert(rec, name); table.insert(rec, v) end
end

-- Counter increments, the log index and the stream acks are collected over the whole call
-- and written once at the end (nothing in between reads them).
local C, logged, sids = counters(), {}, {}
-- New pending deliveries per target, ZADDed to P:due:{target} once at the end; one superseded
-- later in the same call is dropped from here instead of ZREMed.
local due, due_targets = {}, {}
-- the pending deliveries created due now, in stream order: what the lease may take
local fresh = {}
-- Their records are written once, at the lease (with the lease's fields when it takes them:
-- one HSET, not two), or as soon as something in this call must change them. unwritten: id
-- -> its fresh entry while its record is only here.
local unwritten = {}
local function write_record(d, ...)
  local rec = d.rec
  for _, v in ipairs({...}) do rec[#rec + 1] = v end
  redis.call('HSET', d.key, unpack(rec))
  redis.call('EXPIRE', d.key, retention_s)
  unwritten[d.id] = nil
end
local function schedule(target, id, at)
  local d = due[target]
  if not d then d = {}; due[target] = d; table.insert(due_targets, target) end
  d[id] = at
end
local function unschedule(target, id)
  local d = due[target]
  if d and d[id] then d[id] = nil; return end
  redis.call('ZREM', P .. ':due:' .. target, id)
end

local function fanout_one(base, sid, nt, nf)
  local f = {}
  for i = base + 2 * nt + 1, base + 2 * nt + nf - 1, 2 do f[ARGV[i]] = ARGV[i + 1] end
  local order_ts = tonumber(f.created_at) or tonumber(f.received_at) or now
  local order_tss = itoa(order_ts)

  local created = 0
  for i = 0, nt - 1 do
    local target, id = ARGV[base + 1 + 2 * i], ARGV[base + 2 + 2 * i]
    local key = P .. ':d:' .. id
    if not unwritten[id] and redis.call('EXISTS', key) == 0 then
      local tkey = title_key(P, target, f.source, f.content_id)
      local ti = redis.call('HMGET', tkey, 'live', 'done_ts', 'done_seq', 'first_seen')
      -- after: a delivery of this title still being pushed, which this one must wait for
      local status, sup_by, at, after = 'pending', '', now, ''
      if ti[2] and ti[2] ~= '' and older(order_ts, sid, ti[2], ti[3]) then
        status = 'superseded'
      elseif ti[1] and ti[1] ~= '' then
        local live = ti[1]
        local lkey = P .. ':d:' .. live
        local lw = unwritten[live]
        -- the live delivery's event order is its record's (the title keeps no copy of it)
        local lrec = lw and {'pending', '', lw.order_ts, lw.sid} or
                     rec_get(P, live, LIVE_FIELDS)
        local lstatus = lrec[1]
        if lstatus == 'pending' or lstatus == 'retrying' then
          if older(order_ts, sid, lrec[3], lrec[4]) then
            status, sup_by = 'superseded', live
          else
            local leased = redis.call('ZSCORE', P .. ':lease', live)
            if leased then
              -- In flight: it ends superseded unless that attempt succeeds (complete.lua).
              -- The new one waits for that attempt's answer (complete.lua schedules it then;
              -- at the latest when the lease expires): pushed side by side, the older push
              -- could land last and leave the partner with the older state.
              redis.call('HSET', lkey, 'superseded_by', id, 'updated_at', nows)
              at, after = math.max(now, tonumber(leased)), live
            else
              -- the pending one may itself be waiting for an older push: this one inherits
              -- that wait, and that push's answer now schedules this one
              local prior = lrec[2]
              local pleased = prior and prior ~= '' and redis.call('ZSCORE', P .. ':lease', prior)
              if pleased then
                redis.call('HSET', P .. ':d:' .. prior, 'superseded_by', id)
                at, after = math.max(now, tonumber(pleased)), prior
              end
              unschedule(target, live)
              if lw then write_record(lw) end
              supersede(C, P, live, {target = target, source = f.source,
                                     content_id = f.content_id, status = lstatus}, id, now,
                        retention)
            end
          end
        end
      end
      -- What never changes goes into `e` (prelude, REC); of the rest, fields that are
      -- still empty or zero (attempt_count, http_status, error_*, response_snippet,
      -- delivered_at, lease, updated_at until a change, ...) are left out: readers treat a
      -- missing field as empty (a count as 0), and each field costs Redis its write, AOF
      -- text and lookups (bench/scripts --instructions).
      local rec = {'e', joined_value(REC, {
                     event_id = f.event_id, source = f.source, target = target,
                     event_type = f.type, content_type = f.content_type,
                     content_id = f.content_id, show_id = f.show_id,
                     season_number = f.season_number, episode_number = f.episode_number,
                     created_at = nows, order_ts = order_tss, order_seq = sid,
                     received_at = f.received_at, request_id = f.request_id}),
                   'status', status}
      opt(rec, 'superseded_by', sup_by)
      opt(rec, 'after', after)
      local ats = at == now and nows or itoa(at)
      if status == 'pending' and at == now and after == '' then
        -- next_retry_at only if it is not leased below: one in flight waits for nothing
        local d = {target = target, id = id, f = f, order_ts = order_ts, sid = sid,
                   first_seen = ti[4] or now, key = key, rec = rec}
        table.insert(fresh, d)
        unwritten[id] = d
      else
        if status == 'pending' then opt(rec, 'next_retry_at', ats) end
        redis.call('HSET', key, unpack(rec))
        redis.call('EXPIRE', key, retention_s)
      end
      if status == 'pending' then
        schedule(target, id, ats)
        -- first_seen: when the relay first fanned this title out to this target (a format
        -- that needs a stable creation time gets it with the claim)
        local tf = {'live', id}
        if not ti[4] then tf[3] = 'first_seen'; tf[4] = nows end
        redis.call('HSET', tkey, unpack(tf))
      else
        count_outcome(C, P, target, 'superseded')
      end
      redis.call('EXPIRE', tkey, retention_s)
      stat_move(C, P, target, nil, status)
      logged[#logged + 1] = nows
      logged[#logged + 1] = id
      created = created + 1
    end
  end
  table.insert(sids, sid)
  return created
end

local out, base = {}, 3
for k = 1, m do
  local sid, nt, nf = ARGV[base + 1], tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  out[k] = fanout_one(base + 3, sid, nt, nf)
  base = base + 3 + 2 * nt + nf
end

-- The lease: the same checks as claim.lua's (pause, circuit, room, max_in_flight across
-- workers, rate_per_s); the deliveries taken leave the due lists they were about to join.
local leased_out, room_left
if ARGV[base + 1] then
  local consumer, vt, left, lnt = ARGV[base + 1], tonumber(ARGV[base + 2]),
                                  tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local room, pos, leases, rate_of, charged, flying = {}, {}, {}, {}, {}, {}
  leased_out = {}
  for k = 1, lnt do
    local b = base + 4 + 5 * (k - 1)
    local t = ARGV[b + 1]
    pos[t], leased_out[k] = k, {}
    rate_of[t] = tonumber(ARGV[b + 3]) or 0
    room[t] = tonumber(ARGV[b + 2]) or 0
    if room[t] > 0 and not target_leasable(P, t, tonumber(ARGV[b + 4]) or 0) then room[t] = 0 end
    if room[t] > 0 then
      local fkey
      room[t], fkey = target_flight_room(P, t, room[t], tonumber(ARGV[b + 5]) or 0, now)
      if fkey then flying[t] = {key = fkey, left = room[t]} end
    end
  end
  local token = consumer .. ':' .. nows .. ':0'
  local until_s = itoa(now + vt)
  for _, d in ipairs(fresh) do
    if left <= 0 then break end
    local t = d.target
    if (room[t] or 0) > 0 and due[t] and due[t][d.id] then
      if not charged[t] then
        -- the rate window's room, charged once per target at the end
        local n, rkey, window = target_rate_room(P, t, room[t], rate_of[t], now)
        room[t], charged[t] = n, {rkey = rkey, window = window, n = 0}
      end
    end
    if (room[t] or 0) > 0 and due[t] and due[t][d.id] then
      due[t][d.id] = nil
      room[t], left = room[t] - 1, left - 1
      charged[t].n = charged[t].n + 1
      write_record(d, 'lease', token)
      table.insert(leases, until_s)
      table.insert(leases, d.id)
      if flying[t] then
        table.insert(flying[t], until_s)
        table.insert(flying[t], d.id)
        flying[t].left = flying[t].left - 1
      end
      local f = d.f
      -- claim.lua's record: its 15 values joined by NUL bytes (one concatenation, no table)
      local lo = leased_out[pos[t]]
      lo[#lo + 1] = d.id .. Z .. s(f.event_id) .. Z .. s(f.request_id) .. Z .. s(f.type) .. Z ..
        s(f.source) .. Z .. s(f.content_type) .. Z .. s(f.content_id) .. Z .. s(f.show_id) .. Z ..
        token .. Z .. s(f.season_number) .. Z .. s(f.episode_number) .. Z .. '0' .. Z ..
        'pending' .. Z .. tostring(d.first_seen) .. Z .. tostring(d.order_ts)
    end
  end
  for _, c in pairs(charged) do
    if c.rkey and c.n > 0 then
      redis.call('INCRBY', c.rkey, itoa(c.n))
      redis.call('PEXPIRE', c.rkey, itoa(c.window * 2))
    end
  end
  if #leases > 0 then redis.call('ZADD', P .. ':lease', unpack(leases)) end
  for _, f in pairs(flying) do
    if #f > 0 then redis.call('ZADD', f.key, unpack(f)) end
  end
  -- what each target's max_in_flight across workers leaves after this lease (-1: not known or
  -- not bounded): the worker reads no more events than every target can take
  room_left = {}
  for k = 1, lnt do
    local f = flying[ARGV[base + 4 + 5 * (k - 1) + 1]]
    room_left[k] = f and f.left or -1
  end
end

-- the fresh records the lease did not take: due now
for _, d in ipairs(fresh) do
  if unwritten[d.id] then write_record(d, 'next_retry_at', nows) end
end
C.flush()
for _, target in ipairs(due_targets) do
  local args = {}
  for id, at in pairs(due[target]) do table.insert(args, at); table.insert(args, id) end
  if #args > 0 then redis.call('ZADD', P .. ':due:' .. target, unpack(args)) end
end
if #logged > 0 then redis.call('ZADD', P .. ':log', unpack(logged)) end
redis.call('ZREMRANGEBYSCORE', P .. ':log', '-inf', itoa(now - retention * 1000))
if #sids > 0 then
  redis.call('XACK', P .. ':events', 'workers', unpack(sids))
  redis.call('XDEL', P .. ':events', unpack(sids))
end
if leased_out then
  table.insert(out, leased_out)
  table.insert(out, room_left)
end
return out
