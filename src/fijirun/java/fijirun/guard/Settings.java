package fijirun.guard;

import ij.IJ;
import ij.Prefs;
import ij.measure.ResultsTable;

import java.awt.Color;
import java.awt.Font;
import java.io.File;
import java.io.IOException;
import java.lang.reflect.Array;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.List;
import java.util.Properties;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * ImageJ's settings as the engine found them before its first run, put back before every run.
 *
 * <p>ImageJ 1.x keeps its settings in static fields of its classes (colours, line width,
 * binary options, conversions, JPEG quality, the global scale, paste mode, Roi defaults...)
 * and in {@code Prefs}' key-value table: what one script sets, every later script of the
 * same JVM would see. A run must give what it gives in a fresh process, so the value of
 * every such field of ImageJ's own jar is kept once ({@link #take}) and written back before
 * each run ({@link #restore}).
 *
 * <p>Kept: static, non-final fields of value types (primitives and their boxes, strings,
 * colours, fonts, enums; arrays of those, copied) of every class of the jar that holds
 * {@code ij.IJ}; those classes are initialised for that (a class first loaded by a later
 * run would otherwise keep what that run left). Object fields are instances and caches
 * (windows, images, listeners), not settings: left alone, except those listed in
 * {@link #NULL_AT_START} that hold settings as objects (the global calibration).
 * {@code ij.Menus} is skipped: its counters describe the menus themselves.
 */
final class Settings {

    /** Settings held as objects, put back to what they were (null) at the start. */
    private static final String[][] NULL_AT_START = {
        {"ij.ImagePlus", "globalCalibration"},
        {"ij.gui.Roi", "previousRoi"},
    };

    private static final String[] SKIPPED_CLASSES = {"ij.Menus"};

    private static final class Kept {
        final Field field;
        final Object value;

        Kept(Field field, Object value) {
            this.field = field;
            this.value = value;
        }
    }

    private static final List<Kept> KEPT = new ArrayList<>();
    /** Fields whose class could not be initialised (for the tests: none with ImageJ 1.53). */
    static final List<String> NOT_KEPT = new ArrayList<>();
    private static Properties prefs;
    private static boolean taken;

    private Settings() {
    }

    /** Keep every setting's value now (once per JVM); later calls do nothing. */
    static synchronized void take() {
        if (taken)
            return;
        taken = true;
        ClassLoader loader = IJ.class.getClassLoader();
        File jar = jarOfImageJ();
        File listed = jar == null ? null : listFile(jar);
        List<String> names = readList(listed);
        boolean scanned = names == null;
        if (scanned)
            names = classesOfImageJ(jar);
        List<String> withSettings = new ArrayList<>();
        for (String name : names) {
            List<Field> fields = new ArrayList<>();
            try {
                // loaded without its initialiser first: only a class with settings is initialised
                for (Field field : Class.forName(name, false, loader).getDeclaredFields()) {
                    int mod = field.getModifiers();
                    if (Modifier.isStatic(mod) && !Modifier.isFinal(mod) && !field.isSynthetic()
                            && isValueType(field.getType()))
                        fields.add(field);
                }
            } catch (Throwable e) {  // a class this Java cannot load (an applet's): never used either
                continue;
            }
            if (!fields.isEmpty())
                withSettings.add(name);
            for (Field field : fields) {
                try {
                    field.setAccessible(true);
                    KEPT.add(new Kept(field, copy(field.get(null))));
                } catch (Throwable e) {
                    NOT_KEPT.add(name + "." + field.getName() + ": " + e);
                    break;  // its initialiser failed: the class is unusable for every run alike
                }
            }
        }
        if (scanned && listed != null)
            writeList(listed, withSettings);
        for (String[] entry : NULL_AT_START) {
            try {
                Field field = Class.forName(entry[0], true, loader).getDeclaredField(entry[1]);
                field.setAccessible(true);
                if (field.get(null) == null && !Modifier.isFinal(field.getModifiers()))
                    KEPT.add(new Kept(field, null));
            } catch (Throwable e) {
                // not in this ImageJ version
            }
        }
        Properties table = prefsTable();
        if (table != null) {
            prefs = new Properties();
            prefs.putAll(table);
        }
    }

    /** How many settings are kept. */
    static synchronized int kept() {
        return KEPT.size();
    }

    /** Put every kept setting back; the number of fields that had changed. */
    static synchronized int restore() {
        int changed = 0;
        for (Kept kept : KEPT) {
            try {
                Object now = kept.field.get(null);
                if (!same(now, kept.value)) {
                    kept.field.set(null, copy(kept.value));
                    changed++;
                }
            } catch (Throwable e) {
                // a field that cannot be written back is left as it is
            }
        }
        Properties table = prefsTable();
        if (table != null && prefs != null && !table.equals(prefs)) {
            table.clear();
            table.putAll(prefs);
            changed++;
        }
        return changed;
    }

    /** The system Results table's own settings, kept by the table itself across its resets. */
    private static final String[] TABLE_SETTINGS = {
        "precision", "rowLabelHeading", "delimiter", "headingSet", "showRowNumbers", "showRowNumbersSet",
        "baseRowNumber", "NaNEmptyCells", "quoteCommas", "renameWhenSaving", "saveColumnHeaders",
    };

    /**
     * Give the (emptied) system Results table the settings a new table has now: its
     * {@code reset()} empties it but keeps what a script set on it (column headers not
     * saved after {@code run("Input/Output...")}, a precision, a delimiter...), which
     * the next run would inherit.
     */
    static void renewResultsTable(ResultsTable table) {
        ResultsTable fresh = new ResultsTable();
        for (String name : TABLE_SETTINGS) {
            try {
                Field field = ResultsTable.class.getDeclaredField(name);
                field.setAccessible(true);
                field.set(table, field.get(fresh));
            } catch (ReflectiveOperationException | RuntimeException e) {
                // not in this ImageJ version
            }
        }
    }

    /**
     * ImageJ reads and writes its preferences file in {@code dir} (made empty when it is
     * missing): never the user's {@code ~/.imagej/IJ_Prefs.txt}, which a script's
     * {@code run("Quit")} would otherwise rewrite and a later run would read.
     * Before ImageJ reads its preferences, it reads none of the user's.
     */
    static void usePrefsDir(String dir) throws IOException {
        File file = new File(dir, "IJ_Prefs.txt");
        // without the file ImageJ reads ~/IJ_Prefs.txt instead, and then deletes it
        if (!file.exists() && !file.createNewFile() && !file.exists())
            throw new IOException("cannot create " + file);
        setStatic("prefsDir", dir);
        setStatic("preferencesPath", file.getPath());
    }

    private static void setStatic(String name, Object value) {
        try {
            Field f = Prefs.class.getDeclaredField(name);
            f.setAccessible(true);
            f.set(null, value);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // not in this ImageJ version
        }
    }

    private static Properties prefsTable() {
        try {
            Field f = Prefs.class.getDeclaredField("ijPrefs");
            f.setAccessible(true);
            Object table = f.get(null);
            return table instanceof Properties ? (Properties) table : null;
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    private static boolean isValueType(Class<?> type) {
        if (type.isArray())
            return isValueType(type.getComponentType()) && !type.getComponentType().isArray();
        return type.isPrimitive() || type.isEnum() || type == String.class || type == Color.class
            || type == Font.class || Number.class.isAssignableFrom(type) && type.getName().startsWith("java.lang.")
            || type == Boolean.class || type == Character.class;
    }

    private static Object copy(Object value) {
        if (value == null || !value.getClass().isArray())
            return value;
        int n = Array.getLength(value);
        Object out = Array.newInstance(value.getClass().getComponentType(), n);
        System.arraycopy(value, 0, out, 0, n);
        return out;
    }

    private static boolean same(Object a, Object b) {
        if (a == b)
            return true;
        if (a == null || b == null)
            return false;
        if (a.getClass().isArray() && b.getClass().isArray()) {
            int n = Array.getLength(a);
            if (n != Array.getLength(b))
                return false;
            for (int i = 0; i < n; i++)
                if (!java.util.Objects.equals(Array.get(a, i), Array.get(b, i)))
                    return false;
            return true;
        }
        return a.equals(b);
    }

    /** The jar that holds {@code ij.IJ}, or null (a test's class loader). */
    private static File jarOfImageJ() {
        try {
            File jar = new File(IJ.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            return jar.isFile() ? jar : null;
        } catch (Exception e) {
            return null;
        }
    }

    /**
     * Where the names of the jar's classes that hold settings are kept, beside the guard's
     * compiled classes: loading all of ImageJ's classes to find them costs 30-50 ms, a
     * start that reads the list loads only those (about a third).
     */
    private static File listFile(File jar) {
        try {
            File guard = new File(Settings.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            String key = jar.getAbsolutePath() + ":" + jar.length() + ":" + jar.lastModified();
            return guard.isDirectory() ? new File(guard, "settings-classes-" + Integer.toHexString(key.hashCode()) + ".txt") : null;
        } catch (Exception e) {
            return null;
        }
    }

    private static List<String> readList(File list) {
        if (list == null || !list.isFile())
            return null;
        try {
            List<String> names = new ArrayList<>();
            for (String line : java.nio.file.Files.readAllLines(list.toPath(), java.nio.charset.StandardCharsets.UTF_8))
                if (line.startsWith("ij."))
                    names.add(line.trim());
            return names.isEmpty() ? null : names;
        } catch (IOException | RuntimeException e) {
            return null;  // scanned again
        }
    }

    /** Written to a file of its own, then renamed: a start never reads half a list. */
    private static void writeList(File list, List<String> names) {
        if (names.isEmpty())
            return;
        File tmp = new File(list.getParentFile(), list.getName() + "." + ProcessHandle.current().pid() + ".tmp");
        try {
            java.nio.file.Files.write(tmp.toPath(), names, java.nio.charset.StandardCharsets.UTF_8);
            java.nio.file.Files.move(tmp.toPath(), list.toPath(), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException | RuntimeException e) {
            tmp.delete();  // a read-only cache: every start scans
        }
    }

    /** The names of the classes in {@code jar} (none when it is null). */
    private static List<String> classesOfImageJ(File jar) {
        List<String> names = new ArrayList<>();
        if (jar == null)
            return names;
        try (JarFile file = new JarFile(jar)) {
            Enumeration<JarEntry> entries = file.entries();
            while (entries.hasMoreElements()) {
                String entry = entries.nextElement().getName();
                if (!entry.startsWith("ij/") || !entry.endsWith(".class"))
                    continue;
                String name = entry.substring(0, entry.length() - 6).replace('/', '.');
                boolean skipped = false;
                for (String s : SKIPPED_CLASSES)
                    skipped |= name.equals(s) || name.startsWith(s + "$");
                if (!skipped)
                    names.add(name);
            }
        } catch (IOException | RuntimeException e) {
            // an unreadable jar: nothing kept, as before
        }
        return names;
    }
}
