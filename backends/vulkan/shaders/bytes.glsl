// Reads of little-endian fields at byte offsets of binding 0. Every field of every block
// layout sits at an even offset (all block sizes are even), so 16- and 32-bit reads take
// even offsets. USE_16BIT reads through a 16-bit view of the same buffer (binding 4).
#ifdef USE_16BIT
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_int16 : require
layout(binding = 4) readonly buffer Bytes16 { uint16_t b16[]; };
#endif
layout(binding = 0) readonly buffer Bytes32 { uint b32[]; };

uint rd16(uint b) {
#ifdef USE_16BIT
  return uint(b16[b >> 1]);
#else
  return (b32[b >> 2] >> ((b & 2u) * 8u)) & 0xffffu;
#endif
}

uint rd32(uint b) {
#ifdef USE_16BIT
  return uint(b16[b >> 1]) | (uint(b16[(b >> 1) + 1]) << 16);
#else
  if ((b & 2u) == 0u) return b32[b >> 2];
  return (b32[b >> 2] >> 16) | (b32[(b >> 2) + 1] << 16);
#endif
}

uint rd8(uint b) { return (rd16(b & ~1u) >> ((b & 1u) * 8u)) & 0xffu; }

float rdh(uint b) { return unpackHalf2x16(rd16(b)).x; }

// Byte k (0..3) of word w, unsigned and sign-extended.
uint byte_of(uint w, uint k) { return (w >> (8u * k)) & 0xffu; }
int sbyte_of(uint w, uint k) { return int(w << (24u - 8u * k)) >> 24; }
