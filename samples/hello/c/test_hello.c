/* Unit tests for libhello: exit status 0 when every check passes. */
#include "hello.h"

#include <stdio.h>
#include <string.h>

static int failures;

static void expect(int ok, const char *what)
{
    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok)
        failures++;
}

int main(void)
{
    char buf[32];

    expect(hello_greet("calvin", buf, sizeof buf) == 14 && strcmp(buf, "hello, calvin!") == 0, "greets by name");
    expect(hello_greet(NULL, buf, sizeof buf) == 13 && strcmp(buf, "hello, world!") == 0, "greets the world without a name");
    expect(hello_greet("", buf, sizeof buf) == 13 && strcmp(buf, "hello, world!") == 0, "greets the world for an empty name");
    expect(hello_greet("a long name indeed", buf, 8) == 26 && strcmp(buf, "hello, ") == 0, "cuts to the buffer and says how long");
    expect(strcmp(hello_version(), HELLO_VERSION) == 0, "reports its version");
    printf("%d failed\n", failures);
    return failures != 0;
}
