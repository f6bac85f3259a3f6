-- catalog_migrate: moves the documents of a catalog written by a build that kept one string
-- per title (C:d:{source}:{content_id}: 'L' or 'R', then the document) into C:docs (the
-- stored form, docs/redis.md "Catalog"), a batch per call, walking C:seq from where the last
-- call stopped (C:meta migrated_to); C:meta layout = 2 once a catalog is done, after which a
-- call costs one HGET. Run by the relay at start until it returns 0.
-- KEYS: none. ARGV: prefix, max (entries looked at per call), then target names.
-- Returns how many entries were looked at (0 = every catalog is done).
local P, max = ARGV[1], tonumber(ARGV[2]) or 1000
local looked = 0
for i = 3, #ARGV do
  local C = P .. ':cat:' .. ARGV[i]
  local m = redis.call('HMGET', C .. ':meta', 'layout', 'migrated_to')
  if m[1] ~= '2' then
    local batch = redis.call('ZRANGEBYSCORE', C .. ':seq', '(' .. (m[2] or '0'), '+inf',
                             'WITHSCORES', 'LIMIT', 0, max - looked)
    for k = 1, #batch, 2 do
      local key, s = C .. ':d:' .. batch[k], batch[k + 1]
      local d = redis.call('GET', key)
      if d then
        if #redis.call('ZRANGEBYSCORE', C .. ':docs', s, s) == 0 then
          redis.call('ZADD', C .. ':docs', s, string.sub(d, 1, 1) .. s .. ':' .. string.sub(d, 2))
        end
        redis.call('DEL', key)
      end
    end
    looked = looked + #batch / 2
    if #batch == 0 then
      redis.call('HSET', C .. ':meta', 'layout', '2')
      redis.call('HDEL', C .. ':meta', 'migrated_to')
    else
      redis.call('HSET', C .. ':meta', 'migrated_to', batch[#batch])
    end
    if looked >= max then break end
  end
end
return looked
