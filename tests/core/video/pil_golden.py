#!/usr/bin/python3
"""Prints the Pillow results that test_image_resample.cpp and test_image_input.cpp compare with.

Run with Debian's Pillow (python3-pil, 9.4): /usr/bin/python3 tests/core/video/pil_golden.py
The C++ side must not need Python, so the numbers are pasted into the tests.
"""
from PIL import Image


def pattern(w, h):
    # The same formula as synthetic_rgb() in the tests: sharp, so clipping and rounding show.
    img = Image.new("RGB", (w, h))
    img.putdata([((x * 37 + y * 11) % 256, (x * x + 3 * y * y) % 256, ((x ^ y) * 29 + 7) % 256)
                 for y in range(h) for x in range(w)])
    return img


def resizecrop(image, th, tw):
    # SkyReels-V2 generate_video_df.py, as quoted in the porting spec (5.3).
    w, h = image.size
    if h / w > th / tw:
        new_w = int(w)
        new_h = int(new_w * th / tw)
    else:
        new_h = int(h)
        new_w = int(new_h * tw / th)
    left = (w - new_w) / 2
    top = (h - new_h) / 2
    right = (w + new_w) / 2
    bottom = (h + new_h) / 2
    return (left, top, right, bottom)


def hexbytes(img):
    return img.tobytes().hex()


print("// resize cases: src w, src h, dst w, dst h, bytes")
for (sw, sh, dw, dh) in [(40, 30, 16, 12), (13, 7, 24, 16), (9, 9, 9, 5), (31, 17, 7, 11), (13, 7, 5, 7)]:
    out = pattern(sw, sh).resize((dw, dh))
    print(f'{{{sw}, {sh}, {dw}, {dh}, "{hexbytes(out)}"}},')

print("// crop boxes: w, h, th, tw -> rounded box")
for (w, h, th, tw) in [(1920, 1080, 544, 960), (1080, 1920, 960, 544), (1000, 1000, 544, 960), (641, 479, 544, 960),
                       (333, 777, 544, 960), (1279, 719, 720, 1280), (12, 7, 544, 960), (960, 544, 544, 960),
                       (101, 50, 16, 16), (100, 51, 16, 16), (7, 5, 2, 3)]:
    box = resizecrop(Image.new("RGB", (w, h)), th, tw)
    x0, y0, x1, y1 = map(int, map(round, box))
    print(f"{{{w}, {h}, {th}, {tw}, {x0}, {y0}, {x1}, {y1}}},")

print("// full I2V path: src w, src h, th, tw, bytes")
for (sw, sh, th, tw) in [(50, 20, 12, 16), (23, 41, 8, 6)]:
    img = pattern(sw, sh)
    out = img.crop(resizecrop(img, th, tw)).resize((tw, th))
    print(f'{{{sw}, {sh}, {th}, {tw}, "{hexbytes(out)}"}},')
