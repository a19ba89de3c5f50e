#pragma once
// <immintrin.h> for the AVX-512 kernels. GCC 12's AVX-512 intrinsics read a deliberately
// uninitialized vector (GCC bug 105593): its (un)initialized-use warnings are off in the files
// that include this.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
