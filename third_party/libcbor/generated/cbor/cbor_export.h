/*
 * What CMake's generate_export_header writes for libcbor built as a
 * static library: no visibility attributes, the library is linked into
 * one executable.
 */
#ifndef CBOR_EXPORT_H
#define CBOR_EXPORT_H

#define CBOR_EXPORT
#define CBOR_NO_EXPORT

#ifndef CBOR_DEPRECATED
#  define CBOR_DEPRECATED __attribute__ ((__deprecated__))
#endif

#ifndef CBOR_DEPRECATED_EXPORT
#  define CBOR_DEPRECATED_EXPORT CBOR_EXPORT CBOR_DEPRECATED
#endif

#ifndef CBOR_DEPRECATED_NO_EXPORT
#  define CBOR_DEPRECATED_NO_EXPORT CBOR_NO_EXPORT CBOR_DEPRECATED
#endif

#endif /* CBOR_EXPORT_H */
