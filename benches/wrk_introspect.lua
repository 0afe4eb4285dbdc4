-- wrk script: POST /oauth2/token/introspect forms with client_secret_basic,
-- cycling through a file of tokens (one a line).
--
--   cargo bench --bench load -- --tokens 1000000 --hold 120 --token-file target/wrk-tokens.txt
--   wrk -t2 -c64 -d10s --latency -s benches/wrk_introspect.lua \
--       http://127.0.0.1:PORT/oauth2/token/introspect -- CLIENT_ID CLIENT_SECRET target/wrk-tokens.txt
--
-- The load harness prints both commands (tessera and the baseline) with the
-- ports and credentials filled in. At most 20,000 tokens are read; their
-- requests are built once, in init, so the script costs wrk little per request.

local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(n / 262144) % 64
    local c2 = math.floor(n / 4096) % 64
    local c3 = math.floor(n / 64) % 64
    local c4 = n % 64
    out[#out + 1] = b64chars:sub(c1 + 1, c1 + 1) .. b64chars:sub(c2 + 1, c2 + 1)
      .. (b and b64chars:sub(c3 + 1, c3 + 1) or "=")
      .. (c and b64chars:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

-- RFC 6749 2.3.1: the id and secret are form-urlencoded before base64.
local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(ch) return string.format("%%%02X", ch:byte()) end))
end

local requests = {}
local n = 0
local i = 0
local threads = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  if #args < 3 then
    error("usage: wrk ... -s wrk_introspect.lua URL -- CLIENT_ID CLIENT_SECRET TOKEN_FILE")
  end
  local headers = {
    ["Authorization"] = "Basic " .. base64(urlencode(args[1]) .. ":" .. urlencode(args[2])),
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }
  for line in io.lines(args[3]) do
    if #line > 0 then
      n = n + 1
      requests[n] = wrk.format("POST", nil, headers, "token=" .. urlencode(line))
      if n >= 20000 then break end
    end
  end
  if n == 0 then error("no tokens in " .. args[3]) end
  -- Each thread starts at a different place in the list.
  i = ((id or 0) * 7919) % n
end

function request()
  i = i % n + 1
  return requests[i]
end
