-- Every writing script starts here. Data written by another schema is refused before anything
-- is touched; the first call on a fresh queue records ours.
do
  local stored = redis.call('GET', KEY.schema)
  if stored == false then
    redis.call('SET', KEY.schema, ARG.version)
  elseif stored ~= ARG.version then
    return {-1, stored}
  end
end
