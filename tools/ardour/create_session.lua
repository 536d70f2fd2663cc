-- ardour7-lua create_session.lua SESSION_DIR NAME RATE BLOCK FRAMES CHANNELS RESULT_FILE
--
-- Builds the harness session headlessly on the "None (Dummy)" backend: one audio track named
-- "clip" (CHANNELS in, 2 out) holding one region of exactly FRAMES samples at sample 0, without
-- region fades. luasession cannot import audio, so the region is made by bouncing FRAMES samples
-- of the (empty) track; export.sh then overwrites the bounce's files (same length, float WAV)
-- with the clip. Writes key=value lines to RESULT_FILE.
io.stdout:setvbuf ("no")

local dir, name = arg[1], arg[2]
local rate, block = tonumber (arg[3]), tonumber (arg[4])
local frames, channels = tonumber (arg[5]), tonumber (arg[6])
local result_file = arg[7]
assert (result_file, "usage: create_session.lua DIR NAME RATE BLOCK FRAMES CHANNELS RESULT_FILE")

local out = assert (io.open (result_file, "w"))
local function result (k, v) out:write (k, "=", tostring (v), "\n"); out:flush () end
local function fail (msg) result ("error", msg); out:close (); error (msg) end

local backend = AudioEngine:set_backend ("None (Dummy)", "", "")
if not backend then fail ("cannot select the None (Dummy) backend") end
backend:set_sample_rate (rate)
backend:set_buffer_size (block)

local s = create_session (dir, name, rate)
if not s then fail ("create_session failed for " .. dir) end
result ("backend", AudioEngine:current_backend_name ())
result ("session_rate", Session:nominal_sample_rate ())
result ("block", Session:get_block_size ())
result ("superclock", Temporal.superclock_ticks_per_second ())

local tl = Session:new_audio_track (channels, 2, nil, 1, "clip",
	ARDOUR.PresentationInfo.max_order, ARDOUR.TrackMode.Normal, true, false)
if tl:size () ~= 1 then fail ("new_audio_track failed") end
local track = tl:front ()
track:rec_enable_control ():set_value (0, PBD.GroupControlDisposition.NoGroup)

local itt = ARDOUR.InterThreadInfo ()
local region = track:bounce_range (0, frames, itt, ARDOUR.LuaAPI.nil_proc (), false, "clip")
if region:isnil () then fail ("bounce_range failed") end
local ar = region:to_audioregion ()
ar:set_fade_in_active (false)
ar:set_fade_out_active (false)
track:playlist ():add_region (region, Temporal.timepos_t (0), 1, false, 0, 0, false)
result ("region_name", region:name ())
result ("region_channels", ar:n_channels ())
result ("region_length", region:length ():samples ())

Session:save_state ("", false, false, false, false, false)
close_session ()
result ("ok", 1)
out:close ()
