"""Minimal stdlib reader for the WAVs the harness handles (32-bit float or 16/24/32-bit PCM).

Python's `wave` module only reads integer PCM, and Ardour/sox write IEEE float (format 3, or
WAVE_FORMAT_EXTENSIBLE with the float sub-format), so the RIFF chunks are parsed here.
"""
import struct
import sys
from array import array

WAVE_FORMAT_PCM = 1
WAVE_FORMAT_IEEE_FLOAT = 3
WAVE_FORMAT_EXTENSIBLE = 0xFFFE


class Wav:
    def __init__(self, path, rate, channels, fmt, bits, data):
        self.path, self.rate, self.channels, self.fmt, self.bits = path, rate, channels, fmt, bits
        self.data = data  # raw little-endian sample bytes, interleaved
        self.frames = len(data) // (channels * bits // 8)

    @property
    def is_float32(self):
        return self.fmt == WAVE_FORMAT_IEEE_FLOAT and self.bits == 32

    def bits_u32(self, channel):
        """The channel's float32 samples as raw 32-bit patterns (for bit-exact comparison)."""
        if not self.is_float32:
            raise ValueError(f"{self.path}: not 32-bit float")
        a = array("I")
        a.frombytes(self.data[: self.frames * self.channels * 4])
        if sys.byteorder != "little":
            a.byteswap()
        return a[channel :: self.channels]

    def floats(self, channel):
        a = array("f")
        a.frombytes(self.data[: self.frames * self.channels * 4])
        if sys.byteorder != "little":
            a.byteswap()
        return a[channel :: self.channels]


def read(path):
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:4] not in (b"RIFF", b"RF64") or blob[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(blob):
        cid, size = blob[pos : pos + 4], struct.unpack_from("<I", blob, pos + 4)[0]
        body = blob[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", body)
            if tag == WAVE_FORMAT_EXTENSIBLE and len(body) >= 26:
                tag = struct.unpack_from("<H", body, 24)[0]  # first 2 bytes of the sub-format GUID
            fmt = (tag, channels, rate, bits)
        elif cid == b"data":
            data = body
        pos += 8 + size + (size & 1)
    if fmt is None or data is None:
        raise ValueError(f"{path}: missing fmt or data chunk")
    tag, channels, rate, bits = fmt
    return Wav(path, rate, channels, tag, bits, data)
