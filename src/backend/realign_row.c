// The LatentMAS realignment of one row in float64 (backend/backend.h): the
// reference formula of every backend's realign_rows, kept in one compiled
// place so that the CPU backend and gc_realign_apply give the same bits.
#include "backend/backend.h"
#include <math.h>

void gc_realign_row(const double *wa_t, int64_t D, double target_norm, const float *h, float *e) {
    double ss = 0;
    for (int64_t j = 0; j < D; j++) {
        double acc = 0;
        if (!wa_t) {
            acc = h[j];
        } else {
            const double *col = wa_t + j * D;   // column j of W_a
            for (int64_t i = 0; i < D; i++) acc += (double)h[i] * col[i];
        }
        e[j] = (float)acc;
        ss += acc * acc;
    }
    double nrm = sqrt(ss);
    float scale = (float)(target_norm / (nrm > 1e-6 ? nrm : 1e-6));
    for (int64_t j = 0; j < D; j++) e[j] *= scale;
}
