-- sync_records: sync run records, newest first. KEYS: none. ARGV: prefix, sync id ('' = list),
-- source filter ('' = all), limit. Returns an array of flat field/value arrays (HGETALL of
-- each record), without the internal checkpoint fields.
local P, id, src, limit = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local ids
if id ~= '' then ids = {id} else ids = redis.call('ZREVRANGE', P .. ':syncs', 0, -1) end
local out = {}
for _, sid in ipairs(ids) do
  if #out >= limit then break end
  local h = redis.call('HGETALL', P .. ':sync:run:' .. sid)
  if #h > 0 then
    local keep = src == ''
    if not keep then
      for i = 1, #h, 2 do if h[i] == 'source' then keep = h[i + 1] == src end end
    end
    if keep then table.insert(out, h) end
  elseif id == '' then
    redis.call('ZREM', P .. ':syncs', sid) -- expired record
  end
end
return out
