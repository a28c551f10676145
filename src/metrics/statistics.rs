//! Statistical primitives, ported operation for operation from GuideLLM 0.8.1's
//! `guidellm/utils/statistics.py`: the normal and Student's t quantiles, the Wilson score
//! interval for a proportion, the t interval for a mean and the distribution-free interval for
//! a quantile. A port rather than a crate, for two reasons: GuideLLM's report view
//! (`report::guidellm`) must write the bounds GuideLLM's own code computes from the same
//! requests (tests/guidellm_check.py compares them), and the Wilson interval of SLO attainment
//! uses GuideLLM's own quantile approximation, which a textbook normal quantile would not
//! reproduce to the last digits.

/// Lowest and highest two-sided confidence level GuideLLM's estimators accept (they clamp).
const MIN_CONFIDENCE: f64 = 0.5;
const MAX_CONFIDENCE: f64 = 0.999;
/// Degrees of freedom above which the t quantile is the normal one.
const NORMAL_LIMIT_DF: f64 = 1.0e7;
/// Degrees of freedom at which `approx_t_ppf` stands in for the normal quantile (Wilson).
const WILSON_NORMAL_DF: f64 = 1.0e9;
const BETA_CF_ITERATIONS: usize = 300;
const BISECTION_ITERATIONS: usize = 200;
const TINY: f64 = 1e-300;
const CF_TOLERANCE: f64 = 1e-15;

fn clamp_confidence(c: f64) -> f64 {
    c.clamp(MIN_CONFIDENCE, MAX_CONFIDENCE)
}

/// The standard normal quantile (Wichura's AS241, as Python's `NormalDist().inv_cdf`).
/// `p` strictly between 0 and 1.
pub fn normal_ppf(p: f64) -> f64 {
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        let num = (((((((2.509_080_928_730_122_7e3 * r + 3.343_057_558_358_813e4) * r
            + 6.726_577_092_700_87e4)
            * r
            + 4.592_195_393_154_987e4)
            * r
            + 1.373_169_376_550_946e4)
            * r
            + 1.971_590_950_306_551_3e3)
            * r
            + 1.331_416_678_917_843_8e2)
            * r
            + 3.387_132_872_796_366_5)
            * q;
        let den = ((((((5.226_495_278_852_854e3 * r + 2.872_908_573_572_194_3e4) * r
            + 3.930_789_580_009_271e4)
            * r
            + 2.121_379_430_158_659_7e4)
            * r
            + 5.394_196_021_424_751e3)
            * r
            + 6.871_870_074_920_579e2)
            * r
            + 4.231_333_070_160_091e1)
            * r
            + 1.0;
        return num / den;
    }
    let r = if q <= 0.0 { p } else { 1.0 - p };
    let mut r = (-r.ln()).sqrt();
    let (num, den);
    if r <= 5.0 {
        r -= 1.6;
        num = ((((((7.745_450_142_783_414e-4 * r + 2.272_384_498_926_918_4e-2) * r
            + 2.417_807_251_774_506e-1)
            * r
            + 1.270_458_252_452_368_4)
            * r
            + 3.647_848_324_763_204_5)
            * r
            + 5.769_497_221_460_691)
            * r
            + 4.630_337_846_156_545)
            * r
            + 1.423_437_110_749_683_5;
        den = ((((((1.050_750_071_644_416_9e-9 * r + 5.475_938_084_995_345e-4) * r
            + 1.519_866_656_361_645_7e-2)
            * r
            + 1.481_039_764_274_800_8e-1)
            * r
            + 6.897_673_349_851e-1)
            * r
            + 1.676_384_830_183_803_8)
            * r
            + 2.053_191_626_637_759)
            * r
            + 1.0;
    } else {
        r -= 5.0;
        num = ((((((2.010_334_399_292_288_1e-7 * r + 2.711_555_568_743_487_6e-5) * r
            + 1.242_660_947_388_078_4e-3)
            * r
            + 2.653_218_952_657_612_4e-2)
            * r
            + 2.965_605_718_285_048_7e-1)
            * r
            + 1.784_826_539_917_291_3)
            * r
            + 5.463_784_911_164_114)
            * r
            + 6.657_904_643_501_103;
        den = ((((((2.044_263_103_389_939_7e-15 * r + 1.421_511_758_316_446e-7) * r
            + 1.846_318_317_510_054_8e-5)
            * r
            + 7.868_691_311_456_133e-4)
            * r
            + 1.487_536_129_085_061_5e-2)
            * r
            + 1.369_298_809_227_358e-1)
            * r
            + 5.998_322_065_558_88e-1)
            * r
            + 1.0;
    }
    let x = num / den;
    if q < 0.0 {
        -x
    } else {
        x
    }
}

/// GuideLLM's `approx_t_ppf`: Abramowitz & Stegun 26.2.23 for the normal quantile, then a
/// Cornish-Fisher step for `df`. NaN for df ≤ 0.
pub fn approx_t_ppf(p: f64, df: f64) -> f64 {
    if df <= 0.0 {
        return f64::NAN;
    }
    let c = [2.515517, 0.802853, 0.010328];
    let d = [1.432788, 0.189269, 0.001308];
    let z = if p < 0.5 {
        let t = (-2.0 * p.ln()).sqrt();
        -(t - ((c[2] * t + c[1]) * t + c[0]) / (((d[2] * t + d[1]) * t + d[0]) * t + 1.0))
    } else {
        let t = (-2.0 * (1.0 - p).ln()).sqrt();
        t - ((c[2] * t + c[1]) * t + c[0]) / (((d[2] * t + d[1]) * t + d[0]) * t + 1.0)
    };
    let (z2, z3) = (z * z, z * z * z);
    let z4 = z3 * z;
    let g1 = (z3 + z) / 4.0;
    let g2 = (5.0 * z4 + 16.0 * z3 + 3.0 * z2) / 96.0;
    z + g1 / df + g2 / (df * df)
}

/// The continued fraction of the incomplete beta function (modified Lentz).
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut result = d;
    for i in 1..=BETA_CF_ITERATIONS {
        let it = i as f64;
        let even = 2.0 * it;
        let num = it * (b - it) * x / ((qam + even) * (a + even));
        d = 1.0 / guard(1.0 + num * d);
        c = guard(1.0 + num / c);
        result *= d * c;
        let num = -(a + it) * (qab + it) * x / ((a + even) * (qap + even));
        d = 1.0 / guard(1.0 + num * d);
        c = guard(1.0 + num / c);
        let step = d * c;
        result *= step;
        if (step - 1.0).abs() < CF_TOLERANCE {
            break;
        }
    }
    result
}

/// The regularized incomplete beta function I_x(a, b).
fn regularized_incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let log_prefactor = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (-x).ln_1p();
    let prefactor = log_prefactor.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        return prefactor * beta_continued_fraction(a, b, x) / a;
    }
    1.0 - prefactor * beta_continued_fraction(b, a, 1.0 - x) / b
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9: about 15 significant digits, as C's `lgamma`
/// that Python's `math.lgamma` calls).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1−x) = π / sin(πx).
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// The CDF of Student's t distribution.
fn t_cdf(value: f64, df: f64) -> f64 {
    let x = df / (df + value * value);
    let tail = 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, x);
    if value > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// GuideLLM's `t_ppf`: the quantile of Student's t distribution, by bisection of its CDF.
/// `p` strictly between 0 and 1, `df` > 0.
pub fn t_ppf(p: f64, df: f64) -> f64 {
    if df >= NORMAL_LIMIT_DF {
        return normal_ppf(p);
    }
    if p == 0.5 {
        return 0.0;
    }
    let mut bound = normal_ppf(p).abs().max(1.0);
    while t_cdf(bound, df) < p {
        bound *= 2.0;
    }
    while t_cdf(-bound, df) > p {
        bound *= 2.0;
    }
    let (mut low, mut high) = (-bound, bound);
    for _ in 0..BISECTION_ITERATIONS {
        let middle = 0.5 * (low + high);
        if t_cdf(middle, df) < p {
            low = middle;
        } else {
            high = middle;
        }
        if high - low < 1e-12 * middle.abs().max(1.0) {
            break;
        }
    }
    0.5 * (low + high)
}

/// GuideLLM's `wilson_interval`: the Wilson score interval of `successes` out of `trials`
/// (0 to 1 when there is no trial), its quantile from `approx_t_ppf` at 1e9 degrees of
/// freedom, as GuideLLM computes it.
pub fn wilson_interval(successes: u64, trials: u64, confidence: f64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 1.0);
    }
    let s = successes.min(trials) as f64;
    let n = trials as f64;
    let z = approx_t_ppf((1.0 + clamp_confidence(confidence)) / 2.0, WILSON_NORMAL_DF);
    let p = s / n;
    let denominator = 1.0 + z * z / n;
    let center = (p + z * z / (2.0 * n)) / denominator;
    let spread = z * (p * (1.0 - p) / n + z * z / (4.0 * n.powi(2))).sqrt() / denominator;
    ((center - spread).max(0.0), (center + spread).min(1.0))
}

/// GuideLLM's `mean_confidence_interval`: the t interval of a mean from its count, mean and
/// population standard deviation; None below two observations.
pub fn mean_confidence_interval(
    count: u64,
    mean: f64,
    std_dev: f64,
    confidence: f64,
) -> Option<(f64, f64)> {
    if count < 2 {
        return None;
    }
    let n = count as f64;
    let unbiased = std_dev * (n / (n - 1.0)).sqrt();
    let half = t_ppf((1.0 + clamp_confidence(confidence)) / 2.0, n - 1.0) * unbiased / n.sqrt();
    Some((mean - half, mean + half))
}

/// P(X ≤ k) for X binomial(n, p).
fn binomial_cdf(k: i64, n: i64, p: f64) -> f64 {
    if k < 0 {
        return 0.0;
    }
    if k >= n {
        return 1.0;
    }
    regularized_incomplete_beta((n - k) as f64, k as f64 + 1.0, 1.0 - p)
}

/// The largest k in [0, n − 1] whose binomial CDF is at most `target`.
fn largest_rank_below(n: i64, p: f64, target: f64) -> Option<i64> {
    if binomial_cdf(0, n, p) > target {
        return None;
    }
    let (mut low, mut high) = (0, n - 1);
    while low < high {
        let middle = (low + high + 1) / 2;
        if binomial_cdf(middle, n, p) <= target {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    Some(low)
}

/// The smallest k in [0, n − 1] whose binomial CDF is at least `target`.
fn smallest_rank_above(n: i64, p: f64, target: f64) -> Option<i64> {
    if binomial_cdf(n - 1, n, p) < target {
        return None;
    }
    let (mut low, mut high) = (0, n - 1);
    while low < high {
        let middle = (low + high) / 2;
        if binomial_cdf(middle, n, p) >= target {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Some(low)
}

/// GuideLLM's `quantile_confidence_interval`: two order statistics of `sorted` that bracket
/// quantile `q` at `confidence` whatever the distribution's shape; None when the sample is too
/// small to put one on each side.
pub fn quantile_confidence_interval(sorted: &[f64], q: f64, confidence: f64) -> Option<(f64, f64)> {
    let n = sorted.len() as i64;
    if n < 2 {
        return None;
    }
    let tail = (1.0 - clamp_confidence(confidence)) / 2.0;
    let lo = largest_rank_below(n, q, tail)?;
    let hi = smallest_rank_above(n, q, 1.0 - tail)?;
    Some((sorted[lo as usize], sorted[hi as usize]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_match_published_tables() {
        // Values GuideLLM's own functions give (run in its venv), which match the tables.
        assert!((normal_ppf(0.975) - 1.959_963_984_540_054).abs() < 1e-15);
        assert!((normal_ppf(0.025) + 1.959_963_984_540_054).abs() < 1e-15);
        assert!((normal_ppf(1e-10) + 6.361_340_902_404_056).abs() < 1e-12);
        // Python's NormalDist().inv_cdf, each branch of AS241.
        for (p, want) in [
            (0.7, 0.524_400_512_708_040_7),
            (0.01, -2.326_347_874_040_840_8),
            (1e-5, -4.264_890_793_922_825_6),
            (1e-20, -9.262_340_089_798_405),
            (0.999_999, 4.753_424_308_817_089),
        ] {
            assert!(
                (normal_ppf(p) - want).abs() <= 1e-15 * want.abs(),
                "{p}: {}",
                normal_ppf(p)
            );
        }
        for (df, want) in [
            (1.0, 12.706_204_736),
            (9.0, 2.262_157_163),
            (30.0, 2.042_272_456),
        ] {
            assert!((t_ppf(0.975, df) - want).abs() < 1e-6, "df {df}");
        }
        assert!((ln_gamma(10.0) - 362_880f64.ln()).abs() < 1e-12);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-12);
    }

    #[test]
    fn wilson_is_guidellms() {
        // guidellm.utils.statistics.wilson_interval(45, 50, 0.95)
        let (lo, hi) = wilson_interval(45, 50, 0.95);
        assert!((lo - 0.786_366_706_908_721_5).abs() < 1e-12, "{lo}");
        assert!((hi - 0.956_531_903_365_545_9).abs() < 1e-12, "{hi}");
        assert_eq!(wilson_interval(0, 0, 0.95), (0.0, 1.0));
        let (lo, hi) = wilson_interval(10, 10, 0.95);
        assert!(hi <= 1.0 && lo > 0.6);
    }

    #[test]
    fn quantile_interval_needs_enough_observations() {
        // At 95%, p95 needs 72 observations (GuideLLM's docstring).
        let v: Vec<f64> = (0..71).map(f64::from).collect();
        assert!(quantile_confidence_interval(&v, 0.95, 0.95).is_none());
        let v: Vec<f64> = (0..72).map(f64::from).collect();
        assert_eq!(
            quantile_confidence_interval(&v, 0.95, 0.95),
            Some((63.0, 71.0))
        );
        let v: Vec<f64> = (0..100).map(f64::from).collect();
        assert_eq!(
            quantile_confidence_interval(&v, 0.5, 0.95),
            Some((39.0, 60.0))
        );
        assert!(mean_confidence_interval(1, 1.0, 0.0, 0.95).is_none());
        let (lo, hi) = mean_confidence_interval(10, 5.0, 2.0, 0.95).unwrap();
        assert!(
            (lo - 3.491_895_224_801_286_4).abs() < 1e-9
                && (hi - 6.508_104_775_198_713).abs() < 1e-9
        );
    }
}
