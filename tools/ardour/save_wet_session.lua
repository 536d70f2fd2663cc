-- ardour7-lua save_wet_session.lua SESSION_DIR NAME RATE BLOCK RESULT_FILE
--
-- Loads the harness session (create_session.lua), inserts Genrescope (VST3) first on the clip
-- track and saves the session, so Ardour's GUI can open it with the plugin in place
-- (screenshot.sh). Writes key=value lines to RESULT_FILE.
io.stdout:setvbuf ("no")

local dir, name = arg[1], arg[2]
local rate, block = tonumber (arg[3]), tonumber (arg[4])
local result_file = arg[5]
assert (result_file, "usage: save_wet_session.lua DIR NAME RATE BLOCK RESULT_FILE")

local out = assert (io.open (result_file, "w"))
local function result (k, v) out:write (k, "=", tostring (v), "\n"); out:flush () end
local function fail (msg) result ("error", msg); out:close (); error (msg) end

local backend = AudioEngine:set_backend ("None (Dummy)", "", "")
if not backend then fail ("cannot select the None (Dummy) backend") end
backend:set_sample_rate (rate)
backend:set_buffer_size (block)
if not load_session (dir, name) then fail ("load_session failed for " .. dir) end

local route = Session:route_by_name ("clip")
if route:isnil () then fail ("no track named clip") end
local plugin = ARDOUR.LuaAPI.new_plugin (Session, "Genrescope", ARDOUR.PluginType.VST3, "")
if plugin:isnil () then fail ("Genrescope VST3 not found (is it in $HOME/.vst3?)") end
if not route:add_processor_by_index (plugin, 0, nil, true) then fail ("cannot insert Genrescope") end
result ("plugin_name", route:nth_plugin (0):to_insert ():plugin (0):name ())

Session:save_state ("", false, false, false, false, false)
close_session ()
result ("ok", 1)
out:close ()
