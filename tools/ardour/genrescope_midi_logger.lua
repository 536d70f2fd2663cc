ardour {
	["type"]    = "dsp",
	name        = "Genrescope MIDI Logger",
	category    = "Utility",
	license     = "MIT",
	author      = "Genrescope test harness",
	description = [[Passes audio and MIDI through unchanged and records every MIDI event it sees
(session sample position, bytes) in shared memory, for tools/ardour/export_session.lua to read back.
print() inside a DSP script is not shown by luasession and the DSP interpreter is sandboxed (no io),
so the events go through self:shmem(), which a session script reads via LuaProc:shmem().]]
}

-- Shared-memory layout (32-bit ints, index 0-based as seen by the session script):
--   header H_* below, then CAP events of EVW ints each:
--   transport_sample, time_in_buffer, offset, flags (1 = rolling), size, byte0, byte1, byte2
-- The session position of an event is transport_sample + time_in_buffer - offset
-- (offset is 0 unless Ardour splits a cycle, which it does only for automation).
-- Every event is kept, whatever its status: a CC is size 3 (0xBn, cc, value); a program change
-- is size 2 (0xCn, program; byte2 = 0), which is how Ardour 7.3 passes on a VST3's
-- kLegacyMIDICCOutEvent with controlNumber kCtrlProgramChange. harness.py midi2cc sorts them.
local MAGIC = 0x474e5253 -- "GNRS"
local H_MAGIC, H_COUNT, H_CYCLES, H_MIN_NS, H_MAX_NS = 0, 1, 2, 3, 4
local H_FIRST_ROLL, H_LAST_ROLL_END, H_FIRST_NONZERO, H_ROLL_CYCLES = 5, 6, 7, 8
local H_DROPPED, H_OFFSET_CYCLES, H_RATE, H_RESET = 9, 10, 11, 12
local H_ROLL_T0_US, H_ROLL_T1_US = 13, 14 -- wall clock (µs since dsp_init) of the first/last rolling cycle
local HDR = 16
local EVW = 8
local CAP = 100000

local n_out
local shm
local t_init -- monotonic µs at dsp_init (AudioEngine is not bound in the DSP interpreter, so the
              -- rolling part's wall time is how the log shows a faster-than-real-time export)

function dsp_ioconfig ()
	return { { midi_in = 1, midi_out = 1, audio_in = -1, audio_out = -1 } }
end

local function reset_header (h, rate)
	h[H_COUNT + 1] = 0
	h[H_CYCLES + 1] = 0
	h[H_MIN_NS + 1] = 0x7fffffff
	h[H_MAX_NS + 1] = 0
	h[H_FIRST_ROLL + 1] = -1
	h[H_LAST_ROLL_END + 1] = -1
	h[H_FIRST_NONZERO + 1] = -1
	h[H_ROLL_CYCLES + 1] = 0
	h[H_DROPPED + 1] = 0
	h[H_OFFSET_CYCLES + 1] = 0
	h[H_RATE + 1] = rate
	h[H_RESET + 1] = 0
	h[H_ROLL_T0_US + 1] = -1
	h[H_ROLL_T1_US + 1] = -1
	h[H_MAGIC + 1] = MAGIC
end

function dsp_init (rate)
	t_init = ARDOUR.LuaAPI.monotonic_time ()
	self:shmem ():allocate (HDR + CAP * EVW)
	shm = self:shmem ()
	reset_header (shm:to_int (0):array (), math.floor (rate))
end

function dsp_configure (ins, outs)
	n_out = outs
end

function dsp_runmap (bufs, in_map, out_map, n_samples, offset)
	-- pass everything through untouched (a no-op where in and out buffers are the same)
	ARDOUR.DSP.process_map (bufs, n_out, in_map, out_map, n_samples, offset)

	local h = shm:to_int (0):array ()
	if h[H_RESET + 1] ~= 0 then
		-- the session script asks for a clean log (set via atomic_set_int before an export)
		reset_header (h, h[H_RATE + 1])
		shm:atomic_set_int (H_COUNT, 0)
	end

	local pos = Session:transport_sample ()
	local rolling = Session:transport_rolling ()

	h[H_CYCLES + 1] = h[H_CYCLES + 1] + 1
	if n_samples < h[H_MIN_NS + 1] then h[H_MIN_NS + 1] = n_samples end
	if n_samples > h[H_MAX_NS + 1] then h[H_MAX_NS + 1] = n_samples end
	if offset ~= 0 then h[H_OFFSET_CYCLES + 1] = h[H_OFFSET_CYCLES + 1] + 1 end

	if rolling then
		h[H_ROLL_CYCLES + 1] = h[H_ROLL_CYCLES + 1] + 1
		local now = ARDOUR.LuaAPI.monotonic_time () - t_init
		if h[H_FIRST_ROLL + 1] < 0 then
			h[H_FIRST_ROLL + 1] = pos
			h[H_ROLL_T0_US + 1] = now
		end
		h[H_LAST_ROLL_END + 1] = pos + n_samples
		h[H_ROLL_T1_US + 1] = now
		-- first non-zero input sample: lets the checker prove the time base against the WAV
		if h[H_FIRST_NONZERO + 1] < 0 then
			local ia = in_map:get (ARDOUR.DataType ("audio"), 0)
			if ia ~= ARDOUR.ChanMapping.Invalid then
				local a = bufs:get_audio (ia):data (offset):array ()
				for i = 1, n_samples do
					if a[i] ~= 0 then
						h[H_FIRST_NONZERO + 1] = pos + i - 1
						break
					end
				end
			end
		end
	end

	local ib = in_map:get (ARDOUR.DataType ("midi"), 0)
	if ib == ARDOUR.ChanMapping.Invalid then return end

	local count = shm:atomic_get_int (H_COUNT)
	local ev = shm:to_int (HDR):array ()
	for _, e in pairs (bufs:get_midi (ib):table ()) do
		if count >= CAP then
			h[H_DROPPED + 1] = h[H_DROPPED + 1] + 1
		else
			local b = e:buffer ():array ()
			local sz = e:size ()
			local base = count * EVW
			ev[base + 1] = pos
			ev[base + 2] = e:time ()
			ev[base + 3] = offset
			ev[base + 4] = rolling and 1 or 0
			ev[base + 5] = sz
			ev[base + 6] = sz > 0 and b[1] or 0
			ev[base + 7] = sz > 1 and b[2] or 0
			ev[base + 8] = sz > 2 and b[3] or 0
			count = count + 1
		end
	end
	shm:atomic_set_int (H_COUNT, count)
end
