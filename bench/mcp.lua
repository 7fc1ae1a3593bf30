-- One MCP tool call (JSON-RPC tools/call, Streamable HTTP) per request,
-- cycling every wrk connection through the token pool of TOKENS_FILE
-- (bench/tokens.lua), or with no token when TOKENS_FILE is unset.
dofile("bench/tokens.lua")
local body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'

function request()
  local headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["Mcp-Protocol-Version"] = "2025-06-18",
  }
  local t = next_token()
  if t then
    headers["Authorization"] = "Bearer " .. t
  end
  return wrk.format("POST", "/mcp", headers, body)
end
