package fijirun.guard;

import ij.ImagePlus;
import ij.macro.Interpreter;
import ij.measure.Calibration;
import ij.measure.ResultsTable;
import ij.plugin.frame.RoiManager;
import ij.text.TextWindow;

import java.io.File;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;

/**
 * What a run left in ImageJ when it ended, read in one call per kind
 * (fijirun/backends/final_state.py writes and describes it).
 *
 * Read here rather than call by call from Python: JPype builds a Python class
 * for every Java class it is handed (ImagePlus, its stack and processors, the
 * ROI Manager, the text windows, the collections), tens of milliseconds of a
 * one-shot run. Python gets plain values and arrays.
 */
public final class FinalState {

    private FinalState() {
    }

    /** An open image: its facts and its pixels, one primitive array per plane in ImageJ's stack order. */
    public static final class Image {
        public String title;
        public int bitDepth, width, height, channels, slices, frames;
        public double pixelWidth, pixelHeight, pixelDepth;
        public String unit;
        public Object[] planes;
        /** Why the image could not be read (the exception), else null. */
        public String error;
    }

    /** A non-empty table, saved by ImageJ as CSV at its printed precision. */
    public static final class Table {
        public String title, file;
        public int rows;
        public String[] columns;
        /** Why the table could not be saved (the exception), else null. */
        public String error;
    }

    /** Every open image, batch-mode ones included, in the order they were opened. */
    public static Image[] images() {
        List<ImagePlus> open = RunGuard.openImages();
        // image IDs are -1, -2, ... in the order of creation
        open.sort(Comparator.comparingInt(imp -> -imp.getID()));
        Image[] out = new Image[open.size()];
        for (int i = 0; i < out.length; i++)
            out[i] = image(open.get(i));
        return out;
    }

    private static Image image(ImagePlus imp) {
        Image im = new Image();
        try {
            im.title = imp.getTitle();
            im.bitDepth = imp.getBitDepth();
            im.width = imp.getWidth();
            im.height = imp.getHeight();
            im.channels = imp.getNChannels();
            im.slices = imp.getNSlices();
            im.frames = imp.getNFrames();
            Calibration cal = imp.getCalibration();
            im.pixelWidth = cal.pixelWidth;
            im.pixelHeight = cal.pixelHeight;
            im.pixelDepth = cal.pixelDepth;
            im.unit = cal.getUnit();
            ij.ImageStack stack = imp.getStack();
            im.planes = new Object[stack.getSize()];
            for (int i = 1; i <= stack.getSize(); i++)
                im.planes[i - 1] = stack.getProcessor(i).getPixels();
        } catch (ThreadDeath e) {
            throw e;
        } catch (Throwable e) {  // one unreadable image does not lose the others (an Error too)
            im.planes = null;
            im.error = e.toString();
        }
        return im;
    }

    /** Save every non-empty table (the Results table first) as {@code folder/table-N.csv}. */
    public static Table[] saveTables(String folder) {
        List<String> titles = new ArrayList<>();
        List<ResultsTable> tables = new ArrayList<>();
        ResultsTable results = ResultsTable.getResultsTable();
        if (results != null && results.size() > 0) {
            titles.add("Results");
            tables.add(results);
        }
        for (TextWindow window : RunGuard.tableWindows()) {
            ResultsTable table = window.getResultsTable();
            if (table != null && table.size() > 0) {
                titles.add(window.getTitle());
                tables.add(table);
            }
        }
        List<Table> out = new ArrayList<>();
        for (int i = 0; i < tables.size(); i++) {
            Table t = new Table();
            t.title = titles.get(i);
            String name = "table-" + (i + 1) + ".csv";
            ResultsTable table = tables.get(i);
            try {
                table.saveAs(new File(folder, name).getPath());
                t.file = name;
                t.rows = table.size();
                String[] headings = table.getHeadings();
                t.columns = headings == null ? new String[0] : Arrays.copyOf(headings, headings.length);
            } catch (ThreadDeath e) {
                throw e;
            } catch (Throwable e) {
                t.error = e.toString();
            }
            out.add(t);
        }
        return out.toArray(new Table[0]);
    }

    /**
     * Save the ROI Manager's ROIs (the batch-mode one when no window exists) to {@code path}.
     * Returns how many it holds; 0 (nothing written) when it is empty or absent.
     */
    public static int saveRois(String path) {
        RoiManager manager = RoiManager.getInstance();
        if (manager == null) {
            try {  // not in every ImageJ version
                Method getter = Interpreter.class.getMethod("getBatchModeRoiManager");
                manager = (RoiManager) getter.invoke(null);
            } catch (ReflectiveOperationException | ClassCastException e) {
                manager = null;
            }
        }
        if (manager == null || manager.getCount() == 0)
            return 0;
        manager.runCommand("Save", path);
        return manager.getCount();
    }
}
