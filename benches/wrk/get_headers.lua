-- wrk script: a GET with the entity API's three headers, from the
-- environment: WRK_APIKEY, WRK_USERID, WRK_TOKEN.
wrk.method = "GET"
wrk.headers["apikey"] = os.getenv("WRK_APIKEY") or ""
wrk.headers["userid"] = os.getenv("WRK_USERID") or ""
wrk.headers["token"] = os.getenv("WRK_TOKEN") or ""
