#ifndef LIAUTO_TEST_HARNESS_H
#define LIAUTO_TEST_HARNESS_H

/*
 * A tiny test harness: CHECK* macros count results and print each failure
 * with its location; unit.c runs every suite and prints "N passed, N failed".
 */

#include <stdio.h>
#include <string.h>

extern unsigned  harness_passed;
extern unsigned  harness_failed;

#define HARNESS_RECORD(ok, ...)                                              \
    do {                                                                     \
        if (ok) {                                                            \
            harness_passed++;                                                \
        } else {                                                             \
            harness_failed++;                                                \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                      \
            printf(__VA_ARGS__);                                             \
            printf("\n");                                                    \
        }                                                                    \
    } while (0)

#define CHECK(cond)                                                          \
    HARNESS_RECORD((cond), "%s", #cond)

#define CHECK_INT_EQ(actual, expected)                                       \
    do {                                                                     \
        long long  a_ = (long long) (actual), e_ = (long long) (expected);   \
        HARNESS_RECORD(a_ == e_, "%s == %lld, expected %lld", #actual, a_,   \
                       e_);                                                  \
    } while (0)

#define CHECK_STR_EQ(actual, expected)                                       \
    do {                                                                     \
        const char  *a_ = (actual), *e_ = (expected);                        \
        HARNESS_RECORD(a_ != NULL && strcmp(a_, e_) == 0,                    \
                       "%s == \"%s\", expected \"%s\"", #actual,             \
                       a_ ? a_ : "(null)", e_);                              \
    } while (0)

#define CHECK_STR_CONTAINS(actual, part)                                     \
    do {                                                                     \
        const char  *a_ = (actual), *p_ = (part);                            \
        HARNESS_RECORD(a_ != NULL && strstr(a_, p_) != NULL,                 \
                       "%s == \"%s\", expected to contain \"%s\"", #actual,  \
                       a_ ? a_ : "(null)", p_);                              \
    } while (0)

/* The suites, one per file. */
void test_backoff(void);
void test_checksum(void);
void test_config(void);
void test_db_text(void);
void test_http(void);
void test_loop(void);
void test_migfiles(void);
void test_nets(void);
void test_resend(void);
void test_template(void);
void test_unipile(void);
void test_webhook(void);

#endif
