-- Read-only scripts start here: data written by another schema is not read; a fresh queue is
-- fine (nothing recorded).
do
  local stored = redis.call('GET', KEY.schema)
  if stored ~= false and stored ~= ARG.version then
    return {-1, stored}
  end
end
