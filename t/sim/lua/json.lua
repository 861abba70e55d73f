-- JSON for the simulator.  Debian's lua-nginx-module ships without
-- lua-cjson, and the simulator must tell [] from {} (Unipile sends
-- "attachments": [] and "seen_by": {}), so arrays carry a marker
-- metatable both when built here and when decoded; a plain non-empty
-- sequence is an array too.  Object keys are
-- encoded sorted so that bodies are byte-for-byte reproducible in tests.
local _M = {}

local array_mt = { __jsontype = "array" }
_M.null = setmetatable({}, { __tostring = function () return "null" end })

function _M.array(t)
    return setmetatable(t or {}, array_mt)
end

function _M.is_array(t)
    return getmetatable(t) == array_mt
end

local escapes = {
    ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
    ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
}

local function encode_string(s)
    return '"' .. s:gsub('[%c"\\]', function (c)
        return escapes[c] or string.format("\\u%04x", c:byte())
    end) .. '"'
end

local encode

local function encode_number(n)
    if n ~= n or n == math.huge or n == -math.huge then
        error("cannot encode " .. tostring(n) .. " as JSON")
    end
    if n == math.floor(n) and math.abs(n) < 2^53 then
        return string.format("%.0f", n)
    end
    return string.format("%.14g", n)
end

-- a marked array, or a non-empty table whose keys are exactly 1..n
local function is_sequence(t)
    if getmetatable(t) == array_mt then
        return true
    end
    local n = #t
    if n == 0 then
        return false
    end
    for k in pairs(t) do
        if type(k) ~= "number" or k < 1 or k > n or k ~= math.floor(k) then
            return false
        end
    end
    return true
end

local function encode_table(t, out)
    if t == _M.null then
        out[#out + 1] = "null"
        return
    end
    if is_sequence(t) then
        out[#out + 1] = "["
        for i = 1, #t do
            if i > 1 then out[#out + 1] = "," end
            encode(t[i], out)
        end
        out[#out + 1] = "]"
        return
    end
    local keys = {}
    for k in pairs(t) do
        keys[#keys + 1] = tostring(k)
    end
    table.sort(keys)
    out[#out + 1] = "{"
    for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = encode_string(k)
        out[#out + 1] = ":"
        local v = t[k]
        if v == nil then v = t[tonumber(k)] end
        encode(v, out)
    end
    out[#out + 1] = "}"
end

encode = function (v, out)
    local kind = type(v)
    if kind == "string" then
        out[#out + 1] = encode_string(v)
    elseif kind == "number" then
        out[#out + 1] = encode_number(v)
    elseif kind == "boolean" then
        out[#out + 1] = tostring(v)
    elseif kind == "table" then
        encode_table(v, out)
    elseif v == nil then
        out[#out + 1] = "null"
    else
        error("cannot encode a " .. kind .. " as JSON")
    end
end

function _M.encode(v)
    local out = {}
    encode(v, out)
    return table.concat(out)
end

-- decoding: a recursive descent over the string; errors carry the offset

local decode_value

local function skip(s, i)
    return s:find("[^ \t\r\n]", i) or #s + 1
end

local function utf8_char(cp)
    if cp < 0x80 then
        return string.char(cp)
    elseif cp < 0x800 then
        return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40)
    elseif cp < 0x10000 then
        return string.char(0xE0 + math.floor(cp / 0x1000),
                           0x80 + math.floor(cp / 0x40) % 0x40,
                           0x80 + cp % 0x40)
    end
    return string.char(0xF0 + math.floor(cp / 0x40000),
                       0x80 + math.floor(cp / 0x1000) % 0x40,
                       0x80 + math.floor(cp / 0x40) % 0x40,
                       0x80 + cp % 0x40)
end

local unescapes = {
    ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f',
    n = '\n', r = '\r', t = '\t',
}

local function decode_string(s, i)
    local out = {}
    local j = i + 1
    while true do
        local k = s:find('["\\%c]', j)
        if not k then error("unterminated string at " .. i) end
        out[#out + 1] = s:sub(j, k - 1)
        local c = s:sub(k, k)
        if c == '"' then
            return table.concat(out), k + 1
        elseif c == "\\" then
            local e = s:sub(k + 1, k + 1)
            if e == "u" then
                local cp = tonumber(s:sub(k + 2, k + 5), 16)
                if not cp then error("bad \\u escape at " .. k) end
                j = k + 6
                if cp >= 0xD800 and cp < 0xDC00
                   and s:sub(j, j + 1) == "\\u"
                then
                    local lo = tonumber(s:sub(j + 2, j + 5), 16)
                    if lo and lo >= 0xDC00 and lo < 0xE000 then
                        cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
                        j = j + 6
                    end
                end
                out[#out + 1] = utf8_char(cp)
            elseif unescapes[e] then
                out[#out + 1] = unescapes[e]
                j = k + 2
            else
                error("bad escape at " .. k)
            end
        else
            error("control character in string at " .. k)
        end
    end
end

local function decode_array(s, i)
    local arr = _M.array()
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then return arr, i + 1 end
    while true do
        local v
        v, i = decode_value(s, i)
        arr[#arr + 1] = v
        i = skip(s, i)
        local c = s:sub(i, i)
        if c == "]" then return arr, i + 1 end
        if c ~= "," then error("expected , or ] at " .. i) end
        i = skip(s, i + 1)
    end
end

local function decode_object(s, i)
    local obj = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then return obj, i + 1 end
    while true do
        if s:sub(i, i) ~= '"' then error("expected a key at " .. i) end
        local k
        k, i = decode_string(s, i)
        i = skip(s, i)
        if s:sub(i, i) ~= ":" then error("expected : at " .. i) end
        local v
        v, i = decode_value(s, skip(s, i + 1))
        obj[k] = v
        i = skip(s, i)
        local c = s:sub(i, i)
        if c == "}" then return obj, i + 1 end
        if c ~= "," then error("expected , or } at " .. i) end
        i = skip(s, i + 1)
    end
end

local literals = { ["true"] = true, ["false"] = false }

decode_value = function (s, i)
    local c = s:sub(i, i)
    if c == "{" then return decode_object(s, i) end
    if c == "[" then return decode_array(s, i) end
    if c == '"' then return decode_string(s, i) end
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    if num and #num > 0 then
        local n = tonumber(num)
        if not n then error("bad number at " .. i) end
        return n, i + #num
    end
    for word, v in pairs(literals) do
        if s:sub(i, i + #word - 1) == word then return v, i + #word end
    end
    if s:sub(i, i + 3) == "null" then return _M.null, i + 4 end
    error("unexpected character at " .. i)
end

-- decode(text) → value, or nil and the reason
function _M.decode(s)
    local ok, v, i = pcall(decode_value, s, skip(s, 1))
    if not ok then return nil, v end
    if skip(s, i) <= #s then return nil, "trailing data at " .. i end
    return v
end

return _M
