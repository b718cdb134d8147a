// gif-bytes.mjs: GIF files written in memory (any size, any number of frames), for measuring what the
// core's GIF decode costs (tools/bench/decode-memory.mjs) and for tests. A real LZW encoder, so a
// one-colour 7000x7000 frame takes a few kilobytes instead of 49 MB.

/** LZW-compressed image data (sub-blocks, terminator included) for palette indices < 2**minCodeSize. */
export function lzwImageData(indices, minCodeSize) {
  const clear = 1 << minCodeSize, end = clear + 1;
  const out = [];
  let bitBuffer = 0, bitCount = 0;
  let codeSize = minCodeSize + 1;
  const emit = (code) => {
    bitBuffer |= code << bitCount;
    bitCount += codeSize;
    while (bitCount >= 8) { out.push(bitBuffer & 0xff); bitBuffer >>>= 8; bitCount -= 8; }
  };
  let table = new Map();
  let nextCode = end + 1;
  emit(clear);
  let prefix = indices[0];
  for (let i = 1; i < indices.length; i++) {
    const key = prefix * 4096 + indices[i];
    const known = table.get(key);
    if (known !== undefined) { prefix = known; continue; }
    emit(prefix);
    if (nextCode < 4096) {
      table.set(key, nextCode++);
      // The decoder widens its codes one code later than the encoder adds them.
      if (nextCode - 1 === 1 << codeSize && codeSize < 12) codeSize++;
    } else {
      emit(clear);
      table = new Map();
      nextCode = end + 1;
      codeSize = minCodeSize + 1;
    }
    prefix = indices[i];
  }
  emit(prefix);
  emit(end);
  if (bitCount > 0) out.push(bitBuffer & 0xff);
  const blocks = [minCodeSize];
  for (let i = 0; i < out.length; i += 255) {
    const chunk = out.slice(i, i + 255);
    blocks.push(chunk.length, ...chunk);
  }
  blocks.push(0);
  return Uint8Array.from(blocks);
}

/**
 * A GIF89a of `frames` frames on a width x height screen with a 4-colour palette. Each frame covers
 * frameWidth x frameHeight (default: the whole screen) at 0,0 and is one colour (index frame % 4).
 */
export function gifBytes({ width, height, frames = 1, frameWidth = width, frameHeight = height }) {
  const u16 = (v) => [v & 0xff, v >> 8];
  const parts = [
    Uint8Array.from([...Buffer.from('GIF89a'), ...u16(width), ...u16(height), 0x81, 0, 0,
      255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]),
    // NETSCAPE2.0 loop forever: an animation as browsers and encoders write it.
    Uint8Array.from([0x21, 0xff, 11, ...Buffer.from('NETSCAPE2.0'), 3, 1, 0, 0, 0]),
  ];
  const pixels = new Uint8Array(frameWidth * frameHeight);
  for (let f = 0; f < frames; f++) {
    pixels.fill(f % 4);
    parts.push(Uint8Array.from([0x21, 0xf9, 4, 0x04, 10, 0, 0, 0])); // 0.1 s, keep the previous frame
    parts.push(Uint8Array.from([0x2c, 0, 0, 0, 0, ...u16(frameWidth), ...u16(frameHeight), 0]));
    parts.push(lzwImageData(pixels, 2));
  }
  parts.push(Uint8Array.from([0x3b]));
  return Buffer.concat(parts);
}
