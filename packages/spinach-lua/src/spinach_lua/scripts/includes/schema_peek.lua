-- Read-only scripts start here: KEYS[1] is the queue's schema key, ARGV[1] the caller's schema
-- version. Data written by another schema is not read; a fresh queue is fine (nothing recorded).
do
  local stored = redis.call('GET', KEYS[1])
  if stored ~= false and stored ~= ARGV[1] then
    return {-1, stored}
  end
end
