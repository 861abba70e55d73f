-- A Server-Sent Events client over cosockets (HTTP/1.1, chunked), for
-- tests that hold streams open inside one nginx worker.
local _M = {}
local mt = { __index = _M }

-- open("/api/v1/inbox/stream", { headers = {...}, timeout = ms,
--       port = n }): the stream, its status and headers; a response that
-- is not a stream is read whole into .body
function _M.open(path, opts)
    opts = opts or {}
    local sock = ngx.socket.tcp()
    sock:settimeout(opts.timeout or 10000)
    local ok, err = sock:connect("127.0.0.1",
                                 opts.port or tonumber(ngx.var.server_port))
    if not ok then
        return nil, "connect: " .. err
    end
    local lines = { "GET " .. path .. " HTTP/1.1", "Host: localhost" }
    for k, v in pairs(opts.headers or {}) do
        lines[#lines + 1] = k .. ": " .. v
    end
    ok, err = sock:send(table.concat(lines, "\r\n") .. "\r\n\r\n")
    if not ok then
        return nil, "send: " .. err
    end

    local self = setmetatable({ sock = sock, headers = {}, buf = "" }, mt)
    local line
    line, err = sock:receive("*l")
    if not line then
        return nil, "status line: " .. err
    end
    self.status = tonumber(line:match("^HTTP/1%.%d (%d%d%d)"))
    while true do
        line, err = sock:receive("*l")
        if not line then
            return nil, "headers: " .. err
        end
        if line == "" then
            break
        end
        local k, v = line:match("^([^:]+):%s*(.*)$")
        self.headers[k:lower()] = v
    end

    if self.headers["content-type"] ~= "text/event-stream" then
        self.body = sock:receive(tonumber(self.headers["content-length"]))
        sock:close()
    end
    return self
end

-- appends the next chunk of the body to self.buf
function _M.fill(self)
    local line, err = self.sock:receive("*l")
    if not line then
        return nil, err
    end
    local size = tonumber(line:match("^%x+"), 16)
    if not size then
        return nil, "bad chunk size: " .. line
    end
    if size == 0 then
        return nil, "end of stream"
    end
    local data
    data, err = self.sock:receive(size + 2)
    if not data then
        return nil, err
    end
    self.buf = self.buf .. data:sub(1, size)
    return true
end

-- the next message: { id =, event =, data =, retry = } or { comment = }
function _M.next(self)
    while true do
        local s, e = self.buf:find("\n\n", 1, true)
        if s then
            local block = self.buf:sub(1, s - 1)
            self.buf = self.buf:sub(e + 1)
            local msg = {}
            for line in block:gmatch("[^\n]+") do
                local field, value = line:match("^([^:]*):? ?(.*)$")
                msg[field == "" and "comment" or field] = value
            end
            return msg
        end
        local ok, err = self:fill()
        if not ok then
            return nil, err
        end
    end
end

-- the first message for which pred(msg) holds, skipping the others
function _M.wait(self, pred)
    while true do
        local msg, err = self:next()
        if not msg then
            return nil, err
        end
        if pred(msg) then
            return msg
        end
    end
end

-- the next event, comments (pings) skipped
function _M.event(self)
    return self:wait(function (m) return m.id ~= nil end)
end

-- waits until the server says the stream is live (": connected");
-- returns the events replayed before that
function _M.live(self)
    local replayed = {}
    local msg, err = self:wait(function (m)
        if m.id then
            replayed[#replayed + 1] = m
        end
        return m.comment == "connected"
    end)
    if not msg then
        return nil, err
    end
    return replayed
end

function _M.close(self)
    self.sock:close()
end

return _M
