/* libhello: a tiny C library, Calvin's sample project. */
#ifndef HELLO_H
#define HELLO_H

#include <stddef.h>

/* Writes "hello, NAME!" (NAME "world" when null or empty) into buf, NUL-terminated.
 * Returns the length of the whole greeting; it was cut when that is >= size. */
size_t hello_greet(const char *name, char *buf, size_t size);

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *hello_version(void);

#endif
