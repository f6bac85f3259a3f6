-- catalog_list: a page of a target's catalog entries for operators (GET /admin/catalog,
-- relayctl catalog), newest change first.
-- KEYS: none. ARGV: prefix, target, before (seq; '' = from the newest), limit, status ('' |
-- live | removed), source ('' = all), scan_max.
-- Returns {next ('' = no more; else pass as before), n, then n groups of 8: source,
-- content_id, status, seq, content_type, updated_at, delivered_at, delivery_id}.
local P, T, before, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]) or 50
local status, source, scan_max = ARGV[5], ARGV[6], tonumber(ARGV[7]) or 5000
local C = P .. ':cat:' .. T
local hi = before ~= '' and ('(' .. before) or '+inf'
local data, scanned, pos, exhausted = {}, 0, nil, false
local FIELDS = {'status', 'seq', 'content_type', 'updated_at', 'delivered_at', 'delivery_id'}
while #data < limit and scanned < scan_max do
  local batch = redis.call('ZREVRANGEBYSCORE', C .. ':seq', hi, '-inf', 'WITHSCORES', 'LIMIT', 0,
                           math.min(256, scan_max - scanned))
  if #batch == 0 then exhausted = true; break end
  for i = 1, #batch, 2 do
    local m, s = batch[i], batch[i + 1]
    scanned = scanned + 1
    pos = s
    hi = '(' .. s
    local src, id = string.match(m, '^([^:]*):(.*)$')
    if source == '' or src == source then
      local v = redis.call('HMGET', C .. ':e:' .. m, unpack(FIELDS))
      if v[1] and (status == '' or v[1] == status) then
        table.insert(data, {src, id, v[1], v[2] or '', v[3] or '', v[4] or '', v[5] or '',
                            v[6] or ''})
        if #data >= limit then break end
      end
    end
  end
end
if not exhausted and pos and
   #redis.call('ZREVRANGEBYSCORE', C .. ':seq', '(' .. pos, '-inf', 'LIMIT', 0, 1) == 0 then
  exhausted = true
end
local out = {(not exhausted and pos) and tostring(pos) or '', #data}
for _, d in ipairs(data) do
  for _, v in ipairs(d) do table.insert(out, v) end
end
return out
