/*
 * src/common/exitcode.h
 *    Exit codes of every bulwark program: an API for scripts and supervisors, defined here once and documented
 *    in docs/bulwarkctl.md. Only main() and option parsing call exit().
 */
#ifndef BULWARK_EXITCODE_H
#define BULWARK_EXITCODE_H

#define EXIT_CODE_OK          0
#define EXIT_CODE_INTERNAL    1	/* a bug or an unexpected local failure (out of memory, I/O) */
#define EXIT_CODE_BAD_ARGS    2	/* bad command line flags or environment */
#define EXIT_CODE_BAD_SPEC    3	/* a cluster spec or cluster data document that does not decode or validate */
#define EXIT_CODE_STORE       4	/* the store is unreachable, timed out, or refused the request */
#define EXIT_CODE_CONFLICT    5	/* a compare-and-swap kept failing, or the cluster exists and --yes was not given */
#define EXIT_CODE_NOT_FOUND   6	/* no cluster data under this cluster name */
#define EXIT_CODE_POSTGRES    7	/* a PostgreSQL program or query failed (keeper) */
#define EXIT_CODE_ABORTED     8	/* an operation the sentinel carries out did not complete (switchover --wait) */

#endif
