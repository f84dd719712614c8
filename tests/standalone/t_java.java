// t_java.java - a JVM (Debian's default-jdk-headless, run as a source file)
// through checkpoint/restart: its GC, JIT compiler and other service
// threads, objects on the heap changed every step (a HashMap of boxed
// values, a growing StringBuilder, garbage for the collector), two worker
// threads of a fixed pool, and a pause between steps. Every step checks its
// results against values recomputed from scratch and prints one line; the
// last waits for the gate of run_cycles.sh (end_gate.h) by polling the
// file. Exit 0 only if every check passed.
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

public class t_java {
    static final int STEPS = 40;

    static long chain(long seed, int n) {
        long s = seed;
        for (int i = 0; i < n; i++)
            s = s * 6364136223846793005L + 1442695040888963407L;
        return s;
    }

    static void gate() throws InterruptedException {
        String p = System.getenv("CKPT_TEST_END_GATE");
        if (p == null)
            return;
        while (!Files.exists(Path.of(p)))
            Thread.sleep(5);
    }

    public static void main(String[] args) throws Exception {
        HashMap<Integer, Long> map = new HashMap<>();
        StringBuilder text = new StringBuilder();
        ExecutorService pool = Executors.newFixedThreadPool(2);
        long total = 0;

        for (int step = 0; step < STEPS; step++) {
            final int st = step;
            Future<Long> a = pool.submit(() -> chain(st, 2_000_000));
            Future<Long> b = pool.submit(() -> chain(st + 1000, 2_000_000));
            for (int i = 0; i < 5000; i++)
                map.merge(i % 997, (long) i * step, Long::sum);
            for (int i = 0; i < 200; i++)
                text.append(Integer.toString(i * step, 36));
            byte[][] garbage = new byte[64][];
            for (int i = 0; i < garbage.length; i++)
                garbage[i] = new byte[16384];
            long got = a.get() ^ b.get();
            if (got != (chain(st, 2_000_000) ^ chain(st + 1000, 2_000_000)) || map.size() != 997) {
                System.out.println("FAIL step " + step + ": " + got + " map " + map.size());
                System.exit(1);
            }
            total += got + map.get(step % 997) + text.length() + garbage.length;
            if (step == STEPS - 1)
                gate();
            System.out.println("step " + step + ": " + total);
            System.out.flush();
            Thread.sleep(20);
        }
        pool.shutdown();
    }
}
