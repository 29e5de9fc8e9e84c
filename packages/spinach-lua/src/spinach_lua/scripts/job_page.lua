--[[
Read one page of the jobs of a queue in one state, read-only (inspection and the dashboard).

A page is one range of one list or sorted set, never a scan of the whole queue.

KEYS
  ready       LIST    ids of jobs ready to run, oldest first
  ranked      ZSET    ids of ready jobs of another priority than 0 (see the ready include)
  delayed     ZSET    ids of jobs waiting for their due time (score: due ms)
  running     ZSET    ids of fetched jobs (score: lease deadline ms)
  done        HASH    id -> record of a finished job
  done_index  LIST    "<finished ms>:<id>" of finished jobs, oldest first
  failed_index  ZSET  id -> when it failed (ms), one per job of the failed store
  jobs        HASH    id -> record of the job (see the record include)
  parked*     LIST    'held' only: the parked lists to read, one after the other

ARGV
  state       'ready' (higher priority first, then oldest first), 'delayed' (soonest first), 'running' (oldest lease
              first), 'failed' or 'finished' (newest first), 'held' (held back by their
              task's concurrency limit: the parked lists in the order given, each oldest first)
  offset      how many jobs of that order to skip
  limit       most jobs to return

REPLY
  ids         ids of the page's jobs, in order
  records     the record of each (false for a job whose record is gone; empty for 'finished')
  done_records  the finished record of each ('finished' only; else empty)
  scores      due time ('delayed'), lease deadline ('running') or failure time ('failed')
              of each, ms (empty otherwise)
  total       how many jobs the queue holds in that state
]]
--- @include "prelude"

local first, limit = tonumber(ARG.offset), tonumber(ARG.limit)
local last = first + limit - 1
local ids, scores, done_records, total = {}, {}, {}, 0
local state = ARG.state
local function split(flat)
  for n = 1, #flat, 2 do
    ids[#ids + 1] = flat[n]
    scores[#scores + 1] = tonumber(flat[n + 1])
  end
end
-- Append to the page the jobs of one segment of an order, from `skip` of it (a function
-- reading `count` of its jobs from an offset, and its length); returns what is left to skip.
local function page_segment(skip, read, length)
  total = total + length
  if skip >= length then
    return skip - length
  end
  if #ids < limit then
    for _, id in ipairs(read(skip, math.min(limit - #ids, length - skip))) do
      ids[#ids + 1] = id
    end
  end
  return 0
end

if state == 'ready' then
  -- Above the default priority (the ranked set's negative scores), the list, then below it.
  local above = redis.call('ZCOUNT', KEY.ranked, '-inf', '(0')
  local below = redis.call('ZCARD', KEY.ranked) - above
  local skip = page_segment(first, function(offset, count)
    return redis.call('ZRANGE', KEY.ranked, offset, offset + count - 1)
  end, above)
  skip = page_segment(skip, function(offset, count)
    return redis.call('LRANGE', KEY.ready, offset, offset + count - 1)
  end, redis.call('LLEN', KEY.ready))
  page_segment(skip, function(offset, count)
    return redis.call('ZRANGE', KEY.ranked, above + offset, above + offset + count - 1)
  end, below)
elseif state == 'delayed' then
  split(redis.call('ZRANGE', KEY.delayed, first, last, 'WITHSCORES'))
  total = redis.call('ZCARD', KEY.delayed)
elseif state == 'running' then
  split(redis.call('ZRANGE', KEY.running, first, last, 'WITHSCORES'))
  total = redis.call('ZCARD', KEY.running)
elseif state == 'failed' then
  split(redis.call('ZREVRANGE', KEY.failed_index, first, last, 'WITHSCORES'))
  total = redis.call('ZCARD', KEY.failed_index)
elseif state == 'finished' then
  total = redis.call('LLEN', KEY.done_index)
  local entries = redis.call('LRANGE', KEY.done_index, -last - 1, -first - 1)
  for n = #entries, 1, -1 do
    ids[#ids + 1] = string.match(entries[n], '^%d+:(.*)$')
  end
  if #ids > 0 then
    done_records = hmget_sliced(KEY.done, ids)
  end
elseif state == 'held' then
  local skip = first
  for _, key in ipairs(KEY.parked) do
    skip = page_segment(skip, function(offset, count)
      return redis.call('LRANGE', key, offset, offset + count - 1)
    end, redis.call('LLEN', key))
  end
else
  error('job_page: unknown state ' .. tostring(state))
end
local records = {}
if state ~= 'finished' and #ids > 0 then
  records = hmget_sliced(KEY.jobs, ids)
end
return reply{ids = ids, records = records, done_records = done_records, scores = scores, total = total}
