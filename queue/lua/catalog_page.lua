-- catalog_page: one page of a target's feed (docs/redis.md, "Catalog"), in change order.
-- KEYS: none. ARGV: prefix, target, after (seq of the cursor; 0 = from the start), hwm (the
-- snapshot's high-water mark: removals at or below it are left out; '' = a new snapshot,
-- hwm = the catalog's last seq now), upto (highest seq to return, '' = no bound), limit,
-- scan_max (entries looked at, at most: bounds the work of a filtered page), content types
-- (comma-separated, '' = all), market ('' = all), tombstone_retention_s (removals past it are
-- dropped first, a few per call), base (the cursor's: where what the partner holds was last
-- exactly known; '' = unknown).
-- Returns {'ok', pos, hwm, has_more (0/1), top, dropped, n, then n documents in the stored
-- form ('L' live or 'R' removed, the seq, ':', the document)} where pos is the seq the next
-- page starts after, or {'expired', dropped} when a removal after the cursor was already
-- dropped (the partner must take a new snapshot).
-- A filtered page also carries, as a removal, a title that changed after the cursor and no
-- longer matches the filter when what it had at the cursor did (its filter history, `was`):
-- the poller holds it and must drop it. A title that never matched is never sent.
--#include catalog_lib
local P, T = ARGV[1], ARGV[2]
local after, hwm, upto = tonumber(ARGV[3]) or 0, tonumber(ARGV[4]), tonumber(ARGV[5])
local limit, scan_max = tonumber(ARGV[6]) or 500, tonumber(ARGV[7]) or 5000
local types_arg, market, ret = ARGV[8], ARGV[9], (tonumber(ARGV[10]) or 0) * 1000
local base = tonumber(ARGV[11])
local C = P .. ':cat:' .. T
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ret > 0 then catalog_prune(P, T, now, ret, 64) end

local meta = redis.call('HMGET', C .. ':meta', 'seq', 'dropped')
local top, dropped = tonumber(meta[1]) or 0, tonumber(meta[2]) or 0
if hwm == nil then hwm = top end
if dropped > math.max(after, hwm) then return {'expired', dropped} end
local since = hwm > after and hwm or base

local types = nil
if types_arg ~= '' then
  types = {}
  for ty in string.gmatch(types_arg, '[^,]+') do types[ty] = true end
end
local function market_ok(mk)
  if market == '' or not mk or mk == '' then return true end
  local found = string.find(',' .. string.sub(mk, 2) .. ',', ',' .. market .. ',', 1, true) ~= nil
  if string.sub(mk, 1, 1) == '-' then return not found end
  return found
end

local function matches(ct, mk)
  return (types == nil or types[ct or '']) and market_ok(mk)
end
-- Whether a poller may hold the title: what it holds was last exactly known at seq `since`
-- (the cursor's base; where the snapshot began while one is paged; nil = unknown) and it has
-- read on to `after`, so it holds a version the title had at `since` or took between the
-- two. A title's filter history `was` (catalog_lib, newest first) tells which attributes it
-- had when: an epoch counts when it lasted past `since` and began at or before `after`; the
-- current attributes (st, ct, mk) are left out, as the title is sent live when they match.
local function may_hold(was, since, after)
  local eps = {}
  for ep in string.gmatch(was or '', '[^;]+') do eps[#eps + 1] = ep end
  for i = 1, #eps do
    local e, est, rest = string.match(eps[i], '^(%d+)|(%a)|?(.*)$')
    local began = eps[i + 1] and tonumber(string.match(eps[i + 1], '^(%d+)')) or nil
    e = tonumber(e)
    if e and since and e <= since then break end -- older ones ended before since as well
    if e and (began == nil or began <= after) then
      if est == 'W' then return true end
      if est == 'L' then
        local c, m = string.match(rest, '^([^|]*)|(.*)$')
        if matches(c, m) then return true end
      elseif est == 'F' then
        for pr in string.gmatch(rest, '[^/]+') do
          local c, m = string.match(pr, '^([^~]*)~(.*)$')
          if matches(c, m) then return true end
        end
      end
    end
  end
  return false
end

local upper = upto and tostring(upto) or '+inf'
local filtered = types ~= nil or market ~= ''
local out, pos, scanned = {}, after, 0
while #out < limit and scanned < scan_max do
  local want = math.min(256, scan_max - scanned, 2 * (limit - #out))
  if not filtered then
    -- the documents straight from C:docs, one call per batch
    local batch = redis.call('ZRANGEBYSCORE', C .. ':docs', '(' .. pos, upper, 'WITHSCORES',
                             'LIMIT', 0, want)
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      local d, s = batch[i], tonumber(batch[i + 1])
      scanned = scanned + 1
      pos = s
      if not (string.byte(d, 1) == 82 and s <= hwm) then -- 82: 'R', a removal
        out[#out + 1] = d
        if #out >= limit then break end
      end
    end
  else
    local batch = redis.call('ZRANGEBYSCORE', C .. ':seq', '(' .. pos, upper, 'WITHSCORES',
                             'LIMIT', 0, want)
    if #batch == 0 then break end
    for i = 1, #batch, 2 do
      local m, s = batch[i], tonumber(batch[i + 1])
      scanned = scanned + 1
      pos = s
      local e = redis.call('HMGET', C .. ':e:' .. m, 'status', 'content_type', 'markets', 'was')
      local live, send = e[1] == 'live', nil
      if live and matches(e[2], e[3]) then
        send = 'L'
      elseif s > hwm then
        -- changed after the cursor (removals at or below hwm: titles the snapshot never gave)
        if may_hold(e[4], since, after) then send = 'R' end
      end
      local d = send and catalog_doc_at(C, s)
      if d then
        if send == 'R' and string.byte(d, 1) ~= 82 then d = 'R' .. string.sub(d, 2) end
        out[#out + 1] = d
        if #out >= limit then break end
      end
    end
  end
end
local more = #redis.call('ZRANGEBYSCORE', C .. ':seq', '(' .. pos, upper, 'LIMIT', 0, 1) > 0
local reply = {'ok', pos, hwm, more and 1 or 0, top, dropped, #out}
for i = 1, #out do reply[7 + i] = out[i] end
return reply
