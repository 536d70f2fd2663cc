-- ardour7-lua export_session.lua SESSION_DIR NAME MODE RATE BLOCK FRAMES EXPORT_DIR LABEL RESULT_FILE [SETTLE_S [REALTIME [PARAMS]]]
--
-- Loads the harness session (see create_session.lua) on the "None (Dummy)" backend, checks the
-- clip region, and exports the session range [0, FRAMES) of the master bus to
-- EXPORT_DIR/LABEL.wav (32-bit float WAV at the session rate, preset genrescope-f32).
--   MODE=dry: the track as built, no plugin.
--   MODE=wet: Genrescope (VST3) inserted first on the track, then the "Genrescope MIDI Logger"
--             Lua DSP, which records the plugin's MIDI output; the log is written to
--             EXPORT_DIR/LABEL.midi.tsv (all events seen during the export run).
--             PARAMS ("Label=value;Label=value", e.g. "Program change=1;Program hold=1") sets
--             Genrescope's parameters by their labels before the engine settles. Ardour 7.3 shows
--             a VST3's parameters in plain units (its descriptor: Program hold 0..30, Program change
--             0..1 toggled), not normalized; an unknown label or a value outside the range fails.
-- Nothing is saved back into the session, so every run starts from the same state.
-- RESULT_FILE gets key=value lines (read by report.py).
io.stdout:setvbuf ("no")

local dir, name, mode = arg[1], arg[2], arg[3]
local rate, block, frames = tonumber (arg[4]), tonumber (arg[5]), tonumber (arg[6])
local export_dir, label, result_file = arg[7], arg[8], arg[9]
local settle_s = tonumber (arg[10] or "1")
local realtime = (arg[11] or "0") == "1" -- the session's realtime-export option (default: freewheel)
local params = arg[12] or ""
assert (result_file and (mode == "dry" or mode == "wet"),
	"usage: export_session.lua DIR NAME dry|wet RATE BLOCK FRAMES EXPORT_DIR LABEL RESULT_FILE [SETTLE_S [REALTIME [PARAMS]]]")

local PRESET = "6a1c3f0e-5b7d-4c55-9e61-3f9d2b8a0c02" -- export/genrescope-f32.preset
local LOGGER = "Genrescope MIDI Logger"                 -- genrescope_midi_logger.lua

local out = assert (io.open (result_file, "w"))
local function result (k, v) out:write (k, "=", tostring (v), "\n"); out:flush () end
local function fail (msg) result ("error", msg); out:close (); error (msg) end
local function now_s () return ARDOUR.LuaAPI.monotonic_time () / 1e6 end
local t_start = now_s ()

local backend = AudioEngine:set_backend ("None (Dummy)", "", "")
if not backend then fail ("cannot select the None (Dummy) backend") end
backend:set_sample_rate (rate)
backend:set_buffer_size (block)

if not load_session (dir, name) then fail ("load_session failed for " .. dir) end
result ("mode", mode)
result ("backend", AudioEngine:current_backend_name ())
result ("session_rate", Session:nominal_sample_rate ())
result ("block", Session:get_block_size ())
Session:cfg ():set_realtime_export (realtime)
result ("realtime_export", Session:cfg ():get_realtime_export () and 1 or 0)
result ("export_preroll_s", ARDOUR.config ():get_export_preroll ())
result ("load_s", string.format ("%.3f", now_s () - t_start))
if Session:nominal_sample_rate () ~= rate then fail ("session rate is not " .. rate) end

-- the clip: one region at 0 of exactly FRAMES samples
local route = Session:route_by_name ("clip")
if route:isnil () then fail ("no track named clip") end
local track = route:to_track ()
local regions = track:playlist ():region_list ()
if regions:size () ~= 1 then fail ("expected 1 region on the clip track, found " .. regions:size ()) end
for r in regions:iter () do
	if r:position ():samples () ~= 0 or r:length ():samples () ~= frames then
		fail (string.format ("region at %d length %d, expected 0 / %d",
			r:position ():samples (), r:length ():samples (), frames))
	end
end

local logger_shm
local params_set = {} -- { label, parameter index } set from PARAMS
if mode == "wet" then
	local plugin = ARDOUR.LuaAPI.new_plugin (Session, "Genrescope", ARDOUR.PluginType.VST3, "")
	if plugin:isnil () then fail ("Genrescope VST3 not found (is it in $HOME/.vst3?)") end
	if not route:add_processor_by_index (plugin, 0, nil, true) then fail ("cannot insert Genrescope") end
	local logger = ARDOUR.LuaAPI.new_luaproc (Session, LOGGER)
	if logger:isnil () then fail ("Lua DSP '" .. LOGGER .. "' not found in the script path") end
	if not route:add_processor_by_index (logger, 1, nil, true) then fail ("cannot insert the logger") end
	local pi = route:nth_plugin (0):to_insert ()
	result ("plugin_name", pi:plugin (0):name ())
	result ("plugin_type", "VST3")
	local okl, lat = pcall (function () return route:nth_plugin (0):to_latent ():effective_latency () end)
	result ("plugin_latency", okl and lat or "unknown")
	local li = route:nth_plugin (1):to_insert ()
	result ("logger_name", li:plugin (0):name ())
	logger_shm = li:plugin (0):to_luaproc ():shmem ()
	-- processor order, for the record
	local order, i = {}, 0
	while true do
		local p = route:nth_processor (i)
		if p:isnil () then break end
		order[#order + 1] = p:display_name ()
		i = i + 1
	end
	result ("processors", table.concat (order, " | "))

	-- parameters by label (plain values, as Ardour's descriptor gives them)
	local proc = route:nth_plugin (0)
	local plug = pi:plugin (0)
	for item in params:gmatch ("[^;]+") do
		local label, value = item:match ("^(.-)=(.*)$")
		value = tonumber (value)
		if not label or not value then fail ("bad parameter setting '" .. item .. "' (want Label=number)") end
		local index
		for j = 0, plug:parameter_count () - 1 do
			if plug:parameter_is_input (j) and plug:parameter_label (j) == label then index = j end
		end
		if not index then fail ("Genrescope has no input parameter '" .. label .. "'") end
		if not ARDOUR.LuaAPI.set_processor_param (proc, index, value) then
			fail (string.format ("cannot set '%s' to %s (outside its range?)", label, tostring (value)))
		end
		params_set[#params_set + 1] = { label, index }
	end
end

-- let the engine run so the plugin can load its model before the export starts
ARDOUR.LuaAPI.usleep (math.floor (settle_s * 1e6))
for _, p in ipairs (params_set) do
	-- what the host holds now (get_processor_param returns the value, then a table of out-args)
	local v = ARDOUR.LuaAPI.get_processor_param (route:nth_plugin (0), p[2], true)
	result ("param_" .. p[1]:lower ():gsub ("%W+", "_"), v)
end

local pre_events = 0
if logger_shm then
	pre_events = logger_shm:atomic_get_int (1)
	logger_shm:atomic_set_int (12, 1) -- H_RESET: the logger clears itself on its next cycle
	for _ = 1, 100 do
		if logger_shm:atomic_get_int (12) == 0 then break end
		ARDOUR.LuaAPI.usleep (10000)
	end
	if logger_shm:atomic_get_int (12) ~= 0 then fail ("logger did not reset (is it running?)") end
end
result ("events_before_export", pre_events)

local ex = Session:simple_export ()
ex:set_name (label)
ex:set_folder (export_dir)
ex:set_range (0, frames)
if not ex:set_preset (PRESET) then fail ("export preset " .. PRESET .. " not found") end
if not ex:check_outputs () then fail ("export: master bus has no outputs") end
local t0 = now_s ()
local ok = ex:run_export ()
local t1 = now_s ()
result ("export_ok", ok and 1 or 0)
result ("export_s", string.format ("%.3f", t1 - t0))
result ("export_speed", string.format ("%.1f", (frames / rate) / math.max (t1 - t0, 1e-6)))
if not ok then fail ("run_export failed") end

if logger_shm then
	local h = logger_shm:to_int (0):array ()
	local n = logger_shm:atomic_get_int (1)
	local names = { "magic", "count", "cycles", "min_nframes", "max_nframes", "first_rolling_sample",
		"last_rolling_end", "first_nonzero_sample", "rolling_cycles", "dropped", "offset_cycles", "rate", "reset", "rolling_t0_us", "rolling_t1_us" }
	for i, k in ipairs (names) do result ("logger_" .. k, h[i]) end
	local ev = logger_shm:to_int (16):array ()
	local f = assert (io.open (export_dir .. "/" .. label .. ".midi.tsv", "w"))
	f:write ("transport_sample\ttime\toffset\trolling\tsize\tb0\tb1\tb2\n")
	for k = 0, n - 1 do
		local b = k * 8
		f:write (string.format ("%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\n",
			ev[b + 1], ev[b + 2], ev[b + 3], ev[b + 4], ev[b + 5], ev[b + 6], ev[b + 7], ev[b + 8]))
	end
	f:close ()
	result ("midi_events", n)
end

close_session ()
result ("total_s", string.format ("%.3f", now_s () - t_start))
result ("ok", 1)
out:close ()
