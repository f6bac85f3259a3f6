-- Accepts one content event: the dedupe mark and the stream entry are written together or
-- not at all (a script runs atomically and reaches the AOF as one unit).
-- ARGV: prefix, source, event_id, dedupe_ttl_s, then the stream entry's field/value pairs.
-- Returns {1, stream_id} when queued, {0, ""} when (source, event_id) was already accepted.
local prefix = ARGV[1]
local dedupe = prefix .. ':dedupe:' .. ARGV[2] .. ':' .. ARGV[3]
if not redis.call('SET', dedupe, '1', 'NX', 'EX', ARGV[4]) then
  return {0, ''}
end
local stream = prefix .. ':events'
local fresh = redis.call('EXISTS', stream) == 0
local fields = {}
for i = 5, #ARGV do
  fields[#fields + 1] = ARGV[i]
end
local id = redis.call('XADD', stream, '*', unpack(fields))
if fresh then
  -- A Redis that restarted empty: recreate the group at 0 so workers see this entry too.
  redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0')
end
return {1, id}
