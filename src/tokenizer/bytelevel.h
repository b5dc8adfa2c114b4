// GPT-2's byte-level alphabet: every byte 0..255 is shown as one printable
// code point so that BPE vocabularies are valid UTF-8 text. Printable Latin-1
// bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for themselves; the other 68
// bytes (controls, space, DEL, 0x80..0xA0, soft hyphen 0xAD) map in byte order
// to U+0100.. U+0143 (so ' ' is U+0120 'Ġ' and '\n' is U+010A 'Ċ').
#ifndef GC_TOKENIZER_BYTELEVEL_H
#define GC_TOKENIZER_BYTELEVEL_H
#include "gcache/gcache.h"

// Code point that stands for byte b.
uint32_t gc_bytelevel_char(uint8_t b);
// Byte that code point cp stands for, or -1 if cp is not in the alphabet.
int gc_bytelevel_byte(uint32_t cp);
// UTF-8 encoding of byte b's code point into buf; returns its length (1 or 2).
size_t gc_bytelevel_encode_byte(uint8_t b, char buf[2]);
// Maps a byte-level string back to raw bytes. `out` needs room for `len`
// bytes (the result is never longer). Returns false, leaving *out_len
// unspecified, if s is not valid UTF-8 or holds a code point outside the
// alphabet.
bool gc_bytelevel_decode(const char *s, size_t len, uint8_t *out, size_t *out_len);

#endif
