/*
 * What libcbor's CMake build writes from src/cbor/configuration.h.in for
 * release 0.10.2 with its default options (a C99 compiler that is not
 * MSVC), for make static, which compiles libcbor without CMake.
 */
#ifndef LIBCBOR_CONFIGURATION_H
#define LIBCBOR_CONFIGURATION_H

#define CBOR_MAJOR_VERSION 0
#define CBOR_MINOR_VERSION 10
#define CBOR_PATCH_VERSION 2

#define CBOR_BUFFER_GROWTH 2
#define CBOR_MAX_STACK_SIZE 2048
#define CBOR_PRETTY_PRINTER 1

#define CBOR_RESTRICT_SPECIFIER restrict
#define CBOR_INLINE_SPECIFIER

#endif //LIBCBOR_CONFIGURATION_H
