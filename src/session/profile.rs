//! Per-kernel timing of one run, since a static graph cannot be stepped through.

use std::fmt;

/// One executed kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct ProfileEntry {
    /// Op kind, e.g. `MatMul`.
    pub op: String,
    /// Node name, e.g. `shared/MatMul`.
    pub name: String,
    /// Runtime shape of the output (empty for ops run for effect).
    pub shape: Vec<usize>,
    /// Wall time of the kernel in microseconds.
    pub micros: f64,
}

/// Timings of every kernel of one run, in execution order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// One entry per executed kernel.
    pub entries: Vec<ProfileEntry>,
}

impl Profile {
    /// Total kernel time in microseconds.
    pub fn total_micros(&self) -> f64 {
        self.entries.iter().map(|e| e.micros).sum()
    }
    /// Total time per op kind, largest first.
    pub fn by_op(&self) -> Vec<(String, f64)> {
        let mut m: std::collections::BTreeMap<&str, f64> = Default::default();
        for e in &self.entries {
            *m.entry(&e.op).or_default() += e.micros;
        }
        let mut v: Vec<(String, f64)> = m.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

impl fmt::Display for Profile {
    /// A table: op, node, shape, microseconds, in execution order, then the total.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {:<40} {:<18} {:>10}",
            "op", "node", "shape", "us"
        )?;
        for e in &self.entries {
            writeln!(
                f,
                "{:<16} {:<40} {:<18} {:>10.2}",
                e.op,
                e.name,
                format!("{:?}", e.shape),
                e.micros
            )?;
        }
        write!(
            f,
            "total {:.2} us over {} kernels",
            self.total_micros(),
            self.entries.len()
        )
    }
}
