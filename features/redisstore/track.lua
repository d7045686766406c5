-- track.lua applies one Track batch atomically. The encoding of KEYS and
-- ARGV is documented on (*batch) in track.go. Generated first lines (see
-- trackSource) declare it a Redis 7 script (#!lua) and define OP_INCR ..
-- OP_KMV and KMV_SIZE from package features.
--
-- Semantics of the ops are those of features.Apply. Updates of one field
-- within a batch are combined first (all ops commute; see add), then
-- written with as few commands as possible.
--
-- Redis does not roll back a script that fails half way, so the script runs
-- in two phases: phase 1 reads everything it needs and computes every new
-- value (a wrong-type key or any other failure stops it there, before
-- anything is written); phase 2 only writes, with commands that cannot
-- fail on keys phase 1 has read. (Out of memory is refused before the
-- script starts: see trackSource.)

local call, byte, sub, fmt, find = redis.call, string.byte, string.sub, string.format, string.find
local stream, maxlen, zexp = KEYS[1], ARGV[1], ARGV[2]
local NOW, UFIELD = 3, 4                  -- ARGV indexes
local N, EXP = tonumber(ARGV[5]), ARGV[6]
local S = 16777216                        -- pending field id = KEYS index * S + ARGV index of the field
local CHUNK = 1000                        -- values per multi-field call: Lua's unpack is limited to ~8000

-- Pending updates of this batch.
local order, nk = {}, 0                   -- hash KEYS indexes in first-touch order
local fields = {}                         -- KEYS index -> list of pending field ids
local code, val, num, cnt = {}, {}, {}, {}
local fresh = {}                          -- KEYS index -> true if the hash may have been created
local writes, nw = {}, 0                  -- phase 2: {KEYS index, field/value list} per hash

-- chunked calls cmd on key with the values of list, at most CHUNK at a
-- time (step keeps field/value pairs together), and returns the replies
-- concatenated.
local function chunked(cmd, key, list, step)
  if #list <= CHUNK then return call(cmd, key, unpack(list)) end
  local out, n = {}, 0
  for i = 1, #list, CHUNK - CHUNK % step do
    local r = call(cmd, key, unpack(list, i, math.min(#list, i + CHUNK - CHUNK % step - 1)))
    if type(r) == 'table' then
      for j = 1, #r do out[n + j] = r[j] end
      n = n + #r
    end
  end
  return out
end

-- lastms is the time of an OpLast "ms|value" pair (features.lastTime).
local function lastms(s)
  local i = find(s, '|', 1, true)
  if not i then return -math.huge end
  return tonumber(sub(s, 1, i - 1)) or 0
end

-- kmvinsert inserts the 8-byte big-endian hash h into the sorted sketch s
-- (features.kmvInsert). Chunks are compared byte by byte: Lua's string
-- comparison uses strcoll, which is locale dependent.
local function kmvinsert(s, h)
  if #h ~= 8 then return s end
  local n = math.floor(#s / 8)
  local h1, h2, h3, h4, h5, h6, h7, h8 = byte(h, 1, 8)
  local hhi, hlo = ((h1 * 256 + h2) * 256 + h3) * 256 + h4, ((h5 * 256 + h6) * 256 + h7) * 256 + h8
  local lo, hi = 0, n                     -- first chunk >= h, in [0, n]
  while lo < hi do
    local m = math.floor((lo + hi) / 2)
    local c1, c2, c3, c4, c5, c6, c7, c8 = byte(s, m * 8 + 1, m * 8 + 8)
    local chi = ((c1 * 256 + c2) * 256 + c3) * 256 + c4
    if chi < hhi or (chi == hhi and ((c5 * 256 + c6) * 256 + c7) * 256 + c8 < hlo) then
      lo = m + 1
    else
      hi = m
    end
  end
  if lo < n and sub(s, lo * 8 + 1, lo * 8 + 8) == h then return s end
  if lo >= KMV_SIZE then return s end
  s = sub(s, 1, lo * 8) .. h .. sub(s, lo * 8 + 1)
  if #s > KMV_SIZE * 8 then s = sub(s, 1, KMV_SIZE * 8) end
  return s
end

-- stage reads the old values of fields fl of hash KEYS[k] with one HMGET,
-- computes the new ones from the op codes cs and args as, and stages the
-- writes for phase 2. An arg stands for all of the batch's updates of its
-- field: a count or sum, the best min or max, the latest "ms|value", or
-- several 8-byte sketch hashes. A hash none of whose fields existed may be
-- new; it is marked fresh, to get its expiry.
local function stage(k, fl, cs, as)
  local cur = chunked('HMGET', KEYS[k], fl, 1)
  local out, no, existed = {}, 0, false
  for j = 1, #fl do
    local old, c, a, new = cur[j], cs[j], as[j], nil
    if old then existed = true end
    if c == OP_KMV then
      local s = old or ''
      for x = 1, #a, 8 do s = kmvinsert(s, sub(a, x, x + 7)) end
      if s ~= old then new = s end
    elseif not old then
      new = a
    elseif c == OP_INCR then
      new = fmt('%d', (tonumber(old) or 0) + (tonumber(a) or 0))
    elseif c == OP_ADDFLOAT then
      -- IEEE double addition, as features.Apply does; %.17g round-trips.
      new = fmt('%.17g', (tonumber(old) or 0) + (tonumber(a) or 0))
    elseif c == OP_MIN or c == OP_MAX then
      local o, x = tonumber(old) or 0, tonumber(a) or 0
      if (c == OP_MIN and x < o) or (c == OP_MAX and x > o) then new = a end
    elseif c == OP_LAST then
      if lastms(a) >= lastms(old) then new = a end
    end
    if new then
      out[no + 1], out[no + 2] = fl[j], new
      no = no + 2
    end
  end
  if no > 0 then
    nw = nw + 1
    writes[nw] = {k, out}
  end
  if not existed then fresh[k] = true end
end

-- prepare stages the pending updates ids of hash KEYS[k], combined by add.
local function prepare(k, ids)
  local fl, cs, as = {}, {}, {}
  for i, id in ipairs(ids) do
    local c = code[id]
    fl[i], cs[i] = ARGV[id - k * S], c
    if c == OP_INCR then
      as[i] = cnt[id] == 1 and val[id] or fmt('%d', num[id])
    elseif c == OP_ADDFLOAT then
      as[i] = cnt[id] == 1 and val[id] or fmt('%.17g', num[id])
    elseif c == OP_KMV then
      as[i] = table.concat(val[id])
    else
      as[i] = val[id]
    end
  end
  stage(k, fl, cs, as)
end

-- add records op c(field ARGV[f] of KEYS[k], arg ARGV[a]), combined with
-- earlier updates of the same field in this batch.
local function add(c, k, f, a)
  local id = k * S + f
  local have = code[id]
  if have == nil then
    local l = fields[k]
    if not l then
      l = {}
      fields[k] = l
      nk = nk + 1
      order[nk] = k
    end
    l[#l + 1] = id
  elseif have ~= c then
    -- Plan gives a field one op code; anything else is a bug, refused
    -- before anything is written.
    return error('field ' .. ARGV[f] .. ' of ' .. KEYS[k] .. ' has two op codes')
  end
  local arg = ARGV[a]
  if have == nil then
    code[id], cnt[id] = c, 1
    if c == OP_KMV then
      val[id] = {arg}
    else
      val[id] = arg
      if c == OP_LAST then num[id] = lastms(arg) else num[id] = tonumber(arg) or 0 end
    end
    return
  end
  cnt[id] = cnt[id] + 1
  if c == OP_INCR or c == OP_ADDFLOAT then
    num[id] = num[id] + (tonumber(arg) or 0)
  elseif c == OP_MIN or c == OP_MAX then
    local x = tonumber(arg) or 0
    if (c == OP_MIN and x < num[id]) or (c == OP_MAX and x > num[id]) then val[id], num[id] = arg, x end
  elseif c == OP_LAST then
    local x = lastms(arg)
    if x >= num[id] then val[id], num[id] = arg, x end
  elseif c == OP_KMV then
    local l = val[id]
    l[#l + 1] = arg
  end
end

local status = {}

-- Phase 1: reads and computation only.

-- The event log must be a stream (or not exist yet), or XADD would fail in
-- phase 2.
local st = call('TYPE', stream)
if type(st) == 'table' then st = st.ok end
if st ~= 'stream' and st ~= 'none' then
  return error('event log key ' .. stream .. ' holds a ' .. tostring(st) .. ', not a stream')
end

-- Dedup, one customer at a time. A customer has one set of accepted ids
-- per week (the 8-byte hashes as 64-bit integers, so Redis keeps a compact
-- sorted intset and finds them by binary search): this week's and last
-- week's are checked with one SMISMEMBER each; phase 2 adds the new ids to
-- this week's with one SADD. An id is new when in neither, and not earlier
-- in this batch.
local groups, gorder, ng = {}, {}, 0      -- this week's dedup set KEYS index (last week's is next) -> event numbers
for i = 1, N do
  local z1, z2, z3 = byte(ARGV[4 + 3 * i], 1, 3)
  local zk = (z1 * 256 + z2) * 256 + z3
  local g = groups[zk]
  if not g then
    g = {}
    groups[zk] = g
    ng = ng + 1
    gorder[ng] = zk
  end
  g[#g + 1] = i
end
local isnew = {}
local sadds, ns = {}, 0                   -- phase 2: {KEYS index, new ids}
for gi = 1, ng do
  local zk = gorder[gi]
  local g = groups[zk]
  local hs = {}
  for j = 1, #g do hs[j] = ARGV[5 + 3 * g[j]] end
  local cur = call('SMISMEMBER', KEYS[zk], unpack(hs))
  local prev = call('SMISMEMBER', KEYS[zk + 1], unpack(hs))
  local seen, za, nza = {}, {}, 0
  for j = 1, #g do
    local h = hs[j]
    if not seen[h] and cur[j] == 0 and prev[j] == 0 then
      isnew[g[j]] = true
      nza = nza + 1
      za[nza] = h
    end
    seen[h] = true
  end
  if nza > 0 then
    ns = ns + 1
    sadds[ns] = {zk, za}
  end
end

-- applyops adds the ops of an ops string (see track.go): 6 header bytes,
-- then 10 bytes per op.
local function applyops(ops)
  for q = 7, #ops, 10 do
    local c, k1, k2, k3, f1, f2, f3, a1, a2, a3 = byte(ops, q, q + 9)
    add(c, (k1 * 256 + k2) * 256 + k3, (f1 * 256 + f2) * 256 + f3, (a1 * 256 + a2) * 256 + a3)
  end
end

-- direct stages the merged updates of a customer none of whose events is
-- a duplicate (see track.go), hash by hash.
local dkeys, nd = {}, 0                   -- hashes staged by direct, for their expiry
local function direct(m)
  local q, len = 8, #m
  while q <= len do
    local k1, k2, k3, n1, n2, n3 = byte(m, q, q + 5)
    local k, n = (k1 * 256 + k2) * 256 + k3, (n1 * 256 + n2) * 256 + n3
    q = q + 6
    local fl, cs, as = {}, {}, {}
    for j = 1, n do
      local c, f1, f2, f3, a1, a2, a3 = byte(m, q, q + 6)
      q = q + 7
      fl[j], cs[j], as[j] = ARGV[(f1 * 256 + f2) * 256 + f3], c, ARGV[(a1 * 256 + a2) * 256 + a3]
    end
    stage(k, fl, cs, as)
    nd = nd + 1
    dkeys[nd] = k
  end
end

-- The updates of each customer's accepted events: the merged ones when all
-- of its events are new (the common case), else each accepted event's ops
-- in request order, combined here, with features.UpdatedOp.
local cbase = #ARGV - ng
for gi = 1, ng do
  local g = groups[gorder[gi]]
  local all, any = true, false
  for j = 1, #g do
    if isnew[g[j]] then any = true else all = false end
  end
  local m = ARGV[cbase + gi]
  if all and byte(m, 7) == 0 then
    direct(m)
  elseif any then
    for j = 1, #g do
      if isnew[g[j]] then applyops(ARGV[4 + 3 * g[j]]) end
    end
    local m1, m2, m3 = byte(ARGV[4 + 3 * g[1]], 4, 6)
    add(OP_MAX, (m1 * 256 + m2) * 256 + m3, UFIELD, NOW)
  end
end

-- Statuses, and the log entry: the accepted events' records in request
-- order, one per line.
local recs, nrec = {}, 0
for i = 1, N do
  if isnew[i] then
    nrec = nrec + 1
    recs[nrec] = ARGV[6 + 3 * i]
    status[i] = '1'
  else
    status[i] = '2'
  end
end

-- Old values and new ones, hash by hash.
for i = 1, nk do
  local k = order[i]
  prepare(k, fields[k])
end

-- Phase 2: writes only. A hash that may be new gets its expiry (one with a
-- field that existed got it when it was created); a time already past
-- deletes it, as it should (a backfill into a bucket no window reads).
for i = 1, nw do
  local w = writes[i]
  chunked('HSET', KEYS[w[1]], w[2], 2)
end
local function expire(k)
  local e1, e2, e3 = byte(EXP, 3 * k - 5, 3 * k - 3)
  local e = (e1 * 256 + e2) * 256 + e3
  if e > 0 and fresh[k] then
    call('PEXPIREAT', KEYS[k], ARGV[e])
  end
end
for i = 1, nk do expire(order[i]) end
for i = 1, nd do expire(dkeys[i]) end
for i = 1, ns do
  local key = KEYS[sadds[i][1]]
  call('SADD', key, unpack(sadds[i][2]))
  call('PEXPIREAT', key, zexp)
end
if nrec > 0 then
  call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'e', table.concat(recs, '\n'))
end

return table.concat(status)
