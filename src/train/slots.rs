//! The slots an optimizer made, remembered so that [`super::Optimizer::get_slot`] can hand
//! them back (TF1's `optimizer.get_slot(var, "m")`), and the check of an optimizer's name.

use super::options::NodeRef;
use crate::error::{Error, Result};
use crate::graph::Tensor;
use std::sync::Mutex;

/// One slot: the variable it belongs to, its name (`"m"`), the slot variable.
#[derive(Clone, Debug, PartialEq)]
struct SlotEntry {
    var: NodeRef,
    name: String,
    slot: NodeRef,
}

/// The slots made by every application of one optimizer value, in creation order.
///
/// Optimizers are plain values applied through `&self`, so the record sits behind a mutex;
/// a clone of an optimizer starts with a copy of the record.
#[derive(Default)]
pub(crate) struct SlotRegistry(Mutex<Vec<SlotEntry>>);

impl SlotRegistry {
    fn entries(&self) -> std::sync::MutexGuard<'_, Vec<SlotEntry>> {
        // A panic while holding the lock cannot leave the vector half-written (pushes only).
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Remembers that `slot` is the slot `name` of `var`.
    pub(crate) fn record(&self, var: Tensor<'_>, name: &str, slot: Tensor<'_>) {
        self.entries().push(SlotEntry {
            var: NodeRef::new(var),
            name: name.to_string(),
            slot: NodeRef::new(slot),
        });
    }

    /// The most recently made slot `name` of `var`, if any.
    pub(crate) fn get<'g>(&self, var: Tensor<'g>, name: &str) -> Option<Tensor<'g>> {
        self.entries()
            .iter()
            .rev()
            .find(|e| e.name == name && e.var.is(var))
            .and_then(|e| e.slot.resolve(var.graph(), "slot").ok())
    }
}

impl Clone for SlotRegistry {
    fn clone(&self) -> Self {
        SlotRegistry(Mutex::new(self.entries().clone()))
    }
}

impl PartialEq for SlotRegistry {
    fn eq(&self, other: &Self) -> bool {
        // Locking one mutex twice would deadlock.
        std::ptr::eq(self, other) || *self.entries() == *other.entries()
    }
}

impl std::fmt::Debug for SlotRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotRegistry({} slots)", self.entries().len())
    }
}

/// An optimizer name must be usable as a name scope: letters, digits, `_`, `.`, `-`, with
/// `/` only between parts (as TF1's scope names).
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.split('/').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        });
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "optimizer name `{name}` is not a valid scope name (letters, digits, `_`, `.`, `-`, \
             parts separated by single `/`)"
        )))
    }
}
