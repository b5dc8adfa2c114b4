#include "cli/svg_plot.h"
#include <math.h>

static const char *const COLORS[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                                     "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"};

void svg_begin(FILE *f, double w, double h) {
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" "
               "font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", w, h);
}

void svg_end(FILE *f) { fputs("</svg>\n", f); }

static void xml_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

void svg_panel(FILE *f, double x0, double y0, double w, double h, const char *title, const svg_series *s, int ns,
               int n, double lo, double hi) {
    if (lo == hi) {
        lo = INFINITY;
        hi = -INFINITY;
        for (int k = 0; k < ns; k++)
            for (int i = 0; i < n; i++)
                if (isfinite(s[k].y[i])) { lo = fmin(lo, s[k].y[i]); hi = fmax(hi, s[k].y[i]); }
        if (!isfinite(lo)) { lo = 0; hi = 1; }
        if (hi - lo < 1e-9) { hi += 0.5; lo -= 0.5; }
    }
    const double L = 50, B = 30, T = 22, Rm = ns <= 12 ? 150 : 10;
    double pw = w - L - Rm, ph = h - B - T;
    fprintf(f, "<g transform=\"translate(%.1f,%.1f)\">\n", x0, y0);
    fputs("<text x=\"50\" y=\"14\" font-weight=\"bold\">", f);
    xml_text(f, title);
    fputs("</text>\n", f);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#999\"/>\n", L, T, pw, ph);
    for (int t = 0; t <= 4; t++) {   // y ticks
        double v = lo + (hi - lo) * t / 4, yy = T + ph - ph * t / 4;
        fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>", L, L + pw, yy, yy);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", L - 4, yy + 4, v);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">iteration (0..%d)</text>\n", L + pw / 2, h - 6, n - 1);
    for (int k = 0; k < ns; k++) {
        const char *c = COLORS[k % 12];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", c);
        for (int i = 0; i < n; i++) {
            if (!isfinite(s[k].y[i])) continue;
            double xx = L + (n > 1 ? pw * i / (n - 1) : pw / 2), yy = T + ph - ph * (s[k].y[i] - lo) / (hi - lo);
            fprintf(f, "%.1f,%.1f ", xx, yy);
        }
        fputs("\"/>\n", f);
        if (ns <= 12 && s[k].label) {
            fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"3\" fill=\"%s\"/>", L + pw + 8, T + 6 + 14 * k, c);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", L + pw + 22, T + 10 + 14 * k);
            xml_text(f, s[k].label);
            fputs("</text>\n", f);
        }
    }
    fputs("</g>\n", f);
}
