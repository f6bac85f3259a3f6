-- catalog_page: one page of a target's feed (docs/redis.md, "Catalog"), in change order.
-- KEYS: none. ARGV: prefix, target, after (seq of the cursor; 0 = from the start), hwm (the
-- snapshot's high-water mark: removals at or below it are left out; '' = a new snapshot,
-- hwm = the catalog's last seq now), upto (highest seq to return, '' = no bound), limit,
-- scan_max (entries looked at, at most: bounds the work of a filtered page), content types
-- (comma-separated, '' = all), market ('' = all), tombstone_retention_s (removals past it are
-- dropped first, a few per call).
-- Returns {'ok', pos, hwm, has_more (0/1), top, dropped, n, then n documents, each with its
-- status in front ('L' live, 'R' removed: the stored form)} where pos is the seq the next
-- page starts after, or {'expired', dropped} when a removal after the
-- cursor was already dropped (the partner must take a new snapshot).
--#include catalog_lib
local P, T = ARGV[1], ARGV[2]
local after, hwm, upto = tonumber(ARGV[3]) or 0, tonumber(ARGV[4]), tonumber(ARGV[5])
local limit, scan_max = tonumber(ARGV[6]) or 500, tonumber(ARGV[7]) or 5000
local types_arg, market, ret = ARGV[8], ARGV[9], (tonumber(ARGV[10]) or 0) * 1000
local C = P .. ':cat:' .. T
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ret > 0 then catalog_prune(P, T, now, ret, 64) end

local meta = redis.call('HMGET', C .. ':meta', 'seq', 'dropped')
local top, dropped = tonumber(meta[1]) or 0, tonumber(meta[2]) or 0
if hwm == nil then hwm = top end
if dropped > math.max(after, hwm) then return {'expired', dropped} end

local types = nil
if types_arg ~= '' then
  types = {}
  for ty in string.gmatch(types_arg, '[^,]+') do types[ty] = true end
end
local function market_ok(mk)
  if market == '' or mk == nil or mk == '' then return true end
  local found = string.find(',' .. string.sub(mk, 2) .. ',', ',' .. market .. ',', 1, true) ~= nil
  if string.sub(mk, 1, 1) == '-' then return not found end
  return found
end

local upper = upto and tostring(upto) or '+inf'
local filtered = types ~= nil or market ~= ''
local out, pos, scanned = {}, after, 0
while #out < limit and scanned < scan_max do
  local batch = redis.call('ZRANGEBYSCORE', C .. ':seq', '(' .. pos, upper, 'WITHSCORES', 'LIMIT',
                           0, math.min(256, scan_max - scanned, 2 * (limit - #out)))
  if #batch == 0 then break end
  local keys = {}
  for i = 1, #batch, 2 do keys[#keys + 1] = C .. ':d:' .. batch[i] end
  local docs = redis.call('MGET', unpack(keys))
  for k = 1, #keys do
    local s, d = tonumber(batch[2 * k]), docs[k]
    scanned = scanned + 1
    pos = s
    if d and not (string.byte(d, 1) == 82 and s <= hwm) then -- 82: 'R', a removal
      local ok = true
      if filtered then
        local e = redis.call('HMGET', C .. ':e:' .. batch[2 * k - 1], 'content_type', 'markets')
        ok = (types == nil or types[e[1] or '']) and market_ok(e[2])
      end
      if ok then
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
