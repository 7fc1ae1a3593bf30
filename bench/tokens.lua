-- Cycles every wrk connection through a pool of distinct tokens, read from
-- the file named by TOKENS_FILE, one per line. Each thread starts at its own
-- offset, so no token is sent over and over.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local counter = 1
local path = os.getenv("BENCH_PATH") or "/api/x"

function setup(thread)
  counter = counter + 1
  thread:set("offset", counter * 7919)
end

function init(args)
  i = offset or 0
end

function request()
  i = i + 1
  local t = tokens[(i % #tokens) + 1]
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. t })
end
