-- Outcome points of one person-day, from its counts (a table name -> number). A kind's
-- counts sit in `o:<kind>` (plain) and `o:<kind>~<mods>` (mods: '+'-joined, see
-- bot/core/outcome_rules.py; `env_<name>` falls back to MODS['env_']). Each modified count
-- is scaled by the product of its fractions; reverted counts are taken back:
-- points = weight * (F(kept) - F(reverted)) with F(x) = transform(min(x, cap)) and x never
-- below 0. RULES: {kind: [weight, cap (0 = none), transform]}; MODS: {mod: fraction}.
local function transform(x, rule)
  if x < 0 then x = 0 end
  if rule[2] > 0 and x > rule[2] then x = rule[2] end
  if rule[3] == 'sqrt' then return math.sqrt(x) end
  if rule[3] == 'log' then return math.log(1 + x) end
  return x
end
local function day_points(t, rules, mods, only_kind)
  local kept, reverted = {}, {}
  for name, x in pairs(t) do
    if string.sub(name, 1, 2) == 'o:' then
      local kind, suffix = string.match(string.sub(name, 3), '^([^~]+)~?(.*)$')
      if rules[kind] and (not only_kind or kind == only_kind) then
        local back = false
        for mod in string.gmatch(suffix, '[^+]+') do
          if mod == 'revert' then back = true
          else x = x * (mods[mod] or mods[string.match(mod, '^env_')] or 1) end
        end
        if back then reverted[kind] = (reverted[kind] or 0) + x
        else kept[kind] = (kept[kind] or 0) + x end
      end
    end
  end
  local points = 0
  for kind, rule in pairs(rules) do
    if kept[kind] or reverted[kind] then
      points = points + rule[1] * (transform(kept[kind] or 0, rule)
                                   - transform(reverted[kind] or 0, rule))
    end
  end
  return points
end
local function day_value(t, metric, config)
  if metric == 'points' then return day_points(t, config[1], config[2], nil) end
  return t[metric] or 0
end
