-- sync_peek: what the targets' catalogs hold of a listed Movida page, read before the page is
-- applied, so that the runner can render each title as the delivery that filled the catalog
-- rendered it (the event time and first sighting stand in for Movida's missing updated_at and
-- created_at) and sync_page.lua can compare digests (README, Sync and backfill: Skip).
-- KEYS: none. ARGV: prefix, source, targets (comma-separated), n, then n content ids.
-- Returns, per content id and per target in that order, two strings: the catalog entry's
-- order_ts and the title's first_seen (P:title), both '' when the catalog has no live entry.
local P, src = ARGV[1], ARGV[2]
local targets = {}
for tg in string.gmatch(ARGV[3], '[^,]+') do table.insert(targets, tg) end
local n = tonumber(ARGV[4]) or 0
local out = {}
for i = 1, n do
  local cid = ARGV[4 + i]
  for _, tg in ipairs(targets) do
    local e = redis.call('HMGET', P .. ':cat:' .. tg .. ':e:' .. src .. ':' .. cid, 'status',
                         'order_ts')
    if e[1] == 'live' then
      table.insert(out, e[2] or '')
      table.insert(out, redis.call('HGET', title_key(P, tg, src, cid), 'first_seen') or '')
    else
      table.insert(out, '')
      table.insert(out, '')
    end
  end
end
return out
