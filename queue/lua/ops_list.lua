-- One slice of the delivery log, newest first, filtered.
-- KEYS: none. ARGV: prefix, want, budget, cursor_score, cursor_id, status, target, source,
-- since_ms, until_ms (empty cursor/filters = none; since/until bound created_at, which is
-- the log's score, inclusive). The cursor is the position of the last entry already seen:
-- this call continues strictly after it in (score desc, id desc) order.
-- Returns JSON {"items": [record hash as object...], "next": [score, id] | false}. "next" is
-- set when a further match exists (or may exist: the scan budget ran out before the end);
-- it is the position to continue after.
local P, want, budget = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local cscore, cid = ARGV[4], ARGV[5]
local fstatus, ftarget, fsource = ARGV[6], ARGV[7], ARGV[8]
local since, till = ARGV[9] or '', ARGV[10] or ''
local log = P .. ':log'

local max = '+inf'
if cscore ~= '' then max = cscore end
if till ~= '' and (max == '+inf' or tonumber(till) < tonumber(max)) then max = till end
local min = '-inf'
if since ~= '' then min = since end

local items, last = {}, nil
local scanned, offset = 0, 0
local next_pos = false
local batch = 200
local MATCH_FIELDS = {'status', 'target', 'source'} -- what the filters read (rec_get)

local function matches(id)
    local h = rec_get(P, id, MATCH_FIELDS)
    if not h[1] then return false end -- record expired before the log was trimmed
    if fstatus ~= '' and h[1] ~= fstatus then return false end
    if ftarget ~= '' and h[2] ~= ftarget then return false end
    if fsource ~= '' and h[3] ~= fsource then return false end
    return true
end

local done = false
while not done do
    local page = redis.call('ZREVRANGEBYSCORE', log, max, min, 'WITHSCORES', 'LIMIT', offset, batch)
    if #page == 0 then break end
    offset = offset + #page / 2
    for i = 1, #page, 2 do
        local id, score = page[i], page[i + 1]
        -- Entries that share the cursor's score come in id-descending order; those at or
        -- above the cursor id were on an earlier page.
        if not (cscore ~= '' and score == cscore and id >= cid) then
            scanned = scanned + 1
            if matches(id) then
                if #items >= want then
                    next_pos = { last[1], last[2] }
                    done = true
                    break
                end
                items[#items + 1] = rec_table(P, id)
                last = { score, id }
            end
            if scanned >= budget then
                -- Out of budget: the caller continues after what was scanned.
                if #items >= want then
                    next_pos = { last[1], last[2] }
                else
                    next_pos = { score, id }
                end
                done = true
                break
            end
        end
    end
end

return cjson.encode({ items = items, next = next_pos })
