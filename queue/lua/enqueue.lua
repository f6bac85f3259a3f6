-- Accepts a batch of content events (one call for every event the relay verified in one loop
-- pass). For each, the dedupe mark and the stream entry are written together or not at all (a
-- script runs atomically and reaches the AOF as one unit), and each has its own duplicate
-- check, so two copies of one event in one batch give queued then duplicate.
-- ARGV: prefix, dedupe_ttl_s, then per event the 11 values of its stream entry in this order:
-- source, event_id, type, content_type, content_id, show_id, season_number, episode_number,
-- created_at, received_at, request_id. The field names are written here rather than sent:
-- every argument costs Redis a string object on the way in and a Lua string on the way to the
-- script, and the XADD is made directly from ARGV (no table, no unpack) for the same reason.
-- Returns a flat array, two items per event in order: 1, stream_id when queued; 0, "" when
-- (source, event_id) was already accepted.
local PER_EVENT = 11
local n = #ARGV
if n < 2 or (n - 2) % PER_EVENT ~= 0 then
  return redis.error_reply('ERR enqueue: ' .. n .. ' arguments is not 2 + 11 per event')
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
    out[k + 2] = redis.call('XADD', stream, '*', 'source', source, 'event_id', event_id,
      'type', ARGV[i + 2], 'content_type', ARGV[i + 3], 'content_id', ARGV[i + 4],
      'show_id', ARGV[i + 5], 'season_number', ARGV[i + 6], 'episode_number', ARGV[i + 7],
      'created_at', ARGV[i + 8], 'received_at', ARGV[i + 9], 'request_id', ARGV[i + 10])
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
