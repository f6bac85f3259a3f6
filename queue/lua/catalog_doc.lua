-- catalog_doc: one title's entry of a target's catalog in the stored form ('L' or 'R', seq,
-- ':', document; docs/redis.md, "Catalog"), for rendering a push target's removal from the
-- document it last had. KEYS: none. ARGV: prefix, target, source, content_id.
-- Returns the stored form, or nil when the catalog has no such title.
local C = ARGV[1] .. ':cat:' .. ARGV[2]
local seq = redis.call('HGET', C .. ':e:' .. ARGV[3] .. ':' .. ARGV[4], 'seq')
if not seq then return false end
local d = redis.call('ZRANGEBYSCORE', C .. ':docs', seq, seq)[1]
if d then return d end
-- written by a build that kept a string per title, not migrated yet (catalog_migrate)
d = redis.call('GET', C .. ':d:' .. ARGV[3] .. ':' .. ARGV[4])
if not d then return false end
return string.sub(d, 1, 1) .. seq .. ':' .. string.sub(d, 2)
