//! The strategy comparison of `--weighting all` / `--mode all`: per-task metrics, Δm%
//! against the equal-weighting run ([`staticflow::mtl::delta_m`]), throughput and the mean
//! pairwise gradient cosine, as a Markdown table and as the JSON `results` entries.

use serde_json::{json, Map, Value};
use staticflow::mtl::{delta_m, TaskMetric};

/// A metric column: the task it scores, its name and its direction.
pub struct Column {
    /// Task name (Δm% averages a task's metrics first).
    pub task: String,
    /// Metric name, used as the JSON key and the column title.
    pub metric: String,
    /// Whether lower is better (errors, losses).
    pub lower_is_better: bool,
}

/// One trained strategy.
pub struct Row {
    /// Strategy (or regime) name.
    pub name: String,
    /// One value per [`Column`].
    pub values: Vec<f64>,
    /// Training throughput (steps/s or tokens/s).
    pub rate: f64,
    /// Mean off-diagonal gradient cosine over training (`None`: not measured).
    pub mean_cosine: Option<f64>,
}

/// Δm% of each row against the row named `baseline` (`None` for every row if there is none
/// or a baseline value is 0).
pub fn deltas(columns: &[Column], rows: &[Row], baseline: &str) -> Vec<Option<f64>> {
    let Some(base) = rows.iter().find(|r| r.name == baseline) else {
        return vec![None; rows.len()];
    };
    rows.iter()
        .map(|r| {
            let m: Vec<TaskMetric> = columns
                .iter()
                .zip(r.values.iter().zip(&base.values))
                .map(|(c, (&value, &baseline))| TaskMetric {
                    task: &c.task,
                    value,
                    baseline,
                    lower_is_better: c.lower_is_better,
                })
                .collect();
            delta_m(&m).ok()
        })
        .collect()
}

/// Prints the table: one row per strategy, the metric columns, Δm% vs `baseline`, the
/// throughput column `rate_name` and the mean gradient cosine.
pub fn print_table(columns: &[Column], rows: &[Row], baseline: &str, rate_name: &str) {
    let d = deltas(columns, rows, baseline);
    let opt = |v: Option<f64>, p: usize| v.map_or("-".to_string(), |v| format!("{v:.p$}"));
    let mut head = vec!["strategy".to_string()];
    head.extend(columns.iter().map(|c| {
        let arrow = if c.lower_is_better { "↓" } else { "↑" };
        format!("{} {arrow}", c.metric)
    }));
    head.extend([
        format!("Δm% vs {baseline}"),
        rate_name.to_string(),
        "mean grad cos".to_string(),
    ]);
    println!("| {} |", head.join(" | "));
    println!("|{}", "---|".repeat(head.len()));
    for (r, d) in rows.iter().zip(d) {
        let mut cells = vec![r.name.clone()];
        cells.extend(r.values.iter().map(|v| format!("{v:.4}")));
        cells.extend([opt(d, 2), format!("{:.1}", r.rate), opt(r.mean_cosine, 3)]);
        println!("| {} |", cells.join(" | "));
    }
}

/// `{NAME: {metric: value, ..., "delta_m_pct": .., rate_key: .., "mean_grad_cosine": ..}}`
/// (values rounded to 4 decimals, Δm% and the rate to 2 and 1; null where unmeasured).
pub fn results_json(
    columns: &[Column],
    rows: &[Row],
    baseline: &str,
    rate_key: &str,
) -> Map<String, Value> {
    let round = |v: f64, k: i32| (v * 10f64.powi(k)).round() / 10f64.powi(k);
    let mut out = Map::new();
    for (r, d) in rows.iter().zip(deltas(columns, rows, baseline)) {
        let mut o = Map::new();
        for (c, v) in columns.iter().zip(&r.values) {
            o.insert(c.metric.clone(), json!(round(*v, 4)));
        }
        o.insert("delta_m_pct".into(), json!(d.map(|d| round(d, 2))));
        o.insert(rate_key.into(), json!(round(r.rate, 1)));
        o.insert(
            "mean_grad_cosine".into(),
            json!(r.mean_cosine.map(|c| round(c, 4))),
        );
        out.insert(r.name.clone(), Value::Object(o));
    }
    out
}
