/* plot.c — the SVG line chart (see plot.h): a 720 x 420 canvas, a 60 px margin for the axes. */
#include "train/plot.h"

#include <math.h>
#include <stdio.h>

#include "base/error.h"

enum { W = 720, H = 420, ML = 70, MR = 20, MT = 40, MB = 50 };

static const char *COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

/* a "nice" tick step for a range (1, 2 or 5 times a power of ten) */
static double tick_step(double range, int want) {
    const double raw = range / want, p = pow(10.0, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void xml_text(FILE *f, const char *s) {
    for (; s && *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

r1c_status r1c_plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel, const r1c_plot_series *s,
                        int n_series, int log_y) {
    if (n_series > 4) n_series = 4;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < n_series; k++)
        for (int i = 0; i < s[k].n; i++) {
            const double y = s[k].y[i];
            if (!isfinite(y) || !isfinite(s[k].x[i])) continue;
            if (log_y && y <= 0) log_y = 0;
            x0 = fmin(x0, s[k].x[i]), x1 = fmax(x1, s[k].x[i]), y0 = fmin(y0, y), y1 = fmax(y1, y);
        }
    if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    if (log_y) y0 = log10(y0), y1 = log10(y1);
    if (x1 == x0) x1 = x0 + 1;
    if (y1 == y0) y1 = y0 + 1;
    const double pad = (y1 - y0) * 0.05;
    y0 -= pad, y1 += pad;
    FILE *f = fopen(path, "w");
    if (!f) return r1c_error(R1C_ERR_IO, "%s: cannot write", path);
#define PX(x) (ML + ((x) - x0) / (x1 - x0) * (W - ML - MR))
#define PY(y) (H - MB - ((y) - y0) / (y1 - y0) * (H - MT - MB))
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H);
    fprintf(f, "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%d\" y=\"22\" font-size=\"15\">", ML);
    xml_text(f, title);
    fputs("</text>\n", f);
    const double xs = tick_step(x1 - x0, 8), ys = tick_step(y1 - y0, 6);
    for (double x = ceil(x0 / xs) * xs; x <= x1 + 1e-9 * xs; x += xs)
        fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                PX(x), MT, PX(x), H - MB, PX(x), H - MB + 16, x);
    for (double y = ceil(y0 / ys) * ys; y <= y1 + 1e-9 * ys; y += ys)
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.4g</text>\n",
                ML, PY(y), W - MR, PY(y), ML - 6, PY(y) + 4, log_y ? pow(10.0, y) : y);
    fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#333\"/>\n", ML, MT, W - ML - MR, H - MT - MB);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (ML + W - MR) / 2, H - 12);
    xml_text(f, xlabel);
    fprintf(f, "</text>\n<text transform=\"translate(16 %d) rotate(-90)\" text-anchor=\"middle\">", (MT + H - MB) / 2);
    xml_text(f, ylabel);
    fputs(log_y ? " (log scale)</text>\n" : "</text>\n", f);
    for (int k = 0; k < n_series; k++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", COLORS[k]);
        for (int i = 0; i < s[k].n; i++) {
            double y = s[k].y[i];
            if (!isfinite(y) || !isfinite(s[k].x[i])) continue;
            if (log_y) y = log10(y);
            fprintf(f, "%.1f,%.1f ", PX(s[k].x[i]), PY(y));
        }
        fprintf(f, "\"/>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">", W - MR - 150, MT + 18 + 16 * k, COLORS[k]);
        xml_text(f, s[k].label);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
#undef PX
#undef PY
    if (fclose(f) != 0) return r1c_error(R1C_ERR_IO, "%s: write failed", path);
    return R1C_OK;
}
