-- Answers and request bodies.  Every JSON answer goes through send(), so a
-- "drop" fault (apply the effect, then close without answering) is
-- honoured in one place.
local json = require "json"

local _M = {}

-- the node SDK only parses bodies labelled exactly like this (ref. §0)
_M.JSON_TYPE = "application/json; charset=utf-8"

function _M.send(status, body, headers)
    if ngx.ctx.drop then
        ngx.log(ngx.NOTICE, "sim: fault drop: effect applied to ",
                ngx.var.request_method, " ", ngx.var.uri,
                ", closing without an answer")
        return ngx.exit(444)
    end
    ngx.status = status
    ngx.header["Content-Type"] = _M.JSON_TYPE
    for k, v in pairs(headers or {}) do
        ngx.header[k] = v
    end
    local text = json.encode(body)
    -- a length, not chunks: simple clients read to the end of the body
    ngx.header["Content-Length"] = #text
    ngx.print(text)
    return ngx.exit(status)
end

-- Unipile's RFC 7807-like error envelope (ref. §0.1)
function _M.unipile_error(status, kind, title, detail)
    return _M.send(status, {
        status = status,
        type = "errors/" .. kind,
        title = title,
        detail = detail,
        instance = detail and ngx.var.uri or nil,
    })
end

-- Resend's error envelope (ref. §5.2)
function _M.resend_error(status, name, message, headers)
    return _M.send(status,
                   { statusCode = status, name = name, message = message },
                   headers)
end

function _M.body()
    ngx.req.read_body()
    local data = ngx.req.get_body_data()
    if not data then
        local file = ngx.req.get_body_file()
        if file then
            local f = assert(io.open(file, "rb"))
            data = f:read("*a")
            f:close()
        end
    end
    return data or ""
end

-- the request body as a JSON object, or nil and why
function _M.json_body()
    local data = _M.body()
    local v, err = json.decode(data)
    if type(v) ~= "table" or json.is_array(v) or v == json.null then
        return nil, err or "the body is not a JSON object"
    end
    return v
end

-- a JSON value that may be null or absent → string or nil
function _M.str(v)
    if type(v) == "string" then return v end
    if type(v) == "number" then return tostring(v) end
    return nil
end

return _M
