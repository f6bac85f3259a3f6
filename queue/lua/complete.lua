-- complete: record the outcomes of attempts (docs/redis.md, step 4), many per call.
-- KEYS: none. ARGV: prefix, max_attempts, retention_s, n, nb, then nb groups of 3 for the
-- targets with a circuit breaker: target, failures, probe_ms; then n groups of 17: id, lease
-- token, outcome (delivered|retry|failed|superseded|release), http_status, error_code,
-- error_message, response_snippet, retry delay ms, push duration ms ('' = no push made),
-- attempt duration ms, count_attempt ('1' = this was an attempt), then the catalog write of a
-- delivered outcome (catalog_lib; status '' = none): catalog status (live|removed), document,
-- updated_at, content_type, markets, '<tombstone_retention_s>:<store>' (store '1': the
-- delivery is a feed target's store, and a write the catalog refuses ends it superseded with
-- error not_in_catalog or newer_in_catalog). Returns one entry per
-- group, in order: {status, attempt_count}, or {'stale'} when the lease moved on (reclaimed
-- by another worker, or Redis lost the record); when the outcome opened or closed its
-- target's circuit, five more: 'opened'|'closed', the consecutive failures, and the last
-- error's code, message and HTTP status. Counter increments (P:stats, P:metrics) are
-- summed over the batch and written once per field.
--#include catalog_lib
local P, max_attempts, retention, n = ARGV[1], tonumber(ARGV[2]) or 1, tonumber(ARGV[3]),
  tonumber(ARGV[4])
local now = now_ms()
local nows = itoa(now)
local M = P .. ':metrics'
-- Histogram bucket bounds: the le labels, in s, written exactly as relay/metrics.c reads them,
-- and the same bounds in ms, written out (tonumber() of each label, per call, was ~30,000
-- instructions of strtod).
local BOUND_LE = {'0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10',
                  '30', '60', '300', '+Inf'}
local BOUNDS_MS = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000}
-- A delivery done within this share of retention_s after its fan-out keeps the expiry that
-- fanout.lua gave its record and title (retention_s from then) instead of two more EXPIREs:
-- they go at most 1/64 of retention_s (2.6 h of the default 7 days) early.
local RECENT_MS = retention * 1000 / 64

local C = counters()
local add = C.add
-- Histograms: per series, how many observations fell into each bucket (not cumulative) and
-- their sum in ms, written as integer increments once per call: one HINCRBY per bucket hit
-- and one for the sum. The relay adds the buckets up (docs/redis.md, "Metrics"). Cumulative
-- buckets, a count and a float sum were 17 HINCRBY(FLOAT)s per series and call whatever was
-- observed: at low rates, where a call carries one or two outcomes, most of the script's work.
local hist, hist_keys = {}, {}
local function observe(name, label, ms)
  local series = name .. '|' .. (label or '')
  local h = hist[series]
  if not h then
    h = {name = name, sfx = label and ('|' .. label) or '', n = {}, sum = 0}
    hist[series] = h
    table.insert(hist_keys, series)
  end
  local i = 1
  while i <= #BOUNDS_MS and ms > BOUNDS_MS[i] do i = i + 1 end
  h.n[i] = (h.n[i] or 0) + 1
  h.sum = h.sum + ms
end
local function flush_histograms()
  for _, series in ipairs(hist_keys) do
    local h = hist[series]
    for i, n in pairs(h.n) do add(M, h.name .. '_in' .. h.sfx .. '|' .. BOUND_LE[i], n) end
    add(M, h.name .. '_sum_ms' .. h.sfx, h.sum)
  end
end

local unleased = {} -- ids to take out of P:lease, in one ZREM at the end
local landed, landed_targets = {}, {} -- per target, ids to take out of P:inflight:{target}
local function unlease(id, target)
  table.insert(unleased, id)
  local l = landed[target]
  if not l then
    l = {}
    landed[target] = l
    table.insert(landed_targets, target)
  end
  table.insert(l, id)
end

-- ---- the circuit breaker (docs/redis.md, "Circuit breaker") ----------------------------------
-- P:circuit:{target} of each target this call touches is read once, changed in memory
-- outcome by outcome, in order (the count is of consecutive attempts), and written once at
-- the end. It also keeps every target's last delivery and last error for the operator views.
local BREAKER, nb = {}, tonumber(ARGV[5]) or 0
for k = 0, nb - 1 do
  BREAKER[ARGV[6 + 3 * k]] = {failures = tonumber(ARGV[7 + 3 * k]) or 0,
                              probe_ms = tonumber(ARGV[8 + 3 * k]) or 0}
end
local FIRST = 5 + 3 * nb -- the outcome groups start after this argument
local CFIELDS = {'state', 'fails', 'opened_at', 'probe_at', 'probe', 'closed_at', 'last_ok_at',
                 'last_err_at', 'last_err_code', 'last_err_msg', 'last_err_http'}
local circuits, circuit_order = {}, {}

local function circuit(target)
  local c = circuits[target]
  if c then return c end
  local key = P .. ':circuit:' .. target
  local r = redis.call('HMGET', key, 'state', 'fails', 'probe', 'last_err_code', 'last_err_msg',
                       'last_err_http')
  c = {key = key, open = r[1] == 'open', fails = tonumber(r[2]) or 0, probe = r[3] or '',
       err = {code = r[4] or '', message = r[5] or '', http = r[6] or ''}, set = {}}
  circuits[target] = c
  table.insert(circuit_order, target)
  return c
end

local function cset(c, ...)
  local a = {...}
  for i = 1, #a, 2 do c.set[a[i]] = a[i + 1] end
end

local function last_error(c)
  return {code = c.err.code, message = c.err.message, http_status = tonumber(c.err.http)}
end

-- Opens or closes target's circuit (to: 'opened' or 'closed'), emits the alert, and tells the
-- worker that wrote this outcome (entry e), which logs it.
local function circuit_change(e, target, c, to, b)
  local err, fails = c.err, c.fails
  local http = err.http ~= '' and (' HTTP ' .. err.http) or ''
  if to == 'opened' then
    c.open, c.probe = true, ''
    cset(c, 'state', 'open', 'opened_at', now, 'probe_at', now + b.probe_ms, 'probe', '')
    alert_emit(P, 'target.circuit_opened', target, now,
               string.format('Circuit to %s opened after %d consecutive retryable failures ' ..
                             '(last: %s%s); its deliveries wait, one probe every %d s', target,
                             fails, err.code, http, math.floor(b.probe_ms / 1000)),
               {failures = fails, probe_s = math.floor(b.probe_ms / 1000),
                last_error = last_error(c)})
  else
    c.open, c.probe = false, ''
    cset(c, 'state', 'closed', 'opened_at', '', 'probe_at', '', 'probe', '', 'closed_at', now)
    alert_emit(P, 'target.circuit_closed', target, now,
               string.format('Circuit to %s closed: a delivery succeeded; its waiting ' ..
                             'deliveries go out again', target),
               {failures = fails, by = 'delivery', last_error = last_error(c)})
  end
  for _, v in ipairs({to, fails, err.code, err.message, err.http}) do table.insert(e, v) end
end

-- What one recorded outcome (not stale) tells about its target. pushed: a push was made and
-- answered (or failed in transport), so the outcome is the partner's; a failure at the source
-- CMS, or nothing sent, says nothing about the partner.
local function circuit_note(e, id, target, outcome, pushed, http_status, code, message)
  local c = circuit(target)
  if outcome == 'delivered' then cset(c, 'last_ok_at', now) end
  if code ~= '' and (outcome == 'retry' or outcome == 'failed') then
    c.err = {code = code, message = message, http = http_status}
    cset(c, 'last_err_at', now, 'last_err_code', code, 'last_err_msg', message,
         'last_err_http', http_status)
  end
  local b = BREAKER[target]
  if not b then return end
  local probe = c.probe ~= '' and c.probe == id
  if probe then
    c.probe = ''
    cset(c, 'probe', '')
  end
  if outcome == 'release' then
    if probe and c.open then cset(c, 'probe_at', now) end -- never tried: the next may go now
    return
  end
  if not pushed then return end
  if outcome == 'delivered' then
    -- any success closes it, a probe's or one that was in flight when it opened
    if c.open then circuit_change(e, target, c, 'closed', b) end
    c.fails = 0
  elseif outcome == 'retry' then
    c.fails = c.fails + 1
    if not c.open and c.fails >= b.failures then
      circuit_change(e, target, c, 'opened', b)
    elseif c.open and probe then
      cset(c, 'probe_at', now + b.probe_ms) -- still down: open for another probe_s
    end
  else
    -- a final answer (4xx): the partner is up but refused this one; it ends the run of
    -- failures and counts toward nothing. A probe answered so lets the next one go now.
    c.fails = 0
    if c.open and probe then cset(c, 'probe_at', now) end
  end
  cset(c, 'fails', c.fails)
end

local function circuit_flush()
  for _, target in ipairs(circuit_order) do
    local c, f = circuits[target], {}
    for _, k in ipairs(CFIELDS) do
      if c.set[k] ~= nil then
        table.insert(f, k)
        table.insert(f, c.set[k])
      end
    end
    if #f > 0 then redis.call('HSET', c.key, unpack(f)) end
  end
end

-- The record fields complete_one reads (by position in its HMGET). The held attempt's
-- http_status and attempt_ms are read only when the record holds one (attempt_at set): a first
-- attempt looks up fewer fields that are not there.
local RFIELDS = {'lease', 'status', 'target', 'source', 'content_id', 'attempt_count',
                 'superseded_by', 'order_ts', 'order_seq', 'received_at', 'created_at',
                 'attempt_at', 'error_code', 'error_message', 'next_retry_at'}

-- The outcome of ARGV group b (complete.lua's 17 arguments from ARGV[b + 1]).
local function complete_one(b)
  local id, token, outcome = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local key = P .. ':d:' .. id
  local r = rec_get(P, id, RFIELDS)
  if token == '' or r[1] ~= token then return {'stale'} end
  local prev, target = r[2], r[3]
  unlease(id, target)

  if outcome == 'release' then
    -- handed back on shutdown: no attempt spent
    redis.call('HSET', key, 'lease', '', 'updated_at', nows, 'next_retry_at', nows)
    redis.call('ZADD', P .. ':due:' .. target, nows, id)
    return {prev, tonumber(r[6]) or 0}, target
  end
  local http_status, code, message, snippet = ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7]
  local count = ARGV[b + 11]

  -- The fields below are written over: the attempt they hold (prelude, attempt_json) moves to
  -- the list first.
  local listed = false
  local held = r[12] and r[12] ~= ''
  if held then
    local h = redis.call('HMGET', key, 'http_status', 'attempt_ms')
    redis.call('RPUSH', key .. ':attempts',
               attempt_json({attempt_at = r[12], attempt_count = r[6], http_status = h[1],
                             error_code = r[13], error_message = r[14], attempt_ms = h[2]}))
    listed = true
  end
  local attempts = tonumber(r[6]) or 0
  local acode, amessage = code, message -- this attempt's own error, before the catalog's
  if count == '1' then attempts = attempts + 1 end

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

  local cstatus = ARGV[b + 12]
  if final == 'delivered' and cstatus ~= '' then
    -- the catalog changes with the delivery, in this one script: a crash never leaves a
    -- catalog that disagrees with the delivery log
    local ret_s, store = string.match(ARGV[b + 17], '^(%d+):(%d)$')
    local res = catalog_put(P, target, {source = r[4], content_id = r[5], status = cstatus,
                                        doc = ARGV[b + 13], order_ts = r[8], order_seq = r[9],
                                        updated_at = ARGV[b + 14],
                                        content_type = ARGV[b + 15], markets = ARGV[b + 16],
                                        delivery_id = id}, now, nows, (tonumber(ret_s) or 0) * 1000)
    if store == '1' and (res == 'older' or res == 'not_in_catalog') then
      final = 'superseded'
      if res == 'older' then
        code, message = 'newer_in_catalog', 'the catalog holds a newer event of this title'
      else
        code, message = 'not_in_catalog', 'the target never had this title: nothing to remove'
      end
    end
  end

  -- This attempt's fields. An empty error is written only over one the record holds: a missing
  -- field reads as empty everywhere, and the record stays smaller (cheaper to search, keep and
  -- log to the AOF).
  local attempt_fields = {'attempt_count', itoa(attempts), 'http_status', http_status,
                          'response_snippet', snippet}
  local nf = 6
  if code ~= '' or (r[13] and r[13] ~= '') then
    attempt_fields[nf + 1], attempt_fields[nf + 2], nf = 'error_code', code, nf + 2
  end
  if message ~= '' or (r[14] and r[14] ~= '') then
    attempt_fields[nf + 1], attempt_fields[nf + 2], nf = 'error_message', message, nf + 2
  end
  if count == '1' and acode == code then
    -- held in the record (the common case: no list written at all)
    attempt_fields[nf + 1], attempt_fields[nf + 2] = 'attempt_at', nows
    attempt_fields[nf + 3], attempt_fields[nf + 4] = 'attempt_ms', ARGV[b + 10]
  else
    if count == '1' then
      -- the catalog changed the outcome's error: the attempt, as it was, goes to the list
      redis.call('RPUSH', key .. ':attempts',
                 attempt_json({attempt_at = nows, attempt_count = attempts,
                               http_status = http_status, error_code = acode,
                               error_message = amessage, attempt_ms = ARGV[b + 10]}))
      listed = true
    end
    if held then
      attempt_fields[nf + 1], attempt_fields[nf + 2] = 'attempt_at', ''
      attempt_fields[nf + 3], attempt_fields[nf + 4] = 'attempt_ms', ''
    end
  end
  if listed then redis.call('EXPIRE', key .. ':attempts', retention) end
  local push_ms = ARGV[b + 9]
  if push_ms ~= '' then observe('delivery_duration_seconds', target, tonumber(push_ms) or 0) end
  if final == 'superseded' then
    supersede(C, P, id, {target = target, source = r[4], content_id = r[5], status = prev,
                         superseded_by = r[7] or ''}, nil, now, retention, attempt_fields)
    return {final, attempts}, target
  end

  local fields = attempt_fields
  nf = #fields
  fields[nf + 1], fields[nf + 2] = 'status', final
  fields[nf + 3], fields[nf + 4] = 'lease', ''
  fields[nf + 5], fields[nf + 6] = 'updated_at', nows
  nf = nf + 6
  local ttl, recent = retention, false
  if final == 'retrying' then
    local at = itoa(now + (tonumber(ARGV[b + 8]) or 0))
    fields[nf + 1], fields[nf + 2], nf = 'next_retry_at', at, nf + 2
    redis.call('ZADD', P .. ':due:' .. target, at, id)
  else
    -- one leased by fanout.lua at once never had a due time (a missing field reads as empty)
    if r[15] and r[15] ~= '' then
      fields[nf + 1], fields[nf + 2], nf = 'next_retry_at', '', nf + 2
    end
    local tkey = title_key(P, target, r[4], r[5])
    local ti = redis.call('HMGET', tkey, 'live', 'done_ts', 'done_seq')
    local tfields = {}
    if ti[1] == id then tfields = {'live', ''} end
    if final == 'delivered' then
      fields[nf + 1], fields[nf + 2] = 'delivered_at', nows
      if not ti[2] or older(ti[2], ti[3], r[8], r[9]) then
        local k = #tfields
        tfields[k + 1], tfields[k + 2], tfields[k + 3], tfields[k + 4] =
          'done_ts', r[8], 'done_seq', r[9]
      end
    else -- failed
      ttl = failed_note(P, {id = id, target = target, source = r[4], content_id = r[5],
                            attempts = attempts, http_status = http_status, code = code},
                        now, retention)
    end
    if #tfields > 0 then redis.call('HSET', tkey, unpack(tfields)) end
    if final == 'delivered' then
      -- recent: fanout.lua's expiries stand (RECENT_MS)
      recent = now - (tonumber(r[11]) or 0) < RECENT_MS
      if not recent then redis.call('EXPIRE', tkey, retention) end
    end
  end
  redis.call('HSET', key, unpack(fields))
  if not recent then redis.call('EXPIRE', key, ttl) end

  if sup then
    -- delivered after all; the newer delivery of this title waited for this attempt's answer
    -- (fanout.lua): it is due now
    redis.call('ZADD', P .. ':due:' .. target, 'XX', 'LT', nows, r[7])
  end
  stat_move(C, P, target, prev, final)
  count_outcome(C, P, target, final == 'retrying' and 'retried' or final)
  if final == 'delivered' then
    local recv = tonumber(r[10])
    if recv then observe('event_to_delivery_seconds', nil, math.max(0, now - recv)) end
  end
  return {final, attempts}, target
end

local out = {}
for i = 0, n - 1 do
  local b = FIRST + 17 * i
  local e, target = complete_one(b)
  if target then
    circuit_note(e, ARGV[b + 1], target, ARGV[b + 3], ARGV[b + 9] ~= '', ARGV[b + 4],
                 ARGV[b + 5], ARGV[b + 6])
  end
  out[i + 1] = e
end
if #unleased > 0 then redis.call('ZREM', P .. ':lease', unpack(unleased)) end
for _, target in ipairs(landed_targets) do
  redis.call('ZREM', P .. ':inflight:' .. target, unpack(landed[target]))
end
catalog_flush(P, now)
circuit_flush()
flush_histograms()
C.flush()
return out
