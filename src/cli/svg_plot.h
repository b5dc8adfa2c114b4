// Minimal SVG line charts for training curves (no plotting library needed).
#ifndef GC_CLI_SVG_PLOT_H
#define GC_CLI_SVG_PLOT_H
#include <stdio.h>

typedef struct svg_series {
    const char *label;
    const double *y;   // (n) values; NAN = gap
} svg_series;

// One panel at (x0, y0) of size w×h: series over x = 0..n-1, y range [lo, hi]
// (lo == hi: taken from the data). Up to 12 labelled series get a legend.
void svg_panel(FILE *f, double x0, double y0, double w, double h, const char *title, const svg_series *s, int ns,
               int n, double lo, double hi);
void svg_begin(FILE *f, double w, double h);
void svg_end(FILE *f);

#endif
