/*
 * chacha20.h - the ChaCha20 block function and keystream of RFC 8439.
 *
 * 256-bit key, 96-bit nonce, 32-bit block counter. Pure functions on the
 * caller's buffers: no state, no allocation, never blocks.
 */
#ifndef RNG_CHACHA20_H
#define RNG_CHACHA20_H

#include <stddef.h>
#include <stdint.h>

#define CHACHA20_KEY_LEN   32u
#define CHACHA20_NONCE_LEN 12u
#define CHACHA20_BLOCK_LEN 64u

/* Writes the 64-byte block for (key, nonce, counter) to out (RFC 8439
 * section 2.3). */
void chacha20_block(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
                    const uint8_t nonce[CHACHA20_NONCE_LEN], uint8_t out[CHACHA20_BLOCK_LEN]);

/* XORs len bytes of keystream, starting at block `counter`, into buf
 * (RFC 8439 section 2.4): encrypts or decrypts in place. To get the bare
 * keystream, pass a zeroed buf. The counter must not wrap within len. */
void chacha20_xor(const uint8_t key[CHACHA20_KEY_LEN], uint32_t counter,
                  const uint8_t nonce[CHACHA20_NONCE_LEN], uint8_t *buf, size_t len);

#endif
