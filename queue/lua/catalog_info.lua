-- catalog_info: per feed target what GET /admin/feeds and relayctl feeds show.
-- KEYS: none. ARGV: prefix, then target names. Returns per target a group of 7: live,
-- removed, seq (last change), last_poll_at (ms or ''), last_poll_status ('' = never polled),
-- lag (titles changed after the cursor the partner last used; '' = never polled), dropped.
local P = ARGV[1]
local out = {}
for i = 2, #ARGV do
  local C = P .. ':cat:' .. ARGV[i]
  local m = redis.call('HMGET', C .. ':meta', 'live', 'removed', 'seq', 'last_poll_at',
                       'last_poll_status', 'last_cursor', 'dropped')
  local lag = ''
  if m[6] then lag = redis.call('ZCOUNT', C .. ':seq', '(' .. m[6], '+inf') end
  for _, v in ipairs({m[1] or '0', m[2] or '0', m[3] or '0', m[4] or '', m[5] or '', lag,
                      m[7] or '0'}) do
    table.insert(out, tostring(v))
  end
end
return out
