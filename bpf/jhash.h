/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* jhash.h: Bob Jenkins' lookup3 final mix, as in the kernel's jhash_3words. */
#ifndef SKIFF_JHASH_H
#define SKIFF_JHASH_H

#include <linux/types.h>

#define JHASH_INITVAL 0xdeadbeef

static __always_inline __u32 rol32(__u32 word, unsigned int shift)
{
	return (word << shift) | (word >> ((-shift) & 31));
}

#define __jhash_final(a, b, c)            \
	{                                 \
		c ^= b;                   \
		c -= rol32(b, 14);        \
		a ^= c;                   \
		a -= rol32(c, 11);        \
		b ^= a;                   \
		b -= rol32(a, 25);        \
		c ^= b;                   \
		c -= rol32(b, 16);        \
		a ^= c;                   \
		a -= rol32(c, 4);         \
		b ^= a;                   \
		b -= rol32(a, 14);        \
		c ^= b;                   \
		c -= rol32(b, 24);        \
	}

static __always_inline __u32 jhash_3words(__u32 a, __u32 b, __u32 c, __u32 initval)
{
	a += JHASH_INITVAL;
	b += JHASH_INITVAL;
	c += initval;
	__jhash_final(a, b, c);
	return c;
}

#endif /* SKIFF_JHASH_H */
