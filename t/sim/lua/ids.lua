-- Identifiers in the formats the real services use (reference §0):
-- Unipile ids are 16 random bytes in unpadded base64url (22 chars),
-- LinkedIn member ids "ACoAA" + 34 base64url chars (39), invitation ids
-- 19-digit numbers, provider chat/message ids "2-<base64>", Resend ids
-- UUID v4.
local state = require "state"

local _M = {}

local alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

local seeded = false

local function seed()
    if not seeded then
        math.randomseed(ngx.now() * 1000 + ngx.worker.pid())
        seeded = true
    end
end

local function random_chars(n, set)
    seed()
    local out = {}
    for i = 1, n do
        local k = math.random(#set)
        out[i] = set:sub(k, k)
    end
    return table.concat(out)
end

-- 16 random bytes encode to 21 full sextets plus 2 bits: the last
-- character can only be one whose low 4 bits are zero
function _M.unipile()
    return random_chars(21, alphabet) .. random_chars(1, "AQgw")
end

function _M.member()
    return "ACoAA" .. random_chars(34, alphabet)
end

function _M.invitation()
    return random_chars(1, "123456789") .. random_chars(18, "0123456789")
end

function _M.provider()
    return "2-" .. ngx.encode_base64(random_chars(24, alphabet))
end

function _M.uuid()
    local hex = "0123456789abcdef"
    return random_chars(8, hex) .. "-" .. random_chars(4, hex) .. "-4"
        .. random_chars(3, hex) .. "-" .. random_chars(1, "89ab")
        .. random_chars(3, hex) .. "-" .. random_chars(12, hex)
end

-- ISO-8601 UTC with milliseconds, as Unipile writes datetimes
function _M.iso(ms)
    ms = ms or _M.now_ms()
    return os.date("!%Y-%m-%dT%H:%M:%S", math.floor(ms / 1000))
        .. string.format(".%03dZ", ms % 1000)
end

-- the simulator's clock: real time plus the clock_offset_ms setting, so a
-- test that moves the engine's clock can move this one alike
function _M.now_ms()
    ngx.update_time()
    return math.floor(ngx.now() * 1000) + state.setting("clock_offset_ms")
end

return _M
