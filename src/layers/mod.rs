//! Model building blocks: layers that create their variables under a name scope and apply
//! graph ops.

pub mod lstm;
