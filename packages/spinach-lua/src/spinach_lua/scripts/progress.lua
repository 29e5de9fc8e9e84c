--[[
Record how far running jobs got, as their tasks report it (a worker's batched call).

The progress is kept in the job's record (its `pg` field), so it goes where the record goes:
shown while the job runs, kept in its finished record, dropped with it. An update applies only
while the job's lease is still the caller's (fencing): a worker that lost a job cannot write
over the progress of its new run.

KEYS
  jobs        HASH    id -> record of the job (see the record include)

ARGV
  updates*3   one group of three per job: id, lease, progress ("<fraction>\3<message>"; the
              time of the update, Redis's, is added here)

REPLY
  applied     how many updates were recorded
]]
--- @include "prelude"
--- @include "record"

local q = {jobs = KEY.jobs}
local ids = {}
for i = ARG.updates, ARG.updates + ARG.updates_n - 1, 3 do
  ids[#ids + 1] = ARGV[i]
end
local records = read_records(q, ids)
local now = now_ms()
local changed, changed_records = {}, {}
for n, id in ipairs(ids) do
  local record = records[n]
  local i = ARG.updates + (n - 1) * 3
  if record and record.l == ARGV[i + 1] then
    record.pg = ARGV[i + 2] .. '\3' .. now_text()
    changed[#changed + 1] = id
    changed_records[#changed_records + 1] = record
  end
end
write_records(q, changed, changed_records)
return reply{applied = #changed}
