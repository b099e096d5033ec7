/* session_stamp LOG HOLD MS -- the session of bench/run-daemon.sh: appends "exec NS PID PPID" to
 * LOG first thing (CLOCK_MONOTONIC, nanoseconds: the moment the daemon's session exec'd), waits
 * while the file HOLD exists (the harness reads the session worker's memory meanwhile) and at
 * least MS milliseconds in all (greetd waits a second before the next greeter after a session
 * shorter than one second, against respawn loops; a real session is longer), then appends
 * "end NS" just before it exits. Built by run-daemon.sh with gcc; nothing else linked. */
#include <stdlib.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void stamp(const char *log, const char *line) {
	FILE *f = fopen(log, "a");
	if (!f)
		return;
	fputs(line, f);
	fclose(f);
}

int main(int argc, char **argv) {
	char line[96];
	long long start = now_ns();
	if (argc < 4)
		return 2;
	snprintf(line, sizeof line, "exec %lld %d %d\n", start, (int)getpid(), (int)getppid());
	stamp(argv[1], line);
	while (access(argv[2], F_OK) == 0 || now_ns() - start < atoll(argv[3]) * 1000000LL)
		usleep(2000);
	snprintf(line, sizeof line, "end %lld\n", now_ns());
	stamp(argv[1], line);
	return 0;
}
