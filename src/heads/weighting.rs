//! How a [`super::MultiHead`] trains its heads: any multi-task strategy of [`crate::mtl`] by
//! name (`fixed`, `fixed:1,100`, `uncertainty:10`, `dwa`, `pcgrad`, `mgda`, ... see
//! [`crate::mtl::NAMES`]), or `alternate`: no combined train op, one train op per head, run in
//! turn (the core's alternate training; a heads/estimator concept).

use crate::error::{Error, Result};
use crate::mtl::{self, Strategy};

/// A loss weighting or multi-task strategy (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub enum Weighting {
    /// A [`crate::mtl`] strategy, by the name [`mtl::by_name`] accepts.
    Mtl(String),
    /// A train op per head, run in turn.
    Alternate,
}

impl Default for Weighting {
    fn default() -> Self {
        Weighting::Mtl("equal".into())
    }
}

impl Weighting {
    /// Every name accepted by [`Weighting::from_str`](std::str::FromStr::from_str): the
    /// strategies of [`mtl::NAMES`] and `alternate`.
    pub fn names() -> Vec<&'static str> {
        let mut v = mtl::NAMES.to_vec();
        v.push("alternate");
        v
    }

    /// Fixed weights, one per head.
    pub fn fixed(weights: &[f32]) -> Self {
        let w: Vec<String> = weights.iter().map(|w| w.to_string()).collect();
        if w.is_empty() {
            Weighting::default()
        } else {
            Weighting::Mtl(format!("fixed:{}", w.join(",")))
        }
    }

    /// The strategy's name without arguments (`fixed`, `dwa`, `alternate`, ...).
    pub fn name(&self) -> &str {
        match self {
            Weighting::Mtl(s) => s.split(':').next().unwrap_or(s),
            Weighting::Alternate => "alternate",
        }
    }

    /// The strategy that builds the total loss (for `alternate`: equal weights) and, unless
    /// alternate, the train op.
    pub fn strategy(&self) -> Result<Box<dyn Strategy>> {
        match self {
            Weighting::Mtl(s) => mtl::by_name(s),
            Weighting::Alternate => Ok(Box::new(mtl::Fixed::equal())),
        }
    }
}

impl std::str::FromStr for Weighting {
    type Err = Error;
    /// `alternate`, or any [`mtl::by_name`] name with its optional argument.
    fn from_str(s: &str) -> Result<Self> {
        if s == "alternate" {
            return Ok(Weighting::Alternate);
        }
        match mtl::by_name(s) {
            Ok(_) => Ok(Weighting::Mtl(s.to_string())),
            Err(Error::UnknownStrategy { name, .. }) => Err(Error::UnknownStrategy {
                name,
                valid: Weighting::names().iter().map(|s| s.to_string()).collect(),
            }),
            Err(e) => Err(e),
        }
    }
}
