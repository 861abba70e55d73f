-- Cursor paging as Unipile does it: {"object": "<X>List", "items": [...],
-- "cursor": <opaque string or null>}.  Lists are ordered by the records'
-- seq (ascending or descending); the cursor names the last seq returned,
-- so a page boundary stays put when new records arrive meanwhile.
local json = require "json"

local _M = {}

local function encode_cursor(seq)
    local s = ngx.encode_base64("seq:" .. seq)
    return (s:gsub("%+", "-"):gsub("/", "_"):gsub("=", ""))
end

local function decode_cursor(cursor)
    local s = cursor:gsub("%-", "+"):gsub("_", "/")
    s = s .. string.rep("=", (4 - #s % 4) % 4)
    local raw = ngx.decode_base64(s)
    return raw and tonumber(raw:match("^seq:(%d+)$"))
end

-- limit from the query: default def, 1..max, or nil and why
function _M.limit(args, def, max)
    if args.limit == nil then
        return def
    end
    local n = tonumber(args.limit)
    if not n or n ~= math.floor(n) or n < 1 or n > max then
        return nil, "limit must be an integer between 1 and " .. max
    end
    return n
end

-- page(records, args, object, opts) → envelope or nil, error; records
-- come in creation order; opts: {def, max, newest_first, view}
function _M.page(records, args, object, opts)
    local limit, err = _M.limit(args, opts.def, opts.max)
    if not limit then
        return nil, err
    end
    if opts.newest_first then
        table.sort(records, function (a, b) return a.seq > b.seq end)
    end
    local after
    if args.cursor and args.cursor ~= "" then
        after = decode_cursor(args.cursor)
        if not after then
            return nil, "invalid cursor"
        end
    end
    local items, last = json.array(), nil
    local more = false
    for _, rec in ipairs(records) do
        local beyond = not after
            or (opts.newest_first and rec.seq < after)
            or (not opts.newest_first and rec.seq > after)
        if beyond then
            if #items == limit then
                more = true
                break
            end
            items[#items + 1] = opts.view(rec)
            last = rec.seq
        end
    end
    return {
        object = object,
        items = items,
        cursor = more and encode_cursor(last) or json.null,
    }
end

return _M
