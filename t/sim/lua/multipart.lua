-- A small multipart/form-data parser (RFC 7578) for POST /chats and
-- POST /chats/{id}/messages: form fields only, repeated names kept in
-- order (attendees_ids is one part per id).
local _M = {}

local function boundary_of(content_type)
    if not content_type
       or not content_type:lower():find("^%s*multipart/form%-data")
    then
        return nil
    end
    return content_type:match('[Bb][Oo][Uu][Nn][Dd][Aa][Rr][Yy]="([^"]+)"')
        or content_type:match("[Bb][Oo][Uu][Nn][Dd][Aa][Rr][Yy]=([^;%s]+)")
end

-- the name="…" of a part's Content-Disposition header (any case)
local function field_name(head)
    for line in (head .. "\r\n"):gmatch("(.-)\r\n") do
        if line:lower():find("^content%-disposition:") then
            return line:match(';%s*[Nn][Aa][Mm][Ee]="([^"]*)"')
        end
    end
end

-- parse(content_type, body) → { name = { value, ... } }, or nil and why
function _M.parse(content_type, body)
    local boundary = boundary_of(content_type)
    if not boundary then
        return nil, "not multipart/form-data with a boundary"
    end
    local delim = "--" .. boundary
    local fields = {}
    local pos = body:find(delim, 1, true)
    if not pos then
        return nil, "no part delimiter in the body"
    end
    pos = pos + #delim
    while true do
        if body:sub(pos, pos + 1) == "--" then
            return fields
        end
        local head_start = body:find("\r\n", pos, true)
        if not head_start then
            return nil, "truncated part"
        end
        local head_end = body:find("\r\n\r\n", head_start, true)
        if not head_end then
            return nil, "part without a header end"
        end
        local head = body:sub(head_start + 2, head_end - 1)
        local next_delim = body:find("\r\n" .. delim, head_end + 4, true)
        if not next_delim then
            return nil, "part without a closing delimiter"
        end
        local value = body:sub(head_end + 4, next_delim - 1)
        local name = field_name(head)
        if not name then
            return nil, "part without a name"
        end
        fields[name] = fields[name] or {}
        table.insert(fields[name], value)
        pos = next_delim + 2 + #delim
    end
end

-- first value of a field, or nil
function _M.first(fields, name)
    return fields[name] and fields[name][1]
end

return _M
