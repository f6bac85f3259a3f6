-- catalog_load: writes many titles into one target's catalog with the same write the worker's
-- completion does (catalog_lib). Used by bulk loads (bench/feeds, tests).
-- KEYS: none. ARGV: prefix, target, tombstone_retention_s, n, then n groups of 10: source,
-- content_id, status (live|removed), doc, order_ts, order_seq, updated_at, content_type,
-- markets, delivery_id. Returns one outcome per group (catalog_put's answer).
--#include catalog_lib
local P, T, ret, n = ARGV[1], ARGV[2], (tonumber(ARGV[3]) or 0) * 1000, tonumber(ARGV[4]) or 0
local now = now_ms()
local nows = itoa(now)
-- checked before anything is written: catalog_flush() must follow every write
for i = 0, n - 1 do
  local st = ARGV[4 + 10 * i + 3]
  if st ~= 'live' and st ~= 'removed' then
    return redis.error_reply('catalog_load: status must be live or removed')
  end
end
local out = {}
for i = 0, n - 1 do
  local b = 4 + 10 * i
  local e = {source = ARGV[b + 1], content_id = ARGV[b + 2], status = ARGV[b + 3],
             doc = ARGV[b + 4], order_ts = ARGV[b + 5], order_seq = ARGV[b + 6],
             updated_at = ARGV[b + 7], content_type = ARGV[b + 8], markets = ARGV[b + 9],
             delivery_id = ARGV[b + 10]}
  out[i + 1] = catalog_put(P, T, e, now, nows, ret)
end
catalog_flush(P, now)
return out
