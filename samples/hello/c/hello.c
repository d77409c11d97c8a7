#include "hello.h"

#include <stdio.h>

size_t hello_greet(const char *name, char *buf, size_t size)
{
    if (name == NULL || name[0] == '\0')
        name = "world";
    int n = snprintf(buf, size, "hello, %s!", name);
    return n < 0 ? 0 : (size_t)n;
}

const char *hello_version(void)
{
    return HELLO_VERSION;
}
