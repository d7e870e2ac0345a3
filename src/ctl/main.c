#include "log.h"
int main(int argc, char **argv);
int main(int argc, char **argv) { (void) argc; log_set_program(argv[0]); return 0; }
