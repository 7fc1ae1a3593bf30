-- RFC 7591 registrations: each request registers one public client with a
-- loopback redirect URI (bench/driver's registration measurement).
local body = '{"client_name":"bench agent","redirect_uris":["http://127.0.0.1:8976/callback"],' ..
  '"grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"none"}'

function request()
  return wrk.format("POST", "/oauth/register", { ["Content-Type"] = "application/json" }, body)
end
