-- host.lua: the entry points gen/gen.c calls. Configurations cross into C
-- as canonical strings ("k=v,k=v", keys sorted); templates see tables.
--
-- A template module returns a table with:
--   space(p)        -> list of config tables, every valid variant for p
--   default(p)      -> one config table, chosen analytically
--   check(p, cfg)   -> true, or false and a message (invalid value)
--   complete(p, cfg, given) -> (optional) the default with the keys given
--                      set, adjusted where a key of the default's strategy
--                      does not apply to the one given
--   render(p, cfg)  -> {source, kernel, block, smem, rows_per_cta, cluster}
-- p is {op, pass, dtype = "f32"|"f16"|"bf16", cols, sm, opts}; opts holds
-- the problem's options that change the code (a table parsed from the
-- canonical string, e.g. {target = "i64", weight = 1}).
local host = {}

-- Raise an error that is the caller's mistake (C maps it to KGEN_EINVAL).
function host.user_error(msg)
  error({ kgen_user = msg }, 2)
end

function host.parse(s)
  local cfg = {}
  for item in string.gmatch(s, "[^,]+") do
    local k, v = string.match(item, "^%s*([%w_]+)%s*=%s*([%w_%.%-]+)%s*$")
    if not k then
      host.user_error("malformed config item '" .. item .. "' (expected key=value)")
    end
    cfg[k] = math.tointeger(tonumber(v)) or tonumber(v) or v
  end
  return cfg
end

function host.format(cfg)
  local keys = {}
  for k in pairs(cfg) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. tostring(cfg[k]) end
  return table.concat(parts, ",")
end

-- The problem's options arrive as a canonical string; templates see a table.
local function problem(p)
  if type(p.opts) ~= "table" then p.opts = host.parse(p.opts or "") end
  return p
end

function host.space(family, p)
  p = problem(p)
  local T = require(family)
  local out = {}
  for i, cfg in ipairs(T.space(p)) do out[i] = host.format(cfg) end
  return out
end

function host.default(family, p)
  return host.format(require(family).default(problem(p)))
end

function host.render(family, p, cfgstr)
  p = problem(p)
  local T = require(family)
  local cfg = T.default(p)
  for k, v in pairs(host.parse(cfgstr)) do
    local optional = false  -- keys a template accepts beyond its default's (T.keys)
    for _, name in ipairs(T.keys or {}) do optional = optional or name == k end
    if cfg[k] == nil and not optional then
      local known, seen = {}, {}
      for name in pairs(cfg) do known[#known + 1] = name; seen[name] = true end
      for _, name in ipairs(T.keys or {}) do
        if not seen[name] then known[#known + 1] = name end
      end
      table.sort(known)
      host.user_error(string.format("unknown config key '%s' for %s (known: %s)",
        k, family, table.concat(known, ", ")))
    end
    cfg[k] = v
  end
  if T.complete then cfg = T.complete(p, cfg, host.parse(cfgstr)) end
  local ok, why = T.check(p, cfg)
  if not ok then
    host.user_error(string.format("invalid config '%s' for %s: %s", host.format(cfg), family, why))
  end
  local r = T.render(p, cfg)
  r.config = host.format(cfg)
  return r
end

return host
