-- Accepts a batch of content events (one call for every event the relay verified in one loop
-- pass). For each, the dedupe mark and the stream entry are written together or not at all (a
-- script runs atomically and reaches the AOF as one unit), and each has its own duplicate
-- check, so two copies of one event in one batch give queued then duplicate.
-- ARGV: prefix, dedupe_ttl_s, then per event three values: source, event_id and the stream
-- entry's value, the event's 11 values joined by NUL bytes (docs/redis.md, "Ingest"; built by
-- queue/enqueue.c). One field holding them all, not 11 named fields: every argument costs Redis
-- a string object on the way in and a Lua string on the way to the script, and every field the
-- XADD stores and logs to the AOF (measured: ~18.7 -> ~13 us of Redis per event at batches of
-- 50). Returns a flat array, two items per event in order: 1, stream_id when queued; 0, "" when
-- (source, event_id) was already accepted.
local PER_EVENT = 3
local n = #ARGV
if n < 2 or (n - 2) % PER_EVENT ~= 0 then
  return redis.error_reply('ERR enqueue: ' .. n .. ' arguments is not 2 + 3 per event')
end
local ttl = ARGV[2]
local stream = ARGV[1] .. ':events'
local dedupe = ARGV[1] .. ':dedupe:'
local fresh = redis.call('EXISTS', stream) == 0
local out = {}
local k = 0
local added = false
for i = 3, n, PER_EVENT do
  local source, event_id = ARGV[i], ARGV[i + 1]
  if redis.call('SET', dedupe .. source .. ':' .. event_id, '1', 'NX', 'EX', ttl) then
    out[k + 1] = 1
    out[k + 2] = redis.call('XADD', stream, '*', 'e', ARGV[i + 2])
    added = true
  else
    out[k + 1] = 0
    out[k + 2] = ''
  end
  k = k + 2
end
if fresh and added then
  -- A Redis that restarted empty: recreate the group at 0 so workers see these entries too.
  redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0')
end
return out
