# SPDX-License-Identifier: GPL-3.0-or-later
"""The size of a PNG or JPEG image, read from its header without decoding a pixel.

A print filter decodes an image whole: a 50000 x 50000 PNG of a few kilobytes (one colour
compresses to almost nothing) becomes gigabytes in memory. Its header says so first.

- PNG: the 8-byte signature, then the IHDR chunk: length 13, "IHDR", width and height as
  4-byte big-endian integers (PNG 1.2, section 11.2.2).
- JPEG: SOI (FF D8), then segments, each a marker (FF, any number of FF fill bytes, a
  code) and, except for the standalone ones (01, D0-D7), a 2-byte length that counts
  itself. The first start-of-frame (SOF0-3, 5-7, 9-11, 13-15) holds precision (1 byte),
  height and width (2 bytes each). A height of 0 (given later by a DNL segment) is
  refused: the size must be known before anything is decoded.
"""

from __future__ import annotations

from releasestation.errors import DocumentRefused

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8\xff"
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS, _EOI = 0xDA, 0xD9


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG; DocumentRefused when its header is not a PNG's."""
    ihdr = data[8:33]
    if len(ihdr) < 25 or ihdr[:8] != b"\x00\x00\x00\x0dIHDR":
        raise DocumentRefused("the PNG image is damaged (no image header)")
    return int.from_bytes(ihdr[8:12], "big"), int.from_bytes(ihdr[12:16], "big")


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG from its first start-of-frame segment; DocumentRefused
    when there is none before the image data, or it gives no height."""
    pos, end = 2, len(data)
    while pos < end:
        if data[pos] != 0xFF:
            raise DocumentRefused("the JPEG image is damaged (a segment without a marker)")
        while pos < end and data[pos] == 0xFF:  # the marker and any fill bytes
            pos += 1
        if pos >= end:
            break
        code, pos = data[pos], pos + 1
        if code in _STANDALONE:
            continue
        if code in (_SOS, _EOI) or end - pos < 2:
            break
        length = int.from_bytes(data[pos : pos + 2], "big")
        if code in _SOF:
            if length < 7 or end - pos < 7:
                break
            height = int.from_bytes(data[pos + 3 : pos + 5], "big")
            width = int.from_bytes(data[pos + 5 : pos + 7], "big")
            if height == 0:
                raise DocumentRefused("the JPEG image does not say its height before its data")
            return width, height
        if length < 2:
            break
        pos += length
    raise DocumentRefused("the JPEG image is damaged (no image size before its data)")
