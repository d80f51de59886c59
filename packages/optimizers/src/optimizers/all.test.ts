// First steps of every remaining optimizer against float64 references written from the
// optax definitions (plain JS numbers), rtol 1e-5 on parameters and 1e-4 on steps.
import { describe, it } from 'vitest';
import {
  adabelief,
  adadelta,
  adafactor,
  adagrad,
  adamax,
  amsgrad,
  lamb,
  lars,
  lion,
  nadamw,
  radam,
  rmsprop,
  yogi,
} from '../index.js';
import { expectTrajectory, P0, runReference, runSteps, zerosState } from '../../test/reference.js';

const sum = (a: number[]) => a.reduce((s, x) => s + x, 0);
const norm = (a: number[]) => Math.sqrt(sum(a.map((x) => x * x)));
const fill = (v: number) => P0.map((l) => l.map(() => v));

/**
 * Float64 steps of an Adam-like rule: per element `m = b1 m + (1 - b1) g` (from `m`), then the
 * second statistic `s = second(s, g, m, t)` (from `s`) and `x = update(x, m / (1 - b1^t), s, t)`.
 */
function adamLike(
  b1: number,
  m: number[][],
  s: number[][],
  second: (s: number, g: number, m: number, t: number) => number,
  update: (x: number, mHat: number, s: number, t: number) => number,
): ReturnType<typeof runReference> {
  return runReference((p, g, i, t) =>
    p.map((x, j) => {
      const [mi, si] = [m[i], s[i]] as number[][];
      const gj = g[j] as number;
      mi![j] = b1 * mi![j]! + (1 - b1) * gj;
      si![j] = second(si![j]!, gj, mi![j]!, t);
      return update(x, mi![j]! / (1 - b1 ** t), si![j]!, t);
    }),
  );
}

describe('adam family first steps', () => {
  it('nadamw', () => {
    const [lr, b1, b2, eps, wd] = [0.05, 0.9, 0.999, 1e-8, 0.1];
    const m = zerosState();
    const v = zerosState();
    const ref = runReference((p, g, i, t) =>
      p.map((x, j) => {
        const mi = m[i] as number[];
        const vi = v[i] as number[];
        const gj = g[j] as number;
        mi[j] = b1 * (mi[j] as number) + (1 - b1) * gj;
        vi[j] = b2 * (vi[j] as number) + (1 - b2) * gj * gj;
        const mHat = (b1 * (mi[j] as number)) / (1 - b1 ** (t + 1)) + ((1 - b1) * gj) / (1 - b1 ** t);
        return x - lr * (mHat / (Math.sqrt((vi[j] as number) / (1 - b2 ** t)) + eps) + wd * x);
      }),
    );
    expectTrajectory(runSteps(nadamw({ learningRate: lr, weightDecay: wd })), ref, 'nadamw');
  });

  it('amsgrad', () => {
    const [lr, b1, b2, eps] = [0.05, 0.9, 0.99, 1e-8];
    const m = zerosState();
    const v = zerosState();
    const vmax = zerosState();
    const ref = runReference((p, g, i, t) =>
      p.map((x, j) => {
        const [mi, vi, mx] = [m[i], v[i], vmax[i]] as number[][];
        const gj = g[j] as number;
        mi![j] = b1 * mi![j]! + (1 - b1) * gj;
        vi![j] = b2 * vi![j]! + (1 - b2) * gj * gj;
        mx![j] = Math.max(mx![j]!, vi![j]! / (1 - b2 ** t));
        return x - (lr * (mi![j]! / (1 - b1 ** t))) / (Math.sqrt(mx![j]!) + eps);
      }),
    );
    expectTrajectory(runSteps(amsgrad({ learningRate: lr, beta2: b2 })), ref, 'amsgrad');
  });

  it('adamax', () => {
    const [lr, b1, b2, eps] = [0.02, 0.9, 0.999, 1e-8];
    const ref = adamLike(b1, zerosState(), zerosState(), (u, g) => Math.max(Math.abs(g) + eps, b2 * u), (x, mHat, u) => x - (lr * mHat) / u);
    expectTrajectory(runSteps(adamax({ learningRate: lr })), ref, 'adamax');
  });

  it('radam (warm-up steps and rectified steps)', () => {
    const [lr, b1, b2, eps] = [0.01, 0.9, 0.9, 1e-8];
    const rhoInf = 2 / (1 - b2) - 1;
    const m = zerosState();
    const v = zerosState();
    let rectified = 0;
    const ref = runReference((p, g, i, t) => {
      const b2t = b2 ** t;
      const rho = rhoInf - (2 * t * b2t) / (1 - b2t);
      if (i === 0 && rho >= 5) rectified++;
      return p.map((x, j) => {
        const [mi, vi] = [m[i], v[i]] as number[][];
        const gj = g[j] as number;
        mi![j] = b1 * mi![j]! + (1 - b1) * gj;
        vi![j] = b2 * vi![j]! + (1 - b2) * gj * gj;
        const mHat = mi![j]! / (1 - b1 ** t);
        if (rho < 5) return x - lr * mHat;
        const r = Math.sqrt(((rho - 4) * (rho - 2) * rhoInf) / ((rhoInf - 4) * (rhoInf - 2) * rho));
        return x - (lr * r * mHat) / (Math.sqrt(vi![j]! / (1 - b2t)) + eps);
      });
    }, 9);
    if (rectified < 2) throw new Error(`test covers only ${rectified} rectified steps`);
    expectTrajectory(runSteps(radam({ learningRate: lr, beta2: b2 }), 9), ref, 'radam');
  });

  it('yogi', () => {
    const [lr, b1, b2, eps] = [0.05, 0.9, 0.999, 1e-3];
    const ref = adamLike(
      b1,
      fill(1e-6),
      fill(1e-6),
      (v, g) => v - (1 - b2) * Math.sign(v - g * g) * g * g,
      (x, mHat, v, t) => x - (lr * mHat) / (Math.sqrt(v / (1 - b2 ** t)) + eps),
    );
    expectTrajectory(runSteps(yogi({ learningRate: lr })), ref, 'yogi');
  });

  it('adabelief', () => {
    const [lr, b1, b2, eps, epsRoot] = [0.05, 0.9, 0.999, 1e-16, 1e-16];
    const ref = adamLike(
      b1,
      zerosState(),
      zerosState(),
      (s, g, m) => b2 * s + (1 - b2) * (g - m) ** 2 + epsRoot,
      (x, mHat, s, t) => x - (lr * mHat) / (Math.sqrt(s / (1 - b2 ** t)) + eps),
    );
    expectTrajectory(runSteps(adabelief({ learningRate: lr })), ref, 'adabelief');
  });

  it('lion', () => {
    const [lr, b1, b2, wd] = [0.01, 0.9, 0.99, 0.1];
    const m = zerosState();
    const ref = runReference((p, g, i) =>
      p.map((x, j) => {
        const mi = m[i] as number[];
        const gj = g[j] as number;
        const u = Math.sign((1 - b1) * gj + b1 * mi[j]!);
        mi[j] = b2 * mi[j]! + (1 - b2) * gj;
        return x - lr * (u + wd * x);
      }),
    );
    expectTrajectory(runSteps(lion({ learningRate: lr, weightDecay: wd })), ref, 'lion');
  });
});

describe('rms family first steps', () => {
  for (const centered of [false, true]) {
    for (const momentum of [undefined, 0.9]) {
      it(`rmsprop centered=${centered} momentum=${momentum}`, () => {
        const [lr, d, eps] = [0.01, 0.9, 1e-8];
        const ms = zerosState();
        const mg = zerosState();
        const mom = zerosState();
        const ref = runReference((p, g, i) =>
          p.map((x, j) => {
            const [a, b, c] = [ms[i], mg[i], mom[i]] as number[][];
            const gj = g[j] as number;
            a![j] = d * a![j]! + (1 - d) * gj * gj;
            b![j] = d * b![j]! + (1 - d) * gj;
            const denom = Math.sqrt(a![j]! - (centered ? b![j]! ** 2 : 0) + eps);
            const step = (lr * gj) / denom;
            if (momentum === undefined) return x - step;
            c![j] = step + momentum * c![j]!;
            return x - c![j]!;
          }),
        );
        const opt = rmsprop({ learningRate: lr, centered, ...(momentum !== undefined ? { momentum } : {}) });
        expectTrajectory(runSteps(opt), ref, 'rmsprop');
      });
    }
  }

  it('adagrad', () => {
    const [lr, init, eps] = [0.1, 0.1, 1e-7];
    const acc = fill(init);
    const ref = runReference((p, g, i) =>
      p.map((x, j) => {
        const a = acc[i] as number[];
        const gj = g[j] as number;
        a[j] = a[j]! + gj * gj;
        return x - (lr * gj) / Math.sqrt(a[j]! + eps);
      }),
    );
    expectTrajectory(runSteps(adagrad({ learningRate: lr })), ref, 'adagrad');
  });

  it('adadelta uses the updated squared-gradient average', () => {
    const [lr, rho, eps] = [1, 0.9, 1e-6];
    const eg = zerosState();
    const ex = zerosState();
    const ref = runReference((p, g, i) =>
      p.map((x, j) => {
        const [a, b] = [eg[i], ex[i]] as number[][];
        const gj = g[j] as number;
        a![j] = rho * a![j]! + (1 - rho) * gj * gj;
        const u = (Math.sqrt(b![j]! + eps) / Math.sqrt(a![j]! + eps)) * gj;
        b![j] = rho * b![j]! + (1 - rho) * u * u;
        return x - lr * u;
      }),
    );
    expectTrajectory(runSteps(adadelta({ learningRate: lr })), ref, 'adadelta');
  });
});

describe('adafactor first steps', () => {
  it('factored 2x2 leaf and full vector leaf, clipping, parameter scale, learning rate', () => {
    const lr = 0.05;
    const eps = 1e-30;
    const vFull = [0, 0, 0];
    const vRow = [0, 0];
    const vCol = [0, 0];
    const rms = (a: number[]) => Math.sqrt(sum(a.map((x) => x * x)) / a.length);
    const ref = runReference((p, g, i, t) => {
      const beta = 1 - t ** -0.8;
      let u: number[];
      if (i === 0) {
        u = g.map((gj, j) => {
          vFull[j] = beta * vFull[j]! + (1 - beta) * (gj * gj + eps);
          return gj / Math.sqrt(vFull[j]!);
        });
      } else {
        // shape [2, 2], row-major; factored dims d1 = 0 (rows), d0 = 1 (columns)
        const g2 = g.map((x) => x * x + eps);
        for (let r = 0; r < 2; r++) vRow[r] = beta * vRow[r]! + (1 - beta) * ((g2[2 * r]! + g2[2 * r + 1]!) / 2);
        for (let c = 0; c < 2; c++) vCol[c] = beta * vCol[c]! + (1 - beta) * ((g2[c]! + g2[2 + c]!) / 2);
        const meanRow = (vRow[0]! + vRow[1]!) / 2;
        u = g.map((gj, k) => {
          const r = Math.floor(k / 2);
          const c = k % 2;
          return gj * (vRow[r]! / meanRow) ** -0.5 * vCol[c]! ** -0.5;
        });
      }
      const clip = Math.max(1, rms(u));
      const scale = Math.max(1e-3, rms(p));
      return p.map((x, j) => x - (lr * scale * u[j]!) / clip);
    });
    expectTrajectory(runSteps(adafactor({ learningRate: lr, minDimSizeToFactor: 2 })), ref, 'adafactor');
  });
});

describe('trust-ratio first steps', () => {
  it('lars', () => {
    const [lr, coeff, mom, wd] = [0.5, 0.1, 0.9, 0.01];
    const tr = zerosState();
    const ref = runReference((p, g, i) => {
      const u = g.map((gj, j) => gj + wd * p[j]!);
      const pn = norm(p);
      const un = norm(u);
      const ratio = pn === 0 || un === 0 ? 1 : (coeff * pn) / un;
      const m = tr[i] as number[];
      return p.map((x, j) => {
        m[j] = -lr * ratio * u[j]! + mom * m[j]!;
        return x + m[j]!;
      });
    });
    expectTrajectory(runSteps(lars({ learningRate: lr, trustCoefficient: coeff, weightDecay: wd })), ref, 'lars');
  });

  it('lamb', () => {
    const [lr, b1, b2, eps, wd] = [0.05, 0.9, 0.999, 1e-6, 0.01];
    const m = zerosState();
    const v = zerosState();
    const ref = runReference((p, g, i, t) => {
      const [mi, vi] = [m[i], v[i]] as number[][];
      const r = g.map((gj, j) => {
        mi![j] = b1 * mi![j]! + (1 - b1) * gj;
        vi![j] = b2 * vi![j]! + (1 - b2) * gj * gj;
        return mi![j]! / (1 - b1 ** t) / (Math.sqrt(vi![j]! / (1 - b2 ** t)) + eps) + wd * p[j]!;
      });
      const ratio = norm(p) / norm(r);
      return p.map((x, j) => x - lr * ratio * r[j]!);
    });
    expectTrajectory(runSteps(lamb({ learningRate: lr, weightDecay: wd })), ref, 'lamb');
  });
});
