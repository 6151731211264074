/*
 * crc32c.c -- CRC-32C (Castagnoli), the checksum of every page, log segment
 * and header.  Uses the SSE4.2 crc32 instruction when the CPU has it, else
 * slicing-by-8 tables.
 *
 * The instruction takes 3 cycles and can start every cycle, so one stream
 * of it runs at a third of its speed (about 8 GB/s here).  Long buffers are
 * cut into three streams of a fixed stride, computed side by side and joined:
 * the CRC register is linear over GF(2), so the state after A|B|C is
 * shift(shift(a, |B|) ^ b, |C|) ^ c, where a, b, c are the states after A
 * (from the start state), B and C (from 0), and shift(v, n) the state after n
 * zero bytes from v, one table per stride (crc_shift).  About 20 GB/s: a
 * backup reader verifies every page it serves.
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "jet_int.h"

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw;

#if defined(__x86_64__)
/* The strides of the three-stream loop, longest first, and shift(., stride) for each, by byte of the state. */
static const size_t crc_stride[2] = { 1024, 128 };
static uint32_t crc_shift[2][4][256];
static void crc_init_shift(void);
#endif

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78U : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xFF];
#if defined(__x86_64__)
	__builtin_cpu_init();
	crc_hw = __builtin_cpu_supports("sse4.2");
	if (crc_hw)
		crc_init_shift();
#endif
}

static uint32_t
crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		v ^= crc;
		crc = crc_table[7][v & 0xFF] ^ crc_table[6][(v >> 8) & 0xFF] ^
		    crc_table[5][(v >> 16) & 0xFF] ^ crc_table[4][(v >> 24) & 0xFF] ^
		    crc_table[3][(v >> 32) & 0xFF] ^ crc_table[2][(v >> 40) & 0xFF] ^
		    crc_table[1][(v >> 48) & 0xFF] ^ crc_table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xFF];
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t
crc_hw_1way(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

static uint32_t
crc_shift_by(int k, uint32_t v)
{
	return crc_shift[k][0][v & 0xFF] ^ crc_shift[k][1][(v >> 8) & 0xFF] ^ crc_shift[k][2][(v >> 16) & 0xFF] ^
	    crc_shift[k][3][v >> 24];
}

static void
crc_init_shift(void)
{
	static const uint8_t zeros[1024];

	for (int k = 0; k < 2; k++)
		for (int byte = 0; byte < 4; byte++)
			for (uint32_t b = 0; b < 256; b++)
				crc_shift[k][byte][b] = crc_hw_1way(b << (8 * byte), zeros, crc_stride[k]);
}

__attribute__((target("sse4.2"))) static uint32_t
crc_hw_x86(uint32_t crc, const uint8_t *p, size_t len)
{
	for (int k = 0; k < 2; k++) {
		size_t stride = crc_stride[k];
		while (len >= 3 * stride) {
			uint64_t a = crc, b = 0, c = 0, va, vb, vc;
			for (size_t i = 0; i < stride; i += 8) {
				memcpy(&va, p + i, 8);
				memcpy(&vb, p + stride + i, 8);
				memcpy(&vc, p + 2 * stride + i, 8);
				a = __builtin_ia32_crc32di(a, va);
				b = __builtin_ia32_crc32di(b, vb);
				c = __builtin_ia32_crc32di(c, vc);
			}
			crc = crc_shift_by(k, crc_shift_by(k, (uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
			p += 3 * stride;
			len -= 3 * stride;
		}
	}
	return crc_hw_1way(crc, p, len);
}
#endif

uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
	crc = ~crc;
#if defined(__x86_64__)
	if (crc_hw)
		return ~crc_hw_x86(crc, buf, len);
#endif
	return ~crc_sw(crc, buf, len);
}
