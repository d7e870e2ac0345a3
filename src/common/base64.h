/*
 * src/common/base64.h
 *    Base64 with the standard alphabet and '=' padding (RFC 4648 section 4), as etcd's JSON gateway uses for every
 *    key, value and range_end. The decoder is strict because its input comes from the network: it accepts only
 *    canonical encodings (length a multiple of 4, padding only at the end, unused bits zero) and nothing else,
 *    not even whitespace.
 */
#ifndef BULWARK_BASE64_H
#define BULWARK_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* base64_encoded_len: the length of the encoding of n bytes, without the NUL; SIZE_MAX when it would overflow. */
size_t base64_encoded_len(size_t n);

/* base64_encode: the NUL-terminated encoding of len bytes; caller frees. NULL when out of memory or too large. */
char *base64_encode(const void *data, size_t len);

/*
 * base64_decode: decode len characters of text (no NUL needed). On success *out is malloc'ed (caller frees),
 * holds *out_len bytes and a NUL after them, so decoded text can be used as a C string. False, with *out NULL,
 * when the text is not canonical base64 or memory runs out.
 */
bool base64_decode(const char *text, size_t len, char **out, size_t *out_len) __attribute__((warn_unused_result));

#endif
