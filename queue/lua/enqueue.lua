-- Accepts a batch of content events (one call for every event the relay verified in one loop
-- pass). For each, the dedupe mark and the stream entry are written together or not at all (a
-- script runs atomically and reaches the AOF as one unit), and each has its own duplicate
-- check, so two copies of one event in one batch give queued then duplicate.
-- ARGV: prefix, dedupe_ttl_s, then per event: source, event_id, n, and n field/value pairs
-- (2n arguments) of its stream entry.
-- Returns a flat array, two items per event in order: 1, stream_id when queued; 0, "" when
-- (source, event_id) was already accepted.
local prefix = ARGV[1]
local ttl = ARGV[2]
local stream = prefix .. ':events'
local fresh = redis.call('EXISTS', stream) == 0
local out = {}
local added = false
local i = 3
while i <= #ARGV do
  local source, event_id, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local first = i + 3
  i = first + 2 * n
  if redis.call('SET', prefix .. ':dedupe:' .. source .. ':' .. event_id, '1', 'NX', 'EX', ttl) then
    local fields = {}
    for k = first, i - 1 do
      fields[#fields + 1] = ARGV[k]
    end
    out[#out + 1] = 1
    out[#out + 1] = redis.call('XADD', stream, '*', unpack(fields))
    added = true
  else
    out[#out + 1] = 0
    out[#out + 1] = ''
  end
end
if fresh and added then
  -- A Redis that restarted empty: recreate the group at 0 so workers see these entries too.
  redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0')
end
return out
