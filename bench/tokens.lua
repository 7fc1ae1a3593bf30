-- Cycles every wrk connection through a pool of distinct tokens, read from
-- the file named by TOKENS_FILE, one per line. Each thread starts at its own
-- offset, so no token is sent over and over. bench/mcp.lua loads this file
-- for the pool and sends its own requests.
tokens = {}
local file = os.getenv("TOKENS_FILE")
if file and file ~= "" then
  for line in io.lines(file) do tokens[#tokens + 1] = line end
end
local counter = 1
local path = os.getenv("BENCH_PATH") or "/api/x"

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

function init(args)
  i = offset or 0
end

-- next_token is this thread's next token of the pool (nil without a pool).
function next_token()
  if #tokens == 0 then return nil end
  i = i + 1
  return tokens[(i % #tokens) + 1]
end

function request()
  local t = next_token()
  if not t then error("bench/tokens.lua: no tokens (set TOKENS_FILE to a file of tokens, one per line)") end
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. t })
end
