--[[
Read the per-minute counts of a queue's outcomes, read-only (the dashboard's chart).

KEYS
  stats       HASH    per-minute counts of outcomes (see the history include)

ARGV
  minutes     how many minutes to read, ending with the current one (at most 120: the counts
              expire after two hours)

REPLY
  first_minute_ms  the start of the first minute read (ms, Redis time)
  counts      per minute, oldest first: succeeded, failed, retried (three numbers each)
]]
--- @include "prelude"
--- @include "record"
--- @include "history"

local current = math.floor(now_ms() / 60000)
local minutes = math.min(tonumber(ARG.minutes), STATS_MINUTES)
local first = current - minutes + 1
local fields = {}
for minute = first, current do
  fields[#fields + 1] = minute .. ':s'
  fields[#fields + 1] = minute .. ':f'
  fields[#fields + 1] = minute .. ':r'
end
local counts = redis.call('HMGET', KEY.stats, unpack(fields))
for n = 1, #fields do
  counts[n] = tonumber(counts[n]) or 0
end
return reply{first_minute_ms = first * 60000, counts = counts}
