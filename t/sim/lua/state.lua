-- All simulator state lives in one shared dict as JSON records, so every
-- request and every timer sees the same world.  The simulator runs one
-- nginx worker and no shdict call yields, so a read-modify-write below is
-- never interleaved with another one.
--
-- Layout: "<kind>:<id>" → record; "n:<kind>" → how many were created;
-- "ix:<kind>:<n>" → id of the n-th, for listing in creation order;
-- "n:*" → the last seq given; "k:<name>" → small JSON values (settings,
-- faults, delivery mode); "c:<name>" → counters; "epoch" → see reset().
local json = require "json"
local config = require "config"

local _M = {}

local dict = ngx.shared.sim

local function check(ok, err)
    if not ok then
        error("simulator state: " .. tostring(err)
              .. " (raise lua_shared_dict sim)")
    end
end

function _M.get(kind, id)
    local raw = dict:get(kind .. ":" .. id)
    return raw and json.decode(raw)
end

-- stores rec under its id (rec.id unless given); a new record is indexed
-- and receives rec.seq, its position among all records of every kind
function _M.put(kind, rec, id)
    id = id or rec.id
    local key = kind .. ":" .. id
    local old = dict:get(key)
    if not old then
        local n = dict:incr("n:" .. kind, 1, 0)
        check(dict:safe_set("ix:" .. kind .. ":" .. n, id))
        rec.seq = dict:incr("n:*", 1, 0)
    elseif not rec.seq then
        rec.seq = json.decode(old).seq
    end
    check(dict:safe_set(key, json.encode(rec)))
    return rec
end

-- every record of a kind, in creation order, optionally filtered
function _M.list(kind, keep)
    local out = {}
    for i = 1, dict:get("n:" .. kind) or 0 do
        local rec = _M.get(kind, dict:get("ix:" .. kind .. ":" .. i))
        if rec and (not keep or keep(rec)) then
            out[#out + 1] = rec
        end
    end
    return out
end

function _M.value(name)
    local raw = dict:get("k:" .. name)
    return raw and json.decode(raw)
end

function _M.set_value(name, v)
    check(dict:safe_set("k:" .. name, json.encode(v)))
end

function _M.incr(name)
    return dict:incr("c:" .. name, 1, 0)
end

function _M.count(name)
    return dict:get("c:" .. name) or 0
end

-- run-time settings: defaults from config.lua, changed by /_sim/config
function _M.setting(name)
    local s = _M.value("settings") or {}
    if s[name] ~= nil then
        return s[name]
    end
    return config.defaults[name]
end

-- a reset starts a new epoch: timers armed before it see a different
-- epoch when they fire and do nothing
function _M.epoch()
    return dict:get("epoch")
end

-- runs fn(...) after ms unless the simulator is reset meanwhile
function _M.after(ms, fn, ...)
    return ngx.timer.at(ms / 1000, function (premature, epoch, ...)
        if not premature and _M.epoch() == epoch then
            fn(...)
        end
    end, _M.epoch(), ...)
end

function _M.reset()
    dict:flush_all()
    dict:flush_expired()
    check(dict:safe_set("epoch", ngx.now() .. "-" .. math.random(1e9)))
end

return _M
