#!/usr/bin/perl
# t_fork.pl - a perl script that forks a worker and talks to it over two
# pipes, and at every few steps forks a short-lived child it waits for by
# pid, for checkpoint -> kill -> restart cycles of the whole tree (test
# tree-perl, tree_cycles.sh). Every value follows from the step number
# alone; anything unexpected prints a line starting with FAIL.
#
#   perl t_fork.pl [STEPS]
use strict;
use warnings;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep);

my $steps = $ARGV[0] // 60;
$| = 1;
my $bad = 0;
sub fail { print "FAIL @_\n"; $bad = 1; }

pipe(my $req_r, my $req_w) or die "pipe: $!";
pipe(my $ans_r, my $ans_w) or die "pipe: $!";
my $worker = fork() // die "fork: $!";
if ($worker == 0) {
	# The worker: one answer line per request line, the sum of 1..n and
	# its own running count, then its exit status at the end of input.
	close $req_w;
	close $ans_r;
	my $old = select($ans_w); $| = 1; select($old);
	my $count = 0;
	while (my $line = <$req_r>) {
		chomp $line;
		my $s = 0;
		$s += $_ for 1 .. $line;
		$count++;
		print $ans_w "$line $s $count\n";
	}
	exit($count % 256);
}
close $req_r;
close $ans_w;
my $old = select($req_w); $| = 1; select($old);

for my $i (1 .. $steps) {
	my $n = $i * 1000;
	print $req_w "$n\n";
	my $ans = <$ans_r>;
	defined $ans or fail("step $i: no answer from the worker");
	chomp $ans;
	my $want = $n * ($n + 1) / 2;
	$ans eq "$n $want $i" or fail("step $i: worker answered '$ans', wanted '$n $want $i'");
	# A short-lived child every third step, its status checked by pid.
	my $kid = "-";
	if ($i % 3 == 0) {
		my $pid = fork() // die "fork: $!";
		if ($pid == 0) {
			sleep(0.05);
			exit($i % 11);
		}
		my $got = waitpid($pid, 0);
		$got == $pid or fail("step $i: waitpid returned $got, wanted the child");
		WIFEXITED($?) && WEXITSTATUS($?) == $i % 11 or fail("step $i: child status $?");
		$kid = WEXITSTATUS($?);
	}
	# A backtick command (fork, exec of /bin/sh or the program, a pipe).
	my $echo = `echo step-$i`;
	chomp $echo;
	$echo eq "step-$i" or fail("step $i: backtick gave '$echo'");
	sleep(0.05);
	if ($i == $steps && defined $ENV{CKPT_TEST_END_GATE}) {
		sleep(0.05) until -e $ENV{CKPT_TEST_END_GATE};
	}
	print "step $i answer=$ans kid=$kid\n";
}
close $req_w;
my $got = waitpid($worker, 0);
$got == $worker or fail("waitpid(worker) returned $got");
WIFEXITED($?) && WEXITSTATUS($?) == $steps % 256 or fail("worker status $?");
print "end worker=" . WEXITSTATUS($?) . " bad=$bad\n";
exit $bad;
