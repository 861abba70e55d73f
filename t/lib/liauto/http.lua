-- A minimal HTTP/1.1 client over cosockets for tests that need several
-- requests in flight at once inside one nginx worker.
local _M = {}

local function parse(raw)
    local head, body = raw:match("^(.-)\r\n\r\n(.*)$")
    if not head then
        return nil, "malformed response: " .. raw
    end
    local status = tonumber(head:match("^HTTP/1%.%d (%d%d%d)"))
    local headers = {}
    for k, v in head:gmatch("\r\n([^:\r\n]+):%s*([^\r\n]*)") do
        headers[k:lower()] = v
    end
    return { status = status, headers = headers, body = body }
end

-- request("GET", "/api/v1/health", { headers = {...}, body = "...",
--          timeout = ms, abort_after = ms })
function _M.request(method, path, opts)
    opts = opts or {}
    local sock = ngx.socket.tcp()
    sock:settimeout(opts.timeout or 10000)
    -- the port clients reach this nginx on: a proxy in front of it when
    -- TEST_NGINX_CLIENT_PORT says so (./build.sh's contract suite: prism,
    -- t/compat passes the variable to nginx), else nginx itself
    local port = os.getenv("TEST_NGINX_CLIENT_PORT") or ngx.var.server_port
    local ok, err = sock:connect("127.0.0.1", tonumber(port))
    if not ok then
        return nil, "connect: " .. err
    end
    local lines = { method .. " " .. path .. " HTTP/1.1",
                    "Host: localhost", "Connection: close" }
    for k, v in pairs(opts.headers or {}) do
        lines[#lines + 1] = k .. ": " .. v
    end
    if opts.body then
        lines[#lines + 1] = "Content-Length: " .. #opts.body
    end
    local req = table.concat(lines, "\r\n") .. "\r\n\r\n" .. (opts.body or "")
    ok, err = sock:send(req)
    if not ok then
        return nil, "send: " .. err
    end
    if opts.abort_after then
        ngx.sleep(opts.abort_after / 1000)
        sock:close()
        return { aborted = true }
    end
    local raw
    raw, err = sock:receive("*a")
    sock:close()
    if not raw then
        return nil, "receive: " .. err
    end
    return parse(raw)
end

-- the helper that closes nginx's descriptors before running a command
local detach = debug.getinfo(1, "S").source:match("^@(.*)/liauto/[^/]*$")
               .. "/detach.sh"

local function shell_quote(s)
    return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- runs a shell command in the background (it must not block the worker)
function _M.spawn(cmd)
    os.execute(detach .. " sh -c " .. shell_quote(cmd)
               .. " >/dev/null 2>&1 &")
end

-- runs a shell command to completion; for quick commands only
function _M.run(cmd)
    return os.execute(detach .. " sh -c " .. shell_quote(cmd)
                      .. " >/dev/null 2>&1")
end

return _M
