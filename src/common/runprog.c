/*
 * src/common/runprog.c
 *    fork + execve with one pipe for stdout and stderr, read with poll() until EOF or the deadline.
 */
#include "runprog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "timestamp.h"

#define PROGRAM_MAX_OUTPUT (64 * 1024)

extern char **environ;

void
program_result_finish(ProgramResult *r)
{
	if (r)
		buf_finish(&r->output);
}

void
program_format_command(const char *const argv[], char *out, size_t outlen)
{
	size_t		n = 0;

	out[0] = '\0';
	for (int i = 0; argv[i] && n + 1 < outlen; i++)
	{
		bool		quote = argv[i][0] == '\0' || strpbrk(argv[i], " \t\"'\\$") != NULL;
		int			w = snprintf(out + n, outlen - n, "%s%s%s%s", i ? " " : "", quote ? "'" : "", argv[i],
								 quote ? "'" : "");

		if (w < 0)
			break;
		n += (size_t) w;
	}
}

/* program_last_line: the last non-empty line of the output, for error messages. */
static void
program_last_line(const Buf *out, char *line, size_t linelen)
{
	const char *s = buf_cstr(out);
	size_t		end = out->len;
	size_t		start;

	while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r'))
		end--;
	start = end;
	while (start > 0 && s[start - 1] != '\n')
		start--;
	snprintf(line, linelen, "%.*s", (int) (end - start), s + start);
}

static void (*end_hook)(void *ctx);
static void *end_hook_ctx;

void
program_set_end_hook(void (*fn)(void *ctx), void *ctx)
{
	end_hook = fn;
	end_hook_ctx = ctx;
}

bool
program_run(const char *const argv[], const char *const env_extra[], const char *cwd, int64_t timeout_ms,
			ProgramResult *result, char *err, size_t errlen)
{
	ProgramResult local;
	ProgramResult *r = result ? result : &local;
	char		cmd[1024];
	int			pipefd[2];
	pid_t		pid;
	int64_t		deadline = timeout_ms > 0 ? timestamp_monotonic_ms() + timeout_ms : 0;
	int			status = 0;
	bool		ok;
	char		last[256];
	size_t		nenv = 0;
	size_t		nextra = 0;
	char	  **envp;

	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	buf_init(&r->output, PROGRAM_MAX_OUTPUT);
	program_format_command(argv, cmd, sizeof(cmd));
	log_info("running %s", cmd);

	/* the environment is built before fork: only async-signal-safe calls in the child */
	while (environ[nenv])
		nenv++;
	while (env_extra && env_extra[nextra])
		nextra++;
	envp = calloc(nenv + nextra + 1, sizeof(char *));
	if (envp == NULL)
	{
		snprintf(err, errlen, "out of memory");
		if (!result)
			program_result_finish(&local);
		return false;
	}
	{
		size_t		k = 0;

		for (size_t i = 0; i < nextra; i++)
			envp[k++] = (char *) env_extra[i];
		for (size_t i = 0; i < nenv; i++)
		{
			const char *eq = strchr(environ[i], '=');
			bool		overridden = false;

			for (size_t j = 0; eq && j < nextra; j++)
				if (strncmp(env_extra[j], environ[i], (size_t) (eq - environ[i]) + 1) == 0)
					overridden = true;
			if (!overridden)
				envp[k++] = environ[i];
		}
		envp[k] = NULL;
	}

	if (pipe2(pipefd, O_CLOEXEC) < 0)
	{
		snprintf(err, errlen, "could not create a pipe for \"%s\": %s", argv[0], strerror(errno));
		free(envp);
		if (!result)
			program_result_finish(&local);
		return false;
	}
	pid = fork();
	if (pid < 0)
	{
		snprintf(err, errlen, "could not fork to run \"%s\": %s", argv[0], strerror(errno));
		close(pipefd[0]);
		close(pipefd[1]);
		free(envp);
		if (!result)
			program_result_finish(&local);
		return false;
	}
	if (pid == 0)
	{
		int			devnull = open("/dev/null", O_RDONLY);

		setpgid(0, 0);
		/* dies with the daemon that ran it: a killed keeper must not leave a pg_basebackup writing into PGDATA */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (devnull >= 0)
			dup2(devnull, STDIN_FILENO);
		dup2(pipefd[1], STDOUT_FILENO);
		dup2(pipefd[1], STDERR_FILENO);
		if (chdir(cwd ? cwd : "/") < 0)
			_exit(126);
		execve(argv[0], (char *const *) argv, envp);
		_exit(127);
	}
	setpgid(pid, pid);			/* also from the parent, so the group exists before any kill */
	free(envp);
	close(pipefd[1]);

	for (;;)
	{
		struct pollfd pfd = {pipefd[0], POLLIN, 0};
		int			wait_ms = -1;
		int			pr;

		if (deadline)
		{
			int64_t		left = deadline - timestamp_monotonic_ms();

			if (left <= 0)
			{
				r->timed_out = true;
				kill(-pid, SIGKILL);
				break;
			}
			wait_ms = left > 1000 ? 1000 : (int) left;
		}
		pr = poll(&pfd, 1, wait_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			break;
		if (pr == 0)
			continue;
		{
			char		chunk[4096];
			ssize_t		n = read(pipefd[0], chunk, sizeof(chunk));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			/* keep the head of a long output; what does not fit is dropped */
			if (r->output.len < PROGRAM_MAX_OUTPUT)
			{
				size_t		room = PROGRAM_MAX_OUTPUT - r->output.len;

				if (!buf_append(&r->output, chunk, (size_t) n < room ? (size_t) n : room))
					log_debug("output of %s truncated", argv[0]);
			}
		}
	}
	close(pipefd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (end_hook)
		end_hook(end_hook_ctx);

	if (WIFEXITED(status))
		r->exit_code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		r->term_signal = WTERMSIG(status);

	program_last_line(&r->output, last, sizeof(last));
	ok = !r->timed_out && r->exit_code == 0;
	if (r->timed_out)
		snprintf(err, errlen, "\"%s\" did not finish within %lld ms and was killed: %s", argv[0],
				 (long long) timeout_ms, last);
	else if (r->exit_code == 127)
		snprintf(err, errlen, "could not execute \"%s\" (missing or not executable)", argv[0]);
	else if (r->term_signal)
		snprintf(err, errlen, "\"%s\" was killed by signal %d: %s", argv[0], r->term_signal, last);
	else if (r->exit_code != 0)
		snprintf(err, errlen, "\"%s\" exited with code %d: %s", argv[0], r->exit_code, last);

	if (r->output.len > 0)
		log_debug("output of %s:\n%s", argv[0], buf_cstr(&r->output));
	if (!result)
		program_result_finish(&local);
	return ok;
}
