/* t_sysv.c - a program using a System V semaphore set or message queue,
 * for sysv_refused.sh: the checkpoint must be refused, naming the id.
 *
 *   t_sysv sem      a semaphore set (semget, semctl SETVAL, semop)
 *   t_sysv msg      a message queue with one message queued
 *   t_sysv removed  a semaphore set used, then removed (IPC_RMID): it no
 *                   longer stops a checkpoint
 *
 * Prints "ready: KIND ID" once set up, then waits up to 10 minutes to be
 * checkpointed or killed; a new line each second shows it runs on. */
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <unistd.h>

struct t_msg {
	long type;
	char text[16];
};

static int use_sem(void)
{
	struct sembuf up = { .sem_num = 1, .sem_op = 2, .sem_flg = 0 };
	int id = semget(IPC_PRIVATE, 2, IPC_CREAT | 0600);

	if (id < 0 || semctl(id, 0, SETVAL, 1) < 0 || semop(id, &up, 1) < 0) {
		perror("t_sysv: semaphore set");
		return -1;
	}
	return id;
}

static int use_msg(void)
{
	struct t_msg m = { .type = 1 };
	int id = msgget(IPC_PRIVATE, IPC_CREAT | 0600);

	strcpy(m.text, "queued");
	if (id < 0 || msgsnd(id, &m, sizeof(m.text), 0) < 0) {
		perror("t_sysv: message queue");
		return -1;
	}
	return id;
}

int main(int argc, char **argv)
{
	const char *mode = argc == 2 ? argv[1] : "";
	int id;

	if (!strcmp(mode, "sem") || !strcmp(mode, "removed"))
		id = use_sem();
	else if (!strcmp(mode, "msg"))
		id = use_msg();
	else {
		fprintf(stderr, "usage: t_sysv sem|msg|removed\n");
		return 2;
	}
	if (id < 0)
		return 1;
	if (!strcmp(mode, "removed") && semctl(id, 0, IPC_RMID) < 0) {
		perror("t_sysv: IPC_RMID");
		return 1;
	}
	printf("ready: %s %d\n", mode, id);
	fflush(stdout);
	for (int i = 0; i < 600; i++) {
		sleep(1);
		printf("running %d\n", i);
		fflush(stdout);
	}
	return 0;
}
