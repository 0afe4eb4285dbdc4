-- wrk script: the same POST on every request. The body and extra headers
-- come from the environment so one script serves every scenario:
--   WRK_BODY      the request body
--   WRK_CTYPE     its content type (default application/x-www-form-urlencoded)
--   WRK_AUTH      an Authorization header value (optional)
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY") or ""
wrk.headers["Content-Type"] = os.getenv("WRK_CTYPE") or "application/x-www-form-urlencoded"
local auth = os.getenv("WRK_AUTH")
if auth and #auth > 0 then
  wrk.headers["Authorization"] = auth
end

local non2xx = 0
response = function(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end
