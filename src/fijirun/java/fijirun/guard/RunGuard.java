package fijirun.guard;

import ij.IJ;
import ij.ImageJ;
import ij.ImagePlus;
import ij.Macro;
import ij.Menus;
import ij.Prefs;
import ij.WindowManager;
import ij.CommandListener;
import ij.Executer;
import ij.macro.Interpreter;
import ij.measure.Measurements;
import ij.measure.ResultsTable;
import ij.plugin.filter.Analyzer;
import ij.plugin.filter.ParticleAnalyzer;
import ij.plugin.frame.RoiManager;
import ij.text.TextWindow;

import java.awt.AWTEvent;
import java.awt.Component;
import java.awt.Container;
import java.awt.Dialog;
import java.awt.EventQueue;
import java.awt.Frame;
import java.awt.Label;
import java.awt.TextComponent;
import java.awt.Toolkit;
import java.awt.Window;
import java.awt.event.AWTEventListener;
import java.awt.event.WindowEvent;
import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.io.Writer;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.lang.reflect.Field;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.security.Permission;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * fijirun's watch over one ImageJ 1.x: runs scripts on their own threads and
 * attributes everything that happens to the run that caused it.
 *
 * Everything here is Java on purpose: the AWT event thread, ImageJ's exception
 * handler, its command listener and System.out/err are called on threads
 * Python does not own, at any time (also while the JVM shuts down). Python
 * only starts runs, waits for them in short slices (so that Ctrl-C is Python's)
 * and reads the facts recorded here once a run has settled.
 *
 * Attribution: each run's script thread lives in a ThreadGroup of its own,
 * and so does every thread it starts. A dialog belongs to a run when one of
 * the run's threads is inside that dialog's show() (modal dialogs block their
 * caller there; ImageJ's non-blocking dialogs wait inside their own show()),
 * or when the event thread opened it while a run thread waited in
 * invokeAndWait. Exceptions, printed text and commands belong to a run when
 * they happen on one of its threads. Everything else is "stray": kept as a
 * warning, never an error of any run.
 *
 * A run is settled only after its script thread ended, the event queue was
 * flushed twice (so every window event the run posted has been dispatched
 * and seen) and the threads it started have ended (or a grace period passed).
 */
public final class RunGuard implements AWTEventListener, CommandListener, IJ.ExceptionHandler {

    /** One fact about a run: a dialog, an exception, an exit, a missing sample. */
    public static final class Event {
        public final String kind;      // error-dialog, message, exit-message, exception, exit, needs-data, wait-dialog, dialog
        public final String title;
        public final String text;
        public final String stack;     // the attributed thread's stack, innermost first, "class.method(file:line)"
        public final String thread;
        public final String dialogClass;
        public int line;               // the script's line when it happened, 0 when unknown

        Event(String kind, String title, String text, String stack, String thread, String dialogClass) {
            this.kind = kind;
            this.title = title;
            this.text = text;
            this.stack = stack;
            this.thread = thread;
            this.dialogClass = dialogClass;
        }

        @Override
        public String toString() {
            return kind + ": " + title + ": " + text;
        }
    }

    /** One script run. */
    public final class Run implements Runnable {
        public final String language;
        public final String code;
        public final String path;
        public final String arg;
        public final boolean batchMode;
        final Map<String, Object> values;
        final Map<String, String> samples;
        final ThreadGroup group;
        // Python reads these through the *Array methods below, never as collections:
        // JPype builds a Python class for every Java class it is handed (tens of
        // milliseconds for the synchronized collections and their iterators).
        final List<Event> events = Collections.synchronizedList(new ArrayList<>());
        final List<String[]> commands = Collections.synchronizedList(new ArrayList<>());
        final List<String> survivors = Collections.synchronizedList(new ArrayList<>());
        final java.util.Set<String> reads = Collections.synchronizedSet(new java.util.LinkedHashSet<>());
        /** Every particle analysis of the run, as RecordingParticleAnalyzer recorded it. */
        final List<Map<String, Object>> analyses = Collections.synchronizedList(new ArrayList<>());
        /** Files the run wrote → the number of particle analyses done when it last wrote each. */
        final Map<String, Integer> writes = Collections.synchronizedMap(new java.util.LinkedHashMap<>());
        /** Where the analysed images are saved (null: the analyses are recorded without them). */
        public volatile String analysisFolder;
        final ByteArrayOutputStream console = new ByteArrayOutputStream();
        final StringWriter jythonOutput = new StringWriter();
        volatile Thread thread;
        volatile Interpreter interp;
        volatile Object jythonState;       // the script thread's org.python.core.ThreadState
        public volatile String returnValue;
        public volatile Throwable failure;
        volatile boolean failed;           // an error was recorded: abort under way
        public volatile boolean scriptEnded;  // its script is done; the run is settling
        /** When the settling must be over (currentTimeMillis; 0: no limit): the caller's timeout. */
        volatile long settleDeadline;
        final CountDownLatch settled = new CountDownLatch(1);

        Run(String language, String code, String path, String arg, boolean batchMode,
            Map<String, Object> values, Map<String, String> samples) {
            this.language = language;
            this.code = code;
            this.path = path;
            this.arg = arg;
            this.batchMode = batchMode;
            this.values = values;
            this.samples = samples;
            this.group = new ThreadGroup(RUN_GROUP_PREFIX + (++runCount));
            this.group.setDaemon(false);
        }

        boolean owns(Thread t) {
            if (t == thread)
                return true;
            ThreadGroup g = t.getThreadGroup();
            return g != null && group.parentOf(g);
        }

        public boolean isMacro() {
            return "ijm".equals(language);
        }

        /** What the run reported (dialogs, exceptions, exits...), in order. */
        public Event[] eventArray() {
            synchronized (events) {
                return events.toArray(new Event[0]);
            }
        }

        /** Each ImageJ command the run's threads ran: {command, options}. */
        public String[][] commandArray() {
            synchronized (commands) {
                return commands.toArray(new String[0][]);
            }
        }

        /** The names of threads the script started that outlived it. */
        public String[] survivorArray() {
            synchronized (survivors) {
                return survivors.toArray(new String[0]);
            }
        }

        /** The files the run's threads read, in the order first read. */
        public String[] readArray() {
            synchronized (reads) {
                return reads.toArray(new String[0]);
            }
        }

        /** Each particle analysis as {key, value, key, value, ...}. */
        public Object[][] analysisArray() {
            synchronized (analyses) {
                Object[][] out = new Object[analyses.size()][];
                for (int i = 0; i < out.length; i++)
                    out[i] = pairs(analyses.get(i));
                return out;
            }
        }

        /** The files the run wrote, as {path, analyses done when it last wrote it, ...}. */
        public Object[] writeArray() {
            synchronized (writes) {
                return pairs(writes);
            }
        }

        /** The caller stops waiting {@code timeoutMillis} from now: the settling ends a little before. */
        public void limitSettling(long timeoutMillis) {
            settleDeadline = System.currentTimeMillis() + Math.max(0, timeoutMillis - SETTLE_MARGIN_MILLIS);
        }

        /** Wait up to {@code millis} for the run to settle. */
        public boolean waitSettled(long millis) throws InterruptedException {
            return settled.await(millis, TimeUnit.MILLISECONDS);
        }

        public boolean isSettled() {
            return settled.getCount() == 0;
        }

        public String console() {
            synchronized (console) {
                try {
                    return console.toString("UTF-8");
                } catch (java.io.UnsupportedEncodingException e) {
                    return console.toString();
                }
            }
        }

        public String jythonOutput() {
            return jythonOutput.toString();
        }

        /** The script's thread has not ended its script (it runs past a stop, or was never stopped). */
        public boolean scriptThreadAlive() {
            Thread t = thread;
            return t != null && t.isAlive() && !isSettled();
        }

        @Override
        public void run() {
            try {
                if (isMacro())
                    runMacro();
                else
                    runJython();
            } catch (Throwable t) {
                failure = t;
            } finally {
                settle();
            }
        }

        private void runMacro() {
            if (batchMode)
                Interpreter.batchMode = true;
            Interpreter interpreter = new Interpreter();
            interp = interpreter;
            String value = interpreter.run(code, arg);
            returnValue = value;
        }

        /**
         * Every Jython run shares Jython's one system state: what a script put on
         * {@code sys.path}, the modules it imported from there (a course's {@code utils.py}
         * of one activity, found by the next activity's {@code import utils}), names it
         * added to {@code __builtin__} and the recursion limit would reach the next script.
         * Kept at the first run, put back before each: {@code sys.path}, the recursion
         * limit, {@code __builtin__}'s names, and {@code sys.modules} less the modules
         * imported since from files outside Jython's own library (those of the JDK and
         * Jython stay loaded: importing them anew costs each run, and they are the same).
         */
        private static final String JYTHON_RENEW = ""
                + "def _fijirun_renew():\n"
                + "    import sys, __builtin__\n"
                + "    kept = getattr(sys, '_fijirun_kept', None)\n"
                + "    if kept is None:\n"
                + "        sys._fijirun_kept = (list(sys.path), set(sys.modules), dict(__builtin__.__dict__),\n"
                + "                             sys.getrecursionlimit())\n"
                + "        return\n"
                + "    path, modules, builtins, limit = kept\n"
                + "    sys.path[:] = path\n"
                + "    for name, module in list(sys.modules.items()):\n"
                + "        where = getattr(module, '__file__', None) or ''\n"
                + "        jythons = not where or where.startswith(sys.prefix or '\\0') or '.jar' in where\n"
                + "        if name not in modules and not jythons:\n"
                + "            del sys.modules[name]\n"
                + "    now = __builtin__.__dict__\n"
                + "    for name in [n for n in now if n not in builtins]:\n"
                + "        del now[name]\n"
                + "    for name, value in builtins.items():\n"
                + "        if now.get(name) is not value:\n"
                + "            now[name] = value\n"
                + "    sys.setrecursionlimit(limit)\n"
                + "_fijirun_renew()\n"
                + "del _fijirun_renew\n";

        private void runJython() throws Throwable {
            Class<?> pi = Class.forName("org.python.util.PythonInterpreter");
            Class<?> pyObject = Class.forName("org.python.core.PyObject");
            Object interpreter = pi.getConstructor().newInstance();
            try {
                pi.getMethod("setOut", Writer.class).invoke(interpreter, jythonOutput);
                pi.getMethod("setErr", Writer.class).invoke(interpreter, jythonOutput);
                Method set = pi.getMethod("set", String.class, Object.class);
                // `from ij.plugin.filter import ParticleAnalyzer` gives the recording subclass
                // (same constructors, constants and behaviour); set in Jython's package once per JVM
                set.invoke(interpreter, "_fijirun_pa", RecordingParticleAnalyzer.class);
                pi.getMethod("exec", String.class).invoke(interpreter,
                        "import ij.plugin.filter as _fijirun_f\n"
                        + "_fijirun_f.__dict__['ParticleAnalyzer'] = _fijirun_pa\n"
                        + "del _fijirun_f, _fijirun_pa\n"
                        + JYTHON_RENEW);
                for (Map.Entry<String, Object> e : values.entrySet())
                    set.invoke(interpreter, e.getKey(), e.getValue());
                Object compiled = pi.getMethod("compile", String.class, String.class).invoke(interpreter, code, path);
                jythonState = Class.forName("org.python.core.Py").getMethod("getThreadState").invoke(null);
                pi.getMethod("exec", pyObject).invoke(interpreter, compiled);
            } catch (InvocationTargetException e) {
                throw e.getCause();
            } finally {
                try {
                    pi.getMethod("cleanup").invoke(interpreter);
                } catch (Throwable ignored) {
                    // the interpreter may be half gone after Thread.stop
                }
            }
        }

        /** On the script thread, once its script ended: see everything it caused. */
        private void settle() {
            scriptEnded = true;
            // an interrupt flag the script left set cut every wait below short (the
            // flushes and joins returned at once): its threads' errors were lost
            Thread.interrupted();
            try {
                if (batchMode && isMacro())
                    Interpreter.batchMode = false;
                flushEvents();
                flushEvents();  // events posted while the first flush was dispatched
                // the threads the script started, until they ended or the grace is over; an
                // idle worker of a thread pool (ImageJ's multithreaded filters start one) is
                // not waited for: it waits for work, and would keep every first run 2 s and
                // be named as if the script had left it running. Checked again until none is
                // busy: a thread still working may hand a pool thread more work.
                // The grace grows with the machine's load: on a loaded machine a thread the
                // script started (doCommand's) may need seconds to report its error, which
                // the run must not lose; never past the caller's timeout, never below 2 s.
                long now = System.currentTimeMillis();
                long deadline = now + threadGraceMillis();
                if (settleDeadline > 0)
                    deadline = Math.max(now + THREAD_GRACE_MILLIS, Math.min(deadline, settleDeadline));
                List<Thread> busy = busyThreads();
                while (!busy.isEmpty()) {
                    long left = deadline - System.currentTimeMillis();
                    if (left <= 0)
                        break;
                    try {
                        busy.get(0).join(Math.min(left, POOL_POLL_MILLIS));
                    } catch (InterruptedException e) {
                        break;
                    }
                    busy = busyThreads();
                }
                for (Thread t : busy)
                    survivors.add(t.getName());
                if (!survivors.isEmpty())
                    flushEvents();
            } finally {
                settled.countDown();
            }
        }

        /** The run's live threads other than idle thread-pool workers. */
        List<Thread> busyThreads() {
            List<Thread> out = liveThreads();
            out.removeIf(RunGuard::idleInPool);
            return out;
        }

        List<Thread> liveThreads() {
            Thread[] threads = new Thread[group.activeCount() + 8];
            int n = group.enumerate(threads, true);
            List<Thread> out = new ArrayList<>();
            Thread me = Thread.currentThread();
            for (int i = 0; i < n; i++)
                if (threads[i] != me && threads[i].isAlive())
                    out.add(threads[i]);
            return out;
        }

        /** The script line the run is at: the macro interpreter's, or the innermost Jython frame of the script. */
        int lineNow(Thread t) {
            return lineAt(t == null ? new StackTraceElement[0] : t.getStackTrace());
        }

        /** The script line of a stack of the script's thread (taken while it is blocked there). */
        int lineAt(StackTraceElement[] stack) {
            Interpreter i = interp;
            if (i != null) {
                try {
                    return i.getLineNumber();
                } catch (RuntimeException e) {
                    return 0;
                }
            }
            return jythonLine();
        }

        /**
         * The line of the innermost frame of the script in Jython's own frame
         * stack. (The Java stack's line numbers of Jython's module code are not
         * the script's: they point at its last statement.)
         */
        int jythonLine() {
            Object state = jythonState;
            if (state == null)
                return 0;
            try {
                Object frame = state.getClass().getField("frame").get(state);
                while (frame != null) {
                    Class<?> fc = frame.getClass();
                    Object code = fc.getField("f_code").get(frame);
                    Object file = code == null ? null : code.getClass().getField("co_filename").get(code);
                    if (path != null && path.equals(file))
                        return (Integer) fc.getMethod("getline").invoke(frame);
                    frame = fc.getField("f_back").get(frame);
                }
            } catch (ReflectiveOperationException | RuntimeException e) {
                return 0;
            }
            return 0;
        }

        int lineOfCaller() {
            Thread t = Thread.currentThread();
            if (EventQueue.isDispatchThread() && installed != null && installed.queue != null) {
                Cause c = installed.queue.cause();
                if (c != null && c.run == this)
                    return c.line;
            }
            // another thread of the run: where the script is meanwhile says nothing about it
            return t == thread ? lineNow(t) : 0;
        }

        void record(Event e) {
            if (e.line == 0)
                e.line = lineOfCaller();
            events.add(e);
        }

        void fail(Event e) {
            if (e.line == 0)
                e.line = lineOfCaller();
            events.add(e);
            if (!failed) {
                failed = true;
                // a macro is stopped (cooperatively); a Jython script runs on to its end
                // (its first error is the verdict): Thread.stop is kept for timeouts, as
                // it can leave a class half-initialised for the JVM's lifetime
                if (isMacro())
                    abortAsync(this);
            }
        }
    }

    static final long THREAD_GRACE_MILLIS = 2000;
    /** The most the grace grows with the machine's load (× THREAD_GRACE_MILLIS). */
    static final double MAX_LOAD_FACTOR = 5.0;
    /** How long before the caller's timeout the settling gives up waiting for threads. */
    static final long SETTLE_MARGIN_MILLIS = 500;

    /** {@link #THREAD_GRACE_MILLIS} times the load per processor (the last minute's average), 1 to 5. */
    static long threadGraceMillis() {
        double load = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        int cpus = Math.max(1, Runtime.getRuntime().availableProcessors());
        double factor = load < 0 ? 1.0 : Math.max(1.0, Math.min(MAX_LOAD_FACTOR, load / cpus));
        return (long) (THREAD_GRACE_MILLIS * factor);
    }
    static final long FLUSH_MILLIS = 10000;
    /** Each run's thread group is named this and a number. */
    static final String RUN_GROUP_PREFIX = "fijirun-run-";
    /** How often the settling looks again whether the run's threads are busy. */
    static final long POOL_POLL_MILLIS = 20;
    /** How long the process's exit waits for the runs' threads it stops. */
    static final long EXIT_STOP_MILLIS = 1000;
    static final int STRAY_LIMIT = 64 * 1024;

    private static RunGuard installed;
    private static int runCount;

    private volatile Run current;
    private CausalQueue queue;
    private volatile boolean exiting;
    private final PrintStream realErr;
    private final StringBuilder stray = new StringBuilder();
    private boolean exitGuarded;

    private RunGuard() {
        realErr = System.err;
    }

    /** Install the guard once per JVM (idempotent). */
    public static synchronized RunGuard install() {
        if (installed != null)
            return installed;
        RunGuard g = new RunGuard();
        Executer.addCommandListener(g);
        IJ.setExceptionHandler(g);
        Toolkit.getDefaultToolkit().addAWTEventListener(g, AWTEvent.WINDOW_EVENT_MASK);
        Toolkit.getDefaultToolkit().addAWTEventListener(NO_FOCUS_ON_SHOW, AWTEvent.CONTAINER_EVENT_MASK);
        g.queue = g.new CausalQueue();
        Toolkit.getDefaultToolkit().getSystemEventQueue().push(g.queue);
        try {
            System.setOut(new PrintStream(g.new Router(), true, "UTF-8"));
            System.setErr(new PrintStream(g.new Router(), true, "UTF-8"));
        } catch (java.io.UnsupportedEncodingException e) {
            throw new IllegalStateException(e);
        }
        try {
            System.setSecurityManager(g.new ExitGuard());
            g.exitGuarded = true;
        } catch (UnsupportedOperationException | SecurityException e) {
            g.exitGuarded = false;  // Java >= 24: no way to refuse System.exit
        }
        Settings.take();  // after ImageJ's start, before any run: what every run starts from
        installed = g;
        return g;
    }

    /** ImageJ's preferences file is the one in {@code dir}, never the user's (see {@link Settings#usePrefsDir}). */
    public static void usePrefsDir(String dir) throws java.io.IOException {
        Settings.usePrefsDir(dir);
    }

    /** How many of ImageJ's settings each run starts from anew, and those that could not be kept. */
    public static String[] settingsKept() {
        List<String> out = new ArrayList<>();
        out.add(Integer.toString(Settings.kept()));
        out.addAll(Settings.NOT_KEPT);
        return out.toArray(new String[0]);
    }

    public boolean exitGuarded() {
        return exitGuarded;
    }

    /**
     * Remove every hook (fijirun is shutting down: System.exit allowed again).
     * What ImageJ's threads still print goes to stderr: the process's stdout
     * belongs to its caller (one JSON object with --json; a Dask worker's is
     * its client's terminal).
     */
    public synchronized void uninstall() {
        exiting = true;
        Executer.removeCommandListener(this);
        IJ.setExceptionHandler(null);
        Toolkit.getDefaultToolkit().removeAWTEventListener(this);
        Toolkit.getDefaultToolkit().removeAWTEventListener(NO_FOCUS_ON_SHOW);
        System.setOut(realErr);
        System.setErr(realErr);
    }

    // ------------------------------------------------------------ runs

    public Run newRun(String language, String code, String path, String arg, boolean batchMode,
                      Map<String, Object> values, Map<String, String> samples) {
        return new Run(language, code, path, arg, batchMode,
                       values == null ? new HashMap<>() : values,
                       samples == null ? new HashMap<>() : samples);
    }

    /** Start a run on its own daemon thread in its own thread group. */
    public synchronized void start(Run run) {
        if (current != null && !current.isSettled())
            throw new IllegalStateException("a run is in progress");
        Thread t = new Thread(run.group, run, run.isMacro() ? "Run$_fijirun-macro" : "fijirun-jython");
        t.setDaemon(true);
        run.thread = t;
        current = run;
        t.start();
    }

    /** Called by fijirun once it read a settled run: later events are strays. */
    public synchronized void finish(Run run) {
        if (current == run)
            current = null;
        if (run.liveThreads().isEmpty()) {
            try {
                run.group.destroy();  // else every run's group stays listed in its parent
            } catch (IllegalThreadStateException ignored) {
                // a thread started meanwhile: the group stays
            }
        }
    }

    /**
     * Stop a run fijirun gave up on (timeout, Ctrl-C): abort the macro or stop
     * the Jython thread, then stop what is left after {@code graceMillis}.
     * Returns whether the run settled.
     */
    public boolean terminate(Run run, long graceMillis) throws InterruptedException {
        abortNow(run);
        if (run.waitSettled(graceMillis))
            return true;
        stopThreads(run);
        return run.waitSettled(graceMillis);
    }

    static void abortAsync(Run run) {
        Thread t = new Thread(() -> abortNow(run), "fijirun-abort");
        t.setDaemon(true);
        t.start();
    }

    static void abortNow(Run run) {
        Interpreter interp = run.interp;
        if (interp != null) {
            try {
                interp.abortMacro();
            } catch (Throwable ignored) {
                // the interpreter may already be done
            }
        } else {
            stopThreads(run);
        }
    }

    /**
     * At the process's exit: stop the threads runs left running (a script's
     * thread that outlived its run, the threads a script started), before the
     * JVM shuts down. A thread that still runs Jython code while the JVM and
     * Python go down aborts the process ("FATAL: exception not rethrown",
     * exit status 134; 1 exit in 2 for a thread that loops). A thread inside
     * AWT, waiting for a lock or holding one is interrupted instead: stopped
     * there, it could leave a lock held that the shutdown then waits for. One
     * deadline for all. Returns how many are still alive.
     */
    public static int stopRunThreads() {
        List<Thread> threads = new ArrayList<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            ThreadGroup g = t.getThreadGroup();
            if (g != null && g.getName().startsWith(RUN_GROUP_PREFIX) && t != Thread.currentThread() && t.isAlive())
                threads.add(t);
        }
        if (threads.isEmpty())
            return 0;
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        for (Thread t : threads) {
            if (stopIsUnsafe(t, mx))
                t.interrupt();
            else
                stop(t);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(EXIT_STOP_MILLIS);
        int left = 0;
        for (Thread t : threads) {
            long millis = TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime());
            if (millis > 0) {
                try {
                    t.join(millis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();  // go on: the rest still counts
                }
            }
            if (t.isAlive())
                left++;
        }
        return left;
    }

    /**
     * Whether {@code t} is a thread-pool worker waiting for its next task
     * (ThreadPoolExecutor, ForkJoinPool), not doing any of the run's work.
     */
    static boolean idleInPool(Thread t) {
        for (StackTraceElement e : t.getStackTrace()) {
            String c = e.getClassName(), m = e.getMethodName();
            if ((c.equals("java.util.concurrent.ThreadPoolExecutor") && m.equals("getTask"))
                    || (c.equals("java.util.concurrent.ForkJoinPool") && m.equals("awaitWork")))
                return true;
        }
        return false;
    }

    /** Whether stopping {@code t} now could leave a lock held: it is inside AWT, or waits for or holds a java.util.concurrent lock. */
    private static boolean stopIsUnsafe(Thread t, ThreadMXBean mx) {
        for (StackTraceElement e : t.getStackTrace()) {
            String c = e.getClassName();
            if (c.startsWith("java.util.concurrent.locks.") || c.startsWith("java.awt.") || c.startsWith("sun.awt.")
                    || c.startsWith("javax.swing."))
                return true;
        }
        try {
            ThreadInfo[] info = mx.getThreadInfo(new long[] {t.getId()}, false, mx.isSynchronizerUsageSupported());
            return info.length == 1 && info[0] != null && info[0].getLockedSynchronizers().length > 0;
        } catch (RuntimeException e) {
            return true;  // cannot tell: interrupt only
        }
    }

    @SuppressWarnings("deprecation")
    private static void stop(Thread t) {
        try {
            t.stop();
        } catch (Throwable e) {
            t.interrupt();  // Java >= 20 refuses Thread.stop
        }
    }

    static void stopThreads(Run run) {
        Thread t = run.thread;
        if (t != null && t.isAlive() && t != Thread.currentThread() && !run.isSettled())
            stop(t);
    }

    /** ImageJ's short and full versions, Java's, and Jython's (null without Jython), for run.json. */
    public static String[] versions() {
        String jython = null;
        try {
            Class<?> version = Class.forName("org.python.Version", true, RunGuard.class.getClassLoader());
            jython = String.valueOf(version.getField("PY_VERSION").get(null));
        } catch (ReflectiveOperationException | LinkageError | RuntimeException e) {
            // no Jython in this ImageJ
        }
        return new String[] {IJ.getVersion(), IJ.getFullVersion(), System.getProperty("java.version"), jython};
    }

    /** A map as {key, value, key, value, ...}, in its own order. */
    static Object[] pairs(Map<String, ?> map) {
        Object[] out = new Object[2 * map.size()];
        int i = 0;
        for (Map.Entry<String, ?> e : map.entrySet()) {
            out[i++] = e.getKey();
            out[i++] = e.getValue();
        }
        return out;
    }

    // ------------------------------------------------------------ state

    /*
     * The start of ImageJ and the reset before every run are done here, in one call
     * each, rather than call by call from Python: JPype builds a Python class for each
     * Java class it is handed (ImageJ's AWT tree, the ROI Manager, the text windows),
     * tens of milliseconds of a one-shot run, and every call costs the GIL in a batch.
     */

    /** Create ImageJ's instance, not shown, when there is none: errors then reach dialogs the guard reads. */
    public static void startImageJ() {
        if (IJ.getInstance() == null)
            new ImageJ(ImageJ.NO_SHOW);
    }

    /**
     * The settings every run starts with: ImageJ's defaults, not the user's IJ_Prefs.
     * Results must not depend on what someone clicked in their ImageJ last week, nor
     * differ between backends: Set Measurements starts at Area, Mean, Min & Max with 3
     * decimals, and binary images are white on black (Process > Binary > Options >
     * Black background, on in current Fiji).
     */
    static final int DEFAULT_MEASUREMENTS = Measurements.AREA | Measurements.MEAN | Measurements.MIN_MAX;
    static final int DEFAULT_PRECISION = 3;
    static final boolean DEFAULT_BLACK_BACKGROUND = true;

    /**
     * Bring ImageJ to the state every run starts from: no image, an empty ROI Manager
     * (its window closed), no table but an empty Results table, an empty Log, the
     * default settings, no macro state. {@link #uncleanState} says what is still left.
     */
    public static void resetState() {
        // every setting as before the first run, first: the macro state below and fijirun's
        // defaults at the end are set over it (IJ.redirectErrorMessages was on at the start)
        Settings.restore();
        resetStatics();
        Interpreter.batchMode = true;  // a batch-mode image leaves ImageJ's list only when closed in batch mode
        for (ImagePlus imp : openImages()) {
            imp.changes = false;
            imp.close();
        }
        Interpreter.batchMode = false;
        WindowManager.setTempCurrentImage(null);
        RoiManager manager = RoiManager.getInstance();
        if (manager != null) {
            manager.reset();
            manager.close();  // a script's RoiManager() must find no leftover window
        }
        // ParticleAnalyzer keeps static targets that a script may have set
        ParticleAnalyzer.setRoiManager(null);
        ParticleAnalyzer.setResultsTable(null);
        ParticleAnalyzer.setSummaryTable(null);
        // No text window is left open, as in a fresh ImageJ: the system Results table is
        // emptied and its window closed, the Log's window too. Which table
        // saveAs("Results") saves is the front text window's (the Log's aside), and the
        // front window is the last one made: after Analyze Particles' display and
        // summarize and a print, a fresh ImageJ's front window is the new Log (the Results
        // table is saved), while with a Log window kept open it is the new Summary (the
        // Summary is saved and renamed, and a later selectWindow("Summary") fails). Kept
        // windows made every run after a process's first one differ from it.
        ResultsTable results = ResultsTable.getResultsTable();
        if (results != null && (results.size() > 0 || results.getLastColumn() >= 0))
            results.reset();
        for (TextWindow table : tableWindows())
            table.close(false);
        String log = IJ.getLog();
        if (log != null && log.length() > 0)
            IJ.log("\\Clear");
        for (String title : new String[] {"Results", "Log"}) {
            Frame window = WindowManager.getFrame(title);
            if (window instanceof TextWindow)
                ((TextWindow) window).close(false);
        }
        IJ.getErrorMessage();  // clears ImageJ's last error
        Analyzer.setMeasurements(DEFAULT_MEASUREMENTS);
        Analyzer.setPrecision(DEFAULT_PRECISION);
        Prefs.blackBackground = DEFAULT_BLACK_BACKGROUND;
        Analyzer.setRedirectImage(null);
        if (results != null)
            Settings.renewResultsTable(results);
    }

    /** Every open image, batch-mode ones included (ImageJ lists those only while batch mode is on). */
    static List<ImagePlus> openImages() {
        List<ImagePlus> open = new ArrayList<>();
        boolean saved = Interpreter.batchMode;
        Interpreter.batchMode = true;
        try {
            int[] ids = WindowManager.getIDList();
            for (int id : ids == null ? new int[0] : ids) {
                ImagePlus imp = WindowManager.getImage(id);
                if (imp != null)
                    open.add(imp);
            }
        } finally {
            Interpreter.batchMode = saved;
        }
        return open;
    }

    /** ImageJ's text windows other than the Log and the Results window: the tables a script opened. */
    static List<TextWindow> tableWindows() {
        List<TextWindow> tables = new ArrayList<>();
        Frame[] frames = WindowManager.getNonImageWindows();
        for (Frame frame : frames == null ? new Frame[0] : frames) {
            String title = frame.getTitle();
            if (frame instanceof TextWindow && !"Log".equals(title) && !"Results".equals(title))
                tables.add((TextWindow) frame);
        }
        return tables;
    }

    /**
     * Reset ImageJ's static macro state that a run (or an aborted run) leaves
     * behind: the interpreter instances IJ.error() reports to, batch mode,
     * the abort and escape flags, redirected error messages.
     */
    public static void resetStatics() {
        setStatic(IJ.class, "macroInterpreter", null);
        setStatic(IJ.class, "previousThread", null);
        setStatic(IJ.class, "macroRunning", Boolean.FALSE);
        setStatic(Interpreter.class, "instance", null);
        setStatic(Interpreter.class, "previousInstance", null);
        setStatic(Macro.class, "abort", Boolean.FALSE);
        Interpreter.batchMode = false;
        IJ.redirectErrorMessages(false);
        IJ.resetEscape();
        Macro.setOptions(null);
        forgetEndedThreadsImages();
    }

    /**
     * ImageJ keeps each thread's temporary current image in a static table keyed by the
     * thread, and never drops the entry of a thread that has ended: every run's script
     * thread would keep its last image, pixels and all, for the life of the JVM (4 MB a
     * run for a 512x512 float image left open: a batch worker runs out of heap).
     */
    static void forgetEndedThreadsImages() {
        try {
            Field f = WindowManager.class.getDeclaredField("tempImageTable");
            f.setAccessible(true);
            Object table = f.get(null);
            if (table instanceof Map)
                ((Map<?, ?>) table).keySet().removeIf(t -> t instanceof Thread && !((Thread) t).isAlive());
        } catch (ReflectiveOperationException | RuntimeException e) {
            // not in this ImageJ version: nothing to forget
        }
    }

    private static void setStatic(Class<?> cls, String name, Object value) {
        try {
            Field f = cls.getDeclaredField(name);
            f.setAccessible(true);
            f.set(null, value);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // not in this ImageJ version: nothing to reset
        }
    }

    /** What is not clean before a run: visible dialogs, images, macro state. Empty when clean. */
    public static String[] uncleanState() {
        List<String> out = new ArrayList<>();
        for (Window w : Window.getWindows())
            if (w instanceof Dialog && w.isShowing())
                out.add("dialog open: " + ((Dialog) w).getTitle());
        int[] ids = WindowManager.getIDList();
        if (ids != null && ids.length > 0)
            out.add(ids.length + " image(s) open");
        if (Interpreter.getInstance() != null)
            out.add("a macro interpreter is still registered");
        if (Interpreter.batchMode)
            out.add("batch mode is on");
        if (getStatic(IJ.class, "macroInterpreter") != null)
            out.add("IJ.macroInterpreter is set");
        return out.toArray(new String[0]);
    }

    private static Object getStatic(Class<?> cls, String name) {
        try {
            Field f = cls.getDeclaredField(name);
            f.setAccessible(true);
            return f.get(null);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** Dispose every window, on the event thread. */
    public static void disposeAllWindows() throws Exception {
        Runnable r = () -> {
            for (Window w : Window.getWindows())
                w.dispose();
        };
        if (EventQueue.isDispatchThread())
            r.run();
        else
            EventQueue.invokeAndWait(r);
    }

    /** Where the run's threads and the event thread are (for a run that did not end in time). */
    public static String threadDump(Run run) {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            Thread t = e.getKey();
            boolean edt = t.getName().startsWith("AWT-EventQueue");
            if (!edt && !run.owns(t))
                continue;
            sb.append('"').append(t.getName()).append("\" ").append(t.getState()).append('\n');
            StackTraceElement[] stack = e.getValue();
            for (int i = 0; i < Math.min(stack.length, 40); i++)
                sb.append("    at ").append(stack[i]).append('\n');
        }
        return sb.toString();
    }

    /** Text printed or reported outside any run since the last call. */
    public String drainStray() {
        synchronized (stray) {
            String s = stray.toString();
            stray.setLength(0);
            return s;
        }
    }

    private void addStray(String s) {
        synchronized (stray) {
            if (stray.length() < STRAY_LIMIT)
                stray.append(s.length() > STRAY_LIMIT ? s.substring(0, STRAY_LIMIT) : s);
        }
    }

    static void flushEvents() {
        if (EventQueue.isDispatchThread())
            return;
        CountDownLatch latch = new CountDownLatch(1);
        EventQueue.invokeLater(latch::countDown);
        try {
            latch.await(FLUSH_MILLIS, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ------------------------------------------------------------ attribution

    /** The run the calling thread works for, or null. */
    static Run currentRun() {
        RunGuard g = installed;
        return g == null ? null : g.ownerOf(Thread.currentThread());
    }

    private Run ownerOf(Thread t) {
        Run r = current;
        if (r == null || r.isSettled())
            return null;
        if (r.owns(t))
            return r;
        // the event thread works for a run while it dispatches an event the run posted
        return EventQueue.isDispatchThread() && t == Thread.currentThread() && queue != null
                && queue.cause() != null && queue.cause().run == r ? r : null;
    }

    static String stackText(StackTraceElement[] stack) {
        StringBuilder sb = new StringBuilder();
        for (StackTraceElement e : stack)
            sb.append(e.getClassName()).append('.').append(e.getMethodName())
              .append('(').append(e.getFileName()).append(':').append(e.getLineNumber()).append(")\n");
        return sb.toString();
    }

    static String throwableText(Throwable t) {
        StringWriter w = new StringWriter();
        t.printStackTrace(new PrintWriter(w));
        return w.toString();
    }

    /** The run thread inside this dialog's show(), or blocked in invokeAndWait while the EDT shows it. */
    private Thread opener(Run run, Window w) {
        // The dialog's own classes, most specific first, down to java.awt.Dialog.
        // Window, Container and Component are left out: every frame shows through
        // them, so a thread opening the Log window (a macro's print) would match.
        List<String> classes = new ArrayList<>();
        for (Class<?> c = w.getClass(); c != null && c != Window.class; c = c.getSuperclass())
            classes.add(c.getName());
        List<Thread> threads = new ArrayList<>(run.liveThreads());
        Thread st = run.thread;
        if (st != null && st.isAlive() && !threads.contains(st))
            threads.add(0, st);
        Thread best = null;
        int bestRank = Integer.MAX_VALUE;
        for (Thread t : threads) {
            int rank = showRank(classes, t.getStackTrace());
            if (rank < bestRank) {
                best = t;
                bestRank = rank;
            }
        }
        if (best != null)
            return best;
        if (EventQueue.isDispatchThread() && queue != null && queue.cause() != null && queue.cause().run == run
                && showRank(classes, Thread.currentThread().getStackTrace()) < Integer.MAX_VALUE)
            return Thread.currentThread();  // shown while dispatching what the run posted
        return null;
    }

    /**
     * How closely a thread's stack shows a dialog of these classes: the index of
     * the most specific class with a show/setVisible/showDialog frame, or
     * MAX_VALUE. Two threads in java.awt.Dialog.show: the one in the dialog's own
     * class wins.
     */
    private static int showRank(List<String> classes, StackTraceElement[] stack) {
        int rank = Integer.MAX_VALUE;
        for (StackTraceElement e : stack) {
            String m = e.getMethodName();
            if (m.equals("show") || m.equals("setVisible") || m.equals("showDialog")) {
                int i = classes.indexOf(e.getClassName());
                if (i >= 0 && i < rank)
                    rank = i;
            }
        }
        return rank;
    }

    // ------------------------------------------------------------ AWT: focus

    /**
     * A text window being built (Results, Log, a table: a component added before it is
     * shown) will not ask the window system for focus when shown.
     *
     * ImageJ makes each new window its front window itself, at once, in the showing
     * thread (TextWindow's constructor). The window system's activation of it comes
     * later, on the event thread; on a display with no window manager it can come
     * after the script has shown the next window, and make the older one the front
     * window again: a macro's "Table.set" without a title then wrote into the Results
     * table instead of the table it had just created (7 of 80 fresh runs under two CPU
     * burners). Image windows keep asking: a macro's show() waits up to 2 s for its
     * image window's activation (ImagePlus.waitTillActivated), which also lets every
     * earlier activation arrive first. Once open, a window asks again when a script
     * brings it to the front (selectWindow).
     */
    static void noFocusOnShow(AWTEvent event) {
        if (event.getID() != java.awt.event.ContainerEvent.COMPONENT_ADDED)
            return;
        Object source = event.getSource();
        if (source instanceof TextWindow && !((Window) source).isShowing() && ((Window) source).isAutoRequestFocus()) {
            ((Window) source).setAutoRequestFocus(false);
            UNFOCUSED.add((Window) source);
        }
    }

    private static final AWTEventListener NO_FOCUS_ON_SHOW = RunGuard::noFocusOnShow;

    /** Windows {@link #noFocusOnShow} kept from asking for focus, until they are open. */
    private static final java.util.Set<Window> UNFOCUSED =
            Collections.synchronizedSet(Collections.newSetFromMap(new java.util.WeakHashMap<>()));

    /** Once open, a window asks for focus again when brought to the front (selectWindow waits for that). */
    static void focusWhenFronted(Window w) {
        if (UNFOCUSED.remove(w))
            w.setAutoRequestFocus(true);
    }

    // ------------------------------------------------------------ AWT: dialogs

    @Override
    public void eventDispatched(AWTEvent event) {
        if (event.getID() != WindowEvent.WINDOW_OPENED || !(event instanceof WindowEvent))
            return;
        Window w = ((WindowEvent) event).getWindow();
        focusWhenFronted(w);
        if (!(w instanceof Dialog))
            return;
        try {
            onDialog((Dialog) w);
        } catch (Throwable t) {
            // never let the guard break the event thread; the dialog must not stay
            w.dispose();
            addStray("fijirun guard: " + throwableText(t));
        }
    }

    private void onDialog(Dialog dialog) {
        String title = String.valueOf(dialog.getTitle());
        String text = dialogText(dialog);
        Run run = current;
        Thread opener = run != null && !run.isSettled() ? opener(run, dialog) : null;
        StackTraceElement[] openerStack = opener != null ? opener.getStackTrace() : new StackTraceElement[0];
        String stack = stackText(openerStack);
        // the line before the dialog goes: a modal dialog's caller runs on once it is disposed
        int line = 0;
        if (run != null && opener != null) {
            Cause cause = queue.cause();
            if (opener == Thread.currentThread() && cause != null)
                line = cause.line;  // shown by the event thread: the line that posted the work
            else if (opener == run.thread)
                line = run.lineAt(openerStack);
        }
        String cls = dialog.getClass().getName();
        dialog.dispose();  // a modal dialog returns to its caller
        if (opener != null && opener != Thread.currentThread())
            releaseOpener(dialog, opener);
        if (isWaitForUser(dialog)) {
            try {
                dialog.getClass().getMethod("close").invoke(dialog);  // it waits on itself, not on dispose
            } catch (ReflectiveOperationException | RuntimeException ignored) {
                // no close(): the abort stops it
            }
        }
        if (opener == null) {
            addStray("dialog opened outside the script: '" + title + "'" + (text.isEmpty() ? "" : ": " + text) + "\n");
            return;
        }
        String name = opener.getName();
        Event event;
        if (stack.contains("ij.macro.Interpreter.showError(") || title.equals("Macro Error")) {
            // the interpreter stops by itself after showError
            event = new Event("error-dialog", title, text, stack, name, cls);
            event.line = line;
            run.record(event);
        } else if (stack.contains("ij.IJ.error(")) {
            event = new Event("error-dialog", title, text, stack, name, cls);
            event.line = line;
            run.fail(event);
        } else if (stack.contains("ij.macro.Functions.exit(")) {
            event = new Event("exit-message", title, text, stack, name, cls);
            event.line = line;
            run.record(event);
        } else if (stack.contains("showMessage") && !isWaitForUser(dialog)) {
            event = new Event("message", title, text, stack, name, cls);
            event.line = line;
            run.record(event);
        } else {
            event = new Event(isWaitForUser(dialog) ? "wait-dialog" : "dialog", title, text, stack, name, cls);
            event.line = line;
            run.fail(event);
        }
    }

    /**
     * Make sure a disposed modal dialog let its caller go.
     *
     * WINDOW_OPENED can be dispatched before the showing thread has set up the
     * dialog's secondary event loop (Dialog.show: the window is made visible,
     * then the loop is created and entered). A dispose in that gap finds no loop
     * to exit, and the thread then waits in a loop for a dialog that is gone:
     * a hang (1 macro error in ~150 on a loaded machine). Disposing again once
     * the thread waits exits that loop; the dialog itself is already gone.
     */
    private static void releaseOpener(Dialog dialog, Thread opener) {
        Thread t = new Thread(() -> {
            long deadline = System.currentTimeMillis() + FLUSH_MILLIS;
            while (System.currentTimeMillis() < deadline && opener.isAlive()) {
                try {
                    Thread.sleep(20);
                } catch (InterruptedException e) {
                    return;
                }
                if (!inDialogShow(opener))
                    return;
                dialog.dispose();
            }
        }, "fijirun-dialog-release");
        t.setDaemon(true);
        t.start();
    }

    private static boolean inDialogShow(Thread t) {
        for (StackTraceElement e : t.getStackTrace())
            if (e.getClassName().equals("java.awt.Dialog") && e.getMethodName().equals("show"))
                return true;
        return false;
    }

    private static boolean isWaitForUser(Window w) {
        for (Class<?> c = w.getClass(); c != null; c = c.getSuperclass())
            if (c.getName().equals("ij.gui.WaitForUserDialog") || c.getName().equals("ij.gui.NonBlockingGenericDialog"))
                return true;
        return false;
    }

    static String dialogText(Container root) {
        List<String> out = new ArrayList<>();
        walk(root, out);
        StringBuilder sb = new StringBuilder();
        for (String s : out) {
            if (s == null)
                continue;
            if (sb.length() > 0)
                sb.append('\n');
            sb.append(s);
        }
        return sb.toString();
    }

    private static void walk(Component c, List<String> out) {
        String cls = c.getClass().getName();
        if (cls.equals("ij.gui.MultiLineLabel")) {
            try {
                Field f = c.getClass().getDeclaredField("lines");
                f.setAccessible(true);
                for (String s : (String[]) f.get(c))
                    out.add(s);
            } catch (ReflectiveOperationException | RuntimeException e) {
                out.add(String.valueOf(c));
            }
        } else if (c instanceof Label) {
            out.add(((Label) c).getText());
        } else if (c instanceof TextComponent) {
            out.add(((TextComponent) c).getText());
        } else if (c instanceof javax.swing.JLabel) {
            out.add(((javax.swing.JLabel) c).getText());
        } else if (c instanceof javax.swing.text.JTextComponent) {
            out.add(((javax.swing.text.JTextComponent) c).getText());
        }
        if (c instanceof Container)
            for (Component child : ((Container) c).getComponents())
                walk(child, out);
    }

    // ------------------------------------------------------------ ImageJ: exceptions, commands

    @Override
    public void handle(Throwable throwable) {
        Run run = ownerOf(Thread.currentThread());
        String text = throwableText(throwable);
        if (run == null) {
            addStray("exception outside the script (thread " + Thread.currentThread().getName() + "): " + text);
            return;
        }
        run.fail(new Event("exception", throwable.getClass().getName(), String.valueOf(throwable), 
                           stackText(Thread.currentThread().getStackTrace()) + "\n" + text,
                           Thread.currentThread().getName(), null));
    }

    @Override
    public String commandExecuting(String command) {
        Run run = ownerOf(Thread.currentThread());
        if (run == null)
            return command;
        String options = Macro.getOptions();
        run.commands.add(new String[] {command, options == null ? "" : options.trim()});
        Object target = Menus.getCommands() != null ? Menus.getCommands().get(command) : null;
        if ("ij.plugin.filter.ParticleAnalyzer".equals(target)) {
            // ImageJ's own analyzer, recording what it analysed; run as IJ.runPlugIn runs a filter
            new ij.plugin.filter.PlugInFilterRunner(new RecordingParticleAnalyzer(), command, "");
            return null;
        }
        String sample = sampleName(target);
        if (sample == null)
            return command;
        String local = run.samples.get(sample);
        if (local == null || local.isEmpty()) {
            run.fail(new Event("needs-data", sample, "", "",
                               Thread.currentThread().getName(), null));
            return null;
        }
        ImagePlus imp = IJ.openImage(local);
        if (imp != null)
            imp.show();
        return null;  // handled: ImageJ must not fetch it
    }

    /** The names of ImageJ's File > Open Samples images (its menu's URLOpener commands). */
    public static String[] sampleNames() {
        List<String> names = new ArrayList<>();
        java.util.Hashtable<?, ?> commands = Menus.getCommands();
        if (commands != null) {
            for (Object target : commands.values()) {
                String name = sampleName(target);
                if (name != null)
                    names.add(name);
            }
        }
        return names.toArray(new String[0]);
    }

    /** File > Open Samples commands are {@code ij.plugin.URLOpener("name")}. */
    static String sampleName(Object target) {
        if (target == null)
            return null;
        String s = target.toString();
        String prefix = "ij.plugin.URLOpener(\"";
        if (!s.startsWith(prefix) || !s.endsWith("\")"))
            return null;
        String name = s.substring(prefix.length(), s.length() - 2);
        if (name.equals("cache") || name.endsWith(".txt"))
            return null;
        return name;
    }

    // ------------------------------------------------------------ the event queue

    /**
     * The AWT event queue, knowing which run posted each event (invokeLater,
     * invokeAndWait and what they post in turn), so that what the event thread
     * does on a run's behalf — a dialog, an exception, printed text — belongs
     * to that run, and to no other. Events the toolkit posts (painting, input)
     * have no cause: what they do is stray.
     */
    /** A run that posted an event, and the script line it was at. */
    static final class Cause {
        final Run run;
        final int line;

        Cause(Run run, int line) {
            this.run = run;
            this.line = line;
        }
    }

    final class CausalQueue extends EventQueue {
        private final Map<AWTEvent, Cause> causes = Collections.synchronizedMap(new java.util.WeakHashMap<>());
        private volatile Cause dispatching;  // the cause of the event being dispatched (event thread only)

        Cause cause() {
            return dispatching;
        }

        @Override
        public void postEvent(AWTEvent event) {
            Thread t = Thread.currentThread();
            Run run = current;
            if (run != null && !run.isSettled()) {
                Cause here = dispatching;
                if (run.owns(t))
                    causes.put(event, new Cause(run, t == run.thread ? run.lineNow(t) : 0));
                else if (here != null && here.run == run && EventQueue.isDispatchThread())
                    causes.put(event, here);
            }
            super.postEvent(event);
        }

        @Override
        protected void dispatchEvent(AWTEvent event) {
            Cause saved = dispatching;
            Cause cause = causes.remove(event);
            dispatching = cause;
            try {
                super.dispatchEvent(event);
            } catch (RuntimeException | Error e) {
                // thrown by work the run posted (invokeLater): the run's exception, as on its own thread
                if (cause != null && !cause.run.isSettled()) {
                    Event failure = new Event("exception", e.getClass().getName(), String.valueOf(e),
                                              throwableText(e), Thread.currentThread().getName(), null);
                    failure.line = cause.line;
                    cause.run.fail(failure);
                }
                throw e;
            } finally {
                dispatching = saved;
            }
        }
    }

    // ------------------------------------------------------------ console

    /** System.out/err: a run's threads write into the run, others into the stray buffer. */
    final class Router extends OutputStream {
        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            Run run = ownerOf(Thread.currentThread());
            if (run != null) {
                synchronized (run.console) {
                    run.console.write(b, off, len);
                }
            } else if (exiting) {
                realErr.write(b, off, len);  // never the caller's stdout (see uninstall)
            } else {
                try {
                    addStray(new String(b, off, len, "UTF-8"));
                } catch (java.io.UnsupportedEncodingException e) {
                    addStray(new String(b, off, len));
                }
            }
        }
    }

    // ------------------------------------------------------------ System.exit

    /** Refuses System.exit from anything but fijirun's own shutdown; allows everything else. */
    final class ExitGuard extends SecurityManager {
        @Override
        public void checkPermission(Permission perm) {
        }

        @Override
        public void checkPermission(Permission perm, Object context) {
        }

        /** Files a run's threads open for reading (the images it analysed among them). */
        @Override
        public void checkRead(String file) {
            if (file != null && !file.endsWith(".class") && !file.endsWith(".jar")) {
                Run run = ownerOf(Thread.currentThread());
                if (run != null && run.reads.size() < 10000)
                    run.reads.add(file);
            }
        }

        /** Files a run's threads write, with how many particle analyses had run by then. */
        @Override
        public void checkWrite(String file) {
            if (file == null)
                return;
            Run run = ownerOf(Thread.currentThread());
            if (run != null && run.writes.size() < 10000) {
                String folder = run.analysisFolder;
                if (folder == null || !file.startsWith(folder))
                    run.writes.put(file, run.analyses.size());
            }
        }

        @Override
        public void checkExit(int status) {
            if (exiting)
                return;
            Thread t = Thread.currentThread();
            Run run = ownerOf(t);
            String stack = stackText(t.getStackTrace());
            String how = stack.contains("java.lang.Runtime.halt(") ? "Runtime.halt" : "System.exit";
            if (run != null)
                run.fail(new Event("exit", how, Integer.toString(status), stack, t.getName(), null));
            else
                addStray(how + "(" + status + ") refused outside the script (thread " + t.getName() + ")\n");
            throw new SecurityException("fijirun: " + how + "(" + status + ") is not allowed in a script");
        }
    }
}
