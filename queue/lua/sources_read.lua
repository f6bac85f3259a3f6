-- The registration view of each named source: ARGV: prefix, hour (unix ms / 3600000), names.
-- Returns per source: {last_received_at, last_ping_at, last_rejection_at, last_rejection_code,
-- {field, count, ...}} with the counts summed over the current hour's bucket and the 23 before
-- it (the last 24 hours, to the hour); missing values are empty strings.
local prefix, hour = ARGV[1], tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV do
  local key = prefix .. ':src:' .. ARGV[i]
  local v = redis.call('HMGET', key, 'last_received_at', 'last_ping_at', 'last_rejection_at',
                       'last_rejection_code')
  local sums, order = {}, {}
  for h = hour - 23, hour do
    local flat = redis.call('HGETALL', key .. ':' .. h)
    for k = 1, #flat, 2 do
      if sums[flat[k]] == nil then
        sums[flat[k]] = 0
        order[#order + 1] = flat[k]
      end
      sums[flat[k]] = sums[flat[k]] + tonumber(flat[k + 1])
    end
  end
  local counts = {}
  for _, f in ipairs(order) do
    counts[#counts + 1] = f
    counts[#counts + 1] = tostring(sums[f])
  end
  out[#out + 1] = {v[1] or '', v[2] or '', v[3] or '', v[4] or '', counts}
end
return out
