package fijirun.guard;

import ij.ImagePlus;
import ij.Prefs;
import ij.gui.Roi;
import ij.io.FileInfo;
import ij.io.FileSaver;
import ij.io.TiffEncoder;
import ij.measure.Calibration;
import ij.measure.ResultsTable;
import ij.plugin.filter.Analyzer;
import ij.plugin.filter.ParticleAnalyzer;
import ij.plugin.frame.RoiManager;
import ij.process.ImageProcessor;

import java.io.BufferedOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.reflect.Field;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * ImageJ's own ParticleAnalyzer, recording what it analysed.
 *
 * Every particle analysis of a run goes through this class: the guard runs
 * it for the command "Analyze Particles..." (macros, IJ.run from Jython) and
 * Jython scripts that construct a ParticleAnalyzer get this class instead.
 * It changes nothing in the analysis: before it, the exact processor analysed
 * is saved losslessly (with its calibration) and its threshold state read;
 * after it, the options as ImageJ resolved them (the private fields of the
 * analyzer: `&variable` options, string-built options and API flags alike)
 * and what the analysis produced. The checker recomputes the analysis from
 * this record instead of guessing it from the script.
 */
public class RecordingParticleAnalyzer extends ParticleAnalyzer {

    public RecordingParticleAnalyzer() {
        super();
    }

    public RecordingParticleAnalyzer(int options, int measurements, ResultsTable rt, double minSize,
                                     double maxSize) {
        super(options, measurements, rt, minSize, maxSize);
    }

    public RecordingParticleAnalyzer(int options, int measurements, ResultsTable rt, double minSize,
                                     double maxSize, double minCirc, double maxCirc) {
        super(options, measurements, rt, minSize, maxSize, minCirc, maxCirc);
    }

    @Override
    public boolean analyze(ImagePlus imp, ImageProcessor ip) {
        RunGuard.Run run = RunGuard.currentRun();
        if (run == null || imp == null || ip == null)
            return super.analyze(imp, ip);
        long start = System.nanoTime();
        Map<String, Object> record = new LinkedHashMap<>();
        int index = run.analyses.size() + 1;
        record.put("index", index);
        record.put("line", run.lineOfCaller());
        record.put("image_title", imp.getTitle());
        record.put("bit_depth", imp.getBitDepth());
        record.put("width", ip.getWidth());
        record.put("height", ip.getHeight());
        record.put("stack_size", imp.getStackSize());
        record.put("slice", imp.getCurrentSlice());
        record.put("inverted_lut", ip.isInvertedLut());
        record.put("black_background", Prefs.blackBackground);
        record.put("threshold_before_lower", ip.getMinThreshold());
        record.put("threshold_before_upper", ip.getMaxThreshold());
        Calibration cal = imp.getCalibration();
        record.put("pixel_width", cal.pixelWidth);
        record.put("pixel_height", cal.pixelHeight);
        record.put("unit", cal.getUnit());
        record.put("calibrated_values", cal.calibrated());
        Roi roi = imp.getRoi();
        record.put("roi_type", roi == null ? "" : roi.getTypeAsString());
        java.awt.Rectangle r = ip.getRoi();
        record.put("roi_bounds", r.x + "," + r.y + "," + r.width + "," + r.height);
        record.put("roi_mask", ip.getMask() != null);
        record.put("decimals", Analyzer.getPrecision());
        // the measurements the Results table gets: ParticleAnalyzer.analyze makes its Analyzer with
        // these (0: the system's; Limit dropped), then adds ELLIPSE for show=Ellipses to the
        // particles' statistics only, so the flags read after the analysis say more than the table has
        Object setFlags = get("measurements");
        int tableFlags = setFlags instanceof Integer ? (Integer) setFlags : 0;
        if (tableFlags == 0)
            tableFlags = Analyzer.getMeasurements();
        record.put("measurements_table", tableFlags & ~ij.measure.Measurements.LIMIT);
        ResultsTable table = (ResultsTable) get("rt");
        record.put("results_before", table == null ? -1 : table.size());
        RoiManager manager = RoiManager.getInstance();
        record.put("manager_before", manager == null ? 0 : manager.getCount());
        String folder = run.analysisFolder;
        long t0 = System.nanoTime();
        record.put("snapshot", folder == null ? "" : save(ip, cal, new File(folder, "analysis-" + index + ".tif")));
        record.put("snapshot_ms", (System.nanoTime() - t0) / 1e6);
        ImageProcessor selectionMask = ip.getMask();
        if (selectionMask != null && folder != null)  // a non-rectangular selection: inside is non-zero
            record.put("selection_mask", save(selectionMask, new Calibration(),
                                              new File(folder, "analysis-" + index + "-selection.tif")));

        long before = System.nanoTime();
        boolean ok = super.analyze(imp, ip);
        long after = System.nanoTime();

        record.put("ok", ok);
        for (String name : new String[] {"level1", "level2", "minSize", "maxSize", "minCircularity",
                                         "maxCircularity", "showChoice", "options", "measurements",
                                         "excludeEdgeParticles", "particleCount"})
            record.put(name, get(name));
        table = (ResultsTable) get("rt");
        record.put("results_after", table == null ? -1 : table.size());
        record.put("results_title", table == null || table.getTitle() == null ? "" : table.getTitle());
        manager = (RoiManager) get("roiManager");
        if (manager == null)
            manager = RoiManager.getInstance();
        record.put("manager_after", manager == null ? 0 : manager.getCount());
        ImagePlus output = getOutputImage();
        record.put("output_title", output == null ? "" : output.getTitle());
        ImagePlus redirect = (ImagePlus) get("redirectImp");
        record.put("redirect_title", redirect == null ? "" : redirect.getTitle());
        if (redirect != null) {
            // ParticleAnalyzer measures the pixel statistics (area, centroid, intensities, bounds,
            // ellipse) with the redirect image's calibration and the outline (perimeter, Feret)
            // with the analysed image's: the checker needs both. Its own field is read, the very
            // calibration it measured with.
            Calibration rcal = get("calibration") instanceof Calibration ? (Calibration) get("calibration")
                               : redirect.getCalibration();
            record.put("redirect_pixel_width", rcal.pixelWidth);
            record.put("redirect_pixel_height", rcal.pixelHeight);
            record.put("redirect_unit", rcal.getUnit());
            record.put("redirect_calibrated_values", rcal.calibrated());
            // %Area is measured on the redirect image's processor, within its own threshold if it has one
            ImageProcessor rip = get("redirectIP") instanceof ImageProcessor ? (ImageProcessor) get("redirectIP")
                                 : redirect.getProcessor();
            record.put("redirect_threshold_lower", rip.getMinThreshold());
            record.put("redirect_threshold_upper", rip.getMaxThreshold());
        }
        if (redirect != null && folder != null) {
            long r0 = System.nanoTime();
            record.put("redirect_snapshot",
                       save(redirect.getProcessor(), redirect.getCalibration(),
                            new File(folder, "analysis-" + index + "-redirect.tif")));
            record.put("redirect_ms", (System.nanoTime() - r0) / 1e6);
        }
        long end = System.nanoTime();
        // the recording's own cost: everything but ImageJ's analysis and the snapshot files
        record.put("analysis_ms", (after - before) / 1e6);
        record.put("record_ms", ((before - start) + (end - after)) / 1e6 - (Double) record.get("snapshot_ms")
                   - (record.containsKey("redirect_ms") ? (Double) record.get("redirect_ms") : 0.0));
        run.analyses.add(record);
        return ok;
    }

    /** A private field of ParticleAnalyzer (null when this ImageJ has no such field). */
    private Object get(String name) {
        try {
            Field f = ParticleAnalyzer.class.getDeclaredField(name);
            f.setAccessible(true);
            return f.get(this);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /**
     * The processor's pixels as a TIFF (lossless, with the calibration); the path, or "" on failure.
     * TiffEncoder, not FileSaver.saveAsTiff: a failure must not show ImageJ's error dialog, which
     * would be the run's error.
     */
    private static String save(ImageProcessor ip, Calibration cal, File file) {
        ImageProcessor copy = ip.duplicate();
        copy.resetRoi();
        ImagePlus snapshot = new ImagePlus(file.getName(), copy);
        snapshot.setCalibration(cal.copy());
        FileInfo fi = snapshot.getFileInfo();
        fi.description = new FileSaver(snapshot).getDescriptionString();
        try (OutputStream out = new BufferedOutputStream(new FileOutputStream(file))) {
            new TiffEncoder(fi).write(out);
            return file.getPath();
        } catch (IOException | RuntimeException e) {
            file.delete();
            return "";
        }
    }
}
