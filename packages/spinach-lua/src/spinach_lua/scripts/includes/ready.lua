-- Where jobs ready to run wait, by priority. Needs the prelude and the record include; the
-- queue description names the keys: q.ready, q.ranked, q.ranked_seq.
--
-- Jobs of the default priority (0) wait in the `ready` list: O(1) each way, the hot path of
-- every queue that sets no priority. Jobs of any other priority (-10 to 10, higher first) wait
-- in the `ranked` sorted set, at O(log n), scored by band: -priority * BAND, plus a sequence
-- number (from `ranked_seq`, one INCRBY per call) that keeps each priority first in, first
-- out. A job handed back to the front of its priority takes the band minus the sequence
-- number instead. So negative scores (priority above 0) come before the list and positive ones
-- (below 0) after it, and a burst of urgent jobs overtakes any backlog at once.

-- 2^44: a band holds 2^43 sequence numbers on either side of its centre before it would run
-- into the next (and scores stay exact integers in a double).
local BAND = 17592186044416

-- Whether the queue ever queued a job of another priority than 0: only then do the paths that
-- move jobs around read their records to learn it.
local function uses_priorities(q)
  return redis.call('EXISTS', q.ranked_seq) == 1
end

-- Queue `ids` (their priorities `priorities`, in order; nil or 0 for the default) at the tail
-- of their priority, or at its front when `front` (then the last of `ids` ends up first, as a
-- run of LPUSH would leave them).
local function push_ready(q, ids, priorities, front)
  local plain, ranked = {}, {}
  for n, id in ipairs(ids) do
    local priority = priorities and priorities[n] or 0
    if priority == 0 then
      plain[#plain + 1] = id
    else
      ranked[#ranked + 1] = n
    end
  end
  call_sliced(front and 'LPUSH' or 'RPUSH', q.ready, plain)
  if #ranked > 0 then
    local last = redis.call('INCRBY', q.ranked_seq, #ranked)
    local scored = {}
    for k, n in ipairs(ranked) do
      local sequence = last - #ranked + k
      scored[#scored + 1] = -priorities[n] * BAND + (front and -sequence or sequence)
      scored[#scored + 1] = ids[n]
    end
    call_sliced('ZADD', q.ranked, scored)
  end
end

-- Up to `count` ids of ranked jobs above the default priority (`above`) or below it, in
-- their order, left where they are.
local function peek_ranked(q, above, count)
  local low, high = '(0', '+inf'
  if above then
    low, high = '-inf', '(0'
  end
  return redis.call('ZRANGE', q.ranked, low, high, 'BYSCORE', 'LIMIT', 0, count)
end

-- Take up to `count` ids of ranked jobs above the default priority (`above`) or below it, in
-- their order.
local function pop_ranked(q, above, count)
  local ids = peek_ranked(q, above, count)
  call_sliced('ZREM', q.ranked, ids)
  return ids
end

-- How many jobs wait in the ranked set above the default priority, and below it.
local function ranked_counts(q)
  return redis.call('ZCOUNT', q.ranked, '-inf', '(0'), redis.call('ZCOUNT', q.ranked, '(0', '+inf')
end
