/* plot.h — a line chart as a self-contained SVG file (loss curves next to checkpoints). */
#ifndef R1C_TRAIN_PLOT_H
#define R1C_TRAIN_PLOT_H

#include "r1c.h"

typedef struct r1c_plot_series {
    const char *label;
    const double *x, *y;
    int n;
} r1c_plot_series;

/* Up to 4 series on shared axes (x linear; y linear, or log10 when log_y and every y > 0),
 * with ticks, labels and a legend. */
r1c_status r1c_plot_svg(const char *path, const char *title, const char *xlabel, const char *ylabel, const r1c_plot_series *s,
                        int n_series, int log_y);

#endif
