# gdb Python script: what Ardour 7.3 (Debian 1:7.3.0+ds0-1 libardour.so.3.0.0) tells a VST3 plugin
# about offline processing during an export. Used by probe_processmode.sh; see README.md.
#
# Ardour's VST3 host (libs/ardour/vst3_plugin.cc) has two places that carry a process mode:
#   VST3PI::update_processor(): ProcessSetup.processMode = freewheeling ? kOffline : kRealtime,
#       then IAudioProcessor::setupProcessing(). Called only from VST3PI::set_block_size() when
#       the block size changes (and once when the plugin is created).
#   VST3PI::process(): ProcessData.processMode = freewheeling ? kOffline : kRealtime, per call.
# The offsets below are instructions in those two functions of this exact build (checked by
# disassembly: "movzbl 0x8a1(AudioEngine*) ; add %ecx,%ecx" = freewheeling * 2, kOffline == 2).
# Counting what lands there shows what the plugin is told, without symbols for the plugin.
import gdb

MODES = {0: "kRealtime", 1: "kPrefetch", 2: "kOffline"}
counts = {}
log = []


def note(msg):
    log.append(msg)
    gdb.write("[probe] " + msg + "\n")


class SetupProcessing(gdb.Breakpoint):
    """update_processor+113: `call *0x38(%rax)` = IAudioProcessor::setupProcessing(&setup)."""

    def stop(self):
        rsi = int(gdb.parse_and_eval("$rsi"))
        inf = gdb.selected_inferior()
        mode = int.from_bytes(bytes(inf.read_memory(rsi, 4)), "little", signed=True)
        block = int.from_bytes(bytes(inf.read_memory(rsi + 8, 4)), "little", signed=True)
        rate = gdb.parse_and_eval("*(double*)($rsi + 16)")
        note(f"setupProcessing processMode={MODES.get(mode, mode)} maxSamplesPerBlock={block} sampleRate={float(rate)}")
        return False


class ProcessMode(gdb.Breakpoint):
    """VST3PI::process+0xa5: `mov %ecx,0x40(%rsp)` stores ProcessData.processMode."""

    def stop(self):
        mode = int(gdb.parse_and_eval("$ecx"))
        name = MODES.get(mode, str(mode))
        if counts.get(name, 0) == 0:
            note(f"first process() call with ProcessData.processMode={name}")
        counts[name] = counts.get(name, 0) + 1
        return False


class Named(gdb.Breakpoint):
    def __init__(self, spec, label, arg=None, mask=0xFFFFFFFF):
        super().__init__(spec)
        self.label, self.arg, self.mask = label, arg, mask

    def stop(self):
        if self.arg:
            note(f"{self.label}({int(gdb.parse_and_eval(self.arg)) & self.mask})")
        else:
            note(self.label)
        return False


gdb.execute("set pagination off")
gdb.execute("set breakpoint pending on")
gdb.execute("handle SIGPIPE nostop noprint pass")
gdb.execute("break main")
gdb.execute("run")  # libardour is loaded now; resolve the instruction addresses


def addr(func, off):
    return int(gdb.parse_and_eval(f"(long)&'{func}'")) + off


SetupProcessing(f"*{addr('Steinberg::VST3PI::update_processor()', 113):#x}")
ProcessMode(f"*{addr('Steinberg::VST3PI::process(float**, float**, unsigned int)', 0xa5):#x}")
Named("'Steinberg::VST3PI::activate()'", "VST3PI::activate -> setActive(1), setProcessing(1)")
Named("'Steinberg::VST3PI::deactivate()'", "VST3PI::deactivate -> setProcessing(0), setActive(0)")
Named("'Steinberg::VST3PI::set_block_size(int)'", "VST3PI::set_block_size", "$rsi")
Named("'ARDOUR::AudioEngine::freewheel(bool)'", "AudioEngine::freewheel", "$rsi", 0xFF)
gdb.execute("delete 1")
gdb.execute("continue")
summary = "process() calls by ProcessData.processMode: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
note(summary)
