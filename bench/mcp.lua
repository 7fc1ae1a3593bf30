-- One MCP tool call (JSON-RPC tools/call, Streamable HTTP) per request,
-- cycling every wrk connection through the token pool of TOKENS_FILE (or
-- none, for plain Caddy's reference run when TOKENS_FILE is unset).
local tokens = {}
local file = os.getenv("TOKENS_FILE")
if file and file ~= "" then
  for line in io.lines(file) do tokens[#tokens + 1] = line end
end
local counter = 1
local body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}'

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

function init(args)
  i = offset or 0
end

function request()
  i = i + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Accept"] = "application/json, text/event-stream",
    ["Mcp-Protocol-Version"] = "2025-06-18",
  }
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]
  end
  return wrk.format("POST", "/mcp", headers, body)
end
