#include "harness.h"

unsigned  harness_passed;
unsigned  harness_failed;

typedef struct {
    const char  *name;
    void       (*run)(void);
} suite_t;

static const suite_t  suites[] = {
    { "backoff", test_backoff },
    { "checksum", test_checksum },
    { "config", test_config },
    { "db_text", test_db_text },
    { "http", test_http },
    { "loop", test_loop },
    { "migfiles", test_migfiles },
    { "nets", test_nets },
    { "resend", test_resend },
    { "template", test_template },
    { "unipile", test_unipile },
    { "webhook", test_webhook },
};


int
main(void)
{
    size_t    i;
    unsigned  failed_before;

    for (i = 0; i < sizeof(suites) / sizeof(suites[0]); i++) {
        failed_before = harness_failed;
        suites[i].run();
        printf("%-10s %s\n", suites[i].name,
               harness_failed == failed_before ? "ok" : "FAILED");
    }

    printf("%u passed, %u failed\n", harness_passed, harness_failed);
    return harness_failed == 0 ? 0 : 1;
}
