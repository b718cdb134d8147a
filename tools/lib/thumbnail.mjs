// Small thumbnails for the evaluation report: decode with our wasm core, shrink by area averaging,
// encode as PNG (node:zlib does the deflate). They are written only next to the generated report under
// build/, so the data set's images are never copied into the repository.
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as PNG chunks use it (exported for tests that build odd PNG headers). */
export function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes 8-bit RGB pixels (row-major, width*height*3 bytes) as a PNG file. */
export function encodePngRgb(pixels, width, height) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; header[9] = 2; // 8 bits per channel, truecolour RGB; compression/filter/interlace 0
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    raw[y * (width * 3 + 1)] = 0; // filter type None per row
    Buffer.from(pixels.buffer, pixels.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0)),
  ]);
}

/** Shrinks RGB pixels so the longer side is at most maxSide, averaging each source block. */
export function shrinkRgb(pixels, width, height, maxSide) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const outW = Math.max(1, Math.round(width * scale));
  const outH = Math.max(1, Math.round(height * scale));
  const out = new Uint8Array(outW * outH * 3);
  for (let y = 0; y < outH; y += 1) {
    const y0 = Math.floor(y * height / outH), y1 = Math.max(y0 + 1, Math.floor((y + 1) * height / outH));
    for (let x = 0; x < outW; x += 1) {
      const x0 = Math.floor(x * width / outW), x1 = Math.max(x0 + 1, Math.floor((x + 1) * width / outW));
      const sum = [0, 0, 0];
      for (let sy = y0; sy < y1; sy += 1) {
        for (let sx = x0; sx < x1; sx += 1) {
          const i = (sy * width + sx) * 3;
          sum[0] += pixels[i]; sum[1] += pixels[i + 1]; sum[2] += pixels[i + 2];
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * outW + x) * 3;
      out[o] = Math.round(sum[0] / n); out[o + 1] = Math.round(sum[1] / n); out[o + 2] = Math.round(sum[2] / n);
    }
  }
  return { pixels: out, width: outW, height: outH };
}

/** A PNG thumbnail (Buffer) of an image file's bytes, or null when the core cannot decode it. */
export function thumbnailPng(core, bytes, maxSide = 160) {
  const decoded = core.decode(bytes);
  if (!decoded.ok) return null;
  const small = shrinkRgb(decoded.pixels, decoded.width, decoded.height, maxSide);
  return encodePngRgb(small.pixels, small.width, small.height);
}
